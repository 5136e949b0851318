"""The flow responder: a deterministic dialogue engine driven by the agent definition.

Each turn goes through the same steps, and the reply's `plan` says which fired and why:

1. guardrails on the input (a card number is never stored or read back; anger escalates);
2. a pending read-back is answered (yes confirms, no or a new value corrects);
3. a pending offer (demo slots, retention offer, "speak to someone?") is answered;
4. a pending question is answered (the slot is filled from the entities, or the caller changes
   the subject, or we re-prompt and after `max_no_match` failures offer a human);
5. otherwise the understood topic starts: slots are filled from what was already said, the
   first missing one is asked for, and when all are confirmed the topic's action runs and its
   answer is spoken, using captured values and the retrieved knowledge.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from workbench.agent.conversation import Conversation
from workbench.agent.definition import UNKNOWN_TOPIC, AgentDefinition, SlotSpec, TopicSpec
from workbench.agent.entities import NOT_NAMES, extract_entities, normalise, title_name
from workbench.agent.knowledge import KnowledgeChunk, KnowledgeIndex
from workbench.agent.orders import OrderBook
from workbench.agent.speakable import (
    FIRST,
    GOODBYES,
    GREETINGS,
    NAME_FILLERS,
    NO,
    SECOND,
    THANKS,
    WORDS,
    YES,
    answer_kind,
    redact_cards,
    speak_datetime,
    split_sentences,
    spoken_reference,
    spoken_value,
    subject_line,
)
from workbench.agent.understanding import Understanding

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Action:
    """Something the agent did (or asked a back-office system to do) during a turn."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """What the agent says and does in answer to one turn.

    `sentences` are spoken in order (the TTS streams them one by one); `routing` is decided only
    on the last reply of a call ("ai_resolved", "human" or "workflow"; None while it goes on).
    """

    sentences: tuple[str, ...]
    routing: str | None = None
    actions: tuple[Action, ...] = ()
    plan: str = ""
    end_call: bool = False
    topic: str = UNKNOWN_TOPIC


class _Values(dict):
    """Template values; a missing one renders visibly instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass
class _Turn:
    topic: str
    sentences: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    routing: str | None = None
    end_call: bool = False

    def say(self, *texts: str) -> None:
        for text in texts:
            self.sentences.extend(split_sentences(text))

    def note(self, text: str) -> None:
        self.notes.append(text)


