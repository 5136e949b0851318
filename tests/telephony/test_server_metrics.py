"""The server's metrics in the Prometheus text exposition format."""

from __future__ import annotations

from workbench.telephony.metrics import ServerMetrics


def test_counters_gauges_and_histograms_render_in_exposition_format():
    metrics = ServerMetrics()
    metrics.active_calls = 3
    metrics.inc("workbench_errors_total", cause="protocol_error")
    metrics.inc("workbench_errors_total", cause="protocol_error")
    metrics.inc("workbench_errors_total", cause='odd"cause')
    metrics.observe("workbench_turn_latency_seconds", 0.35)
    metrics.observe("workbench_turn_latency_seconds", 1.1)
    lines = metrics.render().splitlines()

    assert "# TYPE workbench_active_calls gauge" in lines
    assert "workbench_active_calls 3" in lines
    assert "# TYPE workbench_errors_total counter" in lines
    assert 'workbench_errors_total{cause="protocol_error"} 2' in lines
    assert 'workbench_errors_total{cause="odd\\"cause"} 1' in lines
    assert "# TYPE workbench_turn_latency_seconds histogram" in lines
    assert 'workbench_turn_latency_seconds_bucket{le="0.3"} 0' in lines
    assert 'workbench_turn_latency_seconds_bucket{le="0.4"} 1' in lines
    assert 'workbench_turn_latency_seconds_bucket{le="1.25"} 2' in lines
    assert 'workbench_turn_latency_seconds_bucket{le="+Inf"} 2' in lines
    assert "workbench_turn_latency_seconds_count 2" in lines
    assert "workbench_turn_latency_seconds_sum 1.45" in lines
