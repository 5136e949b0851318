"""What a call hands to the CRM: the `CallRecord` of a finished (or in-progress) call and the
`CallEvent`s published while it runs.

Both are plain frozen data: the engine builds them, the sink redacts and maps them, the outbox
stores them. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISPOSITIONS = ("ai_resolved", "escalated_to_human", "workflow", "abandoned", "failed")
"""The business outcomes the agent reports (stored in `Disposition__c`)."""


@dataclass(frozen=True)
class CallRecord:
    """Everything a call produced that the CRM should keep.

    Parameters:
        call_id: the telephony call id (Twilio callSid style, "CA" + 32 hex); the idempotency key
            of every record written for the call.
        from_number / to_number: E.164 numbers (caller, agent line).
        started_at / ended_at: UTC datetimes; `ended_at` may equal `started_at` for a mid-call write.
        duration_s: talk time in seconds.
        intent / intent_confidence: the topic the agent settled on and its confidence (0..1).
        disposition: one of `DISPOSITIONS` (other strings are passed through unchanged).
        routed_to: queue or person the call was handed to ("" when the AI resolved it).
        transcript: (speaker, text) turns, speaker "caller" or "agent"; redacted before it leaves.
        summary: a short summary of the call.
        captured: entities/slots the agent captured (values are redacted like the transcript).
        consent: whether the caller consented to recording/transcript storage; False means no
            transcript and no recording link are stored.
        recording_url: link to the recording, if any.
        intended_actions: CRM actions the conversation asked for, each a dict
            `{"object": "Case" | "Lead" | "Task", "fields": {...}}` (from
            `conversation.intended_crm_actions`).
        previous_call_id / next_call_id: call ids of the legs before/after a transfer.
    """

    call_id: str
    from_number: str
    to_number: str
    started_at: datetime
    ended_at: datetime
    duration_s: float
    intent: str = ""
    intent_confidence: float = 0.0
    disposition: str = "ai_resolved"
    routed_to: str = ""
    transcript: tuple[tuple[str, str], ...] = ()
    summary: str = ""
    captured: dict[str, Any] = field(default_factory=dict)
    consent: bool = False
    recording_url: str | None = None
    intended_actions: tuple[dict[str, Any], ...] = ()
    previous_call_id: str | None = None
    next_call_id: str | None = None

    def __post_init__(self) -> None:
        # Accept lists from callers but keep the record hashable-ish and immutable in spirit.
        object.__setattr__(self, "transcript", tuple((str(s), str(t)) for s, t in self.transcript))
        object.__setattr__(self, "intended_actions", tuple(self.intended_actions))
        for name in ("started_at", "ended_at"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"CallRecord.{name} must be timezone-aware (UTC)")
        if not self.call_id:
            raise ValueError("CallRecord.call_id must not be empty")


@dataclass(frozen=True)
class CallEvent:
    """A platform event emitted during a call (published as `Call_Event__e`).

    Parameters:
        call_id: the call it belongs to.
        type: what happened, e.g. "intent_decided", "disposition", "escalated".
        payload: JSON-serialisable details.
        at: when it happened (UTC).
        event_id: a uuid identifying this event, so redelivery can be recognised downstream.
    """

    call_id: str
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def new_call_id() -> str:
    """A fresh Twilio-style call id: "CA" + 32 hex digits."""
    return "CA" + uuid.uuid4().hex
