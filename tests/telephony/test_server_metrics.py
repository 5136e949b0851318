"""The server's metrics in the Prometheus text exposition format."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from workbench.telephony.metrics import COUNTERS, ServerMetrics


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value, read with Prometheus's own parser."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    raise AssertionError(f"no sample {name}{labels}")


def test_counters_gauges_and_histograms_render_in_exposition_format():
    metrics = ServerMetrics()
    metrics.active_calls = 3
    metrics.inc("workbench_errors_total", cause="protocol_error")
    metrics.inc("workbench_errors_total", cause="protocol_error")
    metrics.inc("workbench_errors_total", cause='odd"cause')
    metrics.observe("workbench_turn_latency_seconds", 0.35)
    metrics.observe("workbench_turn_latency_seconds", 1.1)
    text = metrics.render()
    lines = text.splitlines()

    assert "# TYPE workbench_active_calls gauge" in lines
    assert "workbench_active_calls 3.0" in lines
    assert "# TYPE workbench_errors_total counter" in lines
    assert 'workbench_errors_total{cause="protocol_error"} 2.0' in lines
    assert 'workbench_errors_total{cause="odd\\"cause"} 1.0' in lines
    assert "# TYPE workbench_turn_latency_seconds histogram" in lines
    assert 'workbench_turn_latency_seconds_bucket{le="0.3"} 0.0' in lines
    assert 'workbench_turn_latency_seconds_bucket{le="0.4"} 1.0' in lines
    assert 'workbench_turn_latency_seconds_bucket{le="1.25"} 2.0' in lines
    assert 'workbench_turn_latency_seconds_bucket{le="+Inf"} 2.0' in lines
    assert "workbench_turn_latency_seconds_count 2.0" in lines
    assert sample(text, "workbench_turn_latency_seconds_sum") == pytest.approx(1.45)
    assert sample(text, "workbench_errors_total", cause='odd"cause') == 1


def test_every_counter_is_declared_and_read_back_by_its_labels():
    metrics = ServerMetrics()
    for name, (_, labels) in COUNTERS.items():
        metrics.inc(name, 2, **{label: "x" for label in labels})
        assert metrics.counter(name, **{label: "x" for label in labels}) == 2
    text = metrics.render()
    for name, (_, labels) in COUNTERS.items():
        assert f"# TYPE {name} counter" in text.splitlines()
        assert sample(text, name, **{label: "x" for label in labels}) == 2
    assert metrics.counter("workbench_calls_total", reason="never") == 0
    with pytest.raises(KeyError):
        metrics.inc("workbench_undeclared_total")
