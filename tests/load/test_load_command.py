"""`workbench load` builds a Locust command line and runs it in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import ConfigError
from workbench.load_commands import LOCUSTFILE, locust_command, locust_option, summary_lines
from workbench.loadreport import Sample, build_report


def test_the_command_runs_the_locustfile_headless_in_another_python(tmp_path: Path):
    cmd = locust_command(
        "ws://127.0.0.1:8080/media",
        users=20,
        spawn_rate=2.0,
        duration="5m",
        report_prefix=tmp_path / "r",
        processes=2,
        extra=[locust_option("--token", "t")],
    )
    assert cmd[:5] == [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    assert LOCUSTFILE.is_file()
    joined = " ".join(cmd)
    assert "--host ws://127.0.0.1:8080/media --headless" in joined
    assert "-u 20 -r 2 -t 5m --processes 2" in joined
    assert f"--exact-report {tmp_path / 'r'}" in joined
    assert cmd[-1] == "--token=t"


def test_a_token_that_starts_with_a_dash_reaches_the_locustfile_whole():
    import argparse

    # The locustfile's options are argparse options (Locust's parser); a generated token
    # (secrets.token_urlsafe) starts with "-" one time in 64.
    parser = argparse.ArgumentParser()
    parser.add_argument("--org-url")
    parser.add_argument("--org-token")
    args = [locust_option("--org-url", "http://127.0.0.1:1"), locust_option("--org-token", "-x_9")]

    parsed = parser.parse_args(args)

    assert parsed.org_token == "-x_9" and parsed.org_url == "http://127.0.0.1:1"
    with pytest.raises(SystemExit):  # what passing the value separately did
        parser.parse_args(["--org-token", "-x_9"])


def test_a_target_that_is_not_a_websocket_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="expected a ws:// or wss://"):
        locust_command("http://127.0.0.1:8080/media", report_prefix=tmp_path / "r")


def test_the_summary_names_the_verdict_and_the_exact_percentiles():
    report = build_report(
        [
            Sample(1.0, "response_latency", 640.0),
            Sample(2.0, "call", 9000.0, False, "s", "CA1", "x"),
        ],
        target="ws://a/media",
    )
    lines = summary_lines(report)
    assert lines[0].startswith("target ws://a/media: VALID run; calls completed 0, failed 1")
    assert any("response_latency" in line and "p50    640.0" in line for line in lines)
    assert "  failed call: x ×1" in lines


@pytest.mark.network
@pytest.mark.slow
def test_bench_load_measures_the_generator_against_the_trivial_target(tmp_path: Path):
    env = dict(os.environ, WORKBENCH_HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "bench", "load", "--calls", "3", "--seconds", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (step,) = json.loads(done.stdout)["curve"]
    assert step["calls"] == 3
    assert step["max_calls_seen"] == 3
    assert step["lateness_ms"]["frames"] > 0  # every frame of the steady state, measured
    assert set(step["lateness_ms"]) >= {"p50", "p90", "p99", "p99.9", "max"}
    assert step["ramp_lateness_p99_ms"] is not None  # the ramp-up, reported apart
    assert step["target_cpu_percent"] is not None
    assert len(step["load_average_before"]) == 3
