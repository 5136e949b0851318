"""The ticket a human gets with a call: who, why, what was said and captured, which queue.

Apart from the legs because the ticket is plain data with its own rules (priority, skills,
what a desk sees in a listing and before speaking), built once from the AI leg and copied on
a transfer or consult; the desk router reads the same listing from other workers.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from workbench.engine import events as ev
from workbench.telephony.handoff.ports import HeldCall

PRIORITY_HIGH = 0
PRIORITY_NORMAL = 1


def new_leg_id() -> str:
    return "CA" + uuid.uuid4().hex


def skills_allow(desk_skills: frozenset[str], call_skills: frozenset[str]) -> bool:
    """May a desk with these skills take a call needing those? (no skills on either side: yes)"""
    return (
        not call_skills or not desk_skills or "*" in desk_skills or bool(call_skills & desk_skills)
    )


@dataclass
class HandoffTicket:
    """A call waiting for (or with) a human, and the context the human gets before speaking."""

    call_sid: str  # the original call (the AI leg's callSid)
    leg_id: str  # this human leg's call id
    queue: str
    priority: int
    skills: frozenset[str]
    reason: str
    summary: str
    transcript: list[tuple[str, str]]
    captured: dict[str, Any]
    crm: dict[str, Any] | None
    caller_number: str
    topic: str
    previous_call_id: str
    enqueued_at: float = field(default_factory=time.monotonic)
    sequence: int = 0

    def next_leg(
        self, *, queue: str, priority: int, skills: frozenset[str], reason: str
    ) -> HandoffTicket:
        """A ticket for the leg that follows this one (a transfer, a consult): the same call
        and context, a new leg id, queued afresh."""
        return replace(
            self,
            leg_id=new_leg_id(),
            queue=queue,
            priority=priority,
            skills=skills,
            reason=reason,
            previous_call_id=self.leg_id,
            enqueued_at=time.monotonic(),
            sequence=0,
        )

    def describe(self) -> dict[str, Any]:
        """The queue entry an agent sees in a listing."""
        return {
            "callSid": self.call_sid,
            "legId": self.leg_id,
            "queue": self.queue,
            "priority": "high" if self.priority == PRIORITY_HIGH else "normal",
            "skills": sorted(self.skills),
            "caller": self.caller_number,
            "topic": self.topic,
            "reason": self.reason,
            "waitingSeconds": round(time.monotonic() - self.enqueued_at, 1),
        }

    def context(self) -> dict[str, Any]:
        """Everything the human needs before speaking."""
        return {
            **self.describe(),
            "summary": self.summary,
            "transcript": [{"speaker": s, "text": t} for s, t in self.transcript],
            "captured": dict(self.captured),
            "crm": self.crm,
            "previousCallId": self.previous_call_id,
        }


def crm_dict(info: Any) -> dict[str, Any] | None:
    if info is None:
        return None
    return {
        "recordType": info.record_type,
        "recordId": info.record_id,
        "name": info.name,
        "account": info.account_name,
        "vip": bool(info.vip),
        "openCases": list(info.open_cases),
    }


def handoff_ticket(call: HeldCall, escalation_spec: Any) -> HandoffTicket:
    """The ticket of a call whose AI session ended with a handoff: the queue from the escalate
    action, else the agent's escalation (VIP callers from the CRM lookup to its VIP queue);
    the topic as the skill."""
    session = call.session
    conversation = getattr(session, "conversation", None)
    escalation = call.escalation
    handoff = next(
        (e for e in reversed(call.summary.events) if isinstance(e, ev.HandoffRequested)), None
    )
    vip = bool(call.caller_info is not None and call.caller_info.vip) or (
        escalation.get("priority") == "high"
    )
    queue = escalation.get("queue") or (
        (escalation_spec.vip_queue if vip else escalation_spec.queue)
        if escalation_spec is not None
        else "support"
    )
    topic = call.last_topic or getattr(conversation, "topic", None) or ""
    return HandoffTicket(
        call_sid=call.call_sid,
        leg_id=new_leg_id(),
        queue=queue,
        priority=PRIORITY_HIGH if vip else PRIORITY_NORMAL,
        skills=frozenset({topic.lower()}) if topic and topic != "SpeakToHuman" else frozenset(),
        reason=escalation.get("reason") or (handoff.reason if handoff else "handoff"),
        summary=(handoff.summary if handoff and handoff.summary else "")
        or escalation.get("summary", ""),
        transcript=list(getattr(session, "transcript", [])),
        captured=dict(getattr(conversation, "captured", {}) or {}),
        crm=crm_dict(call.caller_info),
        caller_number=call.caller_number,
        topic=topic,
        previous_call_id=call.call_sid,
    )
