"""Expectations judged on hand-built calls: each verdict carries the evidence for it."""

from __future__ import annotations

import pytest

from workbench.engine import events as ev
from workbench.engine.outcomes import OverlapOutcome
from workbench.engine.trace import Lane, TurnTimeline
from workbench.engine.virtual import CallResult
from workbench.scenario import schema as sc
from workbench.scenario.assertions import evaluate
from workbench.scenario.caller_log import CallerAction, CallerLog, Interjection
from workbench.scenario.runner import ScenarioResult
from workbench.scenario.summary import premature_summary
from workbench.scenario.turn_taking import premature_endpoints

C = "CA0000"


def scenario(steps: list[dict], expect: dict | None = None) -> sc.Scenario:
    return sc.Scenario.model_validate({"name": "t", "steps": steps, "expect": expect or {}})


def timeline(turn: int, origin: float, total: float, text: str = "") -> TurnTimeline:
    return TurnTimeline(turn, text, "", origin, (Lane("all of it", "stage", 0.0, total),))


def call(events: list[ev.Event], **fields) -> CallResult:
    values = dict(
        call_id=C,
        events=events,
        timelines=[],
        transcript=[],
        duration_ms=20000.0,
        end_reason="agent_ended",
        disposition="ai_resolved",
    )
    values.update(fields)
    return CallResult(**values)


def said(
    step: int, start: float, end: float, label: str = "say", kind: str = "say"
) -> CallerAction:
    return CallerAction(step, kind, label, start, "", start + 40.0, end, end + 20.0)


def outcome(outcomes, name: str, where: str = ""):
    found = [o for o in outcomes if o.expectation == name and where in o.where]
    assert len(found) == 1, outcomes
    return found[0]


HOURS_CALL = [
    ev.FinalTranscript(C, 2500.0, text="what are your opening hours"),
    ev.TopicDecided(C, 2600.0, turn=1, topic="OpeningHours", confidence=0.97),
    ev.ResponseStarted(
        C,
        2700.0,
        turn=1,
        sentences=("We are open from <digits>8</digits> AM to 6 PM.",),
        routing="ai_resolved",
    ),
    ev.FinalTranscript(C, 9500.0, text="how much is it"),
    ev.TopicDecided(C, 9600.0, turn=2, topic="BillingQuestion", confidence=0.9),
    ev.ResponseStarted(
        C,
        9700.0,
        turn=2,
        sentences=("Starter costs 29 dollars.", "Business costs 59 dollars."),
    ),
    ev.AgentAudioStopped(C, 10900.0, turn=2, reason="interrupted", text_heard="Starter costs 29"),
    ev.CallEnded(C, 20000.0, reason="agent_ended", disposition="ai_resolved"),
]
HOURS_LOG = CallerLog(actions=[said(0, 1000.0, 2300.0), said(1, 8000.0, 9300.0)], steps_reached=2)


def test_a_turns_topic_is_judged_on_that_turns_window_with_what_was_heard():
    s = scenario(
        [
            {"say": "hours?", "expect": {"topic": "OpeningHours"}},
            {"say": "price?", "expect": {"topic": "OpeningHours"}},
        ]
    )
    result = call(HOURS_CALL, timelines=[timeline(1, 2300.0, 400.0, "what are your opening hours")])
    outcomes = evaluate(s, result, HOURS_LOG)
    first, second = (o for o in outcomes if o.expectation == "topic")
    assert first.status == "pass" and first.where == "step 1: say 'hours?' (turn 1)"
    assert second.status == "fail"
    assert second.evidence == "decided: BillingQuestion (0.90); heard 'how much is it'"


def test_agent_said_is_what_was_heard_before_a_cut_and_never_said_includes_the_plan():
    s = scenario(
        [
            {"say": "hours?", "expect": {"agent_said": "/8 AM to 6 PM/"}},
            {
                "say": "price?",
                "expect": {"agent_said": ["29 dollars", "59 dollars"], "agent_never_said": "59"},
            },
        ]
    )
    outcomes = evaluate(s, call(HOURS_CALL), HOURS_LOG)
    assert outcome(outcomes, "agent_said", "step 1").status == "pass"  # TTS tags removed
    cut = [o for o in outcomes if o.expectation == "agent_said" and "step 2" in o.where]
    assert [o.status for o in cut] == ["fail", "fail"]
    assert cut[0].evidence == "agent said: 'Starter costs 29'"
    never = outcome(outcomes, "agent_never_said")
    assert never.status == "fail" and never.evidence == "found in 'Business costs 59 dollars.'"


