"""The harness's live progress lines (loadtests/progress.py never imports Locust)."""

from __future__ import annotations

import importlib.util
import json
import random
import sys

from workbench.loadreport import Sample, build_report
from workbench.paths import REPO_ROOT

_SPEC = importlib.util.spec_from_file_location(
    "loadtests_progress", REPO_ROOT / "loadtests/progress.py"
)
progress = importlib.util.module_from_spec(_SPEC)
sys.modules["loadtests_progress"] = progress
_SPEC.loader.exec_module(progress)


def test_before_any_turn_the_percentiles_are_null():
    tracker = progress.ProgressTracker()
    line = tracker.line([Sample(1.0, "call_setup", 8.0)], t_s=2.04, users=3, failures=0)
    assert "\n" not in line
    assert json.loads(line) == {
        "progress": True,
        "t_s": 2.0,
        "users": 3,
        "calls_completed": 0,
        "p50_ms": None,
        "p95_ms": None,
        "failures": 0,
        "calls_refused": 0,
    }


def test_percentiles_are_the_exact_reports_over_the_samples_so_far():
    rng = random.Random(7)
    samples: list[Sample] = []
    tracker = progress.ProgressTracker()
    for step in range(5):  # the list grows between lines, as the harness's does
        for i in range(rng.randint(0, 40)):
            name = rng.choice(
                ["response_latency", "response_latency", "ttfa", "call", "call_refused"]
            )
            t = step + i / 100
            if rng.random() < 0.1:  # a turn whose latency did not apply: never a number
                samples.append(Sample.not_applicable(t, name, "agent still speaking"))
            else:
                samples.append(Sample(t, name, rng.uniform(100, 3000), rng.random() > 0.1))
        data = json.loads(tracker.line(samples, t_s=2.0 * step, users=4, failures=step))
        report = build_report(samples)
        latency = report["metrics_ms"].get("response_latency", {"count": 0})
        if latency["count"]:
            assert data["p50_ms"] == latency["p50"]
            assert data["p95_ms"] == latency["p95"]
        else:
            assert data["p50_ms"] is None and data["p95_ms"] is None
        assert data["calls_completed"] == report["calls"]["completed"]
        assert data["calls_refused"] == report["calls"]["refused"]
        assert data["failures"] == step


def test_failed_turns_do_not_count_as_latencies():
    samples = [
        Sample(1.0, "response_latency", 500.0),
        Sample(2.0, "response_latency", 9000.0, False, "s", "CA1", "timeout"),
        Sample(3.0, "call", 12000.0, False, "s", "CA1", "timeout"),
    ]
    data = json.loads(progress.ProgressTracker().line(samples, t_s=4, users=1, failures=2))
    assert (data["p50_ms"], data["p95_ms"], data["calls_completed"]) == (500.0, 500.0, 0)
