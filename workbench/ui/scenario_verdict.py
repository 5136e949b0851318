"""Pass or fail for a scenario run, with the failing expectation and its evidence (no Qt).

When the scenario runner reports its own expectation results (`result.expectations`, each with
`passed`, a description, `evidence` and the `turn`), those decide. Until then — or for a
scenario without expectations — the call itself must hold up: no stage failed, the trace is
consistent, the call ended the way calls end, and every line the caller said got a reply.
"""

from __future__ import annotations

from typing import Any

from workbench.engine import events as ev
from workbench.ui.messages import ScenarioFinished

_DESCRIPTION_ATTRS = ("description", "expectation", "name", "text", "describe")
_EVIDENCE_ATTRS = ("evidence", "detail", "message", "actual")


def _first_attr(obj: Any, names: tuple[str, ...]) -> str:
    for name in names:
        value = getattr(obj, name, None)
        if callable(value):
            value = value()
        if value:
            return str(value)
    return ""


def _expectation_results(result: Any) -> list[Any] | None:
    for name in ("expectations", "checks", "results"):
        value = getattr(result, name, None)
        if isinstance(value, list | tuple):
            return list(value)
    return None


def verdict(path: str, result: Any) -> ScenarioFinished:
    """The panel's view of a `ScenarioResult`."""
    call = result.call
    name = getattr(result.scenario, "name", path)
    expectations = _expectation_results(result)
    if expectations:
        for item in expectations:
            ok = getattr(item, "passed", getattr(item, "ok", True))
            if not ok:
                turn = getattr(item, "turn", None)
                return ScenarioFinished(
                    path,
                    name,
                    False,
                    failure=_first_attr(item, _DESCRIPTION_ATTRS) or "an expectation failed",
                    evidence=_first_attr(item, _EVIDENCE_ATTRS),
                    failing_turn=turn if isinstance(turn, int) else None,
                    call=call,
                )
        passed = getattr(result, "passed", True)
        return ScenarioFinished(path, name, bool(passed), call=call)
    return call_health(path, name, call)


def call_health(path: str, name: str, call: Any) -> ScenarioFinished:
    """The checks every scenario implies, with the turn and event that broke them."""
    for event in call.events:
        if isinstance(event, ev.StageFailed):
            turn = _turn_at(call, event.t_ms)
            return ScenarioFinished(
                path,
                name,
                False,
                failure=f"no stage fails ({event.stage} failed)",
                evidence=f"t={event.t_ms:.0f} ms: {event.error}",
                failing_turn=turn,
                call=call,
            )
    if call.timeline_errors:
        return ScenarioFinished(
            path,
            name,
            False,
            failure="the latency trace is consistent",
            evidence="; ".join(call.timeline_errors)[:500],
            call=call,
        )
    if call.end_reason in ("timeout", "error"):
        return ScenarioFinished(
            path,
            name,
            False,
            failure="the call ends by hang-up, the agent or a handoff",
            evidence=f"ended with reason {call.end_reason!r} after {call.duration_ms:.0f} ms",
            call=call,
        )
    replies = {t.turn for t in call.timelines if t.turn > 0}
    finals = [e for e in call.events if isinstance(e, ev.FinalTranscript)]
    if len(replies) < len(finals):
        missing = len(replies) + 1
        return ScenarioFinished(
            path,
            name,
            False,
            failure="the agent answers every caller line",
            evidence=f"{len(finals)} caller lines heard, {len(replies)} replies reached the caller",
            failing_turn=missing,
            call=call,
        )
    return ScenarioFinished(path, name, True, call=call)


def _turn_at(call: Any, t_ms: float) -> int | None:
    turn = None
    for timeline in call.timelines:
        if timeline.origin_ms <= t_ms:
            turn = timeline.turn
    return turn
