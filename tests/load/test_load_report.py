"""The exact load report: nearest-rank percentiles, the generator self-check, the files."""

from __future__ import annotations

import json
import math

import pytest

from workbench.loadreport import (
    GeneratorHealth,
    LatenessHistogram,
    Sample,
    build_report,
    read_samples_csv,
    self_check,
    summarize,
    write_report,
)
from workbench.stats import percentile


def test_percentiles_are_nearest_rank_on_the_raw_samples():
    values = [float(v) for v in range(1, 101)]  # 1..100 ms
    assert percentile(values, 50, method="nearest_rank") == 50.0
    assert percentile(values, 95, method="nearest_rank") == 95.0
    assert percentile(values, 99, method="nearest_rank") == 99.0
    assert percentile(values, 100, method="nearest_rank") == 100.0
    # Locust would report 147 ms as 150 ms; the exact report keeps the observed value.
    assert percentile([147.0, 1432.0, 3432.0], 50, method="nearest_rank") == 1432.0
    assert percentile([147.0], 99, method="nearest_rank") == 147.0


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        percentile([], 50, method="nearest_rank")


def test_summary_of_known_samples():
    summary = summarize([500.0, 700.0, 900.0, 1100.0, 2000.0])
    assert summary == {
        "count": 5,
        "mean": 1040.0,
        "p50": 900.0,
        "p95": 2000.0,
        "p99": 2000.0,
        "max": 2000.0,
    }
    assert summarize([]) == {"count": 0}


def test_lateness_histogram_percentiles_and_merge():
    first, second = LatenessHistogram(), LatenessHistogram()
    for _ in range(98):
        first.add(0.25)  # bin 0.2–0.3 ms
    first.add(7.0)
    second.add(12.34)
    merged = LatenessHistogram.from_sparse(first.to_sparse())
    merged.merge(second)
    assert merged.total == 100
    assert merged.percentile(50) == pytest.approx(0.3)
    assert merged.percentile(99) == pytest.approx(7.1)
    assert merged.percentile(100) == pytest.approx(12.34)
    assert merged.worst_ms == pytest.approx(12.34)


def _health(lateness_ms: float, cpu: list[float]) -> GeneratorHealth:
    health = GeneratorHealth(process="worker A", cpu_percent=cpu, seconds=10.0, frames_sent=500)
    for _ in range(200):
        health.lateness.add(lateness_ms)
    return health


def test_self_check_passes_a_healthy_generator():
    check = self_check([_health(0.4, [80.0, 40.0, 45.0, 50.0])])
    assert check["valid"] is True
    assert check["reasons"] == []
    assert check["processes"][0]["messages_per_s"] == 50.0


def test_self_check_marks_a_late_generator_invalid():
    check = self_check([_health(25.0, [40.0, 40.0])], max_lateness_p99_ms=10.0)
    assert check["valid"] is False
    assert "worker A: pacing lateness p99 25.0 ms > 10 ms" in check["reasons"][0]


def test_self_check_marks_a_cpu_bound_generator_invalid_but_forgives_the_first_second():
    assert self_check([_health(0.4, [100.0, 50.0, 60.0])])["valid"] is True
    check = self_check([_health(0.4, [60.0, 95.0, 97.0, 99.0])], max_cpu_percent=90.0)
    assert check["valid"] is False
    assert "CPU 97% > 90%" in check["reasons"][0]


def _samples() -> list[Sample]:
    return [
        Sample(1000.0, "call_setup", 12.0, True, "opening-hours", "CA1"),
        Sample(1001.0, "ttfa", 800.0, True, "opening-hours", "CA1"),
        Sample(1003.0, "response_latency", 640.0, True, "opening-hours", "CA1"),
        Sample(1013.0, "response_latency", 720.0, True, "opening-hours", "CA1"),
        Sample(1014.0, "false_interruption", 300.0, False, "backchannels", "CA2", "cleared"),
        Sample(1020.0, "call", 20000.0, True, "opening-hours", "CA1"),
        Sample(1021.0, "call", 900.0, False, "backchannels", "CA2", "no greeting"),
    ]


def test_report_counts_calls_failures_and_exact_latencies():
    report = build_report(_samples(), [_health(0.4, [30.0])], target="ws://x/media")
    assert report["valid"] is True
    assert report["calls"] == {"completed": 1, "failed": 1, "refused": 0}
    assert report["false_interruptions"] == 1
    assert report["metrics_ms"]["response_latency"]["p50"] == 640.0
    assert report["metrics_ms"]["response_latency"]["p99"] == 720.0
    assert report["failures"] == {
        "call": {"no greeting": 1},
        "false_interruption": {"cleared": 1},
    }
    assert report["scenarios"]["backchannels"] == {"failed": 1}
    series = report["series"]["metrics"]["response_latency"]
    assert [point["t_s"] for point in series] == [0.0, 10.0]


