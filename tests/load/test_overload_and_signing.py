"""`workbench load` against a real `workbench serve` that checks Twilio signatures and takes one
call at a time: signed calls are served, the lines beyond capacity are refused (not failed),
and an unsigned harness is turned away."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.telephony.server.process import ServerProcess

pytestmark = [pytest.mark.network, pytest.mark.slow]

AUTH_TOKEN = "f00dfeedf00dfeedf00dfeedf00dfeed"  # a made-up account auth token
SCENARIO = """
name: overload-line
steps:
  - say: What are your opening hours?
  - hang_up: true
"""


@pytest.fixture(scope="module")
def one_line_signed_server(tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    server = ServerProcess(
        crm=False,
        log_path=log,
        extra=("--max-calls", "1", "--drain-timeout", "2"),
        env={"TWILIO_AUTH_TOKEN": AUTH_TOKEN},  # the server checks signatures
    )
    with server:
        yield server


def load(tmp: Path, url: str, auth_token: str, users: int, duration: str) -> dict:
    scenarios = tmp / "scenarios"
    scenarios.mkdir(exist_ok=True)
    (scenarios / "line.yaml").write_text(SCENARIO.lstrip())
    prefix = tmp / "run"
    env = {**os.environ, "TWILIO_AUTH_TOKEN": auth_token}
    env.pop("LOAD_SHAPE", None)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "workbench", "load", url),
            *("--users", str(users), "--spawn-rate", str(users), "--duration", duration),
            *("--voice", "synthetic", "--scenarios", str(scenarios), "--report", str(prefix)),
            "--locust-arg=--think-time=0.3",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(prefix.with_name("run.json").read_text()) | {"_stdout": done.stdout}


def test_signed_calls_are_served_and_lines_beyond_capacity_are_refused_not_failed(
    tmp_path: Path, one_line_signed_server: ServerProcess
):
    report = load(tmp_path, one_line_signed_server.url, AUTH_TOKEN, users=3, duration="25s")
    calls = report["calls"]
    assert calls["completed"] >= 1, report["failures"]
    assert calls["refused"] >= 1
    assert set(report["refusals"]) == {"HTTP 503 at capacity"}
    assert "call_setup" not in report["failures"]  # every signed upgrade was let in or refused
    assert report["metrics_ms"]["call_refused"]["p95"] < 1000.0  # turned away at once
    assert "refused by the agent" in report["_stdout"]


def test_an_unsigned_harness_is_turned_away_as_failed(
    tmp_path: Path, one_line_signed_server: ServerProcess
):
    report = load(tmp_path, one_line_signed_server.url, "", users=1, duration="4s")
    assert report["calls"]["completed"] == 0 and report["calls"]["refused"] == 0
    causes = report["failures"]["call"]
    assert causes and all("HTTP 403" in cause for cause in causes)
