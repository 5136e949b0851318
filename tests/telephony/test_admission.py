"""Admission control: beyond `--max-calls` a call is refused early and cleanly, counted and
logged; health says live and ready apart; the admitted call is not disturbed."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
import websocket
from telephony_helpers import start_server

from workbench.errors import ConfigError
from workbench.telephony.caller.client import CallRefused, MediaStreamClient
from workbench.telephony.caller.pacer import Pacer
from workbench.telephony.server.config import ServerConfig, check_config, default_max_calls

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="module")
def one_line(runtime):
    """A server that takes one call at a time."""
    server = start_server(runtime, max_calls=1)
    yield server
    server.thread.stop(drain_timeout_s=2.0)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def post_twiml(base: str) -> str:
    request = urllib.request.Request(base + "/twiml", data=b"From=%2B14155550100&To=%2B1800")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


def refused(server, route: str, reason: str = "full") -> float:
    return server.server.metrics.counter(
        "workbench_calls_refused_total", route=route, reason=reason
    )


def test_beyond_capacity_calls_are_refused_before_any_audio_and_the_admitted_call_goes_on(
    one_line, caplog
):
    status, ready = get(one_line.http + "/healthz/ready")
    assert (status, ready["ready"]) == (200, True)
    admitted = MediaStreamClient(one_line.media_url, caller_number="+14155550123")
    admitted.connect()
    pacer = Pacer([admitted]).start()
    try:
        assert admitted.wait_until(lambda: admitted.results.first_agent_audio_ms is not None, 20)
        before = refused(one_line, "media")
        # The second call: 503 on the upgrade, no WebSocket, no call on the server.
        second = MediaStreamClient(one_line.media_url)
        with pytest.raises(CallRefused) as refusal:
            second.connect()
        assert refusal.value.status == 503
        assert second.results.refused and second.results.refused_status == 503
        assert refused(one_line, "media") == before + 1
        assert len(one_line.server.connections) == 1
        # Twilio's webhook at capacity: TwiML with a busy signal, no stream.
        twiml = post_twiml(one_line.http)
        assert '<Reject reason="busy"/>' in twiml and "<Stream" not in twiml
        assert refused(one_line, "twiml") >= 1
        # Live but not ready: a load balancer sends the next call elsewhere.
        assert get(one_line.http + "/healthz/live")[0] == 200
        status, ready = get(one_line.http + "/healthz/ready")
        assert (status, ready["ready"], ready["reason"]) == (503, False, "full")
        status, health = get(one_line.http + "/healthz")
        assert (status, health["live"], health["ready"], health["max_calls"]) == (
            200,
            True,
            False,
            1,
        )
        with urllib.request.urlopen(one_line.http + "/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert 'workbench_calls_refused_total{reason="full",route="media"}' in metrics
        assert "workbench_max_calls 1" in metrics
        assert any("refused 1 call(s)" in r.getMessage() for r in caplog.records)
        assert not admitted.closed.is_set()  # the admitted call never noticed
    finally:
        pacer.stop()
        admitted.hang_up()
    one_line.wait_finished(admitted.call_sid)
    # Its line free again, the server takes the next call.
    assert get(one_line.http + "/healthz/ready")[0] == 200
    assert "<Connect><Stream" in post_twiml(one_line.http)
    again = websocket.create_connection(one_line.media_url, timeout=10)
    again.close()


@pytest.mark.parametrize(
    ("when_full", "verb"),
    [
        ("busy", '<Reject reason="busy"/>'),
        ("reject", '<Reject reason="rejected"/>'),
        ("message", "<Say>All our lines are busy"),
    ],
)
def test_what_twiml_answers_at_capacity_is_configurable(runtime, when_full, verb):
    server = start_server(runtime, max_calls=1, when_full=when_full)
    try:
        holder = websocket.create_connection(server.media_url, timeout=10)
        assert verb in post_twiml(server.http)
        holder.close()
    finally:
        server.thread.stop(drain_timeout_s=2.0)


def test_bad_admission_settings_are_refused_at_start():
    with pytest.raises(ConfigError, match="--max-calls 0"):
        check_config(ServerConfig(max_calls=0))
    with pytest.raises(ConfigError, match="--when-full 'hold'"):
        check_config(ServerConfig(when_full="hold"))
    with pytest.raises(ConfigError, match="--max-loop-lag-ms -1"):
        check_config(ServerConfig(max_loop_lag_ms=-1))
    with pytest.raises(ConfigError, match="--max-turn-latency-ms -1"):
        check_config(ServerConfig(max_turn_latency_ms=-1))
    with pytest.raises(ConfigError, match="--public-url"):
        check_config(ServerConfig(public_url="https://agent.example.com"))


def test_the_default_capacity_is_six_calls_per_core_a_process_gets():
    assert default_max_calls(1, cores=2) == 12
    assert default_max_calls(2, cores=2) == 6
    assert default_max_calls(8, cores=2) == 2
    assert ServerConfig(workers=1).calls_per_process == default_max_calls(1)
    assert ServerConfig(max_calls=56).calls_per_process == 56


def test_while_the_event_loop_runs_late_new_calls_are_refused_as_overloaded(runtime):
    server = start_server(runtime, max_calls=10, max_loop_lag_ms=300)
    try:
        assert get(server.http + "/healthz/ready")[0] == 200
        server.thread.loop.call_soon_threadsafe(time.sleep, 0.6)  # the loop starved of CPU
        time.sleep(0.8)
        status, ready = get(server.http + "/healthz/ready")
        assert (status, ready["reason"]) == (503, "overloaded")
        with pytest.raises(websocket.WebSocketBadStatusException) as refusal:
            websocket.create_connection(server.media_url, timeout=10)
        assert refusal.value.status_code == 503
        assert refused(server, "media", "overloaded") == 1
        assert '<Reject reason="busy"/>' in post_twiml(server.http)
        time.sleep(1.5)  # a second of punctual probes: ready again
        assert get(server.http + "/healthz/ready")[0] == 200
    finally:
        server.thread.stop(drain_timeout_s=2.0)


def test_the_overload_guard_can_be_turned_off(runtime):
    server = start_server(runtime, max_calls=10, max_loop_lag_ms=0)
    try:
        server.thread.loop.call_soon_threadsafe(time.sleep, 0.6)
        time.sleep(0.8)
        assert get(server.http + "/healthz/ready")[0] == 200
    finally:
        server.thread.stop(drain_timeout_s=2.0)


class LateClockCall:
    """A named fake connection whose call's clock thread is `behind_ms` late."""

    def __init__(self, behind_ms: float) -> None:
        self.driver = type("Driver", (), {"behind_ms": behind_ms})()


