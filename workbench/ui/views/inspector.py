"""The decision inspector: for one turn, what was heard, understood, retrieved, planned, routed.

`LiveCall` keeps the `CallModel` of the call on screen, fed from the bridge; the inspector
reads it and redraws the turn it shows when that turn changes.
"""

from __future__ import annotations

import html
import json

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTextBrowser, QVBoxLayout, QWidget

from workbench.engine import events as ev
from workbench.ui.bridge import EngineBridge
from workbench.ui.call_model import CallModel, TurnDetails


class LiveCall(QObject):
    """The call on screen: a `CallModel` fed by the bridge; `turn_changed(turn)` after each fold."""

    turn_changed = Signal(int)
    reset = Signal()

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = CallModel()
        bridge.engine_event.connect(self._on_event)

    @Slot(object)
    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallStarted):
            self.model.reset()
            self.reset.emit()
        turn = self.model.apply(event)
        if turn is not None:
            self.turn_changed.emit(turn)

    def load_events(self, events: list[ev.Event]) -> None:
        """Show a finished call (a scenario run) instead of the live one."""
        self.model.reset()
        self.reset.emit()
        for event in events:
            self.model.apply(event)
        for turn in sorted(self.model.turns):
            self.turn_changed.emit(turn)


class InspectorView(QWidget):
    def __init__(self, live: LiveCall, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.live = live
        self.turn_combo = QComboBox()
        self.turn_combo.setMinimumWidth(160)
        self.browser = QTextBrowser()
        header = QHBoxLayout()
        header.addWidget(QLabel("Turn"))
        header.addWidget(self.turn_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.browser, 1)
        self.turn_combo.currentIndexChanged.connect(self._on_combo)
        live.turn_changed.connect(self._on_turn_changed)
        live.reset.connect(self._on_reset)
        self.shown_turn: int | None = None
        self._follow = True  # show each new turn until the user picks one
        # Several events of one turn arrive together: redraw once, on a later loop turn.
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(300)
        self._redraw.timeout.connect(self._update_html)
        self._update_html()

    def show_turn(self, turn: int) -> None:
        """Open `turn` (e.g. clicked in the waterfall); stops following the live call."""
        self._follow = False
        self._ensure_in_combo(turn)
        self.turn_combo.setCurrentIndex(self.turn_combo.findData(turn))
        self.shown_turn = turn
        self._update_html()

    @Slot()
    def _on_reset(self) -> None:
        self.turn_combo.blockSignals(True)
        self.turn_combo.clear()
        self.turn_combo.blockSignals(False)
        self.shown_turn = None
        self._follow = True
        self._update_html()

    @Slot(int)
    def _on_turn_changed(self, turn: int) -> None:
        self._ensure_in_combo(turn)
        if self._follow and (self.shown_turn is None or turn > self.shown_turn):
            self.turn_combo.blockSignals(True)
            self.turn_combo.setCurrentIndex(self.turn_combo.findData(turn))
            self.turn_combo.blockSignals(False)
            self.shown_turn = turn
        if turn == self.shown_turn and not self._redraw.isActive():
            self._redraw.start()

    @Slot(int)
    def _on_combo(self, index: int) -> None:
        turn = self.turn_combo.itemData(index)
        if turn is not None:
            self._follow = False
            self.shown_turn = turn
            self._update_html()

    def _ensure_in_combo(self, turn: int) -> None:
        if self.turn_combo.findData(turn) >= 0:
            return
        label = "Turn 0 — greeting" if turn == 0 else f"Turn {turn}"
        position = sum(
            1 for i in range(self.turn_combo.count()) if self.turn_combo.itemData(i) < turn
        )
        self.turn_combo.blockSignals(True)
        self.turn_combo.insertItem(position, label, turn)
        self.turn_combo.blockSignals(False)

    def _update_html(self) -> None:
        record = self.live.model.turns.get(self.shown_turn) if self.shown_turn is not None else None
        if record is None:
            self.browser.setHtml(
                "<p style='color:#6b7280'>Place a call or run a scenario; each turn's "
                "decisions appear here. Click a row in the waterfall to open that turn.</p>"
            )
            return
        self.browser.setHtml(turn_html(record))

    def text(self) -> str:
        if self._redraw.isActive():
            self._redraw.stop()
            self._update_html()
        return self.browser.toPlainText()


def _section(title: str, body: str) -> str:
    return (
        f"<h4 style='margin:8px 0 2px 0; color:#475569'>{title}</h4>"
        f"<div style='margin-left:6px'>{body}</div>"
    )


def _esc(value: object) -> str:
    return html.escape(str(value))


def turn_html(record: TurnDetails) -> str:
    parts: list[str] = []
    if record.turn == 0:
        parts.append(_section("Heard", "<i>nothing: the agent's greeting opens the call</i>"))
    else:
        confidence = (
            f" <span style='color:#6b7280'>(confidence {record.heard_confidence:.2f})</span>"
            if record.heard_confidence is not None
            else ""
        )
        heard = _esc(record.heard) if record.heard else "<i>(no final transcript)</i>"
        body = f"“{heard}”{confidence}"
        if record.endpoint is not None:
            body += (
                f"<br><span style='color:#6b7280'>end of turn: {_esc(record.endpoint.setting)}"
                f" — {_esc(record.endpoint.reason)}</span>"
            )
        parts.append(_section("Heard", body))
    if record.topic:
        body = f"<b>{_esc(record.topic)}</b> {record.confidence:.2f}"
        if record.runner_up:
            body += (
                f" &nbsp;<span style='color:#6b7280'>runner-up {_esc(record.runner_up)} "
                f"{record.runner_up_confidence:.2f}</span>"
            )
        parts.append(_section("Topic", body))
        entities = (
            "<br>".join(
                _esc(", ".join(f"{k}={v}" for k, v in entity.items())) for entity in record.entities
            )
            or "<i>none</i>"
        )
        parts.append(_section("Entities", entities))
    if record.chunks:
        rows = "".join(
            f"<tr><td style='padding-right:8px'>{float(c.get('score', 0)):.2f}</td>"
            f"<td><b>{_esc(c.get('heading') or c.get('source', ''))}</b><br>"
            f"<span style='color:#475569'>{_esc(c.get('text', ''))}</span></td></tr>"
            for c in record.chunks
        )
        parts.append(_section("Knowledge retrieved", f"<table>{rows}</table>"))
    if record.sentences or record.plan:
        from workbench.speech.numbers import display_text

        body = f"“{_esc(display_text(' '.join(record.sentences)))}”"
        if record.plan:
            body += f"<br><span style='color:#6b7280'>plan: {_esc(record.plan)}</span>"
        if record.filler:
            body += f"<br>filler played first: “{_esc(record.filler)}”"
        if record.actions:
            body += "<br>actions: " + "; ".join(
                _esc(a.get("kind", "")) + " " + _esc(json.dumps(a.get("params", {}))[:120])
                for a in record.actions
            )
        parts.append(_section("Response", body))
    routing = record.routing or "stays with the AI agent"
    why = record.plan or ""
    if record.handoff is not None:
        why = f"handoff to {record.handoff.queue}: {record.handoff.reason}"
    if record.turn > 0 or record.routing:
        parts.append(
            _section(
                "Routing",
                f"<b>{_esc(routing)}</b><br><span style='color:#6b7280'>why: {_esc(why)}</span>",
            )
        )
    for interruption in record.interruptions:
        parts.append(
            _section(
                "Interruption",
                _esc(
                    f"{interruption.kind} at {interruption.t_ms:.0f} ms"
                    f"{' — stopped the agent' if interruption.stopped_agent else ''}"
                    f"{' (false interruption)' if interruption.false_interruption else ''}"
                ),
            )
        )
    if record.failures:
        parts.append(_section("Failures", "<br>".join(_esc(f) for f in record.failures)))
    if record.timeline is not None:
        rows = "".join(
            f"<tr><td>{_esc(lane.name)}</td><td style='color:#6b7280'>{lane.owner_kind}</td>"
            f"<td align='right'>{lane.duration_ms:.0f} ms</td></tr>"
            for lane in record.timeline.lanes
        )
        rows += (
            f"<tr><td><b>caller waited</b></td><td></td>"
            f"<td align='right'><b>{record.timeline.total_ms:.0f} ms</b></td></tr>"
        )
        parts.append(_section("Latency", f"<table cellspacing='2'>{rows}</table>"))
    return "".join(parts)
