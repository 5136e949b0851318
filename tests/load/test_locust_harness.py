"""The Locust harness end to end: short headless runs in a child process (never in this one:
Locust monkey-patches with gevent) against the trivial agent started on a free port."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.paths import REPO_ROOT

pytestmark = [pytest.mark.network, pytest.mark.slow]

LOCUSTFILE = REPO_ROOT / "loadtests/locustfile.py"

SCENARIOS = {
    "keys.yaml": """
name: load-keys
tags: ["weight:1"]
steps:
  - say: What are your hours?
  - dtmf: "12#"
    interval_ms: 100
  - hang_up: true
""",
    "interrupts.yaml": """
name: load-interrupts
tags: [barge-in, "weight:1"]
steps:
  - say: What does it cost?
  - barge_in: Sorry, what about Saturday?
    at_ms: 800
  - backchannel: uh-huh
    at_ms: 500
  - hang_up: true
""",
    "never.yaml": """
name: load-never
tags: ["weight:0"]
steps:
  - say: This scenario has weight zero and is never called.
""",
}


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("load-scenarios")
    for name, text in SCENARIOS.items():
        (folder / name).write_text(text.lstrip())
    return folder


def run_locust(tmp: Path, host: str, scenarios: Path, *args: str) -> dict:
    """A bounded headless run; returns the exact report (JSON) it wrote."""
    prefix = tmp / "exact"
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--host",
        host,
        "--scenarios",
        str(scenarios),
        "--voice",
        "synthetic",
        "--think-time",
        "0.2",
        "--exact-report",
        str(prefix),
        "--csv",
        str(tmp / "locust"),
        *args,
    ]
    env = dict(os.environ)
    env.pop("LOAD_SHAPE", None)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env, check=False)
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: Locust saw failed requests
    return json.loads(prefix.with_name("exact.json").read_text())


def locust_stats(tmp: Path) -> dict[str, dict[str, str]]:
    with (tmp / "locust_stats.csv").open() as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def test_calls_report_turns_latencies_and_interruptions_to_locust_and_the_exact_report(
    tmp_path: Path, trivial_target: str, scenarios: Path
):
    report = run_locust(
        tmp_path,
        trivial_target,
        scenarios,
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "12s",
        "--stop-timeout",
        "20",
    )
    metrics = report["metrics_ms"]
    for name in ("call_setup", "ttfa", "response_latency", "call"):
        assert metrics[name]["count"] >= 1, name
    assert report["calls"]["completed"] >= 2
    assert set(report["scenarios"]) <= {"load-keys", "load-interrupts"}
    # The trivial agent replies ~300 ms after the caller stops and the reply is audible at once.
    assert 250.0 <= metrics["response_latency"]["p50"] <= 1500.0
    if "load-interrupts" in report["scenarios"]:
        # It clears after 300 ms of caller speech and never resumes: barge-ins stop, and an
        # "uh-huh" long enough costs it its reply (an abandoned reply, once a false interruption).
        assert metrics["barge_in_stop"]["count"] >= 1
        overlaps = report["overlaps"]["scenarios"]["load-interrupts"]["summary"]
        assert overlaps["yielded"] == overlaps["interruptions"] >= 1
        assert overlaps["counts"]["resumed"] == 0
        assert overlaps["abandoned_replies"] >= 1
        assert report["false_interruptions"] >= overlaps["abandoned_replies"]
    # Locust saw the same events, failed ones included (its final CSV is written before the
    # end-of-run drain, so it may hold fewer than the exact report; the exact percentiles
    # count successful samples, failures are counted by cause).
    stats = locust_stats(tmp_path)
    for name in ("call_setup", "ttfa", "response_latency"):
        failed = sum(report["failures"].get(name, {}).values())
        assert 1 <= int(stats[name]["Request Count"]) <= metrics[name]["count"] + failed, name
    raw = (tmp_path / "exact_samples.csv").read_text().splitlines()
    assert raw[0] == "t,name,value_ms,ok,scenario,call_sid,cause"
    assert any(",response_latency," in line and ",CA" in line for line in raw[1:])
    assert report["self_check"]["lateness_ms"]["frames"] > 100


def test_unreachable_agent_fails_calls_with_their_cause(tmp_path: Path, scenarios: Path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report = run_locust(
        tmp_path, f"ws://127.0.0.1:{port}/media", scenarios, "-u", "1", "-r", "1", "-t", "3s"
    )
    assert report["calls"]["completed"] == 0
    assert report["calls"]["failed"] >= 1
    causes = report["failures"]["call"]
    assert all(cause.startswith("connect: ConnectionRefusedError") for cause in causes)
    assert "call_setup" in report["failures"]
    assert 1 <= int(locust_stats(tmp_path)["call"]["Failure Count"]) <= report["calls"]["failed"]


def test_a_starved_generator_marks_the_run_invalid(
    tmp_path: Path, trivial_target: str, scenarios: Path
):
    # 25 ms of busy CPU every 20 ms tick: the generator, not the agent, is the bottleneck.
    report = run_locust(
        tmp_path, trivial_target, scenarios, "-u", "1", "-r", "1", "-t", "5s", "--burn-cpu-ms", "25"
    )
    check = report["self_check"]
    assert report["valid"] is False
    assert check["valid"] is False
    assert any("pacing lateness p99" in reason for reason in check["reasons"])
    page = (tmp_path / "exact.html").read_text()
    assert "RUN INVALID" in page


def test_two_worker_processes_merge_their_raw_samples_at_the_master(
    tmp_path: Path, trivial_target: str, scenarios: Path
):
    report = run_locust(
        tmp_path,
        trivial_target,
        scenarios,
        "--processes",
        "2",
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        "8s",
    )
    processes = report["self_check"]["processes"]
    assert len(processes) == 2
    assert all(p["process"].startswith("worker ") for p in processes)
    assert report["metrics_ms"]["call_setup"]["count"] >= 4
    sids = {
        line.split(",")[5] for line in (tmp_path / "exact_samples.csv").read_text().splitlines()[1:]
    }
    assert len(sids) >= 4  # calls from both workers, each once
