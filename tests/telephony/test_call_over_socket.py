"""A whole call over the socket to the demo agent with the real speech stack."""

from __future__ import annotations

import pytest

from workbench.engine import events as ev
from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_the_caller_asks_for_opening_hours_and_hears_an_answer(live_server, runtime):
    tts = runtime.stack(runtime.agent()).caller_tts("piper:joe")
    line = "What are your opening hours?"
    client = MediaStreamClient(live_server.media_url, caller_number="+14155550123")
    client.connect()
    pacer = Pacer([client]).start()
    try:
        assert client.wait_for_agent_quiet(500, 20)  # the greeting, heard to its end
        client.send_audio(tts.render_pcm(line, 8000))
        assert client.wait_for_agent_audio(20)  # the answer starts playing
        echoed = client.results.marks_echoed
        assert client.wait_until(lambda: client.results.marks_echoed >= echoed + 2, 10)
    finally:
        client.hang_up()
        pacer.stop()

    caller = client.results
    assert caller.protocol_errors == []
    assert caller.first_agent_audio_ms is not None  # the greeting was heard
    assert len(caller.turn_latencies_ms) == 1  # measured at the caller, mouth to ear
    assert caller.marks_echoed > 0

    summary = live_server.wait_finished(client.call_sid)
    events = live_server.events_of(client.call_sid)
    assert all(e.call_id == client.call_sid for e in events)  # the callSid is the call id
    topics = [e.topic for e in events if isinstance(e, ev.TopicDecided)]
    assert topics == ["OpeningHours"]
    # What the caller heard comes from mark echoes: the reply's first audio and its latency.
    heard_turns = {t.turn: t for t in summary.turns}
    assert 1 in heard_turns and heard_turns[1].latency_ms is not None
    assert any(h.turn == 1 and h.text for h in summary.heard)
    # ... and close the server-side waterfall of the turn.
    completed = [e for e in events if isinstance(e, ev.TurnCompleted) and e.turn == 1]
    assert len(completed) == 1
    timeline = completed[0].timeline
    assert timeline.lane("agent leg + caller playout (mark echo)") is not None
    assert timeline.total_ms == pytest.approx(heard_turns[1].latency_ms)

    assert live_server.crm.wait_for(lambda rs: any(r.call_id == client.call_sid for r in rs))
    record = next(r for r in live_server.crm.records if r.call_id == client.call_sid)
    assert record.intent == "OpeningHours"
    assert record.from_number == "+14155550123"
