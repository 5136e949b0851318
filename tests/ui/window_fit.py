"""Does the main window fit its screen, with nothing cut off? Used in-process by the window
tests and run as its own process by test_screen_fit.py (offscreen at a given screen size or
scale, or under a real X server).

A widget is cut off when it reaches outside its parent, or when its layout has less room than
its minimum; content inside a scroll area may extend past the area's edge (it scrolls into
view), but the scroll area itself must not. Each bottom panel is raised in turn, so every tab
is checked, and the window's frame must lie within the screen's available area.

Usage: python window_fit.py [--shots DIR]; prints one JSON object (the screen, the window, its
minimum size, the problems found, the screenshots written).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QRect, QSettings, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QDockWidget, QWidget


def rect_text(rect: QRect) -> str:
    return f"{rect.width()}x{rect.height()}+{rect.x()}+{rect.y()}"


def describe(widget: QWidget) -> str:
    names = []
    while widget is not None and not widget.isWindow():
        label = widget.objectName() or type(widget).__name__
        names.append(label)
        widget = widget.parentWidget()
    return "/".join(reversed(names[:4])) or "the window"


def _scrolled_content(parent: QWidget) -> bool:
    """True for a scroll area's viewport: what it holds may reach past it (it scrolls)."""
    area = parent.parentWidget()
    return isinstance(area, QAbstractScrollArea) and area.viewport() is parent


def cut_off_widgets(root: QWidget, *, skip: tuple[type, ...] = ()) -> list[str]:
    """Visible widgets under `root` that reach outside their parent or are squeezed below the
    minimum their layout needs (`skip`: kinds of widget not to look into)."""
    problems: list[str] = []
    pending = [root]
    while pending:
        parent = pending.pop()
        layout = parent.layout()
        if layout is not None and not _scrolled_content(parent.parentWidget() or parent):
            need = layout.minimumSize()
            if parent.width() < need.width() or parent.height() < need.height():
                problems.append(
                    f"{describe(parent)} is {parent.width()}x{parent.height()}, "
                    f"its layout needs {need.width()}x{need.height()}"
                )
        scrolled = _scrolled_content(parent)
        for child in parent.findChildren(
            QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly
        ):
            if child.isWindow() or not child.isVisible() or isinstance(child, skip):
                continue
            if not scrolled and not parent.rect().contains(child.geometry()):
                problems.append(
                    f"{describe(child)} at {rect_text(child.geometry())} reaches outside "
                    f"{describe(parent)} ({rect_text(parent.rect())})"
                )
            pending.append(child)
    return problems


def layout_problems(window, area: QRect | None = None) -> list[str]:
    """Everything that does not fit: the window's frame outside `area` (default: its screen's
    available area), and cut-off widgets in the centre and in every dock, each tab raised."""
    app = QApplication.instance()
    app.processEvents()
    area = area or window.screen().availableGeometry()
    problems: list[str] = []
    frame = window.frameGeometry()
    if not area.contains(frame):
        problems.append(f"the window {rect_text(frame)} is not within {rect_text(area)}")
    # The docks one by one, each raised (a tabbed dock behind another is parked off-window).
    problems += cut_off_widgets(window, skip=(QDockWidget,))
    for title, dock in window.docks.items():
        if dock.visibleRegion().isEmpty():
            dock.raise_()
            app.processEvents()
        if dock.visibleRegion().isEmpty():
            problems.append(f"the {title} dock cannot be shown")
            continue
        if not window.rect().contains(dock.geometry()):
            problems.append(
                f"the {title} dock at {rect_text(dock.geometry())} reaches outside the window"
            )
        problems += cut_off_widgets(dock)
    window.docks["Scenarios"].raise_()
    app.processEvents()
    return list(dict.fromkeys(problems))


def open_window(settings_path: Path):
    from workbench.ui.app import make_application
    from workbench.ui.audio_io import AudioDevices
    from workbench.ui.main_window import MainWindow

    app = make_application()
    settings = QSettings(str(settings_path), QSettings.Format.IniFormat)
    window = MainWindow(
        crm=False,
        devices=AudioDevices(problem="no audio devices: none in this test"),
        settings=settings,
        load_now=False,
    )
    window.show()
    app.processEvents()
    return app, window


def grab(window, path: Path) -> None:
    """What a person sees: the whole screen under a real display server, else the window."""
    app = QApplication.instance()
    app.processEvents()
    if app.platformName() == "offscreen":
        picture = window.grab()
    else:
        picture = window.screen().grabWindow(0)
    picture.save(str(path))


def run_window_fit(env: dict[str, str], shots: Path) -> dict:
    """tests/ui/window_fit.py in its own process (the platform and scale are per process)."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--shots", str(shots)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in output, output[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> dict:
    shots = Path(argv[argv.index("--shots") + 1]) if "--shots" in argv else None
    with tempfile.TemporaryDirectory(prefix="window-fit-") as home:
        os.environ["WORKBENCH_HOME"] = home
        app, window = open_window(Path(home) / "gui.ini")
        try:
            screen = window.screen()
            problems = layout_problems(window)
            written = []
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
                for title in ("Scenarios", "CRM", "Network", "Agent", "Load", "Agent desk"):
                    window.docks[title].raise_()
                    path = shots / f"{title.lower().replace(' ', '-')}.png"
                    grab(window, path)
                    written.append(str(path))
                window.docks["Scenarios"].raise_()
            return {
                "platform": app.platformName(),
                "scale": screen.devicePixelRatio(),
                "screen": rect_text(screen.geometry()),
                "available": rect_text(screen.availableGeometry()),
                "window": rect_text(window.frameGeometry()),
                "minimum": [window.minimumWidth(), window.minimumHeight()],
                "minimum_hint": [
                    window.minimumSizeHint().width(),
                    window.minimumSizeHint().height(),
                ],
                "problems": problems,
                "shots": written,
            }
        finally:
            window.shutdown()
            window.deleteLater()
            app.processEvents()


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])), flush=True)
