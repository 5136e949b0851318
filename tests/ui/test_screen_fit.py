"""The window on a laptop screen: sized to the screen's available area, a minimum size that
fits 1280×720 with a taskbar, nothing cut off (offscreen, at 100 %, 125 % and 150 % scaling),
the user's size remembered; and the one-line message when Qt's desktop plugin cannot load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QSettings, QSize
from window_fit import layout_problems, run_window_fit

from workbench.ui import app as gui_app
from workbench.ui.main_window import MINIMUM_SIZE, PREFERRED_SIZE

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture
def open_window(qtbot, tmp_path):
    """A main window that loads nothing (no agent, no CRM), on throwaway settings."""
    from workbench.ui.audio_io import AudioDevices
    from workbench.ui.main_window import MainWindow

    windows = []

    def make():
        settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
        window = MainWindow(
            crm=False,
            devices=AudioDevices(problem="no audio devices: none in this test"),
            settings=settings,
            load_now=False,
        )
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        return window

    yield make
    for window in windows:
        window.shutdown()


@pytest.mark.gui
def test_on_a_laptop_the_window_takes_the_available_area_and_nothing_is_cut_off(open_window):
    window = open_window()
    laptop = QRect(0, 0, 1366, 768 - 40)  # a 40 px taskbar at the bottom
    window.fit_to_screen(laptop)
    assert window.size() == QSize(1366 - 16, 728 - 40)  # room left for a title bar and borders
    assert layout_problems(window, laptop) == []


@pytest.mark.gui
def test_on_a_large_screen_the_window_opens_at_its_designed_size_centred(open_window):
    window = open_window()
    window.fit_to_screen(QRect(0, 0, 2560, 1400))
    assert window.size() == PREFERRED_SIZE
    assert abs(window.x() - (2560 - 1440 - 16) // 2) <= 1
    assert abs(window.y() - (1400 - 900 - 40) // 2) <= 1


@pytest.mark.gui
def test_the_minimum_size_fits_1280x720_with_a_taskbar_and_a_title_bar(open_window):
    window = open_window()
    area = QRect(0, 0, 1280, 720 - 48)  # the tallest common taskbar
    assert window.minimumWidth() <= area.width() - 16
    assert window.minimumHeight() <= area.height() - 40
    # The layout itself needs no more than that minimum: panels scroll or are tabs instead.
    hint = window.minimumSizeHint()
    assert hint.width() <= MINIMUM_SIZE.width() and hint.height() <= MINIMUM_SIZE.height()
    window.resize(MINIMUM_SIZE)
    assert layout_problems(window, area) == []


@pytest.mark.gui
def test_the_window_remembers_the_users_size(open_window):
    first = open_window()  # pytest's offscreen screen is 800×800: the window fills its height
    assert first.height() > 640
    first.resize(MINIMUM_SIZE.width(), 640)
    first.shutdown()  # saves the settings
    second = open_window()  # the same settings file
    assert second.size() == QSize(MINIMUM_SIZE.width(), 640)


def offscreen_screen(tmp_path: Path, width: int, height: int) -> str:
    """A QT_QPA_PLATFORM value for an offscreen screen of this size (Qt's offscreen config)."""
    config = tmp_path / f"screen-{width}x{height}.json"
    screen = {"name": "laptop", "x": 0, "y": 0, "width": width, "height": height}
    config.write_text(json.dumps({"screens": [{**screen, "logicalDpi": 96, "logicalBaseDpi": 96}]}))
    return f"offscreen:configfile={config}"


@pytest.mark.gui
@pytest.mark.parametrize(
    ("width", "height", "scale", "logical"),
    [
        (1366, 768, "1", "1366x768+0+0"),
        (1920, 1080, "1.25", "1536x864+0+0"),
        (1920, 1080, "1.5", "1280x720+0+0"),
    ],
    ids=["1366x768", "1920x1080-at-125%", "1920x1080-at-150%"],
)
def test_every_panel_fits_the_screen_offscreen(tmp_path, width, height, scale, logical):
    env = dict(
        os.environ,
        QT_QPA_PLATFORM=offscreen_screen(tmp_path, width, height),
        QT_SCALE_FACTOR=scale,
    )
    report = run_window_fit(env, tmp_path / "shots")
    assert report["platform"] == "offscreen" and report["screen"] == logical
    assert report["problems"] == []
    assert len(report["shots"]) == 6  # every bottom panel raised in turn


# The one-line message when Qt's desktop platform plugin cannot load -------------------------


def test_debian_package_names_follow_the_sonames():
    expected = {
        "libxcb-icccm.so.4": "libxcb-icccm4",
        "libxcb-keysyms.so.1": "libxcb-keysyms1",
        "libxcb-cursor.so.0": "libxcb-cursor0",
        "libxcb-render-util.so.0": "libxcb-render-util0",
        "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
        "libX11-xcb.so.1": "libx11-xcb1",
        "libwayland-cursor.so.0": "libwayland-cursor0",
        "libpng16.so.16": "libpng16-16",
        "libglib-2.0.so.0": "libglib2.0-0",
    }
    assert {so: gui_app.package_for_soname(so) for so in expected} == expected


def test_ldd_output_gives_the_missing_libraries_once():
    output = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibxcb-icccm.so.4 => not found\n"
        "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)\n"
        "\tlibxcb-keysyms.so.1 => not found\n"
        "\tlibxcb-icccm.so.4 => not found\n"
    )
    assert gui_app.parse_ldd_missing(output) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


