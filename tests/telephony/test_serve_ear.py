"""`workbench serve --ear`: a server listens with the fast ear unless told otherwise; with the
accurate ear its calls' words come from the Whisper final pass, on a stage thread of its own."""

from __future__ import annotations

import json
import urllib.request

import pytest
from telephony_helpers import start_server

from workbench.cli import main
from workbench.engine import events as ev
from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer
from workbench.telephony.server.process import ServerProcess

pytestmark = [pytest.mark.network, pytest.mark.slow]


def healthz(http: str) -> dict:
    with urllib.request.urlopen(f"{http}/healthz", timeout=5.0) as response:
        return json.loads(response.read())


def test_a_server_listens_with_the_fast_ear_by_default(live_server):
    assert live_server.server.ear == "fast"
    assert healthz(live_server.http)["ear"] == "fast"


def test_with_the_accurate_ear_a_served_call_is_understood_from_the_final_pass(
    runtime, monkeypatch
):
    from workbench.engine import realtime

    stage_workers: list[int] = []

    class CountingDriver(realtime.RealTimeDriver):
        def __init__(self, *args, workers: int = 2, **kwargs) -> None:
            stage_workers.append(workers)
            super().__init__(*args, workers=workers, **kwargs)

    monkeypatch.setattr(realtime, "RealTimeDriver", CountingDriver)
    live = start_server(runtime, ear="accurate")
    try:
        assert healthz(live.http)["ear"] == "accurate"
        tts = runtime.stack(runtime.agent()).caller_tts("piper:joe")
        client = MediaStreamClient(live.media_url, caller_number="+14155550124")
        client.connect()
        pacer = Pacer([client]).start()
        try:
            assert client.wait_for_agent_quiet(500, 20)  # the greeting, heard to its end
            client.send_audio(tts.render_pcm("What are your opening hours?", 8000))
            assert client.wait_sent(10)

            def understood() -> bool:  # (the server's record: a filler is agent audio too)
                events = live.events_of(client.call_sid)
                return any(isinstance(e, ev.FinalTranscript) for e in events)

            assert client.wait_until(understood, 60)
        finally:
            client.hang_up()
            pacer.stop()
        live.wait_finished(client.call_sid)
        events = live.events_of(client.call_sid)
    finally:
        live.thread.stop(drain_timeout_s=2.0)

    started = next(e for e in events if isinstance(e, ev.CallStarted))
    assert started.settings["ear"] == "accurate"
    finals = [e for e in events if isinstance(e, ev.FinalTranscript)]
    assert [f.ear for f in finals] == ["accurate"]
    assert "opening hours" in finals[0].text
    # A running final pass never queues understanding, the reply or TTS behind it.
    assert stage_workers == [3]


def test_every_worker_listens_with_the_ear_serve_was_given():
    with ServerProcess(crm=False, extra=("--workers", "2", "--ear", "accurate")) as server:
        http = f"http://127.0.0.1:{server.port}"
        answers = [healthz(http) for _ in range(6)]  # the kernel spreads them over the workers
        started = server.log_tail()
    assert {a["ear"] for a in answers} == {"accurate"}
    assert "(2 workers), accurate ear" in started  # the start-up line says which ear


@pytest.mark.parametrize("command", [["serve"], ["bench", "serve"]])
def test_an_unknown_ear_is_one_error_line(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--ear", "loud"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: unknown ear 'loud' (choose one of: fast, accurate)\n"


def test_bench_serve_reports_the_ear_its_server_listened_with():
    from workbench.telephony.bench import run_serve_bench

    report = run_serve_bench(calls=1, duration_s=1.0, workers=1, ear="accurate")

    assert report["ear"] == "accurate"
    assert report["calls_total"] == 1 and report["turns_measured"] >= 1
