"""Slots: capturing the caller's values, reading them back, confirming or asking again.

Apart because capture is the heart of every flow and has its own rules: a value is taken from
what the caller said only when its type makes plain which slot it answers; a date of birth is
never also the day to book; bare answers ("sure, dana lee") and self-corrections ("tuesday,
no, wednesday") keep what the caller settled on; a read-back is confirmed, denied or corrected.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from workbench.agent.conversation import Conversation
from workbench.agent.definition import SlotSpec
from workbench.agent.entities import (
    NOT_NAMES,
    corrected_text,
    extract_entities,
    normalise,
    title_name,
)
from workbench.agent.flow.escalation import count_failure
from workbench.agent.flow.reply import Action, ReplyDraft
from workbench.agent.flow.templates import render
from workbench.agent.knowledge import KnowledgeChunk
from workbench.agent.slot_values import clearly_answered, date_in_parts, find_name, slot_value
from workbench.agent.speakable import NAME_FILLERS, NO, WORDS, YES, answer_kind, spoken_value
from workbench.agent.understanding import Understanding

if TYPE_CHECKING:
    from workbench.agent.flow.responder import FlowResponder

# Slot types read by `slot_values` (the older ones by the entities and the rules below).
TYPED_SLOTS = {
    "date", "date_of_birth", "time", "number", "identifier", "money", "yes_no", "choice",
}  # fmt: skip
DAY_TYPES = ("date", "datetime", "time")


def slot_kind(slot: SlotSpec) -> str:
    """Slot types that read the same words: all dates and times are one kind."""
    return "date" if slot.entity in DAY_TYPES or slot.entity == "date_of_birth" else slot.entity


def without_yes_no(text: str) -> str:
    """'no, it's the tenth of may' -> 'it's the tenth of may' (a correction to a read-back)."""
    return re.sub(r"^\W*(?:(?:yes|yeah|no|nope|sorry|it's|it is)\b\W*)+", "", text, flags=re.I)


def fill(
    slot: SlotSpec,
    text: str,
    u: Understanding,
    reference: datetime,
    *,
    asked: bool,
    first: bool = False,
    strip_yes_no: bool = False,
) -> str | None:
    """The slot's value in this utterance, if there is one."""
    if slot.entity in TYPED_SLOTS:
        text = without_yes_no(text) if strip_yes_no else text
        return slot_value(slot, text, reference, asked=asked)
    if slot.entity == "person_name":
        introduced = find_name(text, asked=False)  # "it's for Maria Lopez", "this is Dana"
        if introduced and not strip_yes_no:
            return introduced
    if slot.entity == "datetime":
        # Resolve against the call's own reference date, whatever the understanding used.
        entity = next((e for e in extract_entities(text, reference) if e.type == "datetime"), None)
    else:
        entity = u.entity(slot.entity)
    if entity:
        return entity.value
    # Bare answers keep what the caller settled on: "dana smith, sorry, dana smyth".
    words = WORDS.findall(corrected_text(text).lower())
    if strip_yes_no:
        words = [
            w
            for w in words
            if w not in YES and w not in NO and w not in {"it's", "its", "it", "is"}
        ]
    if slot.entity == "person_name" and asked:
        # A bare answer to "may I have your name?": "sure, dana lee", "um it's dana".
        while words and words[0] in NAME_FILLERS:
            words = words[1:]
        if 1 <= len(words) <= 3 and not any(w in NOT_NAMES or w.isdigit() for w in words):
            return title_name(" ".join(words))
    if slot.entity == "order_number" and asked:
        m = re.search(r"\b(?:nw ?)?(\d{5})\b", normalise(corrected_text(text)).text)
        if m:
            return f"NW-{m.group(1)}"
    if slot.entity == "text" and not strip_yes_no:
        if (asked and len(words) >= 2) or (first and len(words) >= 6):
            return text.strip()
    return None


