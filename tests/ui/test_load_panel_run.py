"""The Load panel runs the real `workbench load local` (demo agent + Locust in child processes)
and charts the progress lines it prints; the report button opens what the run wrote."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui


@pytest.mark.network
@pytest.mark.slow
def test_a_local_run_charts_users_and_latency_and_offers_the_report(qtbot, tmp_path: Path):
    from workbench.ui.views.load import LoadPanel

    # The panel's own command line, plus one option that keeps the run short: a single scenario
    # (no TTS for the other 24 first). exec keeps the pid, so the panel talks to the real CLI.
    wrapper = tmp_path / "workbench_one_scenario.py"
    wrapper.write_text(
        "import os, sys\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'workbench', *sys.argv[1:],\n"
        "    '--locust-arg=--only=opening-hours'])\n"
    )
    panel = LoadPanel(program=[sys.executable, str(wrapper)], available=True)
    qtbot.addWidget(panel)
    assert panel.target_edit.text() == "local"
    panel.users.setValue(2)
    panel.spawn_rate.setValue(2)
    panel.duration.setValue(20)
    assert panel.command() == [
        *("load", "local", "--users", "2", "--spawn-rate", "2", "--duration", "20"),
    ]

    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.process is not None and panel.stop_button.isEnabled()
    assert not panel.report_button.isEnabled()
    qtbot.waitUntil(lambda: panel.process is None, timeout=60_000)

    log = panel.log.toPlainText()
    assert "[exit code 0]" in log, log[-3000:]
    assert "local: starting the demo agent" in log
    users = [v for _, v in panel.samples["users"]]
    assert users and max(users) == 2.0, log[-3000:]
    assert panel.samples["p50"], log[-3000:]
    xs, _ = panel.curves["users"].getData()
    assert xs is not None and len(xs) == len(users)
    xs, ys = panel.curves["p50"].getData()
    assert xs is not None and len(xs) == len(panel.samples["p50"]) and min(ys) > 0
    assert panel.report_path is not None and panel.report_path.suffix == ".html"
    assert panel.report_path.is_file()
    assert panel.report_button.isEnabled()


FAKE_LOAD = """
import json, signal, sys, time
def stop(signum, frame):
    print("report: {report} (+ .json)", flush=True)
    sys.exit(0)
if "--ignore-term" not in sys.argv:
    signal.signal(signal.SIGTERM, stop)
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(json.dumps({{"progress": True, "users": 2, "p50_ms": None, "failures": 0}}), flush=True)
time.sleep(60)
"""


def _fake_panel(qtbot, tmp_path: Path, *extra: str):
    from workbench.ui.views.load import LoadPanel

    script = tmp_path / "fake_load.py"
    script.write_text(FAKE_LOAD.format(report=tmp_path / "stopped run.html"))
    panel = LoadPanel(program=[sys.executable, str(script), *extra], available=True)
    qtbot.addWidget(panel)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(panel.samples["users"]), timeout=10_000)
    return panel


def test_stop_lets_the_run_finish_its_report_without_blocking_the_window(qtbot, tmp_path: Path):
    panel = _fake_panel(qtbot, tmp_path)
    assert panel.samples["p50"] == []  # null: no point yet
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    assert panel.process is not None  # Stop returns at once; the run ends on its own
    qtbot.waitUntil(lambda: panel.process is None, timeout=10_000)
    assert "[exit code 0]" in panel.log.toPlainText()
    assert panel.report_path == tmp_path / "stopped run.html"  # a path with a space
    assert panel.report_button.isEnabled()


def test_a_run_that_ignores_stop_is_killed_after_the_grace_period(qtbot, tmp_path, monkeypatch):
    from workbench.ui.views import load

    monkeypatch.setattr(load, "STOP_GRACE_MS", 300)
    panel = _fake_panel(qtbot, tmp_path, "--ignore-term")
    panel.stop()
    qtbot.waitUntil(lambda: panel.process is None, timeout=10_000)
    assert panel.report_path is None and not panel.report_button.isEnabled()
