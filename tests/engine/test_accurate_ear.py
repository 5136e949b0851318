"""The accurate ear in the call session: a final pass over the utterance's audio gives the
words, started early in the pause, discarded when the caller goes on, waited for at the
endpoint, and drawn as its own waterfall lane.

Speech models are fakes (tests/support/fakes.py): `FakeFinalPass` hears a fixed sentence and
remembers how much audio each pass was given.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.fakes import FakeAgent, FakeSpeechStack, tone_frame

from workbench.agent import Reply
from workbench.audio.frames import SILENCE_FRAME
from workbench.engine import events as ev
from workbench.engine.session import CallSession, SessionSettings
from workbench.engine.stages import StageWork

LANE = "STT final pass (whisper base, local)"


def accurate_session(**settings: object) -> tuple[CallSession, FakeSpeechStack]:
    stack = FakeSpeechStack()
    session = CallSession(
        "CA-accurate", FakeAgent(), stack, SessionSettings(ear="accurate", **settings)
    )
    return session, stack


def works(outputs: list, stage: str) -> list[StageWork]:
    return [o for o in outputs if isinstance(o, StageWork) and o.stage == stage]


def of(outputs: list, kind: type) -> list:
    return [o for o in outputs if isinstance(o, kind)]


def finish(session: CallSession, t: float, work: StageWork) -> list:
    return session.on_stage_done(t, work.work_id, work.run())


def greet(session: CallSession) -> float:
    respond = works(session.start(0.0), "respond")[0]
    tts = works(finish(session, 1.0, respond), "tts_sentence")[0]
    finish(session, 2.0, tts)
    t = 20.0
    while session.state == "speaking" or t <= 400.0:
        session.on_caller_frame(t, SILENCE_FRAME)
        session.pull_agent_frame(t)
        t += 20.0
    return t


def frames(session: CallSession, t: float, pattern: list[tuple[bool, int]]) -> tuple[list, float]:
    """Feed runs of (speech?, frame count); returns every output and the time after."""
    out: list = []
    for speech, count in pattern:
        for _ in range(count):
            out += session.on_caller_frame(t, tone_frame() if speech else SILENCE_FRAME)
            t += 20.0
    return out, t


def test_the_fast_ear_never_runs_a_final_pass():
    stack = FakeSpeechStack()
    session = CallSession("CA-fast", FakeAgent(), stack, SessionSettings(ear="fast"))
    t = greet(session)
    out, _ = frames(session, t, [(True, 30), (False, 40)])
    assert not works(out, "stt_pass") and works(out, "stt_final")
    assert stack.fake_final_pass is None


def test_the_pass_starts_in_the_pause_before_the_endpoint_and_its_words_are_answered():
    session, stack = accurate_session()
    t = greet(session)
    out, t = frames(session, t, [(True, 30), (False, 3)])
    (final_pass,) = works(out, "stt_pass")  # started ~60 ms into the pause
    assert not of(out, ev.EndpointDecided)
    result = finish(session, t, final_pass)  # done during the endpointer's wait
    assert result == []
    out, t = frames(session, t, [(False, 20)])
    assert of(out, ev.EndpointDecided)
    (close,) = works(out, "stt_close")  # the streaming recogniser closes its utterance
    after = finish(session, t, close)
    (final,) = of(after, ev.FinalTranscript)
    assert final.text == "what are your opening hours on saturday" and final.ear == "accurate"
    assert final.streaming_text  # what the streaming pass alone heard, for the inspector
    assert {w.stage for w in after if isinstance(w, StageWork)} == {"classify", "retrieve"}
    lanes = [name for name, _, _ in session.turns[1].checkpoints]
    assert lanes[0] == LANE


def test_a_speculative_pass_is_discarded_when_the_caller_resumes_and_a_new_one_hears_it_all():
    session, stack = accurate_session()
    t = greet(session)
    out, t = frames(session, t, [(True, 30), (False, 4)])
    (early,) = works(out, "stt_pass")
    out, t = frames(session, t, [(True, 25)])  # "… and do you take Delta Dental?"
    (discarded,) = of(out, ev.FinalPassDiscarded)
    assert discarded.reason == "the caller went on"
    assert early.run() is None  # a worker reaching it later does not run it
    late = stack.final_pass().transcribe(np.zeros(320, dtype=np.int16))
    assert session.on_stage_done(t, early.work_id, late) == []  # nor is a late result used
    out, t = frames(session, t, [(False, 25)])
    (again,) = works(out, "stt_pass")
    close = works(out, "stt_close")[0]
    finish(session, t, close)
    after = finish(session, t + 200.0, again)
    assert of(after, ev.FinalTranscript)
    *_, final_samples = stack.fake_final_pass.heard_samples
    assert final_samples >= (30 + 4 + 25) * 320  # the new pass heard the whole utterance


def test_the_turn_waits_for_a_late_pass_and_the_lane_ends_when_its_words_arrive():
    session, _ = accurate_session()
    t = greet(session)
    out, t = frames(session, t, [(True, 30), (False, 12)])
    (final_pass,) = works(out, "stt_pass")
    (decided,) = of(out, ev.EndpointDecided)
    close = works(out, "stt_close")[0]
    assert finish(session, decided.t_ms + 5.0, close) == []  # still waiting for the pass
    after = finish(session, decided.t_ms + 300.0, final_pass)
    assert of(after, ev.FinalTranscript)[0].t_ms == decided.t_ms + 300.0
    (lane,) = [c for c in session.turns[1].checkpoints if c[0] == LANE]
    assert lane[2] == decided.t_ms + 300.0


def test_a_vendor_profile_starts_the_pass_at_the_endpoint_not_before():
    session, _ = accurate_session(speculative_final_pass=False)
    t = greet(session)
    out, t = frames(session, t, [(True, 30), (False, 4)])
    assert not works(out, "stt_pass")
    out, t = frames(session, t, [(False, 20)])
    (decided,) = of(out, ev.EndpointDecided)
    assert works(out, "stt_pass") and works(out, "stt_close")


def test_a_failed_pass_falls_back_to_the_streaming_words():
    session, _ = accurate_session()
    t = greet(session)
    out, t = frames(session, t, [(True, 30), (False, 25)])
    final_pass = works(out, "stt_pass")[0]
    finish(session, t, works(out, "stt_close")[0])
    after = session.on_stage_failed(t + 10.0, final_pass.work_id, RuntimeError("boom"))
    (final,) = of(after, ev.FinalTranscript)
    assert final.text == "what are your opening hours"  # FakeRecognizer's words


def test_the_words_wait_for_the_streaming_pass_to_close_as_well():
    """Its digits and its fallback words come from the streaming pass's closed utterance."""
    session, _ = accurate_session()
    t = greet(session)
    out, t = frames(session, t, [(True, 30), (False, 12)])
    (final_pass,) = works(out, "stt_pass")
    (decided,) = of(out, ev.EndpointDecided)
    close = works(out, "stt_close")[0]
    assert finish(session, decided.t_ms + 100.0, final_pass) == []
    after = finish(session, decided.t_ms + 120.0, close)
    assert of(after, ev.FinalTranscript)[0].t_ms == decided.t_ms + 120.0


