"""The call session as a state machine: timed inputs in, events and stage work out.

Speech models are replaced by fakes (tests/support/fakes.py); the session's own logic —
endpointing, the order of stages, parallel understanding, playout — is what is specified here.
"""

from __future__ import annotations

from support.fakes import FakeAgent, FakeSpeechStack, tone_frame

from workbench.audio.frames import SILENCE_FRAME
from workbench.engine import events as ev
from workbench.engine.listening import NOISE_FLOOR_MIN_FRAMES
from workbench.engine.session import CallSession, SessionSettings
from workbench.engine.stages import StageWork


def new_session(**settings: object) -> CallSession:
    return CallSession("CA-test", FakeAgent(), FakeSpeechStack(), SessionSettings(**settings))


def works(outputs: list) -> dict[str, StageWork]:
    return {o.stage: o for o in outputs if isinstance(o, StageWork)}


def events_of(outputs: list, kind: type) -> list:
    return [o for o in outputs if isinstance(o, kind)]


def finish(session: CallSession, t: float, work: StageWork) -> list:
    return session.on_stage_done(t, work.work_id, work.run())


def greet(session: CallSession) -> float:
    """Connect, let the greeting play out, return the time it finished."""
    respond = works(session.start(0.0))["respond"]
    tts = works(finish(session, 1.0, respond))["tts_sentence"]
    finish(session, 2.0, tts)
    t = 20.0
    # The line carries frames all along; the session learns its noise floor from the first
    # `NOISE_FLOOR_MIN_FRAMES` of them (a caller waits for the greeting to start).
    while session.state == "speaking" or t <= NOISE_FLOOR_MIN_FRAMES * 20.0:
        session.on_caller_frame(t, SILENCE_FRAME)
        session.pull_agent_frame(t)
        t += 20.0
    return t


def speak_and_pause(
    session: CallSession, start: float, speech_frames: int, silence_frames: int
) -> tuple[list, float]:
    out: list = []
    t = start
    for i in range(speech_frames + silence_frames):
        frame = tone_frame() if i < speech_frames else SILENCE_FRAME
        out += session.on_caller_frame(t, frame)
        t += 20.0
    return out, t


def test_the_greeting_is_synthesised_and_played_at_call_start():
    session = new_session()
    outputs = session.start(0.0)
    assert events_of(outputs, ev.CallStarted)
    respond = works(outputs)["respond"]
    after_reply = finish(session, 0.5, respond)
    assert events_of(after_reply, ev.ResponseStarted)[0].sentences == ("Hello.",)
    tts = works(after_reply)["tts_sentence"]
    finish(session, 1.0, tts)
    frame, events = session.pull_agent_frame(20.0)
    assert frame is not None and frame.turn == 0
    assert events_of(events, ev.AgentAudioStarted)


def test_silence_endpointing_waits_exactly_its_setting_after_the_last_speech_frame():
    session = new_session(endpointing="silence", silence_ms=500.0)
    t = greet(session)
    out, _ = speak_and_pause(session, t, speech_frames=30, silence_frames=40)
    (decided,) = events_of(out, ev.EndpointDecided)
    last_speech_end = t + 30 * 20.0  # frames cover the 20 ms ending at their time stamp
    assert decided.t_ms - (last_speech_end - 20.0) == 500.0
    assert decided.mode == "silence"
    assert "stt_final" in works(out)


def test_semantic_endpointing_ends_a_complete_question_sooner_than_silence_mode():
    waits = {}
    for mode in ("semantic", "silence"):
        session = new_session(endpointing=mode)
        t = greet(session)
        out, _ = speak_and_pause(session, t, speech_frames=30, silence_frames=40)
        (decided,) = events_of(out, ev.EndpointDecided)
        waits[mode] = decided.silence_ms
    assert waits["semantic"] < 250.0 < waits["silence"]


def test_a_final_transcript_starts_classification_and_retrieval_together():
    session = new_session()
    t = greet(session)
    out, t = speak_and_pause(session, t, 30, 20)
    stt = works(out)["stt_final"]
    after_stt = finish(session, t + 40.0, stt)
    assert events_of(after_stt, ev.FinalTranscript)[0].text == "what are your opening hours"
    started = works(after_stt)
    assert set(started) == {"classify", "retrieve"}  # in parallel, from the same moment


def test_the_reply_waits_for_both_parallel_stages_then_plays_sentence_by_sentence():
    session = new_session()
    t = greet(session)
    out, t = speak_and_pause(session, t, 30, 20)
    started = works(finish(session, t, works(out)["stt_final"]))
    after_classify = finish(session, t + 2.0, started["classify"])
    assert events_of(after_classify, ev.TopicDecided)[0].topic == "OpeningHours"
    assert "respond" not in works(after_classify)  # retrieval still running
    respond = works(finish(session, t + 5.0, started["retrieve"]))["respond"]
    tts1 = works(finish(session, t + 6.0, respond))["tts_sentence"]
    tts2 = works(finish(session, t + 7.0, tts1))["tts_sentence"]  # next sentence queued
    finish(session, t + 8.0, tts2)
    record = session.turns[1]
    names = [name for name, _, _ in record.checkpoints]
    assert names == [
        "STT finalisation",
        "understanding: retrieval (parallel)",
        "response",
        "TTS first sentence",
    ]
    frame, events = session.pull_agent_frame(t + 20.0)
    assert frame.turn == 1 and frame.kind == "speech"
    assert record.first_frame_sent_at == t + 20.0