def test_routing_entities_and_end_reason_for_the_call():
    events = [
        ev.TopicDecided(
            C,
            3000.0,
            turn=1,
            topic="OrderStatus",
            confidence=0.9,
            entities=({"type": "order_number", "value": "NW-48213", "start": 0, "end": 5},),
        ),
        ev.CallEnded(C, 9000.0, reason="handoff", disposition="escalated_to_human"),
    ]
    s = scenario(
        [{"say": "x"}],
        {
            "routed_to": "human",
            "entities": {"order_number": "nw-48213", "email": "/@example\\.com$/"},
            "end_reason": "agent_ended",
            "topic": "OrderStatus",
        },
    )
    result = call(
        events, routing="human", end_reason="handoff", captured={"email": "a@example.com"}
    )
    outcomes = evaluate(s, result, CallerLog(actions=[said(0, 0, 500)], steps_reached=1))
    assert outcome(outcomes, "routed_to").status == "pass"
    assert outcome(outcomes, "entities.order_number").status == "pass"
    assert outcome(outcomes, "entities.email").status == "pass"  # from the captured slots
    assert outcome(outcomes, "topic").evidence.startswith("settled on OrderStatus (0.90)")
    end = outcome(outcomes, "end_reason")
    assert end.status == "fail" and end.evidence == "handoff at 20.0 s"


def test_turn_latency_limits_quote_every_turn():
    s = scenario([{"say": "x"}], {"turn_latency_ms": {"p95": 800, "max": 1000}})
    result = call(
        [], timelines=[timeline(0, 0, 50), timeline(1, 1000, 300), timeline(2, 5000, 1200)]
    )
    outcomes = evaluate(s, result, CallerLog(actions=[said(0, 0, 900)], steps_reached=1))
    p95 = outcome(outcomes, "turn_latency_ms.p95")
    assert p95.status == "fail"
    assert p95.evidence == "p95 1155 ms over 2 turns (300, 1200 ms)"  # the greeting is no turn
    assert outcome(outcomes, "turn_latency_ms.max").status == "fail"


def backchannel_log(onset: float) -> CallerLog:
    item = Interjection(
        1, "backchannel", "uh-huh", 1000.0, onset - 1000.0, onset, onset + 300.0, True, None, 2000.0
    )
    return CallerLog(
        actions=[said(0, 0, 900), said(1, onset - 40.0, onset + 300.0, kind="backchannel")],
        interjections=[item],
        steps_reached=2,
    )


def test_an_acknowledgement_that_costs_the_reply_is_an_abandoned_reply():
    s = scenario([{"say": "x"}, {"backchannel": "uh-huh"}], {"no_false_interruptions": True})
    stopped = [ev.AgentAudioStopped(C, 5200.0, turn=1, reason="interrupted", text_heard="We")]
    lost = OverlapOutcome("acknowledgement", "abandoned_reply", 5000.0, stop_latency_ms=180.0)
    verdict = outcome(
        evaluate(s, call(stopped, overlaps=[lost]), backchannel_log(5000.0)),
        "no_false_interruptions",
    )
    assert verdict.status == "fail"
    assert verdict.evidence.startswith(
        "abandoned reply: the acknowledgement at 5.00 s cost the agent its reply"
    )


def test_a_short_pause_that_resumes_is_reported_not_failed():
    s = scenario([{"say": "x"}, {"backchannel": "uh-huh"}], {"no_false_interruptions": True})
    paused = [ev.AgentPaused(C, 5100.0, turn=1), ev.AgentResumed(C, 5600.0, turn=1)]
    resumed = OverlapOutcome("acknowledgement", "resumed", 5000.0, 150.0, resume_gap_ms=520.0)
    verdict = outcome(
        evaluate(s, call(paused, overlaps=[resumed]), backchannel_log(5000.0)),
        "no_false_interruptions",
    )
    assert verdict.status == "pass"
    assert "paused 150 ms after the onset, resumed (resume gap 520 ms)" in verdict.evidence


