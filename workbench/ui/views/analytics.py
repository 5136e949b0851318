"""The Analytics panel: every call added up, as `workbench report` does it, over the same data.

Its sources are the GUI's call log (each call made in this window), `serve`'s call log under
the same workbench home, and any run files or folders the user adds; it reads them with
`scenario.analytics.load_calls` and shows `aggregate`'s figures: containment overall and by
topic, task success by topic, the turn-latency distribution as a chart, top failure reasons.
It refreshes after each call that ends here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.ui.bridge import EngineBridge

TOPIC_COLUMNS = ("topic", "calls", "AI-resolved", "handed off", "abandoned", "task success")


def default_sources() -> list[Path]:
    """The call logs this workbench home has: the GUI's and serve's."""
    from workbench.paths import workbench_home

    home = workbench_home()
    return [home / "gui" / "calls.jsonl", home / "serve" / "calls.jsonl"]


class AnalyticsPanel(QWidget):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.extra_sources: list[Path] = []
        self.data: dict[str, Any] | None = None
        self.summary_label = QLabel("no calls yet")
        self.summary_label.setWordWrap(True)
        self.reasons_label = QLabel()
        self.reasons_label.setWordWrap(True)
        self.table = QTableWidget(0, len(TOPIC_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TOPIC_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.chart = pg.PlotWidget()
        self.chart.setBackground("w")
        self.chart.setLabel("bottom", "turn latency at the caller, up to (s)")
        self.chart.setLabel("left", "turns")
        self.chart.setMinimumHeight(120)
        self.refresh_button = QPushButton("Refresh")
        self.add_button = QPushButton("Add run files…")
        self.refresh_button.clicked.connect(self.refresh)
        self.add_button.clicked.connect(self._choose_files)

        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        figures = QHBoxLayout()
        figures.addWidget(self.table, 3)
        figures.addWidget(self.chart, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.summary_label)
        layout.addLayout(figures, 1)
        layout.addWidget(self.reasons_label)
        bridge.call_finished.connect(self._on_call_finished)

    def sources(self) -> list[Path]:
        return [p for p in default_sources() if p.exists()] + self.extra_sources

    def add_sources(self, paths: list[Path]) -> None:
        self.extra_sources += [p for p in paths if p not in self.extra_sources]
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        from workbench.scenario.analytics import aggregate, load_calls

        sources = self.sources()
        if not sources:
            self._show(None, "no calls yet: make a call, or add run files")
            return
        try:
            data = aggregate(load_calls(sources))
        except WorkbenchError as error:
            self._show(None, str(error))
            return
        self._show(data, "")

    def _show(self, data: dict[str, Any] | None, message: str) -> None:
        self.data = data
        self.table.setRowCount(0)
        self.chart.clear()
        if data is None:
            self.summary_label.setText(message)
            self.reasons_label.clear()
            return
        latency = data["turn_latency_ms"]
        spread = (
            f"; turn latency p50 {latency['p50']:.0f} / p95 {latency['p95']:.0f} ms over "
            f"{latency['turns']} turns"
            if latency.get("turns")
            else ""
        )
        self.summary_label.setText(
            f"{data['calls']} calls; containment (AI-resolved) {data['containment']:.0%}{spread}"
        )
        tasks = data["task_success_by_topic"]
        rows = data["containment_by_topic"]
        self.table.setRowCount(len(rows))
        for row, (topic, counts) in enumerate(rows.items()):
            task = tasks.get(topic)
            cells = (
                topic,
                str(counts["calls"]),
                f"{counts['containment']:.0%}",
                str(counts["handed_off"] + counts["workflow"]),
                str(counts["abandoned"]),
                f"{task['succeeded']}/{task['calls']}" if task else "—",
            )
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        bins = latency["histogram"]
        self.chart.addItem(
            pg.BarGraphItem(
                x=list(range(len(bins))),
                height=[b["turns"] for b in bins],
                width=0.8,
                brush="#5b8e7d",
            )
        )
        # Each bar under its upper bound in seconds ("0.2" … "3", then "3+"): short enough to
        # stay apart on a narrow panel.
        self.chart.getAxis("bottom").setTicks(
            [[(i, _bin_tick(b["ms"])) for i, b in enumerate(bins)]]
        )
        reasons = data["top_failure_reasons"][:5]
        self.reasons_label.setText(
            "top failure reasons: " + "; ".join(f"{r} ×{n}" for r, n in reasons)
            if reasons
            else "no failures"
        )

    @Slot(object)
    def _on_call_finished(self, finished: Any) -> None:
        if not finished.error:
            self.refresh()

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Run files or call logs", "", "Runs and call logs (*.json *.jsonl)"
        )
        if files:
            self.add_sources([Path(f) for f in files])


def _bin_tick(label: str) -> str:
    """ "200–300" → "0.3"; "> 3000" → "3+"."""
    if label.startswith(">"):
        return f"{float(label[1:]) / 1000:g}+"
    return f"{float(label.split('–')[1]) / 1000:g}"
