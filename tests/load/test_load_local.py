"""`workbench load local`: the demo agent started for the run (and always stopped), Locust's live
progress lines on stdout, the report line; and the pieces it is made of."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import ConfigError, WorkbenchError
from workbench.load_commands import local_server, normalize_duration

PROGRESS_KEYS = {
    "progress",
    "t_s",
    "users",
    "calls_completed",
    "p50_ms",
    "p95_ms",
    "failures",
    "calls_refused",
}


def serve_processes(port: int) -> list[int]:
    """Pids of live `workbench serve … --port PORT` processes (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"serve" in args and b"--port" in args and str(port).encode() in args and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.network
@pytest.mark.slow
def test_load_local_starts_the_demo_agent_prints_progress_reconciles_and_stops_it(tmp_path: Path):
    prefix = tmp_path / "run"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "workbench", "load", "local"),
            *("--users", "2", "--spawn-rate", "2", "--duration", "30"),
            "--locust-arg=--only=opening-hours",  # one scenario: little TTS to render first
            *("--report", str(prefix)),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env={k: v for k, v in os.environ.items() if k != "LOAD_SHAPE" and not k.startswith("SF_")},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("local: starting the demo agent (workbench serve) at ws://")
    url = lines[0].split(" at ", 1)[1].split()[0]
    port = int(url.split(":")[2].split("/")[0])

    # stdout is clean: every JSON-looking line is a whole progress object.
    progress = [json.loads(line) for line in lines if line.startswith("{")]
    assert progress, done.stdout
    assert all(set(p) == PROGRESS_KEYS and p["progress"] is True for p in progress)
    assert max(p["users"] for p in progress) == 2
    assert [p["t_s"] for p in progress] == sorted(p["t_s"] for p in progress)
    measured = [p for p in progress if p["p50_ms"] is not None]
    assert measured, "no turn response latency during the run"
    assert 0 < measured[-1]["p50_ms"] <= measured[-1]["p95_ms"]

    # The percentiles are the exact report's, over the same samples (the last line is final).
    report = json.loads(prefix.with_name("run.json").read_text())
    latency = report["metrics_ms"]["response_latency"]
    assert latency["count"] >= 1
    assert measured[-1]["p50_ms"] == pytest.approx(latency["p50"])
    assert f"report: {prefix}.html (+ .json, _exact.csv, _samples.csv)" in lines
    assert report["target"] == url

    # Every completed call was found written to the org the server wrote to, exactly once
    # (no SF_* settings: the embedded local org).
    assert lines[1].startswith("local: reconciling VoiceCalls in the org at http://127.0.0.1:")
    reconciliation = report["reconciliation"]
    assert reconciliation["checked"] >= 1
    assert reconciliation["found"] == reconciliation["checked"]
    assert reconciliation["problems"] == 0, reconciliation

    assert serve_processes(port) == []
    assert "serving on http://127.0.0.1:" in prefix.with_name("run_server.log").read_text()


@pytest.mark.network
@pytest.mark.slow
def test_sigterm_stops_the_run_with_a_report_and_stops_the_demo_agent(tmp_path: Path):
    """The desktop panel's Stop: SIGTERM to `workbench load`, passed on to Locust."""
    prefix = tmp_path / "stopped"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "workbench", "load", "local"),
            *("--users", "1", "--spawn-rate", "1", "--duration", "5m"),
            "--locust-arg=--only=opening-hours",
            *("--report", str(prefix)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "LOAD_SHAPE" and not k.startswith("SF_")},
    )
    try:
        first = process.stdout.readline()
        port = int(first.split(" at ws://127.0.0.1:", 1)[1].split("/")[0])
        progress = process.stdout.readline()
        while progress.startswith("local:"):  # (the org it reconciles in)
            progress = process.stdout.readline()
        # Locust is running once it prints progress.
        assert json.loads(progress)["progress"] is True, progress
        assert len(serve_processes(port)) == 1
        process.terminate()
        rest, _ = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, rest
    assert f"report: {prefix}.html" in rest
    assert prefix.with_name("stopped.json").is_file()
    assert serve_processes(port) == []


def test_a_server_that_never_answers_is_an_error_and_is_stopped(tmp_path: Path):
    server = local_server(tmp_path / "server.log", timeout_s=0.05)
    with pytest.raises(WorkbenchError, match=r"did not answer http://127\.0\.0\.1:\d+/healthz"):
        with server:
            pytest.fail("entered without a healthy server")
    assert server.process is None
    assert serve_processes(server.port) == []


def test_a_bare_number_of_seconds_is_a_duration():
    assert normalize_duration("60") == "60s"
    assert normalize_duration(" 90s ") == "90s"
    assert normalize_duration("5m") == "5m"
    assert normalize_duration("1h30m") == "1h30m"
    for bad in ("", "1.5", "10 minutes", "-3"):
        with pytest.raises(ConfigError, match="--duration"):
            normalize_duration(bad)