@pytest.mark.parametrize("mode", ["judge", "pause"])
def test_an_acknowledgement_over_the_agent_is_settled_by_the_streaming_words_at_once(mode):
    """The judge needs no final pass to hear "mm-hmm": waiting for one left an acknowledgement
    unsettled when the caller's "but…" began, and the follow-on cue was lost. (In "pause" mode
    the agent went quiet at the voice and resumes at once; in "judge" mode it never stopped.)"""

    class LongGreeting(FakeAgent):
        def greet(self, conversation):
            return Reply(sentences=(" ".join(["welcome"] * 30),), plan="greeting")  # 3 s

    stack = FakeSpeechStack(heard_text="mm-hmm")
    settings = SessionSettings(ear="accurate", interruption=mode)
    session = CallSession("CA-ack", LongGreeting(), stack, settings)
    respond = works(session.start(0.0), "respond")[0]
    tts = works(finish(session, 1.0, respond), "tts_sentence")[0]
    finish(session, 2.0, tts)
    out: list = []
    t = 20.0
    for i in range(120):  # the greeting plays; the caller says "mm-hmm" over it
        speech = 25 <= i < 33
        out += session.on_caller_frame(t, tone_frame() if speech else SILENCE_FRAME)
        session.pull_agent_frame(t)
        t += 20.0
        if works(out, "stt_close"):
            break
    assert session.state == "speaking"
    (close,) = works(out, "stt_close")
    (final_pass,) = [w for w in works(out, "stt_pass")][-1:]
    settled = finish(session, t, close)
    (interruption,) = of(settled, ev.Interruption)
    assert interruption.kind == "backchannel"
    if mode == "judge":
        assert not interruption.stopped_agent
    else:
        assert interruption.stopped_agent and of(settled, ev.AgentResumed)
    assert final_pass.run() is None  # the pass was dropped, never run


def test_the_pass_hears_the_caller_in_the_context_of_what_the_agent_just_said():
    """Whisper reads its prompt as the text before the audio: the agent's last sentences
    (its read-back of a name, its question) help it write the caller's answer."""
    session, stack = accurate_session()
    t = greet(session)
    out, t = frames(session, t, [(True, 30), (False, 3)])
    finish(session, t, works(out, "stt_pass")[0])
    greeting = " ".join(text for who, text in session.transcript if who == "agent")
    assert greeting and stack.fake_final_pass.contexts == [greeting]


def test_the_pass_s_words_judge_the_end_of_a_turn_the_streaming_words_left_unfinished():
    """pocketsphinx's "…opening hours on the" would hold the turn open 900 ms; the pass, started
    300 ms into the pause, hears "…on saturday" (complete), so the turn ends when it is done."""
    stack = FakeSpeechStack(heard_text="what are your opening hours on the")
    session = CallSession("CA-accurate", FakeAgent(), stack, SessionSettings(ear="accurate"))
    t = greet(session)
    out, t = frames(session, t, [(True, 60), (False, 14)])  # 280 ms of pause: no pass yet
    assert not works(out, "stt_pass")
    out, t = frames(session, t, [(False, 2)])
    (final_pass,) = works(out, "stt_pass")
    finish(session, t, final_pass)  # done at ~320 ms of silence
    out, t = frames(session, t, [(False, 1)])
    (decided,) = of(out, ev.EndpointDecided)
    assert decided.silence_ms < 400 and "sound complete" in decided.reason