def test_while_the_calls_clock_runs_late_new_calls_are_refused_as_overloaded(runtime):
    server = start_server(runtime, max_calls=10, max_loop_lag_ms=300)
    late = LateClockCall(behind_ms=450.0)
    try:
        server.thread.call_soon(lambda: server.server.connections.add(late))
        time.sleep(0.3)
        status, ready = get(server.http + "/healthz/ready")
        assert (status, ready["reason"]) == (503, "overloaded")
        server.thread.call_soon(lambda: server.server.connections.discard(late))
        time.sleep(1.5)
        assert get(server.http + "/healthz/ready")[0] == 200
    finally:
        server.thread.stop(drain_timeout_s=2.0)


def test_while_recent_replies_are_slow_new_calls_are_refused_as_overloaded(runtime):
    server = start_server(runtime, max_calls=10, max_turn_latency_ms=1500)
    try:
        for latency in (400.0, 500.0, 600.0, 450.0):  # four turns: too few to judge
            server.thread.call_soon(lambda ms=latency: server.server.note_turn_latency(ms))
        server.thread.call_soon(lambda: server.server.note_turn_latency(4000.0))
        assert get(server.http + "/healthz/ready")[0] == 503  # p90 of five: 4000 ms
        for _ in range(10):  # replies are quick again: the slow one is past the p90
            server.thread.call_soon(lambda: server.server.note_turn_latency(300.0))
        status, ready = get(server.http + "/healthz/ready")
        assert status == 200, ready
        health = get(server.http + "/healthz")[1]
        assert health["recent_turn_latency_p90_ms"] == 600.0
    finally:
        server.thread.stop(drain_timeout_s=2.0)
