"""`workbench serve --workers N`: several processes on one port, metrics summed, drain on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import websocket

from workbench.crm.org.client import local_salesforce
from workbench.errors import ConfigError
from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer
from workbench.telephony.caller.scripted import CallStep, run_steps, scenario_renderer
from workbench.telephony.metrics import ServerMetrics, render_workers
from workbench.telephony.server.process import ServerProcess
from workbench.telephony.server.workers import default_workers, parse_workers

WORKERS = 2


def test_workers_option_takes_a_number_or_auto():
    assert parse_workers("3") == 3
    assert parse_workers("auto") == default_workers() >= 1
    with pytest.raises(ConfigError, match="--workers 0"):
        parse_workers("0")
    with pytest.raises(ConfigError, match="--workers many"):
        parse_workers("many")


def _worker_writes(directory, index: int, script: str) -> None:
    """A worker process's metrics: `script` run against `m`, a worker's `ServerMetrics`."""
    code = (
        "from workbench.telephony.metrics import ServerMetrics\n"
        f"m = ServerMetrics(({index}, 2))\n{script}"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


def test_metrics_of_several_workers_add_up(tmp_path):
    first = """
m.active_calls = 2
m.inc("workbench_calls_total", reason="caller_hung_up")
m.observe("workbench_turn_latency_seconds", 0.35)
"""
    second = """
