"""Pause and resume over a real Twilio Media Streams socket: the server sends `clear` the
moment the caller's voice pauses the reply, keeps what the caller's buffer lost, and resumes
by re-sending it (with marks) from the start of the cut word — so the caller hears the
reply's words once, in order. Checked on the audio samples the caller played."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from telephony_helpers import start_server

from workbench.audio.frames import SILENCE_FRAME, iter_frames, word_start
from workbench.engine import events as ev
from workbench.speech.numbers import display_text
from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer
from workbench.telephony.caller.scripted import scenario_renderer

pytestmark = [pytest.mark.network, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

QUESTION = "What are your opening hours?"  # a reply of a few sentences from the demo agent
# A carrier's jitter buffer: ~15 frames still unplayed at the clear, more than the session's own
# rewind to the cut word covers, so only the server's ledger can put them back (without its
# re-send this test fails: audio lost).
PLAYOUT_DELAY_MS = 300.0
# The server's estimate of the frames the caller had played at the clear may be off by the
# pacing jitter of the echo it measured the buffer's depth from (60 ms).
HEARD_TOLERANCE_FRAMES = 3


@pytest.fixture(scope="module")
def pausing_server(runtime):
    server = start_server(runtime, interruption="pause")
    yield server
    server.thread.stop(drain_timeout_s=2.0)


def reply_frames(runtime, sentences: tuple[str, ...]) -> list[bytes]:
    """The reply's frames as the session queued them (the same renderer, sentence by sentence)."""
    stack = runtime.stack(runtime.agent())
    frames: list[bytes] = []
    for i, sentence in enumerate(sentences):
        frames += list(iter_frames(stack.render_agent_speech(sentence, first=i == 0)))
    return frames


def sentence_of(runtime, sentences: tuple[str, ...], index: int) -> int:
    """Which sentence of the reply frame `index` is in."""
    stack = runtime.stack(runtime.agent())
    end = 0
    for i, sentence in enumerate(sentences):
        end += len(list(iter_frames(stack.render_agent_speech(sentence, first=i == 0))))
        if index < end:
            return i
    return len(sentences) - 1


def heard_across_the_pause(played: list[bytes], reply: list[bytes]) -> tuple[int, int, int]:
    """Align what the caller played with the reply: (a, b, n) where the caller heard reply[:a],
    then reply[b : b + n]. Frames of pure silence are left out on both sides (the pause, and
    ticks the caller's buffer ran dry, play silence) and the indices are the reply's."""
    kept = [i for i, frame in enumerate(reply) if frame != SILENCE_FRAME]
    ref = [reply[i] for i in kept]
    heard = [frame for frame in played if frame != SILENCE_FRAME]
    start = heard.index(ref[0])
    a = 0
    while start + a < len(heard) and a < len(ref) and heard[start + a] == ref[a]:
        a += 1
    rest = heard[start + a :]
    n = len(rest)
    for b in [*range(a, -1, -1), *range(a + 1, len(ref))]:  # nearest the cut first
        if ref[b : b + n] == rest:
            end = kept[b + n - 1] + 1 if n else kept[b]
            return kept[a] if a < len(kept) else len(reply), kept[b], end - kept[b]
    raise AssertionError(f"after {a} frames of the reply the caller heard audio not in it")


def acknowledge_during_the_reply(server, playout_delay_ms: float) -> MediaStreamClient:
    """A caller asks the question, says "uh-huh" 1.2 s into the reply, listens to its end."""
    render = scenario_renderer("espeak:en-us")
    client = MediaStreamClient(
        server.media_url, record_audio=True, playout_delay_ms=playout_delay_ms
    )
    client.connect()
    pacer = Pacer([client]).start()
    try:
        assert client.wait_for_agent_quiet(700, 20)  # the greeting
        client.send_audio(render(QUESTION), intent="interruption")
        client.wait_sent(10)
        assert client.wait_for_agent_audio(20)
        time.sleep(1.2)  # into the reply
        client.send_audio(render("uh-huh"), intent="acknowledgement")
        client.wait_sent(5)
        client.wait_for_agent_quiet(1500, 30)
    finally:
        client.hang_up()
        pacer.stop()
    return client


