"""Human handoff on the same media socket: hold audio, context before speaking, supervision."""

from __future__ import annotations

import numpy as np
import pytest
from telephony_helpers import VIP_NUMBER

from workbench.audio.codec import ulaw_decode
from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer
from workbench.telephony.handoff.desk import DeskClient
from workbench.telephony.sounds import hold_frames

pytestmark = [pytest.mark.network, pytest.mark.slow]


def loud(frame: bytes, level: int = 1000) -> bool:
    return int(np.abs(ulaw_decode(frame).astype(np.int32)).max()) > level


def test_hold_audio_is_a_soft_audible_loop():
    frames = hold_frames()
    assert len(frames) >= 100 and all(len(f) == 160 for f in frames)
    peaks = [int(np.abs(ulaw_decode(f).astype(np.int32)).max()) for f in frames]
    assert 1000 < max(peaks) < 8000


def test_escalated_call_reaches_a_human_with_context_first_and_supervision(live_server, runtime):
    tts = runtime.stack(runtime.agent()).caller_tts("piper:joe")
    desk = DeskClient(live_server.agent_url, name="Sam", skills=("*",))
    assert desk.connect()["event"] == "welcome"
    client = MediaStreamClient(live_server.media_url, caller_number=VIP_NUMBER, record_audio=True)
    client.connect()
    pacer = Pacer([client]).start()
    supervisor = DeskClient(live_server.agent_url, role="supervisor", name="Lee")
    colleague = DeskClient(live_server.agent_url, name="Kim", skills=("billing",))
    colleague.connect()
    try:
        assert client.wait_for_agent_quiet(500, 20)  # the greeting
        client.send_audio(tts.render_pcm("I want to speak to a person.", 8000))

        # The AI hands off: the call waits in the VIP queue while the caller hears hold audio.
        queued = desk.wait_for("queue", 30)
        while not queued["calls"]:
            queued = desk.wait_for("queue", 30)
        entry = queued["calls"][0]
        assert entry["callSid"] == client.call_sid
        assert entry["queue"] == "Priority" and entry["priority"] == "high"
        heard_before = len(client.played_audio)
        assert client.wait_until(
            lambda: any(loud(f) for f in client.played_audio[heard_before:]), 5
        )

        # The human takes the call and gets the context before any audio.
        context = desk.take(client.call_sid)
        context_at = next(i for i, m in enumerate(desk.history) if m["event"] == "context")
        c = context["context"]
        assert c["reason"] == "caller asked for a person"
        assert any(t["speaker"] == "caller" for t in c["transcript"])
        assert c["summary"]
        assert c["crm"]["name"] == "Dana Whitfield" and c["crm"]["vip"] is True
        leg_id = context["legId"]
        assert leg_id != client.call_sid

        # A whisper reaches the agent, never the caller.
        supervisor.connect()
        supervisor.monitor(client.call_sid, "whisper")
        taken_at = len(client.played_audio) + 5  # a few hold frames may still be in flight
        supervisor.say("This caller is a VIP. Offer the priority line.")
        assert desk_hears(desk, "supervisor")
        assert client.wait_until(lambda: len(client.played_audio) >= taken_at + 50, 10)
        assert not any(loud(f, 300) for f in client.played_audio[taken_at:])

        # The agent's typed reply is spoken to the caller; the caller reaches the agent.
        desk.say("Hello, this is Sam. How can I help?")
        spoke_at = len(client.played_audio)
        assert client.wait_until(lambda: any(loud(f) for f in client.played_audio[spoke_at:]), 10)
        client.send_audio(tts.render_pcm("Thanks.", 8000))
        assert desk_hears(desk, "caller")
        # The supervisor listens to both sides.
        assert desk_hears(supervisor, "agent") and desk_hears(supervisor, "caller")

        # Barge: the supervisor joins the call and the caller hears them too.
        supervisor.set_mode("barge")
        barge_at = len(client.played_audio)
        supervisor.say("Hi, this is Lee, the supervisor.")
        assert client.wait_until(lambda: any(loud(f) for f in client.played_audio[barge_at:]), 10)

        supervisor.send({"event": "leave"})

        # Consult: a colleague on a separate leg; only the agent hears them.
        consult_leg = desk.consult("Billing")
        entry = colleague.wait_for("queue", 10)
        while not any(c["legId"] == consult_leg for c in entry["calls"]):
            entry = colleague.wait_for("queue", 10)
        consult_context = colleague.take(consult_leg)
        assert consult_context["context"]["consult"] is True
        desk.wait_for("consult_connected", 10)
        colleague.say("Sure, send them over.")
        assert desk_hears(desk, "consultant")
        desk.end_consult()
        colleague.wait_for("consult_ended", 10)

        # Transfer: this leg ends, the caller waits for the colleague, who hangs up at the end.
        desk.transfer("Billing")
        assert desk.wait_for("ended", 10)["reason"] == "transferred"
        context2 = colleague.take(client.call_sid)
        second_leg = context2["legId"]
        assert context2["context"]["previousCallId"] == leg_id
        colleague.hang_up()
        assert client.closed.wait(15)  # the server hangs up the caller's socket
    finally:
        pacer.stop()
        client.hang_up()
        for person in (desk, supervisor, colleague):
            person.close()

    assert desk.first_media_index is not None and desk.first_media_index > context_at
    summary = live_server.wait_finished(client.call_sid)
    assert summary.end_reason == "agent_hung_up"
    assert live_server.crm.wait_for(lambda rs: any(r.call_id == second_leg for r in rs))
    records = {r.call_id: r for r in live_server.crm.records}
    ai_leg, first, consult, second = (
        records[client.call_sid],
        records[leg_id],
        records[consult_leg],
        records[second_leg],
    )
    # Legs linked the way VoiceCall links them: AI → Sam → Kim, and Sam's consult with Kim.
    assert ai_leg.disposition == "escalated_to_human" and ai_leg.next_call_id == leg_id
    assert first.previous_call_id == client.call_sid and first.next_call_id == second_leg
    assert first.routed_to == "Sam" and first.disposition == "transferred"
    assert second.previous_call_id == leg_id and second.routed_to == "Kim"
    assert consult.previous_call_id == leg_id and consult.disposition == "consult"


def desk_hears(desk: DeskClient, track: str, timeout_s: float = 10.0) -> bool:
    """Wait until the agent client has received audible audio on `track`."""

    def audible() -> bool:
        audio = bytes(desk.audio.get(track, b""))
        return bool(audio) and loud(audio)

    return desk.wait_until(audible, timeout_s)
