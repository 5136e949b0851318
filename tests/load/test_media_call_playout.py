"""The synthetic caller's playout (loadtests/media_call.py), driven without a socket: agent
audio is queued as it arrives and decoded as it plays, a mark is echoed once the audio before
it has played, `clear` empties the buffer and echoes the marks still pending, and a bad
payload is flagged when it comes up.

Run in a child process: media_call imports gevent (kept out of the test process)."""

from __future__ import annotations

from support.child import run_script

SCRIPT = r"""
import base64, json, sys
sys.path.insert(0, "loadtests")
import call_records, greenlet_pacer, media_call

call = media_call.LocustCall("ws://unused", greenlet_pacer.GreenletPacer())
sid = call.stream_sid

def media(audio):
    payload = base64.b64encode(audio).decode()
    return json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}},
                      separators=(",", ":")).encode()

def mark(name):
    return json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": name}}).encode()

loud = bytes([0x10]) * 160  # μ-law: loud
out = {}
for _ in range(3):
    call._on_text(media(loud))
call._on_text(mark("first"))
call._on_text(media(loud))
call._on_text(mark("second"))
out["queued_undecoded"] = len(call._undecoded)
out["decoded_before_play"] = len(call._playout)
echoed = []
for n in range(3):
    call._play(n * 20.0)
    echoed.append(call.state.marks_echoed)
call._play(60.0)  # the mark after the third frame is echoed on the next tick
echoed.append(call.state.marks_echoed)
out["echoed_per_tick"] = echoed
out["heard_ms"] = call.state.first_agent_audio_ms
call._on_text(json.dumps({"event": "clear", "streamSid": sid}).encode())
out["audio_after_clear"] = call.has_audio
call._play(80.0)
out["echoed_after_clear"] = call.state.marks_echoed
call._on_text(b'{"event":"media","streamSid":"' + sid.encode() + b'","media":{"payload":"!!!!"}}')
call._play(100.0)
out["errors"] = call.state.protocol_errors
print(json.dumps(out))
"""


def test_agent_audio_plays_in_order_with_marks_clear_and_validation():
    out = run_script(SCRIPT)
    assert out["queued_undecoded"] == 4  # nothing decoded on arrival
    assert out["decoded_before_play"] == 0
    assert out["echoed_per_tick"] == [0, 0, 0, 1]  # "first" only after its three frames
    assert out["heard_ms"] == 0.0  # the first frame is audible from its first sample
    assert out["audio_after_clear"] is False
    assert out["echoed_after_clear"] == 2  # "second" was dropped with its audio, and echoed
    assert out["errors"] == ["31951 media payload is not valid base64"]


MEASURES = r"""
import base64, json, sys, time
sys.path.insert(0, "loadtests")
import call_records, greenlet_pacer, media_call
from call_script import synthetic_render

def media(call, frames):
    payload = base64.b64encode(bytes([0x10]) * 160 * frames).decode()
    return json.dumps({"event": "media", "streamSid": call.stream_sid,
                       "media": {"payload": payload}}, separators=(",", ":")).encode()

utterance = call_records.EncodedUtterance.from_pcm("Sorry, what about Saturday?", synthetic_render("Sorry, what about Saturday?"))
out = {}

def run(agent_frames, barge_at_tick, clear_at_tick=None, kind="barge_in"):
    call = media_call.LocustCall("ws://unused", greenlet_pacer.GreenletPacer())
    call._on_text(media(call, agent_frames))
    item = call_records.InterjectionMeasure(kind)
    for n in range(barge_at_tick + len(utterance.frames) + 60):
        if n == barge_at_tick:
            call.state.interjection = item
            call.say(utterance)
        if clear_at_tick is not None and n == clear_at_tick:
            call._on_text(json.dumps({"event": "clear", "streamSid": call.stream_sid}).encode())
        call.tick(n, time.perf_counter())
    return call, item

# The agent's 3 frames ended long before the caller spoke: nothing to stop.
call, item = run(agent_frames=3, barge_at_tick=50)
out["silent"] = [item.stop_ms, item.not_applicable]
# The agent talks on; the caller barges in and the agent's audio is cleared 300 ms later.
call, item = run(agent_frames=400, barge_at_tick=10, clear_at_tick=10 + 40)
out["stopped"] = [item.stop_ms, item.not_applicable]
# The agent talks on through the caller's whole utterance: no reply latency to time.
call, item = run(agent_frames=400, barge_at_tick=10, kind="backchannel")
out["overlap"] = [call.state.reply_not_applicable, call.state.awaiting_reply]
# The reply begins while the utterance's 200 ms silent tail is still being sent: timed from
# the reply's first sample, not from the end of the tail.
call = media_call.LocustCall("ws://unused", greenlet_pacer.GreenletPacer())
frames = len(utterance.frames)
for n in range(5 + frames + 30):
    if n == 5:
        call.say(utterance)
    if n == 5 + frames - 6:  # 4 frames into the 10-frame tail
        call._on_text(media(call, 20))
    call.tick(n, time.perf_counter())
out["early_reply"] = [call.state.reply_ms - call.state.speech_end_ms, call.state.reply_not_applicable]
print(json.dumps(out))
"""


def test_a_barge_in_that_finds_the_agent_silent_is_not_a_zero_ms_stop():
    out = run_script(MEASURES)
    stop, reason = out["silent"]
    assert stop is None and reason == "agent silent at the caller's onset"
    stop, reason = out["stopped"]
    assert reason == "" and 0.0 < stop < 1000.0  # a real stop is still measured
    reason, awaiting = out["overlap"]
    assert reason == "agent still speaking when the caller stopped" and awaiting is False
    latency, reason = out["early_reply"]
    assert reason == "" and 0.0 < latency < 200.0
