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
from workbench.scenario.caller import CallerLog


def overlaps_from_caller(call: CallResult, caller: CallerLog) -> list[OverlapOutcome]:
    resumes = sorted(e.t_ms for e in call.events if isinstance(e, ev.AgentResumed))
    items = sorted(
        (i for i in caller.interjections if i.onset_ms is not None), key=lambda i: i.onset_ms
    )
    out = []
    for index, item in enumerate(items):
        onset = item.measured_from_ms if item.kind == "barge_in" else item.onset_ms
        assert onset is not None
        stopped = None if item.stop_ms is None else onset + item.stop_ms
        following = items[index + 1].onset_ms if index + 1 < len(items) else float("inf")
        # A resume before the caller's next sound is this overlap's (engine clock: the
        # agent's side of the resume, close enough to order it).
        again = next((t for t in resumes if onset <= t < following), None)
        out.append(
            classify(
                intent="interruption" if item.kind == "barge_in" else "acknowledgement",
                onset_ms=onset,
                last_heard_before_ms=stopped,
                heard_again_ms=again,
                reply_went_on=again is not None,
            )
        )
    return out


def scenario_scorecard(call: CallResult, caller: CallerLog) -> Scorecard:
    recorded = overlaps_in(call.events)
    return scorecard_for(
        call, recorded if recorded is not None else overlaps_from_caller(call, caller)
    )
