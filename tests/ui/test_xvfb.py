"""The desktop app under a real X server (Xvfb at 1366×768, Qt's xcb platform), as on a laptop:
the smoke run places its call, and every panel of the window lies within the screen.

The rest of the suite runs offscreen, which needs none of the libraries Qt's xcb plugin links
against; these tests are what notices when the set-up stops installing them. Xvfb comes with
./scripts/test (xvfb, xauth); without it they are skipped, except on CI, where they fail.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from window_fit import run_window_fit

REPO = Path(__file__).resolve().parents[2]
SCREEN = (1366, 768)
FAILURE_MARKERS = (
    "Traceback",
    "could not load the Qt platform plugin",
    "no Qt platform plugin could be initialized",
    "cannot open a window",
)

pytestmark = pytest.mark.gui


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def x_display(tmp_path_factory):
    """A private Xvfb on a free display number (it picks one and reports it: -displayfd)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        reason = "Xvfb is not installed (apt-get install xvfb xauth; ./scripts/test does)"
        if on_ci():
            pytest.fail(f"{reason}: on CI the X server tests must run")
        pytest.skip(reason)
    log_path = tmp_path_factory.mktemp("xvfb") / "xvfb.log"
    read_fd, write_fd = os.pipe()
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [xvfb, "-displayfd", str(write_fd), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24"]
            + ["-nolisten", "tcp", "-noreset"],
            pass_fds=(write_fd,),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    os.close(write_fd)
    number = b""
    try:
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], 30.0)
            chunk = os.read(read_fd, 16) if ready else b""
            if not chunk:  # timed out, or Xvfb exited
                server.kill()
                server.wait()
                pytest.fail(f"Xvfb did not start: {log_path.read_text(errors='replace')[-2000:]}")
            number += chunk
    finally:
        os.close(read_fd)
    try:
        yield f":{int(number)}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def x_env(display: str, home: Path) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=display, WORKBENCH_HOME=str(home))
    for name in ("WAYLAND_DISPLAY", "QT_SCALE_FACTOR", "QT_QPA_PLATFORM_PLUGIN_PATH"):
        env.pop(name, None)
    return env


def test_every_panel_lies_within_a_1366x768_x_screen(x_display, tmp_path):
    from PySide6.QtGui import QImage

    report = run_window_fit(x_env(x_display, tmp_path / "home"), tmp_path / "shots")
    assert report["platform"] == "xcb"
    assert report["screen"] == "1366x768+0+0"
    assert report["problems"] == []
    width, height = (int(n) for n in report["window"].split("+")[0].split("x"))
    assert width >= 1300 and height >= 700  # the window uses the screen, not a corner of it
    shot = QImage(report["shots"][0])
    assert (shot.width(), shot.height()) == SCREEN  # the whole screen, as a person sees it


@pytest.mark.slow
def test_workbench_gui_smoke_under_a_real_x_server(x_display, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "gui", "--smoke"],
        cwd=REPO,
        env=x_env(x_display, tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = done.stdout + done.stderr
    for marker in FAILURE_MARKERS:
        assert marker not in output, output[-3000:]
    assert done.returncode == 0, output[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["platform"] == "xcb"
    assert report["ok"] and report["waterfall_rows"] >= 2 and report["crm_records"] >= 1
    assert report["window_within_screen"], report