def test_an_agent_that_talks_through_backchannels_passes():
    s = scenario([{"say": "x"}, {"backchannel": "uh-huh"}], {"no_false_interruptions": True})
    judged = [ev.Interruption(C, 5100.0, kind="backchannel", text="uh huh")]
    kept = OverlapOutcome("acknowledgement", "talked_over", 5000.0)
    verdict = outcome(
        evaluate(s, call(judged, overlaps=[kept]), backchannel_log(5000.0)),
        "no_false_interruptions",
    )
    assert verdict.status == "pass"
    assert verdict.evidence.startswith(
        "1 acknowledgement(s) and noise over the agent, no abandoned reply"
    )


def test_a_stop_while_the_caller_is_silent_is_an_abandoned_reply():
    s = scenario([{"say": "x"}], {"no_false_interruptions": True})
    stopped = [ev.AgentAudioStopped(C, 12000.0, turn=1, reason="interrupted", text_heard="Thank")]
    log = CallerLog(actions=[said(0, 0, 900)], steps_reached=1)
    verdict = outcome(evaluate(s, call(stopped), log), "no_false_interruptions")
    assert verdict.status == "fail"
    assert "while the caller was not speaking" in verdict.evidence


@pytest.mark.parametrize(
    ("stop_ms", "audible", "status", "evidence"),
    [
        (180.0, True, "pass", "last agent audio heard 180 ms after the onset"),
        (420.0, True, "fail", "last agent audio heard 420 ms after the onset"),
        (None, True, "fail", "the agent's audio never stopped before the call ended"),
        (0.0, False, "fail", "but the agent was not audible then"),
    ],
)
def test_barge_in_stop_is_judged_from_the_callers_measurement(stop_ms, audible, status, evidence):
    s = scenario([{"say": "x"}, {"barge_in": "wait"}], {"barge_in_stop_ms": 250})
    item = Interjection(
        1, "barge_in", "wait", 1000.0, 4000.0, 5000.0, 5500.0, audible, None, stop_ms
    )
    log = CallerLog(
        actions=[said(0, 0, 900), said(1, 4960.0, 5500.0, kind="barge_in")],
        interjections=[item],
        steps_reached=2,
    )
    verdict = outcome(evaluate(s, call([]), log), "barge_in_stop_ms")
    assert verdict.status == status and evidence in verdict.evidence
    assert "onset at 5.00 s, 1000 ms into the agent's speech" in verdict.evidence


@pytest.mark.parametrize(
    ("expected", "got", "status"),
    [(1, 1, "pass"), (1, 2, "fail"), ({"min": 1, "max": 2}, 2, "pass"), ({"min": 1}, 0, "fail")],
)
def test_reprompts_exact_or_in_a_range(expected, got, status):
    s = scenario([{"say": "x"}], {"reprompts": expected})
    log = CallerLog(actions=[said(0, 0, 900)], steps_reached=1)
    verdict = outcome(evaluate(s, call([], reprompts=got), log), "reprompts")
    assert verdict.status == status and verdict.evidence.startswith(f"{got} re-prompt(s)")


def test_crm_without_a_sink_is_skipped_never_passed():
    s = scenario([{"say": "x"}], {"crm": [{"object": "Case", "fields": ["Subject"]}]})
    log = CallerLog(actions=[said(0, 0, 900)], steps_reached=1)
    verdict = outcome(evaluate(s, call([]), log), "crm Case")
    assert verdict.status == "skip" and verdict.evidence == "skipped: no CRM sink"


def test_script_problems_and_unreached_steps_fail_the_scenario():
    s = scenario([{"say": "a"}, {"wait_for": "handoff"}, {"say": "b"}, {"hang_up": True}])
    log = CallerLog(
        actions=[said(0, 0, 900)],
        problems=["step 2 (wait_for handoff): timed out after 15000 ms (at 16.0 s)"],
        steps_reached=2,
    )
    outcomes = evaluate(s, call([], end_reason="agent_ended", duration_ms=17000.0), log)
    assert [o.evidence for o in outcomes if o.expectation == "script"] == [
        "step 2 (wait_for handoff): timed out after 15000 ms (at 16.0 s)",
        "step 3 (say 'b') never ran: the call ended (agent_ended) at 17.0 s",
    ]


def test_a_step_that_never_ran_fails_its_expectations():
    s = scenario([{"say": "a"}, {"say": "b", "expect": {"topic": "X"}}])
    log = CallerLog(actions=[said(0, 0, 900)], steps_reached=1)
    verdict = outcome(evaluate(s, call([]), log), "topic", "step 2")
    assert verdict.status == "fail" and verdict.evidence == "step never ran"


