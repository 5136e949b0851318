"""From what a call produced (its events) to what the CRM keeps (a `CallRecord`, `CallEvent`s).

Every face — scripted runs, the softphone, the media-stream server, load tests — ends a call
with the same engine events, so one function maps them: the topic the agent settled on, the
routing and disposition, the transcript as heard, what was captured and the CRM actions the
conversation asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from workbench.crm.call_record import CallEvent, CallRecord
from workbench.engine import events as ev
from workbench.engine.scorecard import call_disposition

AGENT_LINE = "+18005550100"  # the demo agent's own number (To on every VoiceCall)


def settled_topic(events: Iterable[ev.Event]) -> tuple[str, float]:
    """The first confident non-Unknown topic of the call (what the caller called about)."""
    fallback = ("Unknown", 0.0)
    for event in events:
        if isinstance(event, ev.TopicDecided):
            if event.topic != "Unknown":
                return str(event.topic), float(event.confidence)
            if fallback[1] == 0.0:
                fallback = ("Unknown", float(event.confidence))
    return fallback


def call_record(
    *,
    call_id: str,
    events: Sequence[ev.Event],
    transcript: Sequence[tuple[str, str]],
    caller_number: str,
    started_at: datetime | None = None,
    captured: dict[str, Any] | None = None,
    intended_actions: Sequence[dict[str, Any]] = (),
    routing: str | None = None,
    consent: bool = True,
    to_number: str = AGENT_LINE,
    previous_call_id: str | None = None,
    next_call_id: str | None = None,
    topics: Sequence[str] = (),
    topics_done: Sequence[str] = (),
    tasks: Sequence[str] = (),
) -> CallRecord:
    """Build the record of a finished call from its events.

    `started_at` anchors the call clock (`t_ms` 0) in real time; virtual-time calls pass the
    moment the run started. `topics` (taken up, in order) and `topics_done` (their action ran
    to its end) come from the conversation, `tasks` names the agent's topics whose action does
    something (not a knowledge answer): the intent is then the call's main outcome
    (`main_topic`), not its first question.
    """
    started_at = started_at or datetime.now(UTC)
    ended = next((e for e in reversed(events) if isinstance(e, ev.CallEnded)), None)
    duration_ms = ended.t_ms if ended is not None else (events[-1].t_ms if events else 0.0)
    disposition = call_disposition(routing, ended)
    topic, confidence = main_topic(events, topics, topics_done, tasks, disposition)
    handoffs = [e for e in events if isinstance(e, ev.HandoffRequested)]
    summary = call_summary(events, topics, topics_done, captured or {}, disposition)
    if handoffs and handoffs[-1].summary:
        summary = f"{summary} Hand-off note: {handoffs[-1].summary}"[:1000]
    return CallRecord(
        call_id=call_id,
        from_number=caller_number or "+10000000000",
        to_number=to_number,
        started_at=started_at,
        ended_at=started_at + timedelta(milliseconds=duration_ms),
        duration_s=round(duration_ms / 1000.0, 2),
        intent=topic,
        intent_confidence=round(confidence, 4),
        disposition=disposition or "ai_resolved",
        routed_to=handoffs[-1].queue if handoffs else "",
        transcript=tuple(transcript),
        summary=summary,
        captured=dict(captured or {}),
        consent=consent,
        intended_actions=tuple(intended_actions),
        previous_call_id=previous_call_id,
        next_call_id=next_call_id,
    )


def call_events(call_id: str, events: Sequence[ev.Event], started_at: datetime) -> list[CallEvent]:
    """Platform events for intent and disposition, stamped when they happened."""
    out: list[CallEvent] = []
    for event in events:
        at = started_at + timedelta(milliseconds=event.t_ms)
        if isinstance(event, ev.TopicDecided) and event.topic != "Unknown":
            payload = {
                "turn": event.turn,
                "intent": str(event.topic),
                "confidence": event.confidence,
            }
            out.append(CallEvent(call_id, "intent", payload, at))
        elif isinstance(event, ev.CallEnded):
            payload = {"reason": event.reason, "disposition": event.disposition}
            out.append(CallEvent(call_id, "disposition", payload, at))
    return out


def main_topic(
    events: Sequence[ev.Event],
    topics: Sequence[str],
    topics_done: Sequence[str],
    tasks: Sequence[str] = (),
    disposition: str = "ai_resolved",
) -> tuple[str, float]:
    """The call's main outcome as an intent: the last task done (a booking outranks the opening
    hours asked before it); else, for a call the AI did not resolve, the topic it ended on;
    else the last topic done, the last taken up, and finally the first confident topic heard
    (`settled_topic`). Its confidence is the highest the understanding gave that topic."""
    done_tasks = [t for t in topics_done if t in tasks]
    if done_tasks:
        chosen = done_tasks[-1]
    elif disposition != "ai_resolved" and topics:
        chosen = topics[-1]
    else:
        chosen = (list(topics_done) or list(topics) or [None])[-1]
    if chosen is None:
        return settled_topic(events)
    scores = [
        float(e.confidence) for e in events if isinstance(e, ev.TopicDecided) and e.topic == chosen
    ]
    return chosen, max(scores, default=0.0)


_RESOLVED_BY = {
    "ai_resolved": "Resolved by the AI agent",
    "workflow": "Handed to a workflow",
    "escalated_to_human": "Handed to a person",
    "abandoned": "Abandoned",
    "failed": "Failed",
}


def call_summary(
    events: Sequence[ev.Event],
    topics: Sequence[str],
    topics_done: Sequence[str],
    captured: dict[str, Any],
    disposition: str,
) -> str:
    """The whole call in a few sentences: every topic in order and whether it was done, what
    was captured (slot names: values stay in their own fields, redacted), what the agent did
    (its actions and their results), and who resolved it and why."""
    parts = []
    if topics:
        parts.append(
            "Topics: "
            + "; ".join(f"{t} ({'done' if t in topics_done else 'not finished'})" for t in topics)
            + "."
        )
    else:
        first, _ = settled_topic(events)
        parts.append(f"Topic: {first} (no task taken up).")
    if captured:
        parts.append("Captured: " + ", ".join(sorted(captured)) + ".")
    done = []
    for event in events:
        if not isinstance(event, ev.ResponseStarted):
            continue
        for action in event.actions:
            result = action.get("result") or {}
            shown = ", ".join(
                f"{k} {v}" for k, v in result.items() if isinstance(v, str | int | float)
            )
            done.append(f"{action.get('kind', 'action')}" + (f" ({shown})" if shown else ""))
    if done:
        parts.append("Done: " + "; ".join(done) + ".")
    ended = next((e for e in reversed(events) if isinstance(e, ev.CallEnded)), None)
    why = {
        "caller_hung_up": "the caller hung up",
        "agent_ended": "the agent ended the call",
        "handoff": "handed off",
        "timeout": "the call timed out",
    }.get(ended.reason if ended else "", ended.reason if ended else "the call did not end")
    parts.append(f"{_RESOLVED_BY.get(disposition, disposition)} ({why}).")
    return " ".join(parts)[:1000]


def record_from_result(
    result: Any, *, started_at: datetime | None = None, consent: bool = True
) -> CallRecord:
    """The record of a simulated call (`engine.virtual.CallResult`)."""
    return call_record(
        call_id=result.call_id,
        events=result.events,
        transcript=result.transcript,
        caller_number=result.caller_number,
        started_at=started_at,
        captured=result.captured,
        intended_actions=result.intended_crm_actions,
        routing=result.routing,
        consent=consent,
        topics=getattr(result, "topics", ()),
        topics_done=getattr(result, "topics_done", ()),
        tasks=[
            name
            for name, spec in (getattr(result, "agent_topics", {}) or {}).items()
            if spec.get("action") != "answer"
        ],
    )


def known_caller_context(phone: str, info: Any) -> Any:
    """The agent's view of a caller the CRM knows (`sink.lookup_caller`); None for a stranger
    (unlike `telephony.server.caller_context`, which keeps a stranger's number)."""
    from workbench.agent import CallerContext

    if info is None:
        return None
    return CallerContext(
        phone=phone,
        name=info.name or None,
        account=info.account_name,
        vip=bool(info.vip),
        open_cases=tuple(info.open_cases),
    )
