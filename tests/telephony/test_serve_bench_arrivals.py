"""`workbench bench serve`: when the callers start, and which calls are judged."""

from __future__ import annotations

import pytest

from workbench.errors import ConfigError
from workbench.telephony.bench import (
    caller_start_offsets,
    offered_load,
    placed_after_ramp,
    run_serve_bench,
)


def test_in_step_callers_all_start_at_once():
    assert caller_start_offsets(4, 0.0) == [0.0, 0.0, 0.0, 0.0]


def test_staggered_callers_start_evenly_over_the_ramp():
    offsets = caller_start_offsets(4, 20.0)

    assert offsets == [0.0, 5.0, 10.0, 15.0]
    assert max(offsets) < 20.0  # the last caller is on the line before the ramp ends


def test_calls_placed_during_the_ramp_are_not_judged():
    results = [{"placed_s": 0.0}, {"placed_s": 12.5}, {"placed_s": 20.0}, {"placed_s": 31.0}]

    assert placed_after_ramp(results, 20.0) == [{"placed_s": 20.0}, {"placed_s": 31.0}]
    assert placed_after_ramp(results, 0.0) == results  # in step: every call counts


def test_a_negative_ramp_is_refused_before_any_server_starts():
    with pytest.raises(ConfigError, match="--stagger"):
        run_serve_bench(calls=2, duration_s=1.0, stagger_s=-1.0)


def test_a_soak_reports_memory_growth_after_warm_up_and_over_its_second_half():
    from workbench.telephony.bench import ProcSample, summarise

    # Memory that climbs for five minutes (pools filling), then stays put for ten.
    samples = [
        ProcSample(t=60.0 * m, cpu_s=0.0, rss_mb=1000.0 + 20.0 * min(m, 5)) for m in range(16)
    ]
    call = {
        "turn_latencies_ms": [300.0],
        "barge_in_stop_ms": [],
        "error": "",
        "protocol_errors": [],
    }
    call |= {"closed_by_server": False, "completed": True, "first_agent_audio_ms": 40.0}
    call |= {"late_sends": 0, "worst_lateness_ms": 0.0}

    soak = summarise([call], samples, samples[0], samples[-1], 1, soak=True)["soak"]

    assert soak["rss_slope_mb_per_min"] > 1.0  # the warm-up's climb is in the whole-run slope
    assert soak["rss_slope_last_half_mb_per_min"] == 0.0  # flat once warm


def test_scorecard_coverage_is_the_scored_share_of_finished_calls_on_metrics():
    import http.server
    import threading

    from workbench.telephony.bench import scorecard_coverage

    exposition = (
        b"# TYPE workbench_calls_total counter\n"
        b'workbench_calls_total{reason="caller_hung_up"} 38\n'
        b'workbench_calls_total{reason="agent_ended"} 2\n'
        b"# TYPE workbench_call_resolutions_total counter\n"
        b'workbench_call_resolutions_total{resolution="abandoned",topic="OpeningHours"} 37\n'
        b'workbench_call_resolutions_total{resolution="ai_resolved",topic="none"} 2\n'
        b"workbench_calls_totalx 99\n"  # another name with the same prefix is not counted
    )

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(exposition)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        coverage = scorecard_coverage(server.server_address[1])
    finally:
        server.shutdown()
    assert coverage == {"calls_finished": 40, "calls_scored": 39, "share": 0.975}


def test_a_capacity_run_lifts_the_servers_default_limit_to_the_calls_it_measures():
    # (the default limit is calibrated by this bench; it must not refuse the calls measured)
    assert offered_load(40, None, 0.0, workers=1) == (40, 44)
    assert offered_load(40, 20, 0.0, workers=1) == (40, 20)  # a limit given is kept


def test_an_overload_run_dials_a_multiple_of_the_servers_capacity():
    assert offered_load(2, 12, 2.0, workers=1) == (24, 12)
    assert offered_load(2, 12, 2.0, workers=2) == (48, 12)
    assert offered_load(2, None, 2.0, workers=1)[1] is None  # the server's default limit