def test_an_acknowledgement_pauses_the_reply_with_clear_and_it_resumes_from_the_cut_word(
    pausing_server, runtime
):
    client = acknowledge_during_the_reply(pausing_server, PLAYOUT_DELAY_MS)
    summary = pausing_server.wait_finished(client.call_sid)
    events = pausing_server.events_of(client.call_sid)
    [reply] = [e for e in events if isinstance(e, ev.ResponseStarted) and e.turn == 1]
    assert len(summary.pauses) == 1, summary.pauses  # one acknowledgement, one pause
    [pause] = summary.pauses
    assert any(isinstance(e, ev.AgentResumed) for e in events)
    assert pause.outcome == "resumed"
    # The clear dropped audio the caller had not played yet (its jitter buffer).
    assert pause.heard_frames < pause.sent_frames
    assert client.results.clears_received == 1 and client.results.protocol_errors == []

    frames = reply_frames(runtime, reply.sentences)
    a, b, n = heard_across_the_pause(client.played_audio, frames)
    assert 0 < a < len(frames)  # the pause cut the reply
    # Nothing lost: it went on from where the caller stopped hearing, or before.
    assert b <= a, f"frames {a}..{b} of the reply were never heard"
    # ... and only the cut word again: no quiet frame (a gap between words) after its start.
    assert word_start(frames[b:a]) == 0
    assert b + n == len(frames) or all(f == SILENCE_FRAME for f in frames[b + n :])  # to its end
    # The server's ledger knew what the caller heard when it cleared (marks and the measured
    # depth of the caller's buffer), to within a few frames of what the caller played.
    assert abs(pause.heard_frames - a) <= HEARD_TOLERANCE_FRAMES, (pause.heard_frames, a)
    # The re-sent audio carried marks, and their echoes prove the reply was heard to its end.
    after = [h for h in summary.heard if h.turn == 1 and h.t_ms > pause.t_ms]
    assert after and (after[-1].sentence_index, after[-1].progress) == (
        len(reply.sentences) - 1,
        1.0,
    )

    assert len(client.results.overlaps["overlaps"]) == 1, client.results.overlaps
    [overlap] = client.results.overlaps["overlaps"]
    assert (overlap["intent"], overlap["outcome"]) == ("acknowledgement", "resumed")
    assert overlap["stopped_by"] == "clear"
    assert client.results.overlaps["policy"] == "pauses and resumes"


# A deep jitter buffer (1.2 s): a sentence end the session sent is still unplayed at the clear.
@pytest.mark.parametrize("playout_delay_ms", [PLAYOUT_DELAY_MS, 1200.0])
def test_an_interruption_pauses_the_reply_with_one_clear_and_the_remainder_is_dropped(
    pausing_server, runtime, playout_delay_ms
):
    render = scenario_renderer("espeak:en-us")
    client = MediaStreamClient(
        pausing_server.media_url, record_audio=True, playout_delay_ms=playout_delay_ms
    )
    client.connect()
    pacer = Pacer([client]).start()
    try:
        assert client.wait_for_agent_quiet(700, 20)  # the greeting
        client.send_audio(render(QUESTION), intent="interruption")
        client.wait_sent(10)
        assert client.wait_for_agent_audio(20)
        time.sleep(1.2)  # into the reply
        client.send_audio(render("Wait, do you take Delta Dental?"), intent="interruption")
        client.wait_sent(5)
        client.wait_for_agent_quiet(1500, 30)
    finally:
        client.hang_up()
        pacer.stop()
    summary = pausing_server.wait_finished(client.call_sid)
    events = pausing_server.events_of(client.call_sid)
    [reply] = [e for e in events if isinstance(e, ev.ResponseStarted) and e.turn == 1]
    # (the caller's question may be answered before it ends — a premature endpoint, paused in turn)
    [pause, *_] = summary.pauses
    assert (pause.turn, pause.outcome, pause.resent_frames) == (1, "yielded", 0)
    assert not any(isinstance(e, ev.AgentResumed) and e.turn == 1 for e in events)
    # One `clear` per pause: the yield sends no second one.
    assert client.results.clears_received == summary.clears_sent == len(summary.pauses)
    assert client.results.protocol_errors == []

    frames = reply_frames(runtime, reply.sentences)
    kept = [f for f in frames if f != SILENCE_FRAME]
    heard = [f for f in client.played_audio if f != SILENCE_FRAME]
    start = heard.index(kept[0])
    a = 0
    while a < len(kept) and start + a < len(heard) and heard[start + a] == kept[a]:
        a += 1
    assert 0 < a < len(kept)  # the pause cut the reply ...
    assert not set(kept[a:]) & set(heard[start + a :])  # ... and none of its rest was heard

    # The transcript keeps what the caller heard: the reply's words up to the cut, in the
    # sentence the caller's audio was cut in.
    [stop] = [
        e
        for e in events
        if isinstance(e, ev.AgentAudioStopped) and e.turn == 1 and e.reason == "interrupted"
    ]
    full = " ".join(display_text(s) for s in reply.sentences)
    assert stop.text_heard and full.startswith(stop.text_heard) and stop.text_heard != full
    cut_sentence = sentence_of(runtime, reply.sentences, frames.index(kept[a]))
    before = " ".join(display_text(s) for s in reply.sentences[:cut_sentence])
    assert stop.text_heard.startswith(before)
    assert len(stop.text_heard) < len(before) + 1 + len(display_text(reply.sentences[cut_sentence]))

    # ... and so does the call's record in the CRM: the reply's lines are the words heard.
    assert pausing_server.crm.wait_for(
        lambda records: any(r.call_id == client.call_sid for r in records)
    )
    [record] = [r for r in pausing_server.crm.records if r.call_id == client.call_sid]
    lines = list(record.transcript)
    asked = next(i for i, (who, _) in enumerate(lines) if who == "caller")
    answer = []
    for who, text in lines[asked + 1 :]:
        if who != "agent":
            break
        answer.append(text)
    assert " ".join(answer) == stop.text_heard + " —"

    [overlap, *_] = client.results.overlaps["overlaps"]
    assert (overlap["intent"], overlap["outcome"]) == ("interruption", "yielded")
    assert overlap["stopped_by"] == "clear" and overlap["stop_latency_ms"] is not None


