"""The one vocabulary of overlap outcomes, judged from what the caller heard."""

from workbench.engine.outcomes import classify, summarise


def test_an_interruption_the_agent_stops_for_is_yielded_with_its_stop_latency():
    o = classify(
        intent="interruption",
        onset_ms=1000,
        last_heard_before_ms=1120,
        heard_again_ms=None,
        reply_went_on=False,
    )
    assert (o.outcome, o.stop_latency_ms, o.correct) == ("yielded", 120, True)


def test_an_acknowledgement_that_pauses_then_continues_the_reply_is_resumed_with_its_gap():
    o = classify(
        intent="acknowledgement",
        onset_ms=1000,
        last_heard_before_ms=1100,
        heard_again_ms=1650,
        reply_went_on=True,
    )
    assert (o.outcome, o.resume_gap_ms, o.correct) == ("resumed", 550, True)


def test_an_acknowledgement_that_silences_or_restarts_the_reply_abandons_it():
    dropped = classify(
        intent="acknowledgement",
        onset_ms=0,
        last_heard_before_ms=90,
        heard_again_ms=None,
        reply_went_on=False,
    )
    restarted = classify(
        intent="noise", onset_ms=0, last_heard_before_ms=90, heard_again_ms=900, reply_went_on=False
    )
    assert dropped.outcome == restarted.outcome == "abandoned_reply"
    assert not dropped.correct and not restarted.correct


def test_an_interruption_the_agent_talks_over_is_wrong():
    o = classify(
        intent="interruption",
        onset_ms=0,
        last_heard_before_ms=None,
        heard_again_ms=None,
        reply_went_on=False,
    )
    assert (o.outcome, o.stop_latency_ms, o.correct) == ("talked_over", None, False)


def test_the_summary_counts_outcomes_and_takes_percentiles_of_interruptions_only():
    items = [
        classify(
            intent="interruption",
            onset_ms=0,
            last_heard_before_ms=100,
            heard_again_ms=None,
            reply_went_on=False,
        ),
        classify(
            intent="interruption",
            onset_ms=0,
            last_heard_before_ms=200,
            heard_again_ms=None,
            reply_went_on=False,
        ),
        classify(
            intent="acknowledgement",
            onset_ms=0,
            last_heard_before_ms=900,
            heard_again_ms=1300,
            reply_went_on=True,
        ),
    ]
    s = summarise(items)
    assert s["yielded"] == 2 and s["abandoned_replies"] == 0
    assert s["stop_latency_ms"] == {"p50": 150.0, "p95": 195.0, "n": 2}
    assert s["resume_gap_ms"]["p50"] == 400.0
