"""Scorecards of scenario calls: `engine.scorecard` with the scripted caller's knowledge.

A scripted caller knows what each of its sounds over the agent meant (a `barge_in` step is
an interruption, a `backchannel` an acknowledgement) and measured what it heard, so its
overlaps are judged with `engine.outcomes.classify` (the one vocabulary) when the engine's
events carry no outcomes of their own; when they do, those are used.
"""

from __future__ import annotations

from workbench.engine import events as ev
from workbench.engine.outcomes import OverlapOutcome, classify
from workbench.engine.scorecard import Scorecard, overlaps_in, scorecard_for
from workbench.engine.virtual import CallResult
from workbench.scenario.caller_log import CallerLog
from workbench.scenario.turn_taking import premature_endpoints


def overlaps_from_caller(call: CallResult, caller: CallerLog) -> list[OverlapOutcome]:
    """Each barge-in or backchannel the caller made, judged from what it heard and what the
    agent did: the agent stopped (an `Interruption` that stopped it, or its audio stopped as
    interrupted) before the caller's next sound, and went on after it (`AgentResumed`)."""
    items = sorted(
        (i for i in caller.interjections if i.onset_ms is not None), key=lambda i: i.onset_ms
    )
    out = []
    for index, item in enumerate(items):
        assert item.onset_ms is not None
        onset = item.measured_from_ms if item.kind == "barge_in" else item.onset_ms
        assert onset is not None
        following = items[index + 1].onset_ms if index + 1 < len(items) else float("inf")
        assert following is not None

        def within(event: ev.Event, start: float = item.onset_ms, end: float = following) -> bool:
            return start <= event.t_ms < end

        stops = [
            e.t_ms
            for e in call.events
            if within(e)
            and (
                (isinstance(e, ev.Interruption) and e.stopped_agent)
                or (isinstance(e, ev.AgentAudioStopped) and e.reason == "interrupted")
            )
        ]
        last_heard = None
        if stops:  # the caller's measure when it has one, else when the agent stopped
            last_heard = onset + item.stop_ms if item.stop_ms is not None else min(stops)
        # The agent's side of the resume (engine clock), close enough to order it.
        again = next(
            (e.t_ms for e in call.events if isinstance(e, ev.AgentResumed) and within(e)), None
        )
        out.append(
            classify(
                intent="interruption" if item.kind == "barge_in" else "acknowledgement",
                onset_ms=onset,
                last_heard_before_ms=last_heard,
                heard_again_ms=again if stops else None,
                reply_went_on=again is not None,
            )
        )
    return out


def scenario_scorecard(call: CallResult, caller: CallerLog) -> Scorecard:
    """The scripted call's scorecard. Its premature endpoints are the script's own count
    (`turn_taking.premature_endpoints`: it knows where each sentence ended), the measure the
    scenario's assertions use too; calls without a script get the scorecard's proxy."""
    overlaps = call.overlaps or overlaps_in(call.events) or overlaps_from_caller(call, caller)
    premature = len(premature_endpoints(call, caller))
    return scorecard_for(call, overlaps, premature=premature)
