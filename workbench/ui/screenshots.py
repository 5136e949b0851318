"""`workbench screenshots DIR`: each panel as a PNG after a scripted demo call (offscreen).

The demo places a scripted call (virtual time) over a Wi-Fi-like caller leg with the call
panel's ear (accurate unless `--ear`), writes it to the CRM, runs the scenario suite, runs a short
real load test from the Load panel (`workbench load local`: the demo agent served on loopback,
Locust calling it), and leaves a deliberate mistake in the agent editor (unsaved) so the inline
validation shows; then it grabs the window and every panel with `QWidget.grab()`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from workbench.errors import WorkbenchError

DEMO_LINES = [  # an opening-hours question, then the book-demo scenario's conversation
    "What are your opening hours?",
    "I'd like to book a demo.",
    "My name is James Smith.",
    "Yes.",
    "James at example dot com.",
    "Yes.",
    "Next Tuesday.",
    "Yes.",
    "The first one.",
    "No thank you goodbye.",
]
WINDOW_SIZE = (1500, 940)
# The Load panel's run: bounded, and long enough for turns to complete after Locust has
# pre-rendered the suite's audio (~15 s of its run time), so the latency chart has points.
LOAD_USERS = 2
LOAD_DURATION_S = 45
LOAD_PICTURE_SIZE = (1300, 520)  # its charts need more room than a bottom tab gives them


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Run the event loop until `condition()` holds (a script, not a test: polling is fine)."""
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise WorkbenchError(f"screenshots: timed out waiting for {what}")
        QApplication.processEvents()
        time.sleep(0.01)


def render_screenshots(
    out_dir: Path, *, agent_path: Path | None = None, ear: str | None = None
) -> list[Path]:
    """`ear`: the call panel's ear for the demo call (None: the agent's, else accurate)."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import tempfile

    from PySide6.QtCore import QSettings

    from workbench.ui import messages as msg
    from workbench.ui.app import make_application
    from workbench.ui.main_window import MainWindow

    out_dir.mkdir(parents=True, exist_ok=True)
    app = make_application()
    # Fresh settings: the pictures must not depend on how this machine's user left the window.
    settings_dir = tempfile.mkdtemp(prefix="workbench-screenshots-")
    settings = QSettings(str(Path(settings_dir) / "gui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(agent_path=agent_path, settings=settings, ear=ear)
    window.resize(*WINDOW_SIZE)
    window.show()
    states: list[str] = []
    window.bridge.call_state_changed.connect(lambda state, _detail: states.append(state))
    try:
        wait_until(lambda: window.softphone.ready, 180, "the agent to load")
        window.softphone.voice_combo.setCurrentText("piper:joe")
        window.network.preset_combo.setCurrentText("wifi")
        window.handle.run_scripted_call(DEMO_LINES, ear=window.softphone.ear)
        wait_until(lambda: msg.ENDED in states, 180, "the demo call and its CRM write-back")
        wait_until(lambda: window.scenarios.suite_loaded, 30, "the scenario suite")
        window.scenarios.run_all()
        total = window.scenarios.tree.topLevelItemCount()
        wait_until(lambda: len(window.scenarios.results) >= total, 300, "the scenario runs")
        _run_load(window)
        window.scenarios.tree.setCurrentItem(window.scenarios.tree.topLevelItem(0))
        first = min((t for t in window.waterfall.timelines if t > 0), default=0)
        window.waterfall.select_turn(first)
        window.inspector.show_turn(first)
        _break_agent_yaml(window)
        wait_until(lambda: bool(window.agent_panel.problems), 30, "the agent validation")
        window.statusBar().clearMessage()
        app.processEvents()
        return _grab_all(window, out_dir)
    finally:
        window.close()
        app.processEvents()


def _run_load(window) -> None:
    """A real, bounded load run from the Load panel, as a person would start it."""
    panel = window.load_panel
    if not panel.available:
        raise WorkbenchError("screenshots: this build has no `workbench load` for the Load panel")
    window.docks["Load"].raise_()  # (shown: the panel builds its charts)
    panel.users.setValue(LOAD_USERS)
    panel.spawn_rate.setValue(LOAD_USERS)
    panel.duration.setValue(LOAD_DURATION_S)
    panel.start()
    wait_until(lambda: panel.process is None, LOAD_DURATION_S + 120, "the load run")
    if "[exit code 0]" not in panel.log.toPlainText():
        raise WorkbenchError(
            "screenshots: the load run failed:\n" + panel.log.toPlainText()[-2000:]
        )
    bar = panel.log.verticalScrollBar()
    bar.setValue(bar.maximum())  # the run's summary, not its start
    window.docks["Scenarios"].raise_()


def _break_agent_yaml(window) -> None:
    """An unsaved typo in the editor, to show validation errors inline (never saved)."""
    editor = window.agent_panel.editor
    text = editor.toPlainText().replace("greeting:", "greting:", 1)
    editor.setPlainText(text)
    window.agent_panel.validate()


def _grab_all(window, out_dir: Path) -> list[Path]:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    written: list[Path] = []

    def save(widget, name: str) -> None:
        QApplication.processEvents()
        path = out_dir / f"{name}.png"
        if not widget.grab().save(str(path)):
            raise WorkbenchError(f"screenshots: could not write {path}")
        written.append(path)

    window.docks["Scenarios"].raise_()
    save(window, "main-window")
    save(window.docks["Softphone"], "softphone")
    save(window.centralWidget().widget(0), "transcript")
    save(window.centralWidget().widget(1), "waterfall")
    save(window.docks["Decision inspector"], "inspector")
    # The bottom panels get more room for their own pictures than they have beside the others.
    window.resizeDocks([window.docks["Scenarios"]], [430], Qt.Orientation.Vertical)
    for title, name in (
        ("Scenarios", "scenarios"),
        ("CRM", "crm"),
        ("Network", "network"),
        ("Agent", "agent"),
        ("Agent desk", "desk"),
    ):
        window.docks[title].raise_()
        save(window.docks[title], name)
    load = window.docks["Load"]
    load.setFloating(True)
    load.resize(*LOAD_PICTURE_SIZE)
    save(load, "load")
    load.setFloating(False)
    return written
