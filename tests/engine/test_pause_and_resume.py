"""Pause mode in the session: the agent goes quiet at the caller's voice; a pause that reaches
its cap ends in a resume (from the cut, or rephrased after a long pause) unless the caller's
turn has begun. Speech models are fakes (tests/support/fakes.py); the session's logic is real."""

from __future__ import annotations

from support.fakes import FakeAgent, FakeSpeechStack, tone_frame

from workbench.agent import Reply
from workbench.audio.frames import SILENCE_FRAME
from workbench.engine import events as ev
from workbench.engine.session import CallSession, SessionSettings
from workbench.engine.stages import StageWork

GREETING = "Thank you for calling the Northwind office today."  # 8 words: 800 ms of fake speech


class LongGreeting(FakeAgent):
    def greet(self, conversation) -> Reply:
        return Reply(sentences=(GREETING,), plan="greeting")


def start(heard: str = "", **settings) -> tuple[CallSession, list[StageWork]]:
    stack = FakeSpeechStack(heard_text=heard)
    session = CallSession("CA-pause", LongGreeting(), stack, SessionSettings(**settings))
    respond = next(o for o in session.start(0.0) if isinstance(o, StageWork))
    out = session.on_stage_done(1.0, respond.work_id, respond.run())
    tts = next(o for o in out if isinstance(o, StageWork))
    session.on_stage_done(2.0, tts.work_id, tts.run())
    return session, []


def run(session: CallSession, ticks: list[bytes], t0: float = 20.0):
    """Feed caller frames and pull agent frames; returns (events, works, agent frames by t)."""
    events, works, sent = [], [], {}
    t = t0
    for caller_frame in ticks:
        for out in session.on_caller_frame(t, caller_frame):
            (works if isinstance(out, StageWork) else events).append(out)
        frame, outs = session.pull_agent_frame(t)
        events += outs
        if frame is not None:
            sent[t] = frame
        t += 20.0
    return events, works, sent


def cough_over_the_greeting() -> list[bytes]:
    # 200 ms of line, the greeting plays; 200 ms of sound at 400 ms, then quiet
    return [SILENCE_FRAME] * 20 + [tone_frame()] * 10 + [SILENCE_FRAME] * 140


def test_the_agent_goes_quiet_at_the_callers_voice_and_says_so():
    session, _ = start()
    events, _, sent = run(session, cough_over_the_greeting()[:40])
    (paused,) = [e for e in events if isinstance(e, ev.AgentPaused)]
    assert paused.turn == 0 and paused.onset_ms <= paused.t_ms
    assert not [t for t in sent if t > paused.t_ms]  # not a frame after the pause


def test_a_pause_that_reaches_its_cap_resumes_from_the_cut_while_the_words_are_pending():
    # The final words never arrive in time (a slow recogniser): the cap decides.
    session, _ = start(pause_cap_ms=1000.0)
    events, works, sent = run(session, cough_over_the_greeting())
    assert [w.stage for w in works] == ["stt_final"]  # pending, never delivered
    (paused,) = [e for e in events if isinstance(e, ev.AgentPaused)]
    (resumed,) = [e for e in events if isinstance(e, ev.AgentResumed)]
    assert resumed.t_ms - paused.t_ms == 1000.0 and resumed.paused_ms == 1000.0
    assert not resumed.rephrased
    after = sorted(t for t in sent if t > paused.t_ms)
    assert after and after[0] == resumed.t_ms  # the audio goes on at once
    assert ("agent", GREETING) in session.transcript  # heard whole: resumed at the cut word


def test_a_long_pause_is_rephrased_when_the_agent_says_so():
    session, _ = start(pause_cap_ms=1000.0, resume_policy="rephrase", rephrase_after_ms=800.0)
    events, works, _ = run(session, cough_over_the_greeting()[:90])
    (resumed,) = [e for e in events if isinstance(e, ev.AgentResumed)]
    assert resumed.rephrased and resumed.text.startswith("As I was saying, ")
    (rephrase,) = [w for w in works if w.stage == "tts_rephrase"]
    session.on_stage_done(resumed.t_ms + 5.0, rephrase.work_id, rephrase.run())
    run(session, [SILENCE_FRAME] * 80, t0=20.0 * 91)
    said = [text for who, text in session.transcript if who == "agent"]
    # The caller heard the start of the sentence, then "As I was saying" and the rest of it.
    assert said[-1] == resumed.text
    rest = resumed.text.removeprefix("As I was saying, ")
    assert GREETING.lower().endswith(rest.lower()) and rest != GREETING


def test_a_short_pause_continues_even_under_the_rephrase_policy():
    session, _ = start(pause_cap_ms=1000.0, resume_policy="rephrase", rephrase_after_ms=1500.0)
    events, works, _ = run(session, cough_over_the_greeting())
    (resumed,) = [e for e in events if isinstance(e, ev.AgentResumed)]
    assert not resumed.rephrased and not [w for w in works if w.stage == "tts_rephrase"]


def stopped(events) -> list:
    return [e for e in events if isinstance(e, ev.AgentAudioStopped) and e.reason == "interrupted"]


def test_a_stop_word_yields_at_once():
    session, _ = start(heard="wait what are your opening hours", pause_cap_ms=1000.0)
    events, _, _ = run(session, cough_over_the_greeting())
    (paused,) = [e for e in events if isinstance(e, ev.AgentPaused)]
    assert [e.t_ms for e in stopped(events)] == [paused.t_ms]  # yielded where it went quiet
    assert not [e for e in events if isinstance(e, ev.AgentResumed)]


def test_content_words_wait_for_the_final_words_and_then_the_cap_yields():
    # "what are your opening hours" may be a misheard "mm-hmm": while paused it waits for the
    # final words; if they do not come before the cap, the caller's turn has begun: yield.
    session, _ = start(heard="what are your opening hours", pause_cap_ms=1000.0)
    events, _, _ = run(session, cough_over_the_greeting())
    (paused,) = [e for e in events if isinstance(e, ev.AgentPaused)]
    (yielded,) = stopped(events)
    assert yielded.t_ms == paused.t_ms  # quiet since the pause; stopped for good at the cap
    assert not [e for e in events if isinstance(e, ev.AgentResumed)]


def test_speech_that_yields_no_words_ends_in_a_reprompt_not_silence():
    session, _ = start()  # the recogniser hears nothing in it (babble, a bad line)
    run(session, [SILENCE_FRAME] * 60)  # the greeting plays out
    events, works, _ = run(session, [tone_frame()] * 40 + [SILENCE_FRAME] * 40, t0=20.0 * 61)
    (final,) = [w for w in works if w.stage == "stt_final"]
    out = session.on_stage_done(3000.0, final.work_id, final.run())
    (reply,) = [e for e in out if isinstance(e, ev.ResponseStarted)]
    assert reply.plan == "re-prompt: speech with no words" and reply.sentences


def test_a_short_sound_with_no_words_is_not_reprompted():
    session, _ = start()
    run(session, [SILENCE_FRAME] * 60)
    events, works, _ = run(session, [tone_frame()] * 10 + [SILENCE_FRAME] * 40, t0=20.0 * 61)
    (final,) = [w for w in works if w.stage == "stt_final"]
    out = session.on_stage_done(2000.0, final.work_id, final.run())
    assert not [e for e in out if isinstance(e, ev.ResponseStarted)]
    assert session.state == "listening"
