"""The declared actions (`actions:` in agent.yaml) and the one built in, `answer`.

Apart because running an action is its own small machine: the steps still to run live in
`conversation.action_steps`; a step that waits for the caller (times offered, a yes/no offer)
stays first in line; a branch (a lookup's not_found, an offer's yes or no) runs in place of its
step; a handoff or end_call ends the call, a finish ends the request. No kind is specific to
an agent. Offering a schedule's times is in times.py, the hand-off in escalation.py.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from workbench.agent.conversation import Conversation
from workbench.agent.definition import ACTION_KINDS, ActionStep, TopicSpec
from workbench.agent.flow.backoffice import WebhookFailed, post_webhook
from workbench.agent.flow.escalation import count_failure
from workbench.agent.flow.reply import Action, ReplyDraft
from workbench.agent.flow.templates import field_value, render
from workbench.agent.knowledge import KnowledgeChunk
from workbench.agent.speakable import answer_kind
from workbench.agent.tables import find_row

if TYPE_CHECKING:
    from workbench.agent.flow.responder import FlowResponder


def end_action(conv: Conversation) -> None:
    """No declared action is under way any more."""
    conv.action = None
    conv.action_steps = []
    conv.asked_again = {}


def reference_number(prefix: str, conv: Conversation) -> str:
    """A stable reference for a record made in this call (same call, same number)."""
    seed = (
        f"{prefix}|{conv.reference.isoformat()}|{conv.transcript()}|{sorted(conv.captured.items())}"
    )
    return f"{prefix}-{int(hashlib.sha1(seed.encode()).hexdigest(), 16) % 90000 + 10000}"


class DeclaredActions:
    """Runs a topic's action once its slots are confirmed."""

    def __init__(self, flow: FlowResponder) -> None:
        self.flow = flow

    end = staticmethod(end_action)

    def act(
        self,
        conv: Conversation,
        topic: TopicSpec,
        text: str,
        chunks: list[KnowledgeChunk],
        turn: ReplyDraft,
    ) -> None:
        """The topic's action: a declared one, or the built-in answer from knowledge."""
        flow = self.flow
        if topic.action not in ACTION_KINDS:
            self.run(conv, topic, turn)
            return
        values = flow.values(conv, topic)  # the one built-in: answer from knowledge
        chunk = flow.pick_chunk(topic, text, chunks)
        if chunk is None:
            turn.say("I'm sorry, I don't have that information.")
            turn.say("Would you like me to connect you with a colleague who can help?")
            conv.stage = "offer_human"
            turn.note("no knowledge chunk found: offering a person")
            return
        values["knowledge"] = chunk.text
        turn.actions.append(Action("answer", {"source": chunk.source, "heading": chunk.heading}))
        turn.note(f"answer from {chunk.source} / {chunk.heading} (score {chunk.score})")
        flow.complete(conv, topic, values, turn)

    def run(self, conv: Conversation, topic: TopicSpec, turn: ReplyDraft) -> None:
        """Run the steps of the topic's declared action still to run (`conv.action_steps`).
        A step that waits for the caller (times offered, a yes/no offer) stays first in line;
        a branch (a lookup's not_found, an offer's yes or no) runs in place of its step;
        a handoff or end_call ends the call, a finish ends the request."""
        flow = self.flow
        if conv.action != topic.action:
            conv.action = topic.action
            conv.action_steps = list(flow.definition.actions[topic.action])
        while conv.action_steps:
            step: ActionStep = conv.action_steps.pop(0)
            values = flow.values(conv, topic)
            kind = step.kind
            if kind == "say":
                turn.say(*(render(t, values) for t in step.say or []))
            elif kind == "crm":
                assert step.crm is not None
                fields = {
                    name: field_value(value, values) for name, value in step.crm.fields.items()
                }
                conv.intend(step.crm.object, **fields)
                turn.actions.append(Action("crm", {"object": step.crm.object, "fields": fields}))
                turn.note(f"{step.crm.object} to write: {fields}")
            elif kind == "webhook":
                if not self._call_webhook(conv, topic, step, values, turn):
                    return
            elif kind == "offer_times":
                if flow.times.offer(conv, step, values, turn):
                    conv.action_steps.insert(0, step)  # this step again once the caller picks
                    return
            elif kind == "handoff":
                assert step.handoff is not None
                conv.mark_done(topic.name)  # handing off is this action's end
                flow.escalation.handoff(conv, turn, step.handoff, values)
                return
            elif kind in ("end_call", "finish"):
                ending = step.end_call or step.finish
                assert ending is not None
                end_action(conv)
                if step.finish:
                    turn.note("action finishes the request")
                    flow.complete(conv, topic, values, turn, ending.say, ending.routing)
                    return
                turn.say(*(render(t, values) for t in ending.say))
                conv.mark_done(topic.name)
                conv.outcome = turn.routing = ending.routing
                turn.end_call = conv.ended = True
                turn.note("action ends the call")
                return
            elif kind == "reference":
                assert step.reference is not None
                number = reference_number(step.reference.prefix, conv)
                conv.captured[step.reference.into] = number
                conv.references.add(step.reference.into)
                turn.actions.append(
                    Action("reference", {"prefix": step.reference.prefix}, {"number": number})
                )
                turn.note(f"{step.reference.into} = {number}")
            elif kind == "lookup":
                self._lookup(conv, step, values, turn)
            elif kind == "ask_again":
                if self._ask_again(conv, topic, step, values, turn):
                    return
            elif kind == "offer":
                assert step.offer is not None
                conv.stage = "yes_no_offer"
                conv.action_steps.insert(0, step)  # until the caller says yes or no
                turn.say(*(render(t, values) for t in step.offer.say))
                turn.note("offer made: waiting for a yes or a no")
                return
        end_action(conv)
        flow.complete(conv, topic, flow.values(conv, topic), turn)

    def on_offer_answer(self, conv: Conversation, text: str, turn: ReplyDraft) -> None:
        """The caller's answer to an `offer` step: its yes or no steps run, in its place."""
        topic = self.flow.topics[conv.topic or ""]
        offer = conv.action_steps[0].offer if conv.action_steps else None
        if offer is None:  # nothing waits for an answer any more
            conv.stage = None
            self.flow.offer_more(conv, turn)
            return
        kind = answer_kind(text)
        if kind not in ("yes", "no"):
            turn.say(offer.reprompt)
            turn.note("no yes/no to the offer")
            return
        conv.stage = None
        conv.action_steps[0:1] = offer.yes if kind == "yes" else offer.no
        turn.actions.append(Action("offer", {"offer": " ".join(offer.say)}, {"accepted": kind}))
        turn.note(f"offer {'accepted' if kind == 'yes' else 'declined'}")
        self.run(conv, topic, turn)

    def _lookup(self, conv: Conversation, step: ActionStep, values: dict, turn: ReplyDraft) -> None:
        """Find the row; without one the `not_found` steps run next, in place of this one."""
        lookup = step.lookup
        assert lookup is not None
        key = render(lookup.value, values)
        row = find_row(self.flow.tables.get(lookup.table, []), lookup.column, key)
        params = {"table": lookup.table, "column": lookup.column, "value": key}
        turn.actions.append(Action("lookup", params, {"found": row is not None, **(row or {})}))
        if row is None:
            conv.results.pop(lookup.into, None)
            conv.action_steps[0:0] = lookup.not_found
            turn.note(f"{key!r} not in {lookup.table}")
            return
        conv.results[lookup.into] = dict(row)
        turn.note(f"{key!r} found in {lookup.table}: {row}")

    def _ask_again(
        self, conv: Conversation, topic: TopicSpec, step: ActionStep, values: dict, turn: ReplyDraft
    ) -> bool:
        """Forget the slot and ask for it again (the action starts over once it is captured);
        False when it was asked again `times` already: the next steps run instead."""
        spec = step.ask_again
        assert spec is not None
        slot = next((s for s in topic.slots if s.name == spec.slot), None)
        asked = conv.asked_again.get(spec.slot, 0)
        if slot is None or asked >= spec.times:
            turn.note(f"{spec.slot} asked again {asked} time(s): going on")
            return False
        conv.asked_again[spec.slot] = asked + 1
        conv.captured.pop(slot.name, None)
        conv.confirmed.discard(slot.name)
        conv.confirming = None
        conv.pending_slot = slot.name
        conv.action, conv.action_steps = None, []  # from the first step once answered
        count_failure(conv)
        turn.say(*(render(t, values) for t in spec.say or [slot.reprompt or slot.prompt]))
        turn.note(f"asking for {slot.name} again ({asked + 1} of {spec.times})")
        return True

    def _call_webhook(
        self, conv: Conversation, topic: TopicSpec, step: ActionStep, values: dict, turn: ReplyDraft
    ) -> bool:
        """POST the slots; True to go on with the action's next step."""
        call = step.webhook
        assert call is not None
        payload = {
            "action": topic.action,
            "topic": topic.name,
            "slots": {
                k: v for k, v in conv.captured.items() if k not in ("card_last4", "payment_token")
            },
            "caller": {"phone": conv.caller.phone if conv.caller else None},
            "call": {"date": conv.reference.date().isoformat()},
        }
        try:
            reply = post_webhook(call, payload)
        except WebhookFailed as error:
            turn.actions.append(Action("webhook", {"url": call.url}, {"error": str(error)}))
            turn.note(f"webhook failed: {error}")
            turn.say(*(render(t, values) for t in call.on_failure))
            if call.then == "handoff":
                self.flow.escalation.escalate(conv, turn, f"webhook failed: {error}")
                return False
            return True
        conv.results[call.save_as] = reply
        turn.actions.append(Action("webhook", {"url": call.url, "sent": payload}, reply))
        turn.note(f"webhook {call.url} replied {reply}")
        return True