@pytest.mark.parametrize(
    ("environ", "platforms"),
    [
        ({"DISPLAY": ":0"}, ["xcb"]),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, []),
        ({"QT_QPA_PLATFORM": "xcb"}, []),  # no display: Qt says so itself
        ({}, []),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb:nograb"}, ["xcb"]),
        (
            {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"},
            ["wayland", "xcb"],
        ),
        ({"WAYLAND_DISPLAY": "wayland-0"}, ["wayland"]),
        (
            {"DISPLAY": ":0", "WAYLAND_DISPLAY": "w", "QT_QPA_PLATFORM": "wayland-egl;xcb"},
            ["wayland", "xcb"],
        ),
    ],
)
def test_the_platforms_qt_will_try(environ, platforms):
    assert gui_app.platforms_to_try(environ) == platforms


def test_a_missing_library_is_named_as_a_package_in_one_line(monkeypatch):
    missing = {"libqxcb.so": ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"], "libqwayland.so": []}
    monkeypatch.setattr(gui_app, "missing_libraries", lambda plugin: missing[plugin.name])
    problem = gui_app.platform_problem({"DISPLAY": ":0"}, Path("/qt/platforms"))
    assert "\n" not in problem
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in problem
    # Wayland first, X11 as the fallback: one that loads is enough.
    session = {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}
    assert gui_app.platform_problem(session, Path("/qt/platforms")) == ""
    missing["libqwayland.so"] = ["libwayland-cursor.so.0"]
    both = gui_app.platform_problem(session, Path("/qt/platforms"))
    assert "wayland and xcb platform plugins" in both
    assert "libwayland-cursor0 libxcb-icccm4 libxcb-keysyms1" in both


@pytest.mark.skipif(shutil.which("ldd") is None, reason="needs ldd (glibc's loader)")
def test_workbench_gui_names_the_missing_package_instead_of_qts_abort(tmp_path):
    """The real xcb plugin, copied with one of its libraries renamed to one no package has:
    `workbench gui` stops before Qt starts, with one line naming the package."""
    qt = Path(gui_app.platform_plugins_dir()).parent.parent
    platforms = tmp_path / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (tmp_path / "lib").symlink_to(qt / "lib")  # the plugin finds Qt at $ORIGIN/../../lib
    plugin = (qt / "plugins" / "platforms" / "libqxcb.so").read_bytes()
    assert b"libxcb-icccm.so.4\0" in plugin
    patched = plugin.replace(b"libxcb-icccm.so.4\0", b"libxcb-nopkg.so.4\0")
    (platforms / "libqxcb.so").write_bytes(patched)
    env = dict(
        os.environ,
        DISPLAY=":99",  # never reached: the check runs before Qt connects
        QT_QPA_PLATFORM="xcb",
        QT_QPA_PLATFORM_PLUGIN_PATH=str(platforms),
        WORKBENCH_HOME=str(tmp_path / "home"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "gui"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "sudo apt-get install libxcb-nopkg4" in lines[0]
    assert "Traceback" not in done.stderr and "xcb-cursor0" not in done.stderr
