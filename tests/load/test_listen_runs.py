"""A load run that listens (`workbench load local --listen 100%`): real Locust, the demo agent
served on a free loopback port, the listening process with Whisper. The report's listened
section holds the demo agent's greeting as heard, and an `agent_said` that cannot match is a
Locust failure whose message carries the words heard."""

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

SCENARIO = """
name: listened-hours
steps:
  - say: What are your opening hours?
    expect:
      agent_said: /8 ?AM to 6 ?PM/
  - say: No thank you goodbye.
expect:
  agent_said: purple elephants
"""


def test_a_listening_run_reports_what_the_agent_said_and_fails_what_it_did_not(tmp_path: Path):
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "hours.yaml").write_text(SCENARIO.lstrip())
    prefix = tmp_path / "run"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "workbench", "load", "local", "--listen", "100%"),
            *("--users", "1", "--spawn-rate", "1", "--duration", "45"),
            *("--scenarios", str(scenarios), "--report", str(prefix)),
            f"--locust-arg=--csv={tmp_path / 'locust'}",
            "--locust-arg=--stop-timeout=60",  # the call under way at the end finishes
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO_ROOT,
        env={k: v for k, v in os.environ.items() if k != "LOAD_SHAPE" and not k.startswith("SF_")},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(prefix.with_name("run.json").read_text())
    listened = report["listened"]
    assert listened["percent"] == 100.0
    assert listened["sampled"] == listened["transcribed"] == report["calls"]["completed"] >= 1

    # The demo agent's greeting, as heard by the caller (Whisper after the call).
    [first, *_] = listened["calls"]
    greeting = first["conversation"][0]
    assert greeting["speaker"] == "agent"
    assert "northwind" in greeting["text"].replace(" ", "")
    assert "help" in greeting["text"]

    # The step's expectation held on the words heard; the call's cannot.
    verdicts = {v["where"]: v for v in listened["verdicts"] if v["call_sid"] == first["call_sid"]}
    assert verdicts["step 1: say 'What are your opening hours?'"]["status"] == "pass"
    assert verdicts["call"]["status"] == "fail"
    assert "purple elephants" in verdicts["call"]["expected"]

    # The slowest turns carry the caller's line, the reply as heard and the harness's latency.
    slowest = listened["slowest_turns"]
    latencies = sorted(
        float(line.split(",")[2])
        for line in prefix.with_name("run_samples.csv").read_text().splitlines()
        if ",response_latency," in line
    )
    assert [t["latency_ms"] for t in slowest] == [round(v, 1) for v in latencies[::-1]][:10]
    hours = [t for t in slowest if t["caller"] == "What are your opening hours?"]
    assert hours and all("6 p" in t["agent"] or "six" in t["agent"] for t in hours)

    # Locust's statistics: the failed agent_said under the scenario's name, with the words.
    with (tmp_path / "locust_failures.csv").open() as handle:
        failures = [row for row in csv.DictReader(handle) if row["Method"] == "agent_said"]
    assert failures and failures[0]["Name"] == "listened-hours"
    assert "purple elephants" in failures[0]["Error"]
    assert "northwind" in failures[0]["Error"].replace(" ", "")
    page = prefix.with_name("run.html").read_text()
    assert "Slowest turns among the sampled calls" in page


def test_two_worker_processes_send_their_last_transcripts_before_the_master_quits(
    tmp_path: Path, trivial_target: str
):
    """A run ended by its time limit quits the workers half a second after telling them: the
    master first asks each for the transcripts it still waits for."""
    (tmp_path / "tones.yaml").write_text(
        "name: tones\nsteps:\n  - say: What are your hours?\nexpect:\n  agent_said: purple\n"
    )
    prefix = tmp_path / "run"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "loadtests/locustfile.py")),
            *("--headless", "--only-summary", "--host", trivial_target),
            *("--scenarios", str(tmp_path), "--voice", "synthetic", "--think-time", "0.2"),
            *("--exact-report", str(prefix), "--processes", "2", "-u", "2", "-r", "2", "-t", "40s"),
            *("--listen", "100%", "--listen-wait", "120"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "LOAD_SHAPE"},
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: the agent_said failures
    listened = json.loads(prefix.with_name("run.json").read_text())["listened"]
    assert listened["sampled"] >= 2  # a call from each worker at least
    assert listened["transcribed"] == listened["sampled"], listened["not_transcribed"]
    assert listened["expectations"] == {"agent_said": {"fail": listened["sampled"]}}
