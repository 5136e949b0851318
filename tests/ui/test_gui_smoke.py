"""The shipped app, launched as a user would (like Friture's smoke test), and the Qt fence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAILURE_MARKERS = ("Traceback", "could not load the Qt platform plugin", "QML error")


@pytest.mark.gui
@pytest.mark.slow
def test_workbench_gui_smoke_places_a_typed_call_and_exits_cleanly(tmp_path):
    env = dict(os.environ, WORKBENCH_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "gui", "--smoke"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = done.stdout + done.stderr
    for marker in FAILURE_MARKERS:
        assert marker not in output, output[-3000:]
    assert done.returncode == 0, output[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"] and report["waterfall_rows"] >= 2 and report["crm_records"] >= 1
    assert {"startup_s", "worst_gui_stall_ms"} <= set(report)


def test_only_the_ui_package_imports_qt():
    """The import-linter contracts in pyproject.toml (Qt stays in workbench.ui) hold."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
