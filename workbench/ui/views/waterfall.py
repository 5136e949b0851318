"""The latency waterfall: one row per turn, stacked lanes adding up to what the caller waited.

Drawn with pyqtgraph's `BarGraphItem`, one item per owner colour (network, setting, stage,
playout, voice), so each item paints with a single `drawRects` call; the rows are updated
with `setOpts` when a turn completes. A vertical line marks the latency budget; the title
gives p50/p95 over the call's turns. Clicking a row emits `turn_clicked(turn)`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QTimer, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from workbench.engine.trace import OWNER_KINDS, TurnTimeline
from workbench.stats import latency_summary
from workbench.ui.bridge import EngineBridge

OWNER_COLOURS = {
    "network": "#3b82f6",
    "setting": "#f59e0b",
    "stage": "#10b981",
    "playout": "#a855f7",
    "voice": "#94a3b8",
}
OWNER_LABELS = {
    "network": "network",
    "setting": "setting (endpointing, queueing)",
    "stage": "stage (STT, understanding, TTS)",
    "playout": "playout",
    "voice": "voice onset",
}
ROW_HEIGHT = 0.7
# Rows are redrawn on their own event-loop turn, not inside the bridge drain, and apart from
# the transcript's and inspector's redraws so no single paint carries all three.
REDRAW_MS = 150


class WaterfallView(QWidget):
    """Subscribes to `bridge.turn_completed`; `timelines` holds the rows shown."""

    turn_clicked = Signal(int)

    def __init__(
        self, bridge: EngineBridge, *, budget_ms: float = 1200.0, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.timelines: dict[int, TurnTimeline] = {}
        self.budget_ms = budget_ms
        self.selected_turn: int | None = None

        self.summary_label = QLabel()
        self.summary_label.setContentsMargins(6, 2, 6, 2)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=False, alpha=0.25)
        self.plot.setLabel("bottom", "caller-perceived latency (ms from the caller's last word)")
        self.plot.getViewBox().invertY(True)
        self.plot.getViewBox().setMouseEnabled(x=True, y=False)
        self.legend_label = QLabel(
            " ".join(
                f"<span style='color:{OWNER_COLOURS[k]}; font-size:13pt'>■</span>"
                f"&nbsp;{OWNER_LABELS[k]}&nbsp;&nbsp;"
                for k in OWNER_KINDS
            )
        )
        self.legend_label.setContentsMargins(6, 0, 6, 0)
        self.highlight = pg.BarGraphItem(
            x0=[0],
            width=[0],
            y=[0],
            height=[ROW_HEIGHT + 0.2],
            brush=pg.mkBrush(120, 120, 120, 60),
            pen=pg.mkPen(None),
        )
        self.highlight.setVisible(False)
        self.plot.addItem(self.highlight)
        self.items: dict[str, pg.BarGraphItem] = {}
        for kind in OWNER_KINDS:
            item = pg.BarGraphItem(
                x0=[],
                width=[],
                y=[],
                height=ROW_HEIGHT,
                brush=pg.mkBrush(OWNER_COLOURS[kind]),
                pen=pg.mkPen(QColor(OWNER_COLOURS[kind]).darker(130), width=1),
            )
            self.plot.addItem(item)
            self.items[kind] = item
        self.budget_line = pg.InfiniteLine(
            pos=budget_ms,
            angle=90,
            pen=pg.mkPen("#dc2626", width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
            label=f"budget {budget_ms:.0f} ms",
            labelOpts={"position": 0.04, "color": "#dc2626", "anchors": [(1, 0), (1, 0)]},
        )
        self.plot.addItem(self.budget_line)
        self.plot.scene().sigMouseClicked.connect(self._on_click)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.budget_spin = QSpinBox()
        self.budget_spin.setRange(100, 10_000)
        self.budget_spin.setSingleStep(100)
        self.budget_spin.setSuffix(" ms")
        self.budget_spin.setValue(int(budget_ms))
        self.budget_spin.setToolTip("The latency budget a reply should reach the caller within")
        self.budget_spin.valueChanged.connect(lambda value: self.set_budget(float(value)))
        header = QHBoxLayout()
        header.addWidget(self.summary_label, 1)
        header.addWidget(QLabel("Budget"))
        header.addWidget(self.budget_spin)
        layout.addLayout(header)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.legend_label)
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self._update_rows)
        bridge.turn_completed.connect(self._on_turn_completed)
        bridge.engine_event.connect(self._on_event)
        self._update_rows()

    def set_budget(self, budget_ms: float) -> None:
        self.budget_ms = budget_ms
        self.budget_line.setValue(budget_ms)
        self.budget_line.label.setFormat(f"budget {budget_ms:.0f} ms")
        if self.budget_spin.value() != int(budget_ms):
            self.budget_spin.setValue(int(budget_ms))
        self._update_rows()

    def clear(self) -> None:
        self.timelines.clear()
        self.selected_turn = None
        self._update_rows()

    def load_timelines(self, timelines: list[TurnTimeline]) -> None:
        self.timelines = {t.turn: t for t in timelines}
        self._update_rows()

    def select_turn(self, turn: int | None) -> None:
        self.flush()
        self.selected_turn = turn
        self._update_highlight()

    @Slot(object)
    def _on_event(self, event: object) -> None:
        from workbench.engine import events as ev

        if isinstance(event, ev.CallStarted):
            self.clear()

    @Slot(int, object)
    def _on_turn_completed(self, turn: int, timeline: TurnTimeline) -> None:
        self.timelines[turn] = timeline
        if not self._redraw.isActive():
            self._redraw.start()

    def rows(self) -> list[int]:
        return sorted(self.timelines)

    def row_of(self, turn: int) -> int:
        return self.rows().index(turn)

    def flush(self) -> None:
        """Redraw now if a redraw is pending (tests, screenshots)."""
        if self._redraw.isActive():
            self._redraw.stop()
            self._update_rows()

    @Slot(object)
    def _on_click(self, mouse_event: object) -> None:
        view = self.plot.getViewBox()
        pos = mouse_event.scenePos()  # type: ignore[attr-defined]
        if not view.sceneBoundingRect().contains(pos):
            return
        point: QPointF = view.mapSceneToView(pos)
        rows = self.rows()
        row = int(round(point.y()))
        if 0 <= row < len(rows):
            self.select_turn(rows[row])
            self.turn_clicked.emit(rows[row])

    # paint ------------------------------------------------------------------------------
    @Slot()
    def _update_rows(self) -> None:
        rows = self.rows()
        per_kind: dict[str, tuple[list[float], list[float], list[float]]] = {
            kind: ([], [], []) for kind in OWNER_KINDS
        }
        for row, turn in enumerate(rows):
            for lane in self.timelines[turn].lanes:
                x0, widths, ys = per_kind.setdefault(lane.owner_kind, ([], [], []))
                x0.append(lane.start_ms)
                widths.append(max(lane.duration_ms, 0.5))
                ys.append(float(row))
        for kind, item in self.items.items():
            x0, widths, ys = per_kind[kind]
            item.setOpts(
                x0=np.array(x0, dtype=float),
                width=np.array(widths, dtype=float),
                y=np.array(ys, dtype=float),
                height=ROW_HEIGHT,
            )
        ticks = [(row, _row_label(self.timelines[turn])) for row, turn in enumerate(rows)]
        self.plot.getAxis("left").setTicks([ticks])
        longest = max((self.timelines[t].total_ms for t in rows), default=0.0)
        self.plot.setXRange(0, max(longest, self.budget_ms) * 1.08, padding=0)
        self.plot.setYRange(-0.6, max(len(rows), 3) - 0.4, padding=0)
        self._update_highlight()
        self._update_summary()

    def _update_highlight(self) -> None:
        if self.selected_turn is None or self.selected_turn not in self.timelines:
            self.highlight.setVisible(False)
            return
        row = self.row_of(self.selected_turn)
        width = max(self.timelines[self.selected_turn].total_ms, self.budget_ms) * 1.08
        self.highlight.setOpts(x0=[0], width=[width], y=[row], height=ROW_HEIGHT + 0.25)
        self.highlight.setVisible(True)

    def _update_summary(self) -> None:
        caller_turns = [t for n, t in self.timelines.items() if n > 0]
        summary = latency_summary([t.total_ms for t in caller_turns], suffix="_ms", mean=True)
        if not caller_turns:
            text = "No caller turns yet — latency appears here as each reply reaches the caller."
        else:
            over = sum(1 for t in caller_turns if t.total_ms > self.budget_ms)
            text = (
                f"<b>{summary['turns']} turns</b> &nbsp; p50 <b>{summary['p50_ms']:.0f} ms</b>"
                f" &nbsp; p95 <b>{summary['p95_ms']:.0f} ms</b> &nbsp; max {summary['max_ms']:.0f}"
                " ms"
                + (f" &nbsp; <span style='color:#dc2626'>{over} over budget</span>" if over else "")
            )
        self.summary_label.setText(text)


def _row_label(timeline: TurnTimeline) -> str:
    if timeline.turn == 0:
        return "greeting"
    words = timeline.caller_text.split()
    text = " ".join(words[:4]) + ("…" if len(words) > 4 else "")
    return f"T{timeline.turn} {text}" if text else f"T{timeline.turn}"