def test_report_with_reconciliation_problems_is_not_valid():
    report = build_report(_samples(), [], reconciliation={"problems": 2, "missing": ["CA1"]})
    assert report["generator_valid"] is True
    assert report["valid"] is False


def test_written_report_has_raw_samples_exact_csv_json_and_a_self_contained_page(tmp_path):
    samples = _samples()
    report = build_report(samples, [_health(25.0, [30.0])], target="ws://x/media")
    paths = write_report(tmp_path / "run", report, samples)
    raw, exact, as_json, page = paths
    assert read_samples_csv(raw) == samples
    assert "response_latency,2,680.0,640.0,720.0,720.0,720.0" in exact.read_text()
    assert json.loads(as_json.read_text())["self_check"]["valid"] is False
    html = page.read_text()
    assert "RUN INVALID" in html
    assert "<svg" in html and "<script" not in html and "http" not in html.split("Target:")[0]


def _mixed() -> list[Sample]:
    """A run with measures, measures that did not apply, refusals and failures."""
    return [
        Sample(1.0, "barge_in_stop", 420.0, True, "barge", "CA1"),
        Sample.not_applicable(2.0, "barge_in_stop", "agent silent at the caller's onset"),
        Sample.not_applicable(3.0, "barge_in_stop", "agent silent at the caller's onset"),
        Sample(4.0, "response_latency", 610.0, True, "s", "CA2"),
        Sample.not_applicable(5.0, "response_latency", "agent still speaking"),
        Sample.not_applicable(6.0, "false_interruption", "agent silent at the caller's onset"),
        Sample(7.0, "call_refused", 3.5, True, "s", "", "HTTP 503 at capacity"),
        Sample(8.0, "call_refused", 2.5, True, "s", "", "HTTP 503 at capacity"),
        Sample(9.0, "call", 20000.0, True, "s", "CA2"),
        Sample(10.0, "call", 900.0, False, "s", "CA3", "connect: refused with HTTP 403"),
    ]


def test_no_percentile_holds_a_value_for_a_measure_that_did_not_apply(tmp_path):
    samples = _mixed()
    report = build_report(samples)
    measured = {
        name: [s.value_ms for s in samples if s.name == name and s.ok and s.applies]
        for name in report["metrics_ms"]
    }
    for name, m in report["metrics_ms"].items():
        assert m["count"] == len(measured[name]), name
        for key in ("mean", "p50", "p95", "p99", "max"):
            assert math.isfinite(m[key]) and min(measured[name]) <= m[key] <= max(measured[name])
    assert report["metrics_ms"]["barge_in_stop"]["count"] == 1  # not 3 with two 0 ms stops
    assert report["metrics_ms"]["barge_in_stop"]["p50"] == 420.0
    for points in report["series"]["metrics"].values():
        assert all(math.isfinite(p["p50"]) and math.isfinite(p["p95"]) for p in points)
    assert report["not_applicable"] == {
        "barge_in_stop": {"agent silent at the caller's onset": 2},
        "false_interruption": {"agent silent at the caller's onset": 1},
        "response_latency": {"agent still speaking": 1},
    }
    # On disk a measure that did not apply has an empty value, never a number.
    raw, exact, as_json, _page = write_report(tmp_path / "run", report, samples)
    rows = raw.read_text().splitlines()
    assert "2.000,barge_in_stop,,1,,,not applicable: agent silent at the caller's onset" in rows
    back = read_samples_csv(raw)
    assert [s.applies for s in back] == [s.applies for s in samples]
    assert "NaN" not in as_json.read_text() and "nan" not in exact.read_text()


def test_refused_calls_are_counted_apart_from_failed_ones():
    report = build_report(_mixed())
    assert report["calls"] == {"completed": 1, "failed": 1, "refused": 2}
    assert report["refusals"] == {"HTTP 503 at capacity": 2}
    assert report["failures"] == {"call": {"connect: refused with HTTP 403": 1}}
    assert report["metrics_ms"]["call_refused"]["max"] == 3.5  # refused within ms, early
    calls = report["series"]["calls"]
    assert sum(point["refused"] for point in calls) == 2
