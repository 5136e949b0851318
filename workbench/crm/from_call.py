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
) -> CallRecord:
    """Build the record of a finished call from its events.

    `started_at` anchors the call clock (`t_ms` 0) in real time; virtual-time calls pass the
    moment the run started.
    """
    started_at = started_at or datetime.now(UTC)
    ended = next((e for e in reversed(events) if isinstance(e, ev.CallEnded)), None)
    duration_ms = ended.t_ms if ended is not None else (events[-1].t_ms if events else 0.0)
    topic, confidence = settled_topic(events)
    handoffs = [e for e in events if isinstance(e, ev.HandoffRequested)]
    disposition = call_disposition(routing, ended)
    summary = handoffs[-1].summary if handoffs and handoffs[-1].summary else _summary(events, topic)
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


def _summary(events: Sequence[ev.Event], topic: str) -> str:
    plans = [e.plan for e in events if isinstance(e, ev.ResponseStarted) and e.turn > 0]
    last = plans[-1] if plans else "no reply"
    return f"Caller called about {topic}. Last step: {last}"[:1000]


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
    )


def caller_context(phone: str, info: Any) -> Any:
    """The agent's view of a caller the CRM knows (`sink.lookup_caller`), or None."""
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