class SlotFilling:
    """Fills, reads back and confirms the slots of the topic under way."""

    def __init__(self, flow: FlowResponder) -> None:
        self.flow = flow

    def answers_pending_slot(self, conv: Conversation, text: str, u: Understanding) -> bool:
        """The turn holds a value for the slot the caller was last asked for."""
        if not (conv.pending_slot and conv.topic in self.flow.topics):
            return False
        slot = self.flow.slot(conv.topic or "", conv.pending_slot)
        return fill(slot, text, u, conv.reference, asked=True) is not None

    def advance(
        self,
        conv: Conversation,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: ReplyDraft,
        *,
        fill_from_utterance: bool,
        first: bool = False,
        answered: SlotSpec | None = None,
    ) -> None:
        """Fill, confirm or ask for the next slot; run the action when all are confirmed.
        `answered`: the slot the utterance just answered; its words fill no other slot of the
        same kind (a date of birth is not also the day to book)."""
        topic = self.flow.topics[conv.topic or ""]
        if fill_from_utterance:
            # Callers often say more than was asked ("my app crashes, this is Dana"): a value is
            # kept when its type makes plain which slot it answers, never for every empty slot.
            # A date of birth is never a day to book: only the other date slots compete.
            date_slots = sum(1 for s in topic.slots if s.entity in DAY_TYPES)
            for slot in topic.slots:
                if answered and slot_kind(slot) == slot_kind(answered):
                    continue
                if slot.name not in conv.captured:
                    value = fill(slot, text, u, conv.reference, asked=False, first=first)
                    if value and (
                        slot.entity == "text" or clearly_answered(slot, text, value, date_slots)
                    ):
                        conv.captured[slot.name] = value
                        turn.note(f"{slot.name} captured from the utterance: {value}")
        for slot in topic.slots:
            if slot.name in conv.captured and (
                slot.name in conv.confirmed or slot.confirm == "none"
            ):
                continue
            if slot.name in conv.captured:
                if slot.confirm == "none":
                    continue
                self.read_back(conv, slot, turn)
                return
            conv.pending_slot = slot.name
            turn.say(slot.prompt)
            turn.note(f"asking for {slot.name}")
            return
        self.flow.actions.act(conv, topic, text, chunks, turn)

    def read_back(self, conv: Conversation, slot: SlotSpec, turn: ReplyDraft) -> None:
        conv.confirming = slot.name
        conv.pending_slot = None
        value = spoken_value(slot, conv.captured[slot.name])
        values = self.flow.values(conv, self.flow.topics[conv.topic or ""])
        turn.say(render(slot.read_back, values | {"value": value}))
        turn.note(f"read back {slot.name} ({slot.confirm})")

    def on_confirmation(
        self,
        conv: Conversation,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: ReplyDraft,
    ) -> None:
        """The answer to a read-back: yes confirms, no asks again, a new value corrects."""
        assert conv.topic and conv.confirming
        slot = self.flow.slot(conv.topic, conv.confirming)
        kind = answer_kind(text)
        correction = fill(slot, text, u, conv.reference, asked=True, strip_yes_no=True)
        if correction and correction != conv.captured.get(slot.name):
            conv.captured[slot.name] = correction
            turn.note(f"correction: {slot.name} = {correction}")
            self.read_back(conv, slot, turn)
            return
        if kind == "yes":
            conv.confirmed.add(slot.name)
            conv.confirming = None
            conv.failed_turns = 0
            turn.note(f"{slot.name} confirmed")
            self.advance(conv, text, u, chunks, turn, fill_from_utterance=False)
        elif kind == "no":
            conv.captured.pop(slot.name, None)
            conv.confirming = None
            conv.pending_slot = slot.name
            turn.say(f"Sorry about that. {slot.reprompt or slot.prompt}")
            turn.note(f"{slot.name} rejected; asking again")
        else:
            if count_failure(conv) > self.flow.definition.escalation.max_no_match:
                self.flow.escalation.escalate(conv, turn, f"could not confirm {slot.name}")
                return
            turn.say("Sorry, was that a yes or a no?")
            self.read_back(conv, slot, turn)
            turn.note("no yes/no heard; read back again")

    def on_slot_answer(
        self,
        conv: Conversation,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: ReplyDraft,
        confident: bool,
    ) -> None:
        """The answer to "may I have your ...?": the value, a question in the middle, a new
        subject, or nothing usable (asked again, then escalated)."""
        assert conv.topic and conv.pending_slot
        flow = self.flow
        slot = flow.slot(conv.topic, conv.pending_slot)
        value = fill(slot, text, u, conv.reference, asked=True)
        if value is None and slot.entity == "date_of_birth":
            # Said in two goes: "the ninth of May" ... "nineteen seventy two".
            value, conv.partial_date = date_in_parts(text, conv.partial_date, conv.reference)
            if value is None and conv.partial_date:
                turn.say(flow.definition.acts.ask_year)
                turn.note(f"{slot.name}: day and month {conv.partial_date}; asking for the year")
                return
        if value:
            conv.partial_date = None
            conv.captured[slot.name] = value
            conv.pending_slot = None
            conv.failed_turns = 0
            turn.note(f"{slot.name} captured: {value}")
            self.advance(conv, text, u, chunks, turn, fill_from_utterance=True, answered=slot)
        elif confident and u.topic != conv.topic and flow.is_informational(u.topic):
            # A question in the middle ("are you open saturdays?"): answered, then back.
            spec = flow.topics[u.topic]
            chunk = flow.pick_chunk(spec, text, chunks)
            if chunk is not None:
                values = flow.values(conv, spec)
                values["knowledge"] = chunk.text
                turn.say(*(render(t, values) for t in spec.answer or ["{knowledge}"]))
                turn.actions.append(
                    Action("answer", {"source": chunk.source, "heading": chunk.heading})
                )
            turn.say(flow.definition.acts.back_to_question, slot.prompt)
            turn.note(f"digression: answered {u.topic}, back to asking for {slot.name}")
        elif confident and u.topic != conv.topic and u.confidence >= 0.6:
            turn.note(f"caller changed the subject from {conv.topic}")
            flow.start(conv, u.topic, text, u, chunks, turn)
        else:
            if count_failure(conv) > flow.definition.escalation.max_no_match:
                flow.escalation.escalate(conv, turn, f"could not capture {slot.name}")
                return
            turn.say(slot.reprompt or f"Sorry, I didn't get that. {slot.prompt}")
            turn.note(f"{slot.name} not found in the answer (reprompt {conv.failed_turns})")