def test_crm_records_are_written_to_a_throwaway_org_and_read_back():
    from workbench.scenario.crm_check import CrmVerifier

    events = [
        ev.TopicDecided(C + "crm", 2600.0, turn=1, topic="OpeningHours", confidence=0.97),
        ev.CallEnded(C + "crm", 9000.0, reason="agent_ended", disposition="ai_resolved"),
    ]
    result = call(events, call_id=C + "crm", routing="ai_resolved", caller_number="+14155550199")
    checks = [
        sc.CrmCheck(object="VoiceCall", fields={"Intent__c": "OpeningHours", "Description": None}),
        sc.CrmCheck(object="VoiceCall", fields={"Intent__c": "BillingQuestion"}),
        sc.CrmCheck(object="Case"),
    ]
    verifier = CrmVerifier()
    try:
        good, wrong, missing = verifier(result, checks)
    finally:
        verifier.close()
    assert good.status == "pass" and "Intent__c='OpeningHours'" in good.evidence
    assert wrong.status == "fail"
    assert wrong.evidence == "1 record(s), none matching: Intent__c='OpeningHours'"
    assert missing.status == "fail" and missing.evidence == "no Case record for this call"


def test_a_filler_counts_as_said_before_the_reply():
    s = scenario([{"say": "x", "expect": {"agent_said": "/One moment\\. Sure/"}}])
    events = [
        ev.FillerStarted(C, 2000.0, turn=1, text="One moment."),
        ev.ResponseStarted(C, 2500.0, turn=1, sentences=("Sure.",)),
    ]
    verdict = outcome(
        evaluate(s, call(events), CallerLog(actions=[said(0, 0, 900)], steps_reached=1)),
        "agent_said",
    )
    assert verdict.status == "pass" and verdict.evidence == "agent said: 'One moment. Sure.'"


def test_max_wait_fails_when_the_caller_is_left_in_silence():
    s = scenario([{"say": "x"}, {"say": "y"}], {"max_wait_ms": 10000})
    log = CallerLog(actions=[said(0, 0, 900)], steps_reached=2, waits=[(900.0, 1500.0)])
    assert outcome(evaluate(s, call([]), log), "max_wait_ms").status == "pass"
    left = CallerLog(actions=[said(0, 0, 900)], steps_reached=2, waits=[(900.0, 26900.0)])
    verdict = outcome(evaluate(s, call([]), left), "max_wait_ms")
    assert verdict.status == "fail"
    assert verdict.evidence.startswith("longest wait 26000 ms, after the caller stopped at 0.90 s")


def test_an_endpoint_inside_the_callers_sentence_that_it_heard_is_premature():
    # The caller speaks 1.04–3.0 s; the agent ended its turn at 1.8 s (in a mid-sentence
    # pause) and the caller heard agent audio 2.05–2.3 s, over the rest of its sentence.
    events = [ev.EndpointDecided(C, 1800.0, mode="semantic"), ev.EndpointDecided(C, 3200.0)]
    log = CallerLog(
        actions=[said(0, 1000.0, 3000.0)], steps_reached=1, agent_heard=[(2050.0, 2300.0)]
    )
    (early,) = premature_endpoints(call(events), log)
    assert (early.step, early.endpoint_ms, early.speech_end_ms) == (0, 1800.0, 3000.0)
    assert early.overlap_ms == pytest.approx(250.0)
    result = ScenarioResult(scenario([{"say": "x"}]), call(events), log)
    assert premature_summary([result]) == {"count": 1, "overlap_ms": 250.0, "taken_back": 0}


def test_an_early_endpoint_taken_back_before_any_audio_costs_nothing():
    events = [ev.EndpointDecided(C, 1800.0), ev.EndpointDecided(C, 3200.0)]
    log = CallerLog(
        actions=[said(0, 1000.0, 3000.0)], steps_reached=1, agent_heard=[(3300.0, 5000.0)]
    )
    (early,) = premature_endpoints(call(events), log)
    assert early.overlap_ms == 0.0
    result = ScenarioResult(scenario([{"say": "x"}]), call(events), log)
    assert premature_summary([result]) == {"count": 0, "overlap_ms": 0.0, "taken_back": 1}
    # an endpoint after the sentence's last sound is no premature endpoint at all
    assert premature_endpoints(call([ev.EndpointDecided(C, 3200.0)]), log) == []