class FlowResponder:
    """Runs the topics of an `AgentDefinition` as slot-filling flows (see the module docstring)."""

    def __init__(
        self, definition: AgentDefinition, knowledge: KnowledgeIndex, orders: OrderBook | None
    ) -> None:
        self.definition = definition
        self.knowledge = knowledge
        self.orders = orders
        self.topics = {t.name: t for t in definition.topics}
        self.threshold = definition.understanding.threshold

    # --- entry points ---------------------------------------------------------------------

    def greet(self, conv: Conversation) -> Reply:
        d = self.definition
        caller = conv.caller
        if caller and caller.name and d.greeting_known_caller:
            text = d.greeting_known_caller.format_map(_Values(caller_name=caller.name.split()[0]))
        else:
            text = d.greeting.format_map(_Values(caller_name=""))
        turn = _Turn(UNKNOWN_TOPIC)
        turn.say(text)
        turn.note("greeting" + (" (known caller)" if caller and caller.name else ""))
        return self._finish(conv, turn)

    def no_input(self, conv: Conversation) -> Reply:
        turn = _Turn(conv.topic or UNKNOWN_TOPIC)
        conv.reprompt_count += 1
        if conv.reprompt_count > self.definition.escalation.max_no_match:
            self._escalate(conv, turn, "no input from the caller")
            return self._finish(conv, turn)
        turn.say(*self.definition.guardrails.no_input)
        if conv.pending_slot and conv.topic in self.topics:
            turn.say(self._slot(conv.topic, conv.pending_slot).prompt)
        turn.note(f"no input (reprompt {conv.reprompt_count})")
        return self._finish(conv, turn)

    def reply(
        self, conv: Conversation, text: str, u: Understanding, chunks: list[KnowledgeChunk]
    ) -> Reply:
        if conv.ended:  # late speech after a goodbye or a transfer: nothing more to say
            return Reply(
                (), conv.outcome, (), "call already ended", True, conv.topic or UNKNOWN_TOPIC
            )
        conv.turn_count += 1
        conv.history.append(("caller", redact_cards(text)))
        turn = _Turn(conv.topic or u.topic)
        turn.note(
            f"understood {u.topic} ({u.confidence:.2f}; runner-up {u.runner_up} {u.runner_up_confidence:.2f})"
        )
        self._step(conv, text, u, chunks, turn)
        return self._finish(conv, turn)

    # --- the turn -------------------------------------------------------------------------

    def _step(
        self,
        conv: Conversation,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: _Turn,
    ) -> None:
        esc = self.definition.escalation
        lowered = text.lower()
        words = set(WORDS.findall(lowered))
        if u.entity("card_number") or self._looks_like_card(text):
            turn.say(*self.definition.guardrails.card_numbers)
            turn.note("guardrail: card number not stored or read back")
        angry = next((k for k in esc.angry_keywords if k.lower() in lowered), None)
        if angry:
            self._escalate(conv, turn, f"caller upset (said '{angry}')")
            return
        confident = u.topic != UNKNOWN_TOPIC and u.confidence >= self.threshold
        if u.topic in esc.topics and confident and answer_kind(text) is None:
            self._escalate(conv, turn, "caller asked for a person")
            return
        if conv.confirming:
            self._on_confirmation(conv, text, u, chunks, turn)
        elif conv.stage == "offer":
            self._on_demo_choice(conv, text, u, turn)
        elif conv.stage == "retention":
            self._on_retention(conv, text, turn)
        elif conv.stage == "offer_human":
            kind = answer_kind(text)
            if kind == "yes":
                self._escalate(conv, turn, "repeated no-match; caller accepted a person")
            elif confident:
                conv.stage = None
                self._start(conv, u.topic, text, u, chunks, turn)
            else:
                conv.stage, conv.reprompt_count = None, 0
                turn.say("Okay. What can I help you with?")
                turn.note("caller declined a person")
        elif conv.pending_slot and conv.topic:
            self._on_slot_answer(conv, text, u, chunks, turn, confident)
        elif (
            conv.stage == "anything_else"
            and answer_kind(text) == "no"
            and (not confident or len(text.split()) <= 4)
        ):
            self._goodbye(conv, turn)
        elif conv.stage == "anything_else" and answer_kind(text) == "yes" and not confident:
            conv.stage = None
            turn.say("Sure. What else can I help you with?")
            turn.note("caller has another request")
        elif words & GOODBYES and words <= GOODBYES | THANKS | {"ok", "okay", "it"}:
            self._goodbye(conv, turn)
        elif words and words <= GREETINGS:
            turn.say("Hello! How can I help you today?")
            turn.note("small talk: greeting returned")
        elif confident:
            self._start(conv, u.topic, text, u, chunks, turn)
        else:
            self._no_match(conv, u, turn)

    def _on_confirmation(
        self,
        conv: Conversation,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: _Turn,
    ) -> None:
        assert conv.topic and conv.confirming
        slot = self._slot(conv.topic, conv.confirming)
        kind = answer_kind(text)
        correction = self._fill(slot, text, u, conv.reference, asked=True, strip_yes_no=True)
        if correction and correction != conv.captured.get(slot.name):
            conv.captured[slot.name] = correction
            turn.note(f"correction: {slot.name} = {correction}")
            self._read_back(conv, slot, turn)
            return
        if kind == "yes":
            conv.confirmed.add(slot.name)
            conv.confirming = None
            conv.reprompt_count = 0
            turn.note(f"{slot.name} confirmed")
            self._advance(conv, text, u, chunks, turn, fill_from_utterance=False)
        elif kind == "no":
            conv.captured.pop(slot.name, None)
            conv.confirming = None
            conv.pending_slot = slot.name
            turn.say(f"Sorry about that. {slot.reprompt or slot.prompt}")
            turn.note(f"{slot.name} rejected; asking again")
        else:
            conv.reprompt_count += 1
            if conv.reprompt_count > self.definition.escalation.max_no_match:
                self._escalate(conv, turn, f"could not confirm {slot.name}")
                return
            turn.say("Sorry, was that a yes or a no?")
            self._read_back(conv, slot, turn)
            turn.note("no yes/no heard; read back again")

    def _on_slot_answer(
        self,
        conv: Conversation,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: _Turn,
        confident: bool,
    ) -> None:
        assert conv.topic and conv.pending_slot
        slot = self._slot(conv.topic, conv.pending_slot)
        value = self._fill(slot, text, u, conv.reference, asked=True)
        if value:
            conv.captured[slot.name] = value
            conv.pending_slot = None
            conv.reprompt_count = 0
            turn.note(f"{slot.name} captured: {value}")
            self._advance(conv, text, u, chunks, turn, fill_from_utterance=True)
        elif confident and u.topic != conv.topic and u.confidence >= 0.6:
            turn.note(f"caller changed the subject from {conv.topic}")
            self._start(conv, u.topic, text, u, chunks, turn)
        else:
            conv.reprompt_count += 1
            if conv.reprompt_count > self.definition.escalation.max_no_match:
                self._escalate(conv, turn, f"could not capture {slot.name}")
                return
            turn.say(slot.reprompt or f"Sorry, I didn't get that. {slot.prompt}")
            turn.note(f"{slot.name} not found in the answer (reprompt {conv.reprompt_count})")

    def _start(
        self,
        conv: Conversation,
        topic: str,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: _Turn,
    ) -> None:
        conv.start_topic(topic)
        conv.reprompt_count = 0
        turn.topic = topic
        turn.note(f"start topic {topic}")
        self._advance(conv, text, u, chunks, turn, fill_from_utterance=True, first=True)

    def _advance(
        self,
        conv: Conversation,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: _Turn,
        *,
        fill_from_utterance: bool,
        first: bool = False,
    ) -> None:
        """Fill, confirm or ask for the next slot; run the action when all are confirmed."""
        topic = self.topics[conv.topic or ""]
        if fill_from_utterance:
            # Callers often say more than was asked ("my app crashes, this is Dana"): keep it all.
            for slot in topic.slots:
                if slot.name not in conv.captured:
                    value = self._fill(slot, text, u, conv.reference, asked=False, first=first)
                    if value:
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
                self._read_back(conv, slot, turn)
                return
            conv.pending_slot = slot.name
            turn.say(slot.prompt)
            turn.note(f"asking for {slot.name}")
            return
        self._act(conv, topic, text, chunks, turn)

    def _read_back(self, conv: Conversation, slot: SlotSpec, turn: _Turn) -> None:
        conv.confirming = slot.name
        conv.pending_slot = None
        value = spoken_value(slot, conv.captured[slot.name])
        turn.say(f"I have {value}. Is that right?")
        turn.note(f"read back {slot.name} ({slot.confirm})")

    # --- filling slots ----------------------------------------------------------------------

    def _fill(
        self,
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
        if slot.entity == "datetime":
            # Resolve against the call's own reference date, whatever the understanding used.
            entity = next(
                (e for e in extract_entities(text, reference) if e.type == "datetime"), None
            )
        else:
            entity = u.entity(slot.entity)
        if entity:
            return entity.value
        words = WORDS.findall(text.lower())
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
            m = re.search(r"\b(?:nw ?)?(\d{5})\b", normalise(text).text)
            if m:
                return f"NW-{m.group(1)}"
        if slot.entity == "text" and not strip_yes_no:
            if (asked and len(words) >= 2) or (first and len(words) >= 6):
                return text.strip()
        return None

    @staticmethod
    def _looks_like_card(text: str) -> bool:
        return any(len(run) >= 13 for run in re.findall(r"\d+", normalise(text).text))

    # --- actions --------------------------------------------------------------------------

    def _act(
        self,
        conv: Conversation,
        topic: TopicSpec,
        text: str,
        chunks: list[KnowledgeChunk],
        turn: _Turn,
    ) -> None:
        values = self._values(conv, topic)
        kind = topic.action
        if kind == "escalate":
            self._escalate(conv, turn, "caller asked for a person")
        elif kind == "answer":
            chunk = self._pick_chunk(topic, text, chunks)
            if chunk is None:
                turn.say("I'm sorry, I don't have that information.")
                turn.say("Would you like me to connect you with a colleague who can help?")
                conv.stage = "offer_human"
                turn.note("no knowledge chunk found: offering a person")
                return
            values["knowledge"] = chunk.text
            turn.actions.append(
                Action("answer", {"source": chunk.source, "heading": chunk.heading})
            )
            turn.note(f"answer from {chunk.source} / {chunk.heading} (score {chunk.score})")
            self._complete(conv, topic, values, turn)
        elif kind == "book_demo":
            self._offer_demo(conv, topic, values, turn)
        elif kind == "lookup_order":
            self._lookup_order(conv, topic, values, turn)
        elif kind == "open_case":
            number = self._reference_number("CS", conv)
            values |= {"case_number": number, "case_number_spoken": spoken_reference(number)}
            issue = conv.captured.get("issue", text)
            vip = bool(conv.caller and conv.caller.vip)
            turn.actions.append(
                Action(
                    "open_case",
                    {
                        "name": conv.captured.get("name"),
                        "issue": issue,
                        "priority": "High" if vip else "Medium",
                    },
                    {"case_number": number},
                )
            )
            conv.intend(
                "Case",
                Subject=subject_line(issue),
                Description=f"{issue} (reference {number})",
                Origin="Phone",
                Priority="High" if vip else "Medium",
                SuppliedName=conv.captured.get("name"),
                SuppliedPhone=conv.caller.phone if conv.caller else None,
            )  # fmt: skip
            turn.note(f"case {number} opened")
            self._complete(conv, topic, values, turn)
        elif kind == "change_address":
            address = conv.captured.get("address", "")
            turn.actions.append(
                Action(
                    "change_address",
                    {"name": conv.captured.get("name"), "address": address},
                    {"updated": True},
                )
            )
            conv.intend(
                "Task",
                Subject="Update mailing address",
                Description=f"New address for {conv.captured.get('name')}: {address}",
                Status="Not Started",
            )  # fmt: skip
            turn.note("address change recorded")
            self._complete(conv, topic, values, turn)
        elif kind == "cancel_subscription":
            conv.stage = "retention"
            turn.actions.append(Action("retention_offer", {"name": conv.captured.get("name")}))
            turn.say(*(t.format_map(values) for t in topic.templates["retention_offer"]))
            turn.note("retention offer made before cancelling")

    def _pick_chunk(
        self, topic: TopicSpec, text: str, chunks: list[KnowledgeChunk]
    ) -> KnowledgeChunk | None:
        """The retrieved chunk to answer from: the engine's, preferring the topic's documents."""
        preferred = [c for c in chunks if not topic.knowledge or c.source in topic.knowledge]
        if preferred:
            return preferred[0]
        found = self.knowledge.search(text, 1, sources=topic.knowledge or None)
        if found:
            return found[0]
        return chunks[0] if chunks else None

    def _offer_demo(self, conv: Conversation, topic: TopicSpec, values: dict, turn: _Turn) -> None:
        requested = conv.captured.get("date") or conv.reference.date().isoformat()
        day = date.fromisoformat(requested[:10])
        while day.weekday() >= 5 or day <= conv.reference.date():
            day += timedelta(days=1)  # demos run on weekdays, from tomorrow on
        hour = int(requested[11:13]) if "T" in requested else 10
        hour = min(max(hour, 9), 15)
        slots = [f"{day.isoformat()}T{hour:02d}:00", f"{day.isoformat()}T{hour + 2:02d}:00"]
        conv.offered = slots
        conv.stage = "offer"
        values |= {"slot1": speak_datetime(slots[0]), "slot2": speak_datetime(slots[1])}
        turn.actions.append(Action("offer_demo_slots", {"requested": requested}, {"slots": slots}))
        turn.say(*(t.format_map(values) for t in topic.templates["offer"]))
        turn.note(f"offered demo slots {slots[0]} and {slots[1]}")

    def _on_demo_choice(self, conv: Conversation, text: str, u: Understanding, turn: _Turn) -> None:
        topic = self.topics[conv.topic or ""]
        words = set(WORDS.findall(text.lower()))
        choice: str | None = None
        when = next(
            (e for e in extract_entities(text, conv.reference) if e.type == "datetime"), None
        )
        if when and "T" in when.value:
            choice = next((s for s in conv.offered if s[11:13] == when.value[11:13]), None)
        if choice is None and words & SECOND:
            choice = conv.offered[1]
        elif choice is None and (words & FIRST or answer_kind(text) == "yes"):
            choice = conv.offered[0]
        if choice is None:
            if answer_kind(text) == "no" or (when and "T" not in when.value):
                if when:
                    conv.captured["date"] = when.value
                values = self._values(conv, topic)
                turn.note("caller wants another day")
                self._offer_demo(conv, topic, values, turn)
                return
            turn.say("Which would you prefer: the first time or the second?")
            turn.note("no slot choice heard")
            return
        conv.stage = None
        conv.captured["slot"] = choice
        name = conv.captured.get("name", "")
        email = conv.captured.get("email", "")
        booking = self._reference_number("DM", conv)
        turn.actions.append(
            Action(
                "book_demo",
                {"name": name, "email": email, "slot": choice},
                {"booking_id": booking, "slot": choice},
            )
        )
        first, _, last = name.partition(" ")
        conv.intend(
            "Lead",
            FirstName=first if last else None,
            LastName=last or first,
            Email=email,
            Company=conv.caller.account if conv.caller else None,
            Phone=conv.caller.phone if conv.caller else None,
        )  # fmt: skip
        conv.intend(
            "Task",
            Subject="Product demo",
            ActivityDate=choice[:10],
            Status="Not Started",
            Description=f"Demo booked by phone for {name} ({email}) at {choice}, booking {booking}",
        )  # fmt: skip
        turn.note(f"demo booked for {choice} ({booking})")
        values = self._values(conv, topic) | {"slot": speak_datetime(choice), "booking_id": booking}
        self._complete(conv, topic, values, turn)

    def _lookup_order(
        self, conv: Conversation, topic: TopicSpec, values: dict, turn: _Turn
    ) -> None:
        number = conv.captured.get("order_number", "")
        order = self.orders.lookup(number) if self.orders else None
        result = {"found": order is not None}
        if order:
            result |= {"status": order.status, "product": order.product, "detail": order.detail}
        turn.actions.append(Action("lookup_order", {"order_number": number}, result))
        if order is None:
            conv.captured.pop("order_number", None)
            conv.confirmed.discard("order_number")
            conv.reprompt_count += 1
            if conv.reprompt_count > self.definition.escalation.max_no_match:
                self._escalate(conv, turn, f"order {number} not found")
                return
            conv.pending_slot = "order_number"
            turn.say(*(t.format_map(values) for t in topic.templates["not_found"]))
            turn.note(f"order {number} not in the order book")
            return
        values |= {"status": order.status, "product": order.product, "detail": order.detail}
        turn.note(f"order {number}: {order.status}")
        self._complete(conv, topic, values, turn)

    def _on_retention(self, conv: Conversation, text: str, turn: _Turn) -> None:
        topic = self.topics[conv.topic or ""]
        values = self._values(conv, topic)
        kind = answer_kind(text)
        if kind == "yes":
            conv.stage = None
            turn.actions.append(
                Action(
                    "accept_retention_offer", {"name": conv.captured.get("name")}, {"applied": True}
                )
            )
            conv.intend(
                "Task",
                Subject="Retention offer accepted",
                Description=f"{conv.captured.get('name')} kept the subscription with the retention offer",
            )
            turn.say(*(t.format_map(values) for t in topic.templates["retention_accepted"]))
            turn.note("retention offer accepted; no cancellation")
            conv.outcome = "ai_resolved"
            self._offer_more(conv, turn)
        elif kind == "no":
            conv.stage = None
            turn.actions.append(
                Action(
                    "cancel_subscription",
                    {"name": conv.captured.get("name")},
                    {"workflow": "cancellation"},
                )
            )
            conv.intend(
                "Case",
                Subject="Cancellation request",
                Type="Cancellation",
                Origin="Phone",
                Priority="Medium",
                Description=f"Cancellation requested by {conv.captured.get('name')}; retention offer declined",
                SuppliedName=conv.captured.get("name"),
            )  # fmt: skip
            turn.note("retention declined; cancellation workflow started")
            self._complete(conv, topic, values, turn)
        else:
            turn.say("Would you like to take the offer? Please say yes or no.")
            turn.note("no yes/no to the retention offer")

    # --- endings ----------------------------------------------------------------------------

    def _complete(self, conv: Conversation, topic: TopicSpec, values: dict, turn: _Turn) -> None:
        turn.say(*(t.format_map(values) for t in topic.answer))
        conv.outcome = topic.routing
        if topic.routing == "ai_resolved":
            self._offer_more(conv, turn)
        else:
            turn.say(self.definition.goodbye)
            turn.routing = topic.routing
            turn.end_call = True
            conv.ended = True
            turn.note(f"handed to {topic.routing}")

    def _offer_more(self, conv: Conversation, turn: _Turn) -> None:
        conv.stage = "anything_else"
        conv.pending_slot = None
        conv.confirming = None
        turn.say(self.definition.anything_else)

    def _goodbye(self, conv: Conversation, turn: _Turn) -> None:
        turn.say(self.definition.goodbye)
        turn.routing = conv.outcome or "ai_resolved"
        turn.end_call = True
        conv.ended = True
        turn.note("caller is done")

    def _no_match(self, conv: Conversation, u: Understanding, turn: _Turn) -> None:
        g = self.definition.guardrails
        conv.reprompt_count += 1
        off_topic = (
            u.topic == UNKNOWN_TOPIC
            and u.runner_up_confidence < self.threshold
            and u.confidence >= 0.5
        )
        if conv.reprompt_count >= self.definition.escalation.max_no_match:
            conv.stage = "offer_human"
            turn.say(
                "I'm having trouble helping with that. Would you like me to connect you with a colleague?"
            )
            turn.note(f"no-match {conv.reprompt_count}: offering a person")
            return
        turn.say(*(g.off_topic if off_topic else g.no_match))
        turn.note(
            ("guardrail: off-topic refusal" if off_topic else "no match")
            + f" (reprompt {conv.reprompt_count})"
        )

    def _escalate(self, conv: Conversation, turn: _Turn, reason: str) -> None:
        esc = self.definition.escalation
        vip = bool(conv.caller and conv.caller.vip)
        captured = ", ".join(f"{k}={v}" for k, v in conv.captured.items()) or "nothing"
        transcript = " | ".join(f"{who}: {text}" for who, text in conv.history)
        summary = f"Reason: {reason}. Topic: {conv.topic or 'none'}. Captured: {captured}. Transcript: {transcript}"
        summary = redact_cards(summary)
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
        turn.say(*esc.say)
        turn.routing = "human"
        turn.end_call = True
        conv.outcome = "human"
        conv.ended = True
        turn.note(f"escalate to {queue}: {reason}")

    # --- helpers ----------------------------------------------------------------------------

    def _finish(self, conv: Conversation, turn: _Turn) -> Reply:
        sentences = tuple(redact_cards(s) for s in turn.sentences)
        conv.history.append(("agent", " ".join(sentences)))
        log.debug("reply [%s]: %s", turn.topic, "; ".join(turn.notes))
        return Reply(
            sentences,
            turn.routing,
            tuple(turn.actions),
            "; ".join(turn.notes),
            turn.end_call,
            turn.topic,
        )

    def _slot(self, topic: str, name: str) -> SlotSpec:
        return next(s for s in self.topics[topic].slots if s.name == name)

    def _values(self, conv: Conversation, topic: TopicSpec) -> _Values:
        values = _Values(company=self.definition.company)
        for slot in topic.slots:
            if slot.name in conv.captured:
                values[slot.name] = conv.captured[slot.name]
                values[f"{slot.name}_spoken"] = spoken_value(slot, conv.captured[slot.name])
        values["caller_name"] = conv.captured.get("name", "").split(" ")[0] or (
            conv.caller.name if conv.caller and conv.caller.name else ""
        )
        return values

    @staticmethod
    def _reference_number(prefix: str, conv: Conversation) -> str:
        """A stable reference for a record made in this call (same call, same number)."""
        seed = f"{prefix}|{conv.reference.isoformat()}|{conv.transcript()}|{sorted(conv.captured.items())}"
        return f"{prefix}-{int(hashlib.sha1(seed.encode()).hexdigest(), 16) % 90000 + 10000}"
