"""The escalation ladder and the hand-off to a person.

Apart because every room can end up here: a slot that cannot be captured, an angry caller, a
webhook that failed, a `handoff` step, repeated silence. The ladder climbs on
`conversation.failed_turns` (reset by any progress): below `max_no_match` re-prompt, at it
offer a person ("yes" escalates, "no" carries on where the call was), above it end the call
politely (disposition "abandoned").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.agent.conversation import Conversation
from workbench.agent.definition import UNKNOWN_TOPIC, Handoff
from workbench.agent.flow.reply import Action, ReplyDraft
from workbench.agent.flow.templates import render
from workbench.agent.speakable import redact_cards
from workbench.agent.understanding import Understanding

if TYPE_CHECKING:
    from workbench.agent.flow.responder import FlowResponder


def count_failure(conv: Conversation) -> int:
    """One more turn without progress: counts for the call's re-prompts and the ladder."""
    conv.reprompt_count += 1
    conv.failed_turns += 1
    return conv.failed_turns


def handoff_summary(conv: Conversation, reason: str) -> str:
    """What the person taking the call reads first (card numbers redacted)."""
    captured = ", ".join(f"{k}={v}" for k, v in conv.captured.items()) or "nothing"
    transcript = " | ".join(f"{who}: {text}" for who, text in conv.history)
    return redact_cards(
        f"Reason: {reason}. Topic: {conv.topic or 'none'}. Captured: {captured}. "
        f"Transcript: {transcript}"
    )


class Escalation:
    """The ladder (re-prompt, offer a person, end politely) and the two ways to a person."""

    def __init__(self, flow: FlowResponder) -> None:
        self.flow = flow

    def no_match(self, conv: Conversation, u: Understanding, turn: ReplyDraft) -> None:
        """Nothing in the turn was understood (or it was off-topic): one step up the ladder."""
        g = self.flow.definition.guardrails
        conv.no_matches += 1
        count_failure(conv)
        off_topic = (
            u.topic == UNKNOWN_TOPIC
            and u.runner_up_confidence < self.flow.threshold
            and u.confidence >= 0.5
        )
        what = "guardrail: off-topic refusal" if off_topic else "no match"
        wording = g.off_topic if off_topic else g.no_match
        self.ladder(
            conv, turn, what, wording, g.no_match_end, ["I'm having trouble helping with that."]
        )

    def ladder(
        self,
        conv: Conversation,
        turn: ReplyDraft,
        what: str,
        reprompt: list[str],
        end: list[str],
        offer_intro: tuple[str, ...] | list[str] = (),
    ) -> None:
        """The no-input / no-match ladder on `conv.failed_turns` (already counted).

        Below `max_no_match`: re-prompt; at it: offer a person ("yes" escalates, "no" carries
        on where the call was); above it: end the call politely (disposition "abandoned").
        """
        n = conv.failed_turns
        limit = self.flow.definition.escalation.max_no_match
        if n < limit:
            turn.say(*reprompt)
            turn.note(f"{what} (reprompt {n})")
        elif n == limit:
            if conv.stage != "offer_human":
                conv.resume_stage = conv.stage
            if conv.stage == "card_entry":
                self.flow.card.end(conv)
            conv.stage = "offer_human"
            turn.say(*offer_intro, *self.flow.definition.guardrails.offer_human)
            turn.note(f"{what} {n}: offering a person")
        else:
            self.flow.card.end(conv)
            turn.say(*end)
            turn.end_call = True
            conv.outcome = "abandoned"
            conv.ended = True
            turn.note(f"{what} {n}: ending the call politely")

    def escalate(
        self, conv: Conversation, turn: ReplyDraft, reason: str, say: list[str] | None = None
    ) -> None:
        """To a person as the escalation section says: its queue (the VIP queue, at high
        priority, for a VIP caller) and its wording (or `say`)."""
        self.flow.card.end(conv)
        esc = self.flow.definition.escalation
        vip = bool(conv.caller and conv.caller.vip)
        summary = handoff_summary(conv, reason)
        conv.escalation_summary = summary
        queue = esc.vip_queue if vip else esc.queue
        turn.actions.append(
            Action(
                "escalate",
                {
                    "reason": reason,
                    "queue": queue,
                    "priority": "high" if vip else "normal",
                    "summary": summary,
                },
                {"transferred": True},
            )
        )
        conv.intend(
            "Task",
            Subject=f"Call transferred: {reason}",
            Description=summary,
            Priority="High" if vip else "Normal",
        )
        turn.say(*(esc.say if say is None else say))
        turn.routing = "human"
        turn.end_call = True
        conv.outcome = "human"
        conv.ended = True
        turn.note(f"escalate to {queue}: {reason}")

    def handoff(self, conv: Conversation, turn: ReplyDraft, handoff: Handoff, values: dict) -> None:
        """A `handoff` step: to the step's queue, or without one as `escalate` does."""
        if handoff.queue is None:  # as the escalation section says (as for an angry caller)
            self.escalate(conv, turn, handoff.reason, handoff.say)
            self.flow.actions.end(conv)
            return
        self.flow.card.end(conv)
        queue, priority = handoff.queue, handoff.priority
        summary = handoff_summary(conv, handoff.reason)
        conv.escalation_summary = summary
        turn.actions.append(
            Action(
                "handoff",
                {
                    "queue": queue,
                    "skills": list(handoff.skills),
                    "priority": priority,
                    "reason": handoff.reason,
                    "summary": summary,
                },
                {"transferred": True},
            )
        )
        conv.intend(
            "Task",
            Subject=f"Call transferred to {queue}: {handoff.reason}",
            Description=summary,
            Priority={"high": "High", "low": "Low"}.get(priority, "Normal"),
        )
        wording = self.flow.definition.escalation.say if handoff.say is None else handoff.say
        turn.say(*(render(t, values) for t in wording))
        self.flow.actions.end(conv)
        turn.routing = "human"
        turn.end_call = True
        conv.outcome = "human"
        conv.ended = True
        turn.note(f"hand off to {queue} ({priority}; skills {handoff.skills})")
