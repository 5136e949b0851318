"""Starting the desktop app: the QApplication, the theme, the window, and the smoke run.

`run_gui()` is what `workbench gui` calls. `--smoke` runs offscreen: it waits for the agent,
places one typed call to it (greeting, one caller line, the reply, hang-up, CRM write-back),
prints one JSON object of measurements and exits 0 if all of that happened.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SMOKE_LINE = "What are your opening hours?"
SMOKE_TIMEOUT_S = 150.0


def _excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    """An exception in a slot: print it (the smoke test fails on "Traceback"), keep running."""
    traceback.print_exception(kind, value, tb)


def _freeze_loaded_objects(*_: object) -> None:
    """Once the agent is loaded, exempt its millions of objects from garbage collection.

    A full collection over the loaded models stops every thread for 50-100 ms, mid-call, and
    that shows as a frozen window; `gc.freeze()` moves what exists now out of the collector's
    reach. (No `gc.collect()` first: that pass alone would freeze the window for ~0.4 s.)
    """
    import gc

    gc.freeze()


# Qt messages that are known noise, not problems (the offscreen platform cannot resize docks).
QT_NOISE = ("This plugin does not support propagateSizeHints()",)


def _qt_message(kind: Any, context: Any, message: str) -> None:
    """Qt's own warnings go to the log (and stderr through it), minus the known noise."""
    from PySide6.QtCore import QtMsgType

    if message in QT_NOISE:
        return
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
    }.get(kind, logging.ERROR)
    logging.getLogger("qt").log(level, "%s", message)


def make_application(argv: list[str] | None = None):
    """The QApplication (created once), Fusion style, palette following the system scheme."""
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    qInstallMessageHandler(_qt_message)
    app = QApplication.instance() or QApplication(argv or [sys.argv[0]])
    app.setApplicationName("Voice Agent Workbench")
    app.setOrganizationName("voice-agent-workbench")
    app.setStyle("Fusion")
    apply_theme(app)
    hints = app.styleHints()
    if hasattr(hints, "colorSchemeChanged"):
        hints.colorSchemeChanged.connect(lambda *_: apply_theme(app))
    return app


def is_dark(app: Any) -> bool:
    from PySide6.QtCore import Qt

    hints = app.styleHints()
    scheme = hints.colorScheme() if hasattr(hints, "colorScheme") else None
    return scheme == Qt.ColorScheme.Dark


def apply_theme(app: Any) -> None:
    """Light or dark as the system says; plots follow (background and axes)."""
    import pyqtgraph as pg

    dark = is_dark(app)
    pg.setConfigOptions(
        background="#1f2124" if dark else "w",
        foreground="#d4d4d8" if dark else "#27272a",
        antialias=False,
    )
    font = app.font()
    if font.pointSizeF() < 9.5:
        font.setPointSizeF(9.5)
        app.setFont(font)
    for widget in app.allWidgets():
        if isinstance(widget, pg.PlotWidget):
            widget.setBackground(pg.getConfigOption("background"))


def run_gui(*, agent_path: str | Path | None = None, smoke: bool = False) -> int:
    """Open the window (blocking until it closes); the exit code of the app."""
    started = time.perf_counter()
    if smoke:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.excepthook = _excepthook
    app = make_application()
    from workbench.ui.main_window import MainWindow
    from workbench.ui.stall import StallMonitor

    # The agent loads on threads whose imports would compete for the GIL with the first
    # paint: start them once the window is on screen.
    window = MainWindow(agent_path=agent_path, load_now=False)
    window.bridge.runtime_ready.connect(_freeze_loaded_objects)
    window.show()
    app.processEvents()
    startup_s = time.perf_counter() - started
    since_process_start = seconds_since_process_start()
    window.start_loading()
    monitor = StallMonitor(window)
    monitor.start()
    app.aboutToQuit.connect(window.shutdown)
    if smoke:
        run = SmokeRun(window, monitor, startup_s, started, since_process_start)
        app.exec()
        print(json.dumps(run.report(), sort_keys=True), flush=True)
        code = 0 if run.ok else 1
    else:
        _quit_on_ctrl_c(app)
        code = app.exec()
    # Delete the window while Qt is still whole: leaving it to interpreter shutdown can
    # crash in PySide6's finalisation.
    window.shutdown()
    window.deleteLater()
    app.processEvents()
    del window
    return code


