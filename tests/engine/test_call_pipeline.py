"""Whole calls with the demo agent through the real audio pipeline.

caller TTS → 20 ms μ-law frames → network leg → jitter buffer → VAD → STT → topic ∥ retrieval
→ response → TTS → network leg → jitter buffer → the caller's ear.
"""

from __future__ import annotations

import pytest

from workbench.audio.network import NetworkConditions
from workbench.engine import events as ev
from workbench.engine.caller import SayTurnsCaller
from workbench.engine.calls import DEFAULT_CALLER_VOICE, CallRuntime, run_call, say_lines_caller
from workbench.engine.latency import FixedLatency
from workbench.engine.report import call_to_dict
from workbench.engine.session import SessionSettings

pytestmark = pytest.mark.slow

ORDER_CALL = ["Where is my order?", "It is four eight two one three.", "Yes.", "No thank you."]


def order_call(runtime: CallRuntime, **kwargs):
    callers = []

    def factory(stack):
        caller = say_lines_caller(ORDER_CALL)(stack)
        callers.append(caller)
        return caller

    kwargs.setdefault("latency", FixedLatency())
    result = run_call(runtime, factory, **kwargs)
    return result, callers[0]


def test_an_order_status_call_is_understood_captured_and_resolved(runtime):
    result, _ = order_call(runtime)
    topics = [e.topic for e in result.events if isinstance(e, ev.TopicDecided)]
    assert topics[0] == "OrderStatus"
    assert result.captured.get("order_number") == "NW-48213"
    actions = [
        a["kind"] for e in result.events if isinstance(e, ev.ResponseStarted) for a in e.actions
    ]
    assert "lookup" in actions  # the declared look_up_order action: a lookup in orders.yaml
    assert result.end_reason == "agent_ended" and result.disposition == "ai_resolved"
    assert any(
        text.startswith("Order NW 48213")
        for speaker, text in result.transcript
        if speaker == "agent"
    )
    assert result.timeline_errors == []


def test_the_same_fixed_cost_call_twice_gives_an_identical_trace(runtime):
    first, _ = order_call(runtime)
    second, _ = order_call(runtime)
    assert call_to_dict(first, include_events=True) | {"wall_s": 0, "speedup": 0} == call_to_dict(
        second, include_events=True
    ) | {"wall_s": 0, "speedup": 0}


def test_every_turn_adds_up_from_the_callers_mouth_to_the_callers_ear(runtime):
    conditions = NetworkConditions(delay_ms=30.0, jitter_ms=10.0)
    result, caller = order_call(runtime, network=conditions, seed=3)
    heard = {e.turn: e.t_ms for e in result.events if isinstance(e, ev.AgentAudioHeard)}
    answered = [t for t in result.timelines if t.turn > 0]
    assert len(answered) >= 3
    for timeline in answered:
        lanes = timeline.lanes
        assert lanes[0].start_ms == 0.0
        for before, after in zip(lanes, lanes[1:], strict=False):
            assert after.start_ms == pytest.approx(before.start_ms + before.duration_ms)
        # The total is what the caller experienced: from its own speech (the last sample that
        # reached the agent before it decided the turn was over; a faint tail may follow)...
        nearest_end = min(caller.speech_ends, key=lambda end: abs(end - timeline.origin_ms))
        assert 0.0 <= nearest_end - timeline.origin_ms <= 100.0
        # ...to the first audible agent sample at its ear.
        assert timeline.origin_ms + timeline.total_ms == pytest.approx(heard[timeline.turn])
        network = [lane for lane in lanes if lane.owner_kind == "network"]
        assert sum(lane.duration_ms for lane in network) >= 2 * 30.0
        # the turn ended on a setting's wait: the endpointer's, or the barge-in decision's for
        # a caller who began while the agent's last words were still on the line (pause mode)
        waited = timeline.lane("endpointing wait") or timeline.lane("barge-in")
        assert waited is not None and waited.owner_kind == "setting"


def test_classification_and_retrieval_overlap_in_the_trace(runtime):
    result, _ = order_call(runtime)
    for timeline in result.timelines[1:]:
        spans = {span.stage: span for span in timeline.spans}
        if "classify" in spans:
            classify, retrieve = spans["classify"], spans["retrieve"]
            assert classify.start_ms == retrieve.start_ms
            assert classify.start_ms < retrieve.end_ms and retrieve.start_ms < classify.end_ms


def test_semantic_endpointing_answers_a_complete_question_sooner_than_silence(runtime):
    totals = {}
    for mode in ("semantic", "silence"):
        result = run_call(
            runtime,
            say_lines_caller(["What are your opening hours?"]),
            settings=SessionSettings(endpointing=mode),
            latency=FixedLatency(),
        )
        totals[mode] = result.timelines[1].total_ms
        assert mode in result.timelines[1].lane("endpointing wait").name
    assert totals["semantic"] + 200 < totals["silence"]


def test_a_vendor_latency_profile_is_charged_to_its_stages(runtime):
    from workbench.engine.latency import load_profile

    result = run_call(
        runtime,
        say_lines_caller(["What are your opening hours?"]),
        latency=load_profile("slow-llm", seed=1),
    )
    turn = result.timelines[1]
    respond = next(span for span in turn.spans if span.stage == "respond")
    assert respond.duration_ms > 200  # the profile's LLM, not the local flow's microseconds
    assert any(e for e in result.events if isinstance(e, ev.FillerStarted)) == (
        respond.duration_ms > SessionSettings().filler_after_ms
    )


def test_a_turn_bridged_by_a_filler_completes_with_its_words_and_its_latency_stops_at_the_filler(
    runtime,
):
    # The filler is heard before the words are understood; the turn's record must still say
    # what the caller said and what the agent answered (a softphone test waited on that).
    slow_reply = FixedLatency(costs={"respond": SessionSettings().filler_after_ms + 1500.0})

    def patient_caller(stack):  # waits through "One moment." for the answer
        tts = stack.caller_tts(DEFAULT_CALLER_VOICE)
        lines = ["What are your opening hours?"]
        return SayTurnsCaller(lines, lambda text: tts.render_pcm(text, 8000), reply_gap_ms=3000)

    result = run_call(runtime, patient_caller, latency=slow_reply)
    assert any(isinstance(e, ev.FillerStarted) for e in result.events)
    turn = result.timelines[1]
    assert "opening hours" in turn.caller_text
    assert turn.agent_text and "open" in turn.agent_text.lower()
    assert any(lane.name.startswith("filler timer") for lane in turn.lanes)
    heard = next(e for e in result.events if isinstance(e, ev.AgentAudioHeard) and e.turn == 1)
    completed = next(e for e in result.events if isinstance(e, ev.TurnCompleted) and e.turn == 1)
    assert completed.t_ms == heard.t_ms == pytest.approx(turn.origin_ms + turn.total_ms)
    assert result.events.index(completed) > result.events.index(heard)