m.active_calls = 3
m.inc("workbench_calls_total", reason="caller_hung_up", amount=2)
m.inc("workbench_errors_total", cause="protocol_error")
m.observe("workbench_turn_latency_seconds", 1.1)
"""
    _worker_writes(tmp_path, 0, first)
    _worker_writes(tmp_path, 1, second)
    text = render_workers(str(tmp_path))
    lines = text.splitlines()

    assert "workbench_active_calls 5.0" in lines
    assert "workbench_workers 2.0" in lines
    assert "workbench_workers_reporting 2.0" in lines
    assert 'workbench_calls_total{reason="caller_hung_up"} 3.0' in lines
    assert 'workbench_errors_total{cause="protocol_error"} 1.0' in lines
    assert 'workbench_turn_latency_seconds_bucket{le="0.4"} 1.0' in lines
    assert 'workbench_turn_latency_seconds_bucket{le="+Inf"} 2.0' in lines
    assert _metric(text, "workbench_turn_latency_seconds_sum") == pytest.approx(1.45)
    assert 'workbench_worker_active_calls{worker="0"} 2.0' in lines
    assert 'workbench_worker_active_calls{worker="1"} 3.0' in lines


def test_a_worker_without_its_metrics_directory_says_so(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        ServerMetrics((0, 2))


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _metric(text: str, line_start: str) -> float:
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)
    ]
    return sum(values)


@pytest.fixture(scope="module")
def crm_org(tmp_path_factory):
    from workbench.crm.org import LocalOrg

    org = LocalOrg(host="127.0.0.1", db_path=tmp_path_factory.mktemp("org") / "org.sqlite")
    yield org.start()
    org.stop()


@pytest.fixture(scope="module")
def workers_server(tmp_path_factory, crm_org):
    # Every worker writes its calls through one shared outbox (in its own home here) to the org.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKBENCH_HOME", str(tmp_path_factory.mktemp("home")))
        env.setenv("SF_INSTANCE_URL", crm_org.instance_url)
        env.setenv("SF_SESSION_ID", crm_org.token)
        server = ServerProcess(
            log_path=tmp_path_factory.mktemp("workers") / "serve.log",
            extra=("--workers", str(WORKERS)),
        )
        server.start()
    yield server
    server.stop()


@pytest.mark.network
@pytest.mark.slow
def test_calls_to_a_multi_worker_server_are_served_counted_and_written_across_workers(
    workers_server, crm_org
):
    http = f"http://127.0.0.1:{workers_server.port}"
    status, body = _get(http + "/healthz")
    health = json.loads(body)
    assert status == 200 and health["workers"] == WORKERS and health["workers_ready"] == WORKERS

    line = scenario_renderer("espeak:en-us")("What are your opening hours?")
    calls = 4  # the kernel spreads connections over the workers; every call must be counted
    call_sids = []
    pacer = Pacer().start()
    try:
        for _ in range(calls):
            client = MediaStreamClient(workers_server.url)
            result = run_steps(client, [CallStep("say", text="hours", pcm=line)], pacer=pacer)
            assert result.error == ""
            assert len(client.results.turn_latencies_ms) == 1  # the agent answered
            assert client.results.protocol_errors == []
            call_sids.append(client.call_sid)
    finally:
        pacer.stop()

    def finished() -> float:
        return _metric(_get(http + "/metrics")[1], "workbench_calls_total{")

    deadline = time.monotonic() + 20
    while finished() < calls and time.monotonic() < deadline:
        time.sleep(0.2)
    text = _get(http + "/metrics")[1]
    assert _metric(text, "workbench_workers ") == WORKERS
    assert _metric(text, "workbench_workers_reporting ") == WORKERS
    assert _metric(text, "workbench_worker_active_calls{") == _metric(
        text, "workbench_active_calls "
    )
    assert _metric(text, "workbench_calls_total{") == calls
    assert _metric(text, "workbench_turns_total ") >= calls
    assert _metric(text, "workbench_turn_latency_seconds_count ") >= calls

    # Each call's VoiceCall reaches the org, whichever worker served it (one shared outbox).
    salesforce = local_salesforce(crm_org.instance_url, crm_org.token)

    def written() -> list[str]:
        rows = salesforce.query_all("SELECT Call_Id__c FROM VoiceCall")["records"]
        return sorted(row["Call_Id__c"] for row in rows)

    deadline = time.monotonic() + 30
    while len(written()) < calls and time.monotonic() < deadline:
        time.sleep(0.3)
    assert written() == sorted(call_sids)


@pytest.mark.network
@pytest.mark.slow
def test_sigterm_drains_every_worker_and_lets_active_calls_finish(tmp_path):
    server = ServerProcess(crm=False, log_path=tmp_path / "serve.log", extra=("--workers", "2"))
    server.start()
    assert server.process is not None
    client = MediaStreamClient(server.url)
    client.connect()
    pacer = Pacer([client]).start()
    try:
        assert client.wait_until(lambda: client.results.first_agent_audio_ms is not None, 30)
        os.kill(server.process.pid, signal.SIGTERM)
        refused = False
        for _ in range(100):  # once draining, no worker takes a new call
            try:
                websocket.create_connection(server.url, timeout=5).close()
            except (ConnectionError, websocket.WebSocketException):
                refused = True
                break
            time.sleep(0.1)
        assert refused
        assert not client.closed.is_set()  # the active call goes on
        assert server.process.poll() is None
    finally:
        pacer.stop()
        client.hang_up()
    assert server.process.wait(30) == 0
    assert "draining 1 calls" in server.log_path.read_text()
    server.process = None


@pytest.mark.network
@pytest.mark.slow
def test_one_desk_sees_and_takes_the_calls_waiting_in_every_worker(workers_server):
    from workbench.telephony.handoff.desk import DeskClient

    http = f"http://127.0.0.1:{workers_server.port}"
    agent_url = f"ws://127.0.0.1:{workers_server.port}/agent"
    ask_for_a_person = scenario_renderer("piper:joe")("I want to speak to a person.")
    desk = DeskClient(agent_url, name="Sam", skills=("*",))
    supervisor = DeskClient(agent_url, role="supervisor", name="Lee")
    assert desk.connect()["queue"] == []
    supervisor.connect()

    def calls_per_worker() -> list[float]:
        text = _get(http + "/metrics")[1]
        return [
            _metric(text, f'workbench_worker_active_calls{{worker="{i}"}}') for i in range(WORKERS)
        ]

    callers: list[MediaStreamClient] = []
    pacer = Pacer().start()
    try:
        # Callers until every worker holds one (the kernel picks each call's worker).
        while len(callers) < 2 or (min(calls_per_worker()) < 1 and len(callers) < 10):
            client = MediaStreamClient(workers_server.url)
            client.connect()
            pacer.add(client)
            callers.append(client)
            time.sleep(0.3)
        assert min(calls_per_worker()) >= 1
        for client in callers:
            assert client.wait_for_agent_quiet(500, 30)  # the greeting
            client.send_audio(ask_for_a_person)
        everyone = {client.call_sid for client in callers}

        # The desk sees one queue holding every caller, whichever worker each waits in.
        deadline = time.monotonic() + 60
        waiting: set[str] = set()
        while waiting != everyone and time.monotonic() < deadline:
            waiting = {entry["callSid"] for entry in desk.list_queue()}
            time.sleep(0.5)
        assert waiting == everyone

        # The best call first, then the rest by name; a supervisor listens in on the first.
        first = desk.take()
        assert first["callSid"] in everyone and first["context"]["transcript"]
        supervisor.monitor(first["callSid"], "listen")
        desk.hang_up()
        assert desk.wait_for("ended", 10)["callSid"] == first["callSid"]
        for call_sid in sorted(everyone - {first["callSid"]}):
            assert desk.take(call_sid)["callSid"] == call_sid
            desk.hang_up()
            assert desk.wait_for("ended", 10)["callSid"] == call_sid
        assert desk.list_queue() == []
        for client in callers:
            assert client.wait_until(client.closed.is_set, 10)  # the agent hung up on each
    finally:
        pacer.stop()
        for client in callers:
            client.hang_up()
        desk.close()
        supervisor.close()


@pytest.mark.network
@pytest.mark.slow
def test_a_relayed_desk_gets_a_clear_error_for_garbage_and_carries_on(workers_server):
    ws = websocket.create_connection(f"ws://127.0.0.1:{workers_server.port}/agent", timeout=10)
    try:
        replies = []
        for garbage in ("{not json", "[1, 2]", json.dumps({"event": "list"})):
            ws.send(garbage)
            replies.append(json.loads(ws.recv()))
        ws.send_binary(b"\x00\x01")
        replies.append(json.loads(ws.recv()))
        ws.send(json.dumps({"event": "hello", "role": "agent", "name": "Sam"}))
        welcome = json.loads(ws.recv())
    finally:
        ws.close()

    assert [r["event"] for r in replies] == ["error"] * 4  # one answer each, not one per worker
    assert "bad message" in replies[0]["message"] and "bad message" in replies[1]["message"]
    assert "hello" in replies[2]["message"]  # a list before saying hello
    assert "JSON text" in replies[3]["message"]
    assert welcome == {"event": "welcome", "queue": []}