def seconds_since_process_start() -> float | None:
    """How long this process has existed (from /proc, 10 ms resolution); None off Linux."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22 of stat(5), counted after "pid (comm)"
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return uptime_s - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _quit_on_ctrl_c(app: Any) -> None:
    """Ctrl-C in the terminal closes the window cleanly (Qt's loop would otherwise hide it
    from Python until some Python code runs: a 250 ms timer gives it that chance)."""
    import signal

    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: app.quit())
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(250)


class SmokeRun:
    """Drives one typed call through the window, as a person would, then quits."""

    def __init__(
        self,
        window: Any,
        monitor: Any,
        startup_s: float,
        started: float,
        since_process_start_s: float | None = None,
    ) -> None:
        from PySide6.QtCore import QTimer

        from workbench.ui import messages as msg

        self.window = window
        self.monitor = monitor
        self.startup_s = startup_s
        self.since_process_start_s = since_process_start_s
        self.started = started
        self.ok = False
        self.problem = ""
        self.marks: dict[str, float] = {}
        self.said = False
        self.hung_up = False
        self.crm_records = 0
        self._msg = msg
        window.bridge.runtime_ready.connect(self._on_ready)
        window.bridge.engine_event.connect(self._on_event)
        window.bridge.call_state_changed.connect(self._on_state)
        window.bridge.crm_updated.connect(self._on_crm)
        self._timeout = QTimer(window)
        self._timeout.setSingleShot(True)
        self._timeout.timeout.connect(lambda: self._finish(False, "timed out"))
        self._timeout.start(int(SMOKE_TIMEOUT_S * 1000))

    def _mark(self, name: str) -> None:
        self.marks[name] = round(time.perf_counter() - self.started, 2)

    def _on_ready(self, ready: Any) -> None:
        self._mark("agent_ready_s")
        if ready.error:
            self._finish(False, f"agent failed to load: {ready.error}")
            return
        self.monitor.reset()  # measure the call, not the agent load
        self.window.softphone.place_call()

    def _on_event(self, event: Any) -> None:
        from workbench.engine import events as ev

        if isinstance(event, ev.CallStarted):
            self._mark("connected_s")
        # Speak once the greeting has finished, as a person would.
        if isinstance(event, ev.AgentAudioStopped) and event.turn == 0 and not self.said:
            self.said = True
            self.window.softphone.say(SMOKE_LINE)
        if isinstance(event, ev.TurnCompleted) and event.turn == 1 and not self.hung_up:
            self._mark("reply_heard_s")
            self.hung_up = True
            self.window.softphone.hang_up()

    def _on_crm(self, update: Any) -> None:
        if update.final:
            self.crm_records = len(update.records)
            if update.error:
                self.problem = update.error

    def _on_state(self, state: str, detail: str) -> None:
        if state == self._msg.ENDED and self.hung_up:
            self._mark("ended_s")
            self._finish(True, "")
        elif state == self._msg.ENDED:
            self._finish(False, f"the call ended early: {detail}")

    def _finish(self, ok: bool, problem: str) -> None:
        from PySide6.QtWidgets import QApplication

        self.ok = ok and self.window.isVisible()
        self.problem = self.problem or problem
        self.monitor.stop()
        QApplication.instance().quit()

    def report(self) -> dict[str, Any]:
        window = self.window
        summary = window.live.model.summary()
        return {
            "ok": self.ok,
            "problem": self.problem,
            "startup_s": round(self.startup_s, 3),
            # The whole wait a person has: interpreter, CLI and imports included (Linux only).
            "window_shown_after_process_start_s": (
                round(self.since_process_start_s, 2)
                if self.since_process_start_s is not None
                else None
            ),
            "worst_gui_stall_ms": round(self.monitor.worst_ms, 1),
            "stall_ticks": self.monitor.ticks,
            "worst_bridge_drain_ms": round(window.bridge.worst_drain_ms, 1),
            "bridge_items": window.bridge.drained,
            "slowest_bridge_item": [
                window.bridge.slowest_item[0],
                round(window.bridge.slowest_item[1], 1),
            ],
            "transcript_entries": len(window.transcript.entries),
            "waterfall_rows": len(window.waterfall.timelines),
            "turn_latency": summary,
            "crm_records": self.crm_records,
            **self.marks,
        }
