"""The live transcript: caller partials and finals, the agent as heard, and the call's markers.

Ingest and paint are separate (Friture's two phases): events update a small list of entries at
once; the HTML is rebuilt at most every 60 ms, so a burst of partials costs one repaint.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

from workbench.engine import events as ev
from workbench.speech.numbers import display_text
from workbench.ui.bridge import EngineBridge

REPAINT_MS = 60


@dataclass
class Entry:
    kind: str  # caller | agent | marker
    text: str
    t_ms: float
    turn: int = -1
    heard: bool = False  # agent: the first audible sample reached the caller
    cut_at: str | None = None  # agent: the words heard before a barge-in stopped it
    streaming_text: str = ""  # caller, accurate ear: the streaming pass's words, when they differ


class TranscriptView(QWidget):
    """Subscribes to the bridge's engine events; `entries` is what it shows."""

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[Entry] = []
        self.partial = ""
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.browser)
        self._repaint = QTimer(self)
        self._repaint.setSingleShot(True)
        self._repaint.setInterval(REPAINT_MS)
        self._repaint.timeout.connect(self._update_html)
        bridge.engine_event.connect(self._on_event)
        bridge.remote_progress.connect(self._on_remote_progress)

    def clear(self) -> None:
        self.entries.clear()
        self.partial = ""
        self._schedule()

    def load_events(self, events: list[ev.Event]) -> None:
        """Show a finished call (e.g. a scenario run) from its events."""
        self.clear()
        for event in events:
            self._on_event(event)
        self._update_html()

    @Slot(object)
    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallStarted):
            self.entries.clear()
            self.partial = ""
            self._marker(event.t_ms, f"call connected to {event.agent} from {event.caller}")
        elif isinstance(event, ev.PartialTranscript):
            self.partial = event.text
        elif isinstance(event, ev.FinalTranscript):
            self.partial = ""
            if event.text:
                entry = Entry("caller", event.text, event.t_ms)
                if event.ear == "accurate" and event.streaming_text != event.text:
                    entry.streaming_text = event.streaming_text
                self.entries.append(entry)
        elif isinstance(event, ev.ResponseStarted):
            text = display_text(" ".join(event.sentences))
            if text:
                self.entries.append(Entry("agent", text, event.t_ms, turn=event.turn))
        elif isinstance(event, ev.AgentAudioHeard):
            entry = self._agent_entry(event.turn)
            if entry is not None:
                entry.heard = True
        elif isinstance(event, ev.AgentAudioStopped) and event.reason == "interrupted":
            entry = self._agent_entry(event.turn)
            if entry is not None:
                entry.cut_at = display_text(event.text_heard)
        elif isinstance(event, ev.AgentPaused):
            self._marker(event.t_ms, "paused: the caller's voice over the agent")
        elif isinstance(event, ev.AgentResumed):
            how = "rephrased" if event.rephrased else "resumed"
            self._marker(event.t_ms, f"{how} after a {event.paused_ms:.0f} ms pause")
        elif isinstance(event, ev.Interruption):
            # (the outcome vocabulary of engine/outcomes.py: yielded, resumed, talked over)
            if event.kind == "barge_in":
                label = "yielded: the agent stopped" if event.stopped_agent else "barge-in"
            else:
                label = "backchannel: the agent kept talking"
                if event.false_interruption:
                    label = "backchannel: the agent paused for it"
            said = f" ({event.text!r})" if event.text else ""
            self._marker(event.t_ms, label + said)
        elif isinstance(event, ev.FillerStarted):
            self._marker(event.t_ms, f"filler: {event.text!r}")
        elif isinstance(event, ev.DtmfReceived):
            digit = "•" if event.secure else event.digit
            self._marker(event.t_ms, f"keypad {digit}" + (" (secure)" if event.secure else ""))
        elif isinstance(event, ev.HandoffRequested):
            self._marker(event.t_ms, f"handoff to {event.queue or 'a human'}: {event.reason}")
        elif isinstance(event, ev.StageFailed):
            self._marker(event.t_ms, f"{event.stage} failed: {event.error}")
        elif isinstance(event, ev.CallEnded):
            self.partial = ""
            self._marker(event.t_ms, f"call ended ({event.reason.replace('_', ' ')})")
        else:
            return
        self._schedule()

    @Slot(object)
    def _on_remote_progress(self, progress: object) -> None:
        self._marker(getattr(progress, "t_ms", 0.0), str(getattr(progress, "text", "")))
        self._schedule()

    def _agent_entry(self, turn: int) -> Entry | None:
        for entry in reversed(self.entries):
            if entry.kind == "agent" and entry.turn == turn:
                return entry
        return None

    def _marker(self, t_ms: float, text: str) -> None:
        self.entries.append(Entry("marker", text, t_ms))

    def _schedule(self) -> None:
        if not self._repaint.isActive():
            self._repaint.start()

    # paint ------------------------------------------------------------------------------
    def html(self) -> str:
        rows = [_entry_html(e) for e in self.entries]
        if self.partial:
            rows.append(
                "<p style='color:#9ca3af; font-style:italic; margin:2px 0'>"
                f"<b>Caller</b> {html.escape(self.partial)}…</p>"
            )
        return "".join(rows)

    @Slot()
    def _update_html(self) -> None:
        bar = self.browser.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        self.browser.setHtml(self.html())
        if at_bottom:
            bar.setValue(bar.maximum())


def _clock(t_ms: float) -> str:
    seconds = max(0.0, t_ms) / 1000.0
    return f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"


def _entry_html(entry: Entry) -> str:
    stamp = f"<span style='color:#9ca3af; font-family:monospace'>{_clock(entry.t_ms)}</span>"
    if entry.kind == "caller":
        text = html.escape(entry.text)
        if entry.streaming_text:  # what the fast ear alone would have understood, on hover
            tip = html.escape(f"streaming pass heard: {entry.streaming_text}", quote=True)
            text = f'<span title="{tip}">{text}</span>'
        return f"<p style='margin:4px 0'>{stamp} <b style='color:#2563eb'>Caller</b> {text}</p>"
    if entry.kind == "agent":
        if entry.cut_at is not None:
            heard = html.escape(entry.cut_at)
            rest = html.escape(entry.text[len(entry.cut_at) :].strip())
            body = (
                f"{heard} <span style='color:#dc2626'>✂</span> "
                f"<span style='color:#9ca3af; text-decoration:line-through'>{rest}</span>"
            )
        elif entry.heard:
            body = html.escape(entry.text)
        else:
            body = f"<span style='color:#9ca3af'>{html.escape(entry.text)}</span>"
        return f"<p style='margin:4px 0'>{stamp} <b style='color:#15803d'>Agent</b> {body}</p>"
    return (
        f"<p style='margin:2px 0; color:#b45309'>{stamp} "
        f"<span style='font-size:9pt'>— {html.escape(entry.text)} —</span></p>"
    )
