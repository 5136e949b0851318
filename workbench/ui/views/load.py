"""The load panel: a bounded Locust run in a subprocess (`workbench load`), charted live.

Locust (and gevent's monkey-patching) never enters this process: the run is
`python -m workbench load TARGET --users N --spawn-rate R --duration D` under a `QProcess`.
Progress lines that are JSON objects (users, p50/p95 turn latency, failures) feed the charts;
every line goes to the log; a line naming an .html file enables "Open report". The default
target, `local`, makes `workbench load` start the demo agent for the run and stop it after.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QProcess, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench.paths import REPO_ROOT

STOP_GRACE_MS = 20_000  # Stop: time for Locust to write the report and a local agent to stop
REPORT_LINE = re.compile(r"\breport: (.+?\.html)(?=\s|$)")  # `workbench load`'s last line
HTML_PATH = re.compile(r"(\S+\.html)\b")


def load_command_available() -> bool:
    return importlib.util.find_spec("workbench.load_commands") is not None


def _pick(data: dict, *names: str) -> float | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, int | float):
            return float(value)
    return None


class LoadPanel(QWidget):
    """`program` is what runs `load …` (default: this Python with `-m workbench`)."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        program: list[str] | None = None,
        available: bool | None = None,
    ) -> None:
        super().__init__(parent)
        self.program = program or [sys.executable, "-m", "workbench"]
        self.process: QProcess | None = None
        self.report_path: Path | None = None
        self.samples: dict[str, list[tuple[float, float]]] = {
            "users": [],
            "p50": [],
            "p95": [],
            "failures": [],
        }
        self._t0 = 0.0
        self._partial = ""  # output after the last newline: the start of a line still coming
        self._charted: dict[str, int] = {}  # points per curve as last drawn
        self.available = load_command_available() if available is None else available
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.target_edit = QLineEdit("local")
        self.target_edit.setToolTip("What to load: 'local' or a deployed agent's WebSocket URL")
        self.users = _spin(1, 500, 10)
        self.spawn_rate = _spin(1, 100, 2)
        self.duration = _spin(5, 3600, 60)
        self.duration.setSuffix(" s")
        form = QFormLayout()
        form.addRow("Target", self.target_edit)
        form.addRow("Users", self.users)
        form.addRow("Spawn rate (/s)", self.spawn_rate)
        form.addRow("Duration", self.duration)
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.report_button = QPushButton("Open HTML report")
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.report_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        # Three plots cost ~0.15 s: built when the panel is first shown or a run starts, not
        # at the app's start (the panel sits behind a tab).
        charts = QHBoxLayout()
        self.charts_layout = charts
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._placeholder = QLabel(
            "Live charts of concurrent calls, p50/p95 turn latency and failures appear "
            "here during a run."
        )
        self._placeholder.setWordWrap(True)
        self._placeholder.setStyleSheet("color: #6b7280;")
        charts.addWidget(self._placeholder)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addLayout(buttons)
        left.addWidget(self.log, 1)
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addLayout(charts, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.note)
        layout.addLayout(body, 1)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.report_button.clicked.connect(self._on_report)
        if self.available:
            self.note.setText(
                "Runs <code>workbench load</code> (Locust) in its own process against the target."
            )
        else:
            self.note.setText(
                "<b>Load testing is not available yet</b>: this build has no "
                "<code>workbench load</code> command. The panel enables itself once it exists."
            )
            for widget in (self.target_edit, self.users, self.spawn_rate, self.duration):
                widget.setEnabled(False)
        self._update_buttons()

    def _ensure_charts(self) -> None:
        if self.curves or not self.available:
            return
        users = pg.PlotWidget(title="concurrent calls")
        latency = pg.PlotWidget(title="turn latency p50 / p95 (ms)")
        failures = pg.PlotWidget(title="failures")
        self.curves = {
            "users": users.plot(pen=pg.mkPen("#3b82f6", width=2)),
            "p50": latency.plot(pen=pg.mkPen("#10b981", width=2)),
            "p95": latency.plot(pen=pg.mkPen("#f59e0b", width=2)),
            "failures": failures.plot(pen=pg.mkPen("#dc2626", width=2)),
        }
        self._placeholder.hide()
        for plot in (users, latency, failures):
            plot.setMenuEnabled(False)
            plot.setLabel("bottom", "s")
            self.charts_layout.addWidget(plot)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._ensure_charts()
        super().showEvent(event)

    def command(self) -> list[str]:
        """The arguments after the program: `load TARGET --users N --spawn-rate R --duration D`."""
        return [
            "load",
            self.target_edit.text().strip() or "local",
            "--users",
            str(self.users.value()),
            "--spawn-rate",
            str(self.spawn_rate.value()),
            "--duration",
            str(self.duration.value()),
        ]

    @Slot()
    def start(self) -> None:
        if not self.available or self.process is not None:
            return
        self._ensure_charts()
        for series in self.samples.values():
            series.clear()
        self._charted.clear()
        self.report_path = None
        self._partial = ""
        self.log.clear()
        self._t0 = time.monotonic()
        process = QProcess(self)
        process.setWorkingDirectory(str(REPO_ROOT))
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._on_output)
        process.finished.connect(self._on_finished)
        self.process = process
        process.start(self.program[0], [*self.program[1:], *self.command()])
        self.log.appendPlainText("$ workbench " + " ".join(self.command()))
        self._update_buttons()

    @Slot()
    def stop(self) -> None:
        """SIGTERM: `workbench load` passes it to Locust, which stops its users and writes the
        report; then a local agent is stopped. Killed only if that takes over 20 s."""
        process = self.process
        if process is not None:
            process.terminate()
            QTimer.singleShot(STOP_GRACE_MS, self, lambda: self._kill_if_running(process))

    def _kill_if_running(self, process: QProcess) -> None:
        if self.process is process:  # not finished (a finished one is deleted: never touched)
            process.kill()

    def shutdown(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.waitForFinished(3000)

    @Slot()
    def _on_output(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        *lines, self._partial = (self._partial + text).split("\n")
        self._take(lines)

    def _take(self, lines: list[str]) -> None:
        for line in lines:
            line = line.rstrip("\r")
            self.log.appendPlainText(line)
            self._ingest(line)
        self._update_charts()

    def _ingest(self, line: str) -> None:
        found = REPORT_LINE.search(line) or HTML_PATH.search(line)
        if found:
            self.report_path = Path(found.group(1))
        if not line.lstrip().startswith("{"):
            return
        try:
            data = json.loads(line)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        t = time.monotonic() - self._t0
        for key, names in (
            ("users", ("users", "user_count", "concurrency")),
            ("p50", ("p50_ms", "p50", "turn_p50_ms")),
            ("p95", ("p95_ms", "p95", "turn_p95_ms")),
            ("failures", ("failures", "num_failures", "fail_count")),
        ):
            value = _pick(data, *names)
            if value is not None:
                self.samples[key].append((t, value))

    def _update_charts(self) -> None:
        """Redraw the curves that got points since the last call (most output is log lines)."""
        for key, curve in self.curves.items():
            points = self.samples[key]
            if points and len(points) != self._charted.get(key):
                xs, ys = zip(*points, strict=True)
                curve.setData(list(xs), list(ys), skipFiniteCheck=True)
                self._charted[key] = len(points)

    @Slot()
    def _on_finished(self) -> None:
        if self.process is not None:
            self._on_output()
            if self._partial:
                self._take([self._partial])
                self._partial = ""
            self.log.appendPlainText(f"[exit code {self.process.exitCode()}]")
            self.process.deleteLater()
        self.process = None
        self._update_buttons()

    @Slot()
    def _on_report(self) -> None:
        if self.report_path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.report_path.resolve())))

    def _update_buttons(self) -> None:
        running = self.process is not None
        self.start_button.setEnabled(self.available and not running)
        self.stop_button.setEnabled(running)
        self.report_button.setEnabled(self.report_path is not None and not running)


def _spin(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    return spin