def test_a_failing_stage_is_reported_and_the_caller_still_gets_an_answer():
    session = new_session()
    t = greet(session)
    out, t = speak_and_pause(session, t, 30, 20)
    started = works(finish(session, t, works(out)["stt_final"]))
    finish(session, t + 1.0, started["classify"])
    respond = works(finish(session, t + 2.0, started["retrieve"]))["respond"]
    failed = session.on_stage_failed(t + 3.0, respond.work_id, RuntimeError("LLM exploded"))
    assert events_of(failed, ev.StageFailed)[0].stage == "respond"
    assert "Sorry" in events_of(failed, ev.ResponseStarted)[0].sentences[0]
    assert "tts_sentence" in works(failed)


def test_a_filler_plays_when_the_reply_is_late():
    session = new_session(filler_after_ms=300.0)
    t = greet(session)
    out, t = speak_and_pause(session, t, 30, 20)
    endpoint = events_of(out, ev.EndpointDecided)[0].t_ms
    fillers = []
    for k in range(30):  # no stage result arrives: the reply is very late
        _, events = session.pull_agent_frame(t + k * 20.0)
        fillers += events_of(events, ev.FillerStarted)
    (filler,) = fillers
    assert filler.t_ms - endpoint >= 300.0
    assert session.turns[1].first_frame_kind == "filler"


def test_hanging_up_emits_the_intended_crm_writes_and_ends_the_call():
    session = new_session()
    greet(session)
    out = session.hang_up(5000.0)
    assert events_of(out, ev.CrmWriteIntended)[0].object == "Task"
    (ended,) = events_of(out, ev.CallEnded)
    assert ended.reason == "caller_hung_up" and session.ended
    assert session.on_caller_frame(5020.0, SILENCE_FRAME) == []


def test_a_caller_who_goes_on_before_the_reply_is_heard_gets_one_answer_to_both_parts():
    session = new_session()
    t = greet(session)
    out, t = speak_and_pause(session, t, 30, 12)  # "what are your opening hours" … pause
    started = works(finish(session, t, works(out)["stt_final"]))
    finish(session, t + 1.0, started["classify"])
    respond = works(finish(session, t + 2.0, started["retrieve"]))["respond"]
    # Before the reply's first frame, the caller speaks again: the reply is withdrawn.
    out, t = speak_and_pause(session, t + 20.0, 20, 20)
    assert session.on_stage_done(t, respond.work_id, respond.run()) == []
    after = finish(session, t + 40.0, works(out)["stt_final"])
    (final,) = events_of(after, ev.FinalTranscript)
    heard = session.turns[session.current_turn]
    assert heard.caller_text == "what are your opening hours what are your opening hours"
    assert any("continues the previous utterance" in note for note in heard.notes)
    assert set(works(after)) == {"classify", "retrieve"}


def test_speech_that_resumes_after_an_early_endpoint_starts_a_new_utterance():
    stack = FakeSpeechStack(vad_stop_frames=20)  # the VAD confirms silence only after 400 ms
    session = CallSession("CA-test", FakeAgent(), stack, SessionSettings(endpointing="semantic"))
    t = greet(session)
    # A short pause ends the turn while the VAD still counts as "in speech"…
    out, t = speak_and_pause(session, t, 30, 9)
    assert events_of(out, ev.EndpointDecided)
    finish(session, t, works(out)["stt_final"])
    # …then the caller goes on: no new VAD start will come, yet an utterance must begin.
    out, t = speak_and_pause(session, t, 10, 0)
    assert events_of(out, ev.CallerSpeechStarted)


def test_a_noisy_line_does_not_start_an_utterance_but_the_caller_above_it_does():
    # Office babble is speech-like (a VAD calls it speech) and swells and fades; the caller's
    # voice stands well above its usual level. Only the caller starts an utterance.
    session = new_session()
    respond = works(session.start(0.0))["respond"]
    finish(session, 2.0, works(finish(session, 1.0, respond))["tts_sentence"])
    swells = [1500, 2000, 2500, 3000, 5000, 2200, 1800]  # peaks ~2.5x the median level
    out: list = []
    t = 20.0
    for i in range(100):  # the greeting plays, then the caller listens: babble all along
        out += session.on_caller_frame(t, tone_frame(swells[i % len(swells)]))
        session.pull_agent_frame(t)
        t += 20.0
    assert not events_of(out, ev.CallerSpeechStarted)
    for _ in range(10):
        out += session.on_caller_frame(t, tone_frame(14000))
        t += 20.0
    assert events_of(out, ev.CallerSpeechStarted)
