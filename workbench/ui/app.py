"""Starting the desktop app: the QApplication, the theme, the window, and the smoke run.

`run_gui()` is what `workbench gui` calls. `--smoke` runs offscreen: it waits for the agent,
places one typed call to it (greeting, one caller line, the reply, hang-up, CRM write-back),
prints one JSON object of measurements and exits 0 if all of that happened (offscreen, unless
`QT_QPA_PLATFORM` names a platform: the tests also run it under a real X server).

Before the QApplication exists, `platform_problem()` checks that the libraries Qt's desktop
platform plugin (xcb, wayland) links against are installed: when they are not, `workbench gui`
says in one line which Debian packages to install instead of aborting with Qt's message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
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


# Qt's desktop platform plugins (in Qt's `platforms` plugin folder), by platform name.
PLATFORM_PLUGINS = {"xcb": "libqxcb.so", "wayland": "libqwayland.so"}
# Debian packages whose names do not follow the soname rule (`package_for_soname`).
SONAME_PACKAGES = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libGLdispatch.so.0": "libglvnd0",
    "libOpenGL.so.0": "libopengl0",
}


def package_for_soname(soname: str) -> str:
    """The Debian package that ships a library: `libxcb-icccm.so.4` -> `libxcb-icccm4`.

    Debian's rule (policy 8.1): the library's name, lower-cased, then its SONAME version,
    with a dash between when the name ends in a digit (`libxkbcommon-x11.so.0` ->
    `libxkbcommon-x11-0`); the few exceptions that matter to Qt are listed.
    """
    if soname in SONAME_PACKAGES:
        return SONAME_PACKAGES[soname]
    match = re.fullmatch(r"(.+?)\.so\.([0-9.]+)", soname)
    if not match:
        return soname
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def missing_libraries(plugin: Path) -> list[str]:
    """The sonames `plugin` links against (directly or not) that the loader cannot find.

    Asks `ldd` (about 15 ms); an empty list when there is no `ldd` or no such plugin, since
    then Qt's own message is the best there is.
    """
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.is_file():
        return []
    try:
        done = subprocess.run(
            [ldd, str(plugin)], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_ldd_missing(done.stdout)


def parse_ldd_missing(ldd_output: str) -> list[str]:
    """Sonames `ldd` reported as `=> not found`, each once, in order."""
    missing: list[str] = []
    for line in ldd_output.splitlines():
        name, _, where = line.strip().partition("=>")
        name = name.strip()
        if where.strip() == "not found" and name not in missing:
            missing.append(name)
    return missing


def platform_plugins_dir() -> Path:
    """Where Qt looks for its platform plugins (`QT_QPA_PLATFORM_PLUGIN_PATH` first)."""
    override = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    if override:
        return Path(override)
    from PySide6.QtCore import QLibraryInfo

    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"


def missing_platform_packages(platform: str, plugins_dir: Path | None = None) -> list[str]:
    """The Debian packages Qt's `platform` plugin (xcb, wayland) needs and this machine lacks
    (`ldd` follows the plugin's own Qt libraries too, e.g. libQt6XcbQpa.so.6)."""
    plugin = (plugins_dir or platform_plugins_dir()) / PLATFORM_PLUGINS[platform]
    packages: list[str] = []
    for soname in missing_libraries(plugin):
        package = package_for_soname(soname)
        if package not in packages:
            packages.append(package)
    return packages


def report_missing_platform_packages() -> None:
    """For scripts/setup: one line per desktop platform plugin that cannot load here."""
    try:
        import PySide6.QtCore  # noqa: F401 (the plugins come with it)
    except ImportError:
        return
    for platform in PLATFORM_PLUGINS:
        missing = missing_platform_packages(platform)
        if missing:
            print(
                f"setup: warning: Qt's {platform} platform plugin needs packages that are not "
                f"installed: {' '.join(missing)} (the window cannot open on {platform} without)",
                file=sys.stderr,
            )


def platforms_to_try(environ: dict[str, str] | None = None) -> list[str]:
    """The desktop platforms Qt will try, in order, with a display to connect to.

    An explicit `QT_QPA_PLATFORM` (`xcb`, `wayland;xcb`, `xcb:option`) decides; otherwise a
    Wayland session tries Wayland first, and X11 (or XWayland) is the fallback. A platform
    without a display (`DISPLAY`, `WAYLAND_DISPLAY`) is left out. Empty when the chosen
    platform is none of these (offscreen, eglfs…): nothing to check then.
    """
    env = os.environ if environ is None else environ
    displays = {"xcb": bool(env.get("DISPLAY")), "wayland": bool(env.get("WAYLAND_DISPLAY"))}
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen:
        names = [part.split(":", 1)[0].strip() for part in chosen.split(";") if part.strip()]
        names = ["wayland" if n.startswith("wayland") else n for n in names]
        if any(n not in displays for n in names):
            return []
    elif env.get("XDG_SESSION_TYPE") == "wayland" or (displays["wayland"] and not displays["xcb"]):
        names = ["wayland", "xcb"]
    else:
        names = ["xcb"]
    return [n for n in names if displays[n]]


def platform_problem(environ: dict[str, str] | None = None, plugins_dir: Path | None = None) -> str:
    """One line naming the Debian packages to install when no desktop platform Qt would try
    can load here; "" when one can (or there is nothing to check)."""
    platforms = platforms_to_try(environ)
    if not platforms or sys.platform != "linux":
        return ""
    needed: list[str] = []
    for platform in platforms:
        missing = missing_platform_packages(platform, plugins_dir)
        if not missing:
            if platform != platforms[0]:
                log.info("Qt's %s platform cannot load here; using %s", platforms[0], platform)
            return ""
        needed += [p for p in missing if p not in needed]
    names = " and ".join(platforms)
    plural = "s need" if len(platforms) > 1 else " needs"
    listed = " ".join(needed)
    return (
        f"the desktop app cannot open a window: Qt's {names} platform plugin{plural} "
        "libraries this machine lacks; "
        f"install them with `sudo apt-get install {listed}` (./scripts/setup does), "
        "or run `workbench demo` for the call in the terminal"
    )


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


def run_gui(
    *, agent_path: str | Path | None = None, smoke: bool = False, ear: str | None = None
) -> int:
    """Open the window (blocking until it closes); the exit code of the app. `ear`: the
    softphone's ear to start with (None: the agent's `ear:`, else accurate)."""
    started = time.perf_counter()
    if smoke:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    problem = platform_problem()
    if problem:
        from workbench.errors import ConfigError

        raise ConfigError(problem)
    sys.excepthook = _excepthook
    app = make_application()
    from workbench.ui.main_window import MainWindow
    from workbench.ui.stall import StallMonitor

    # The agent loads on threads whose imports would compete for the GIL with the first
    # paint: start them once the window is on screen.
    window = MainWindow(agent_path=agent_path, load_now=False, ear=ear)
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
        from PySide6.QtWidgets import QApplication

        window = self.window
        summary = window.live.model.summary()
        screen = window.screen()
        available = screen.availableGeometry()
        frame = window.frameGeometry()
        return {
            "ok": self.ok,
            "problem": self.problem,
            "platform": QApplication.platformName(),
            "window": [frame.x(), frame.y(), frame.width(), frame.height()],
            "screen_available": [
                available.x(),
                available.y(),
                available.width(),
                available.height(),
            ],
            "window_within_screen": available.contains(frame),
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