@pytest.fixture(scope="module")
def rephrasing_server(runtime, tmp_path_factory):
    """The demo agent, told by its own file to rephrase after any pause (`turn_taking:`)."""
    agent = tmp_path_factory.mktemp("agent") / "northwind"
    shutil.copytree(REPO / "assets" / "agents" / "northwind", agent)
    definition = agent / "agent.yaml"
    definition.write_text(
        definition.read_text() + "turn_taking:\n  resume: rephrase\n  rephrase_after_ms: 0\n"
    )
    server = start_server(runtime, agent_path=agent)
    yield server
    server.thread.stop(drain_timeout_s=2.0)


def test_a_rephrased_resume_says_the_rest_of_the_cut_sentence_once_then_the_reply_on(
    rephrasing_server, runtime
):
    # Over Twilio the `clear` also drops sentences the caller's buffer had not played yet: the
    # caller must hear "As I was saying, <the rest>" and then each later sentence once — not
    # the cut sentence's rest twice.
    client = acknowledge_during_the_reply(rephrasing_server, 1200.0)
    summary = rephrasing_server.wait_finished(client.call_sid)
    events = rephrasing_server.events_of(client.call_sid)
    [reply] = [e for e in events if isinstance(e, ev.ResponseStarted) and e.turn == 1]
    [resumed] = [e for e in events if isinstance(e, ev.AgentResumed) and e.turn == 1]
    assert resumed.rephrased and resumed.text.startswith("As I was saying, "), resumed
    [pause] = summary.pauses
    assert pause.outcome == "resumed"

    stack = runtime.stack(runtime.agent())
    frames = reply_frames(runtime, reply.sentences)
    cut = resumed.sentence_index
    assert 0 <= cut < len(reply.sentences)
    later = [
        frame
        for i, sentence in enumerate(reply.sentences[cut + 1 :], start=cut + 1)
        for frame in iter_frames(stack.render_agent_speech(sentence, first=i == 0))
    ]
    rephrasing = list(iter_frames(stack.render_agent_speech(resumed.text, first=True)))

    def audible(frames_: list[bytes]) -> list[bytes]:
        return [f for f in frames_ if f != SILENCE_FRAME]

    heard = audible(client.played_audio)
    start = heard.index(audible(frames)[0])
    a = 0
    while heard[start + a] == audible(frames)[a]:
        a += 1
    rest = heard[start + a :]
    expected = audible(rephrasing) + audible(later)
    assert rest[: len(expected)] == expected, "not the rephrasing, then each later sentence once"
    assert not set(audible(frames)) & set(rest[len(expected) :])  # and nothing of the reply again
