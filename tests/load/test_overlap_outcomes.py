"""`workbench call` and the Locust harness judge overlaps the same way, at the caller's ear:
against our server (it pauses for an acknowledgement and resumes the reply) and against a
server that clears on every onset and never resumes (the trivial agent with
`--clear-after-ms 60`: after the caller's "uh-huh" it starts its reply over)."""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.trivial_target import running_trivial_target
from typer.testing import CliRunner

from workbench.cli import app
from workbench.load_commands import summary_lines
from workbench.paths import REPO_ROOT

pytestmark = [pytest.mark.network, pytest.mark.slow]

LOCUSTFILE = REPO_ROOT / "loadtests/locustfile.py"
SCENARIO = """\
name: wire-acknowledgement
caller: {number: "+14155550166", voice: "espeak:en-us"}
steps:
  - say: What are your opening hours?
  - backchannel: uh-huh
    at_ms: 1200
  - pause_ms: 2500
  - wait_for: agent_stops_speaking
    timeout_ms: 15000
  - hang_up: true
"""


@pytest.fixture(scope="module")
def scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("overlap-scenarios")
    (folder / "acknowledgement.yaml").write_text(SCENARIO)
    return folder


@pytest.fixture(scope="module")
def never_resuming_target():
    """The trivial agent clearing on every onset (60 ms of caller voice over its reply)."""
    with running_trivial_target("--clear-after-ms", "60") as url:
        yield url


@pytest.fixture(scope="module")
def pausing_server():
    """`workbench serve --interruption pause` with the demo agent on a free loopback port."""
    from workbench.engine.calls import CallRuntime
    from workbench.telephony.server.config import ServerConfig
    from workbench.telephony.server.media_server import MediaStreamServer
    from workbench.telephony.server.serving import ServerThread

    runtime = CallRuntime()
    runtime.stack(runtime.agent())
    config = ServerConfig(
        port=0, crm=False, interruption="pause", max_loop_lag_ms=0.0, max_turn_latency_ms=0.0
    )
    thread = ServerThread(lambda: MediaStreamServer(config, runtime=runtime))
    port = thread.start()
    yield f"ws://127.0.0.1:{port}/media"
    thread.stop(drain_timeout_s=2.0)


def call_overlaps(url: str, scenario_dir: Path, tmp: Path) -> dict:
    out = tmp / "call.json"
    result = CliRunner().invoke(
        app,
        ["call", url, "--scenario", str(scenario_dir / "acknowledgement.yaml"), "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "policy observed:" in result.output
    return json.loads(out.read_text())["overlaps"]


def locust_overlaps(url: str, scenario_dir: Path, tmp: Path, seconds: int) -> dict:
    prefix = tmp / "exact"
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--host", url, "--scenarios", str(scenario_dir), "--think-time", "30",
        "--exact-report", str(prefix), "-u", "1", "-r", "1", "-t", f"{seconds}s",
        "--stop-timeout", "60",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "LOAD_SHAPE"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    report = json.loads(prefix.with_name("exact.json").read_text())
    assert report["calls"]["completed"] >= 1, (report["failures"], done.stderr[-3000:])
    overlaps = report["overlaps"]
    # ... shown in the terminal's summary and the HTML page too.
    assert f"policy observed: {overlaps['policy']}" in "\n".join(summary_lines(report))
    page = prefix.with_name("exact.html").read_text()
    assert "Overlaps at the caller" in page and html.escape(overlaps["policy"]) in page
    return overlaps


def test_both_callers_see_a_server_that_clears_on_every_onset_and_never_resumes(
    never_resuming_target, scenario_dir, tmp_path
):
    call = call_overlaps(never_resuming_target, scenario_dir, tmp_path)
    [overlap] = call["overlaps"]
    assert (overlap["intent"], overlap["outcome"]) == ("acknowledgement", "abandoned_reply")
    assert overlap["returned_as"] == "reply start"  # it started its reply over
    assert call["policy"] == "clears on every onset, never resumes"
    load = locust_overlaps(never_resuming_target, scenario_dir, tmp_path, seconds=10)
    assert load["policy"] == call["policy"]
    assert load["summary"]["abandoned_replies"] == load["summary"]["overlaps"] >= 1
    assert load["returned_as"] == {"reply start": load["summary"]["overlaps"]}


def test_both_callers_see_our_server_pause_and_resume_for_an_acknowledgement(
    pausing_server, scenario_dir, tmp_path
):
    call = call_overlaps(pausing_server, scenario_dir, tmp_path)
    [overlap] = call["overlaps"]
    assert (overlap["intent"], overlap["outcome"]) == ("acknowledgement", "resumed")
    assert overlap["stopped_by"] == "clear" and overlap["resume_gap_ms"] > 0
    assert call["policy"] == "pauses and resumes"
    load = locust_overlaps(pausing_server, scenario_dir, tmp_path, seconds=14)
    assert load["policy"] == call["policy"]
    assert load["summary"]["counts"]["resumed"] == load["summary"]["overlaps"] >= 1
    assert load["summary"]["abandoned_replies"] == 0
