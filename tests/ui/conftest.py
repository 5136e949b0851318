"""GUI test fixtures: pytest-qt on PySide6 offscreen, one loaded agent for the session, a
window factory that always shuts its engine threads down, and a guard against leaked threads."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("PYTEST_QT_API", "pyside6")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

# Threads a library keeps for the life of the process by design, started by whichever test
# first needs them: espeak-ng is not thread-safe, so every synthesis runs on its one thread;
# the live calls of a process share one call clock (`realtime.shared_clock`), idle between calls.
PROCESS_THREADS = ("espeak_", "call-clock")


@pytest.fixture(scope="session")
def call_runtime():
    """The demo agent and its speech stack, loaded once (a few seconds) for every GUI test."""
    from workbench.engine.calls import CallRuntime

    runtime = CallRuntime()
    runtime.stack(runtime.agent())
    return runtime


@pytest.fixture(autouse=True)
def no_threads_left_running():
    """Like napari's guard: a test must join every thread it started."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    # A thread that is finishing its last instructions may still be alive for an instant.
    for thread in leaked:
        thread.join(timeout=2.0)
    leaked = [t.name for t in leaked if t.is_alive() and not t.name.startswith(PROCESS_THREADS)]
    assert not leaked, f"threads left running: {leaked}"


@pytest.fixture
def make_main_window(qtbot, call_runtime, tmp_path):
    """Build `MainWindow`s on the shared runtime with no audio devices and throwaway settings."""
    from PySide6.QtCore import QSettings

    from workbench.ui.audio_io import AudioDevices
    from workbench.ui.main_window import MainWindow

    windows = []

    def make(**options):
        options.setdefault("crm", False)
        options.setdefault("devices", AudioDevices(problem="no audio devices: none in this test"))
        options.setdefault(
            "settings", QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
        )
        window = MainWindow(call_runtime, **options)
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        # (loading the ear's Whisper workers took over 30 s once with the cores busy)
        with qtbot.waitSignal(window.bridge.runtime_ready, timeout=120_000):
            pass
        return window

    yield make
    for window in windows:
        window.shutdown()
