"""The flow responder: a deterministic dialogue engine driven by the agent definition.

Each turn goes through the same steps, and the reply's `plan` says which fired and why:

1. guardrails on the input (a card number is never stored or read back; anger escalates);
2. a pending read-back is answered (yes confirms, no or a new value corrects);
3. a pending offer (times to pick, a yes/no offer, "speak to someone?") is answered;
4. a pending question is answered (the slot is filled from the entities, or the caller changes
   the subject, or we re-prompt and after `max_no_match` failures offer a human);
5. otherwise the understood topic starts: slots are filled from what was already said, the
   first missing one is asked for, and when all are confirmed the topic's action runs and its
   answer is spoken, using captured values and the retrieved knowledge.

Beyond single requests:

- *multi-question turns* (`reply(..., parts=[...])`, split by `Agent`): the informational
  sub-questions are answered in order, then the first one that starts a flow (slot filling,
  an action) is started, so the reply ends with that flow's first prompt; further flows wait
  in `pending_questions`. `conversation.last_reply_questions` maps sub-questions to the reply's
  sentences; `on_interrupted` turns the informational answers the caller did not fully hear
  into `pending_questions`, which are *offered* again ("You also asked: ... Would you like me
  to go over that?") when the current request is done, instead of "anything else?";
- *self-corrections* ("tuesday, no, wednesday") keep the last value, in the entities and in
  the bare answers to a question;
- *card payments on the keypad* (`card_payment` in the definition): "I want to pay my invoice
  by card" asks for the card number on the keypad; `on_dtmf` collects the digits outside the
  conversation, checks them with Luhn on '#', and keeps only the last four and a token;
- *the no-input / no-match ladder*: the 1st time re-prompts, the 2nd offers a person, the 3rd
  ends the call politely (disposition "abandoned").
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workbench.agent.actions import (
    Fields,
    Values,
    WebhookFailed,
    free_times,
    post_webhook,
    render,
)
from workbench.agent.conversation import Conversation
from workbench.agent.definition import (
    ACTION_KINDS,
    UNKNOWN_TOPIC,
    ActionStep,
    AgentDefinition,
    FieldChoice,
    Handoff,
    SlotSpec,
    TopicSpec,
)
from workbench.agent.entities import (
    NOT_NAMES,
    corrected_text,
    extract_entities,
    luhn_valid,
    normalise,
    title_name,
)
from workbench.agent.knowledge import KnowledgeChunk, KnowledgeIndex
from workbench.agent.slot_values import clearly_answered, date_in_parts, find_name, slot_value
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
    conversation_act,
    redact_cards,
    speak_datetime,
    split_sentences,
    spoken_reference,
    spoken_value,
    subject_line,
)
from workbench.agent.tables import Row, find_row
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


# Slot types read by `slot_values` (the older ones by the entities and the rules below).
_TYPED = {
    "date", "date_of_birth", "time", "number", "identifier", "money", "yes_no", "choice",
}  # fmt: skip


def _kind(slot: SlotSpec) -> str:
    """Slot types that read the same words: all dates and times are one kind."""
    return "date" if slot.entity in _DAY_TYPES or slot.entity == "date_of_birth" else slot.entity


def _field_value(value: object, values: dict) -> object:
    """A declared CRM field's value: a template rendered, a choice made, a constant as is."""
    if isinstance(value, FieldChoice):
        return value.values.get(render(value.from_, values), value.default)
    return render(value, values) if isinstance(value, str) else value


def _strip_yes_no(text: str) -> str:
    """'no, it's the tenth of may' -> 'it's the tenth of may' (a correction to a read-back)."""
    return re.sub(r"^\W*(?:(?:yes|yeah|no|nope|sorry|it's|it is)\b\W*)+", "", text, flags=re.I)


@dataclass(frozen=True)
class SubQuestion:
    """One question of a multi-question turn, understood on its own."""

    text: str
    understanding: Understanding
    chunks: list[KnowledgeChunk] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return self.understanding.topic


_PAY = re.compile(r"\b(?:pay|paying|payment|settle)\b")
_CARD = re.compile(r"\b(?:card|credit|debit|visa|mastercard|amex|american express)\b")
_NOT_PAYING = re.compile(r"\b(?:update|change|replace|new|declined|expired|accept|take)\b")
_CANCEL_ENTRY = {"cancel", "stop", "nevermind", "never", "forget"}


def wants_card_payment(text: str) -> bool:
    """'I want to pay my invoice by card', 'can I pay with my credit card' (not 'do you take
    visa' or 'I need to update my card', which are questions for the knowledge base)."""
    lowered = text.lower()
    return bool(_PAY.search(lowered) and _CARD.search(lowered) and not _NOT_PAYING.search(lowered))


_Values = Values
_DAY_TYPES = ("date", "datetime", "time")
_ORDINAL_PICK = re.compile(
    r"\bthe (?:first|second|last|earlier|later|other)(?: one| time)?\b(?! of)"
)
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")


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
        self,
        definition: AgentDefinition,
        knowledge: KnowledgeIndex,
        tables: dict[str, list[Row]] | None = None,
    ) -> None:
        self.definition = definition
        self.knowledge = knowledge
        self.tables = tables or {}  # the rows of the `lookup` steps' tables, by file name
        self.topics = {t.name: t for t in definition.topics}
        self.threshold = definition.understanding.threshold
        # Card digits being typed, by id(conversation): kept out of the Conversation on purpose
        # (it is logged, serialised and shown), and dropped as soon as the entry ends.
        self._card_digits: dict[int, list[str]] = {}

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
        """The caller said nothing: the ladder (re-prompt, offer a person, end politely)."""
        if conv.ended:
            return Reply((), conv.outcome, (), "call already ended", True, conv.topic or "Unknown")
        if conv.stage == "card_entry" and self._card_digits.get(id(conv)):
            # Silence while keys are being pressed is not "no input".
            return Reply(
                (), None, (), "no input ignored: card number being typed", False, conv.topic or ""
            )
        conv.last_reply_questions = []  # this reply answers no question
        turn = _Turn(conv.topic or UNKNOWN_TOPIC)
        self._count_failure(conv)
        g = self.definition.guardrails
        reprompt = [*g.no_input, self._pending_prompt(conv)]
        self._ladder(conv, turn, "no input", reprompt, g.no_input_end)
        return self._finish(conv, turn)

    def reply(
        self,
        conv: Conversation,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        parts: list[SubQuestion] | None = None,
    ) -> Reply:
        """The reply to `text`; `parts` (two or more) when the turn asked several questions."""
        if conv.ended:  # late speech after a goodbye or a transfer: nothing more to say
            return Reply(
                (), conv.outcome, (), "call already ended", True, conv.topic or UNKNOWN_TOPIC
            )
        conv.turn_count += 1
        conv.history.append(("caller", redact_cards(text)))
        conv.last_reply_questions = []
        turn = _Turn(conv.topic or u.topic)
        turn.note(
            f"understood {u.topic} ({u.confidence:.2f}; runner-up {u.runner_up} {u.runner_up_confidence:.2f})"
        )
        if conv.pending_questions:
            turn.note("pending questions: " + " | ".join(conv.pending_questions))
        if parts and len(parts) >= 2 and not self._needs_single_path(text, u):
            self._multi(conv, parts, turn)
        else:
            self._step(conv, text, u, chunks, turn)
        return self._finish(conv, turn)

    def on_interrupted(self, conv: Conversation, sentence_index: int) -> None:
        """The caller barged in during sentence `sentence_index` of the last reply.

        Informational answers of a multi-question reply that were not fully heard become
        `pending_questions` (offered again once the new request is done). Flow prompts are not:
        the flow's own state (the slot asked for) carries on.
        """
        unheard = [
            question
            for question, _, last in conv.last_reply_questions
            if last >= sentence_index and self._is_informational(conv.question_topics.get(question))
        ]
        for question in unheard:
            if question not in conv.pending_questions:
                conv.pending_questions.append(question)
        if unheard:
            log.debug("interrupted at sentence %d; pending: %s", sentence_index, unheard)

    def on_dtmf(self, conv: Conversation, digit: str) -> Reply | None:
        """A keypad key: collected while `secure_input`; the card is checked on '#' (or when
        `card_payment.digits` digits arrived). None while collecting (and outside card entry)."""
        spec = self.definition.card_payment
        if conv.ended or not conv.secure_input or conv.stage != "card_entry" or spec is None:
            return None
        digits = self._card_digits.setdefault(id(conv), [])
        if digit == "*":  # start over
            digits.clear()
            return None
        if digit.isdigit() and len(digit) == 1:
            digits.append(digit)
        if digit != "#" and len(digits) < spec.digits:
            return None
        if not digits:  # '#' alone (or right after 16 digits finished the entry): nothing to check
            return None
        number = "".join(digits)
        digits.clear()
        conv.last_reply_questions = []
        conv.turn_count += 1
        conv.history.append(("caller", "[card number entered on the keypad]"))
        turn = _Turn(spec.topic)
        turn.note(f"keypad entry finished ({len(number)} digits)")
        if 13 <= len(number) <= 19 and luhn_valid(number):
            self._take_payment(conv, number[-4:], turn)
        else:
            self._card_invalid(conv, turn)
        del number
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
        if self._conversation_act(conv, text, turn):
            return
        confident = u.topic != UNKNOWN_TOPIC and u.confidence >= self.threshold
        if (
            u.topic in esc.topics
            and confident
            and answer_kind(text) is None
            and not self._answers_pending_slot(conv, text, u)
        ):
            self._escalate(conv, turn, "caller asked for a person")
            return
        if conv.stage == "pending_offer" and self._on_pending_offer(conv, text, confident, turn):
            return
        if conv.stage == "card_entry":
            self._on_card_entry_speech(conv, text, turn)
        elif conv.confirming and conv.stage != "offer_human":
            self._on_confirmation(conv, text, u, chunks, turn)
        elif conv.stage == "offer_times":
            self._on_time_choice(conv, text, turn)
        elif conv.stage == "yes_no_offer":
            self._on_offer_answer(conv, text, turn)
        elif conv.stage == "offer_human":
            kind = answer_kind(text)
            if kind == "yes":
                self._escalate(conv, turn, "caller accepted the offer of a person")
            elif confident and kind is None:
                conv.stage = None
                self._start(conv, u.topic, text, u, chunks, turn)
            elif kind == "no":
                conv.stage, conv.resume_stage = conv.resume_stage, None
                conv.failed_turns = 0
                prompt = self._pending_prompt(conv)
                if conv.stage == "card_entry":  # back to typing the card number
                    conv.secure_input = True
                    self._card_digits[id(conv)] = []
                turn.say("Okay.", prompt)
                turn.note("caller declined a person; carrying on")
            elif self._answers_pending_slot(conv, text, u):
                # Back after a silence with the answer to the question asked before the offer.
                conv.stage, conv.resume_stage = conv.resume_stage, None
                self._on_slot_answer(conv, text, u, chunks, turn, confident)
            else:
                self._no_match(conv, u, turn)
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
            conv.failed_turns = 0
            turn.note(f"{slot.name} confirmed")
            self._advance(conv, text, u, chunks, turn, fill_from_utterance=False)
        elif kind == "no":
            conv.captured.pop(slot.name, None)
            conv.confirming = None
            conv.pending_slot = slot.name
            turn.say(f"Sorry about that. {slot.reprompt or slot.prompt}")
            turn.note(f"{slot.name} rejected; asking again")
        else:
            if self._count_failure(conv) > self.definition.escalation.max_no_match:
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
        if value is None and slot.entity == "date_of_birth":
            # Said in two goes: "the ninth of May" ... "nineteen seventy two".
            value, conv.partial_date = date_in_parts(text, conv.partial_date, conv.reference)
            if value is None and conv.partial_date:
                turn.say(self.definition.acts.ask_year)
                turn.note(f"{slot.name}: day and month {conv.partial_date}; asking for the year")
                return
        if value:
            conv.partial_date = None
            conv.captured[slot.name] = value
            conv.pending_slot = None
            conv.failed_turns = 0
            turn.note(f"{slot.name} captured: {value}")
            self._advance(conv, text, u, chunks, turn, fill_from_utterance=True, answered=slot)
        elif confident and u.topic != conv.topic and self._is_informational(u.topic):
            # A question in the middle ("are you open saturdays?"): answered, then back.
            spec = self.topics[u.topic]
            chunk = self._pick_chunk(spec, text, chunks)
            if chunk is not None:
                values = self._values(conv, spec)
                values["knowledge"] = chunk.text
                turn.say(*(render(t, values) for t in spec.answer or ["{knowledge}"]))
                turn.actions.append(
                    Action("answer", {"source": chunk.source, "heading": chunk.heading})
                )
            turn.say(self.definition.acts.back_to_question, slot.prompt)
            turn.note(f"digression: answered {u.topic}, back to asking for {slot.name}")
        elif confident and u.topic != conv.topic and u.confidence >= 0.6:
            turn.note(f"caller changed the subject from {conv.topic}")
            self._start(conv, u.topic, text, u, chunks, turn)
        else:
            if self._count_failure(conv) > self.definition.escalation.max_no_match:
                self._escalate(conv, turn, f"could not capture {slot.name}")
                return
            turn.say(slot.reprompt or f"Sorry, I didn't get that. {slot.prompt}")
            turn.note(f"{slot.name} not found in the answer (reprompt {conv.failed_turns})")

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
        conv.failed_turns = 0
        turn.topic = topic
        turn.note(f"start topic {topic}")
        spec = self.definition.card_payment
        if spec and topic == spec.topic and wants_card_payment(text):
            self._start_card_entry(conv, turn)
            return
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
        answered: SlotSpec | None = None,
    ) -> None:
        """Fill, confirm or ask for the next slot; run the action when all are confirmed.
        `answered`: the slot the utterance just answered; its words fill no other slot of the
        same kind (a date of birth is not also the day to book)."""
        topic = self.topics[conv.topic or ""]
        if fill_from_utterance:
            # Callers often say more than was asked ("my app crashes, this is Dana"): a value is
            # kept when its type makes plain which slot it answers, never for every empty slot.
            # A date of birth is never a day to book: only the other date slots compete.
            date_slots = sum(1 for s in topic.slots if s.entity in _DAY_TYPES)
            for slot in topic.slots:
                if answered and _kind(slot) == _kind(answered):
                    continue
                if slot.name not in conv.captured:
                    value = self._fill(slot, text, u, conv.reference, asked=False, first=first)
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
        turn.say(
            render(
                slot.read_back, self._values(conv, self.topics[conv.topic or ""]) | {"value": value}
            )
        )
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
        if slot.entity in _TYPED:
            text = _strip_yes_no(text) if strip_yes_no else text
            return slot_value(slot, text, reference, asked=asked)
        if slot.entity == "person_name":
            introduced = find_name(text, asked=False)  # "it's for Maria Lopez", "this is Dana"
            if introduced and not strip_yes_no:
                return introduced
        if slot.entity == "datetime":
            # Resolve against the call's own reference date, whatever the understanding used.
            entity = next(
                (e for e in extract_entities(text, reference) if e.type == "datetime"), None
            )
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
        if topic.action not in ACTION_KINDS:
            self._run_action(conv, topic, turn)
            return
        values = self._values(conv, topic)  # the one built-in: answer from knowledge
        chunk = self._pick_chunk(topic, text, chunks)
        if chunk is None:
            turn.say("I'm sorry, I don't have that information.")
            turn.say("Would you like me to connect you with a colleague who can help?")
            conv.stage = "offer_human"
            turn.note("no knowledge chunk found: offering a person")
            return
        values["knowledge"] = chunk.text
        turn.actions.append(Action("answer", {"source": chunk.source, "heading": chunk.heading}))
        turn.note(f"answer from {chunk.source} / {chunk.heading} (score {chunk.score})")
        self._complete(conv, topic, values, turn)

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

    # --- endings ----------------------------------------------------------------------------

    def _complete(
        self,
        conv: Conversation,
        topic: TopicSpec,
        values: dict,
        turn: _Turn,
        answer: list[str] | None = None,
        routing: str | None = None,
    ) -> None:
        """The request is done: its answer (the topic's, or a `finish` step's), then "anything
        else?", or the goodbye when it routes to a person or a workflow."""
        routing = routing or topic.routing
        turn.say(*(render(t, values) for t in (topic.answer if answer is None else answer)))
        conv.outcome = routing
        if routing == "ai_resolved":
            self._offer_more(conv, turn)
        else:
            turn.say(self.definition.goodbye)
            turn.routing = routing
            turn.end_call = True
            conv.ended = True
            turn.note(f"handed to {routing}")

    def _offer_more(self, conv: Conversation, turn: _Turn) -> None:
        """Done with a request: offer the questions left unheard, else ask for anything else."""
        conv.pending_slot = None
        conv.confirming = None
        if conv.pending_questions:
            conv.stage = "pending_offer"
            asked = re.sub(r"\bi\b", "I", " and ".join(conv.pending_questions))  # STT is lowercase
            turn.say(f"You also asked: {asked}. Would you like me to go over that?")
            turn.note("offering pending: " + " | ".join(conv.pending_questions))
            return
        conv.stage = "anything_else"
        turn.say(self.definition.anything_else)

    def _goodbye(self, conv: Conversation, turn: _Turn) -> None:
        self._end_card_entry(conv)
        turn.say(self.definition.goodbye)
        turn.routing = conv.outcome or "ai_resolved"
        turn.end_call = True
        conv.ended = True
        turn.note("caller is done")

    def _no_match(self, conv: Conversation, u: Understanding, turn: _Turn) -> None:
        g = self.definition.guardrails
        self._count_failure(conv)
        off_topic = (
            u.topic == UNKNOWN_TOPIC
            and u.runner_up_confidence < self.threshold
            and u.confidence >= 0.5
        )
        what = "guardrail: off-topic refusal" if off_topic else "no match"
        wording = g.off_topic if off_topic else g.no_match
        self._ladder(
            conv, turn, what, wording, g.no_match_end, ["I'm having trouble helping with that."]
        )

    def _ladder(
        self,
        conv: Conversation,
        turn: _Turn,
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
        limit = self.definition.escalation.max_no_match
        if n < limit:
            turn.say(*reprompt)
            turn.note(f"{what} (reprompt {n})")
        elif n == limit:
            if conv.stage != "offer_human":
                conv.resume_stage = conv.stage
            if conv.stage == "card_entry":
                self._end_card_entry(conv)
            conv.stage = "offer_human"
            turn.say(*offer_intro, *self.definition.guardrails.offer_human)
            turn.note(f"{what} {n}: offering a person")
        else:
            self._end_card_entry(conv)
            turn.say(*end)
            turn.end_call = True
            conv.outcome = "abandoned"
            conv.ended = True
            turn.note(f"{what} {n}: ending the call politely")

    def _answers_pending_slot(self, conv: Conversation, text: str, u: Understanding) -> bool:
        if not (conv.pending_slot and conv.topic in self.topics):
            return False
        slot = self._slot(conv.topic or "", conv.pending_slot)
        return self._fill(slot, text, u, conv.reference, asked=True) is not None

    @staticmethod
    def _count_failure(conv: Conversation) -> int:
        """One more turn without progress: counts for the call's re-prompts and the ladder."""
        conv.reprompt_count += 1
        conv.failed_turns += 1
        return conv.failed_turns

    def _pending_prompt(self, conv: Conversation) -> str:
        """What the caller was last asked (for a re-prompt or after declining a person)."""
        stage = conv.resume_stage if conv.stage == "offer_human" else conv.stage
        spec = self.definition.card_payment
        if stage == "card_entry" and spec:
            return spec.prompt
        if conv.confirming and conv.topic in self.topics:
            slot = self._slot(conv.topic, conv.confirming)
            return render(
                slot.read_back, {"value": spoken_value(slot, conv.captured.get(slot.name, ""))}
            )
        if conv.pending_slot and conv.topic in self.topics:
            return self._slot(conv.topic, conv.pending_slot).prompt
        if stage == "yes_no_offer" and conv.action_steps and conv.action_steps[0].offer:
            return conv.action_steps[0].offer.reprompt
        if stage == "pending_offer":
            return "Would you like me to go over your other questions?"
        if stage == "anything_else":
            return self.definition.anything_else
        return "How can I help you today?"

    # --- multi-question turns ---------------------------------------------------------------

    def _needs_single_path(self, text: str, u: Understanding) -> bool:
        """Guardrails look at the whole utterance: a card number or anger is not split up."""
        lowered = text.lower()
        angry = any(k.lower() in lowered for k in self.definition.escalation.angry_keywords)
        return angry or bool(u.entity("card_number")) or self._looks_like_card(text)

    def _is_informational(self, topic: str | None) -> bool:
        spec = self.topics.get(topic or "")
        return bool(spec and spec.action == "answer" and not spec.slots)

    def _is_flow(self, part: SubQuestion) -> bool:
        spec = self.definition.card_payment
        paying = bool(spec and part.topic == spec.topic and wants_card_payment(part.text))
        return paying or not self._is_informational(part.topic)

    def _multi(self, conv: Conversation, parts: list[SubQuestion], turn: _Turn) -> None:
        turn.note(
            f"split into {len(parts)} questions: "
            + " | ".join(f"{p.topic} '{p.text}'" for p in parts)
        )
        for part in parts:
            conv.question_topics[part.text] = part.topic
        self._answer_parts(conv, parts, turn)

    def _answer_parts(self, conv: Conversation, parts: list[SubQuestion], turn: _Turn) -> None:
        """Answer the informational parts in order, then start the first flow (if any)."""
        infos = [p for p in parts if not self._is_flow(p)]
        flows = [p for p in parts if self._is_flow(p)]
        answered: dict[tuple[str, str], tuple[int, int]] = {}
        for part in infos:
            topic = self.topics[part.topic]
            conv.start_topic(part.topic)
            turn.topic = part.topic
            first = len(turn.sentences)
            chunk = self._pick_chunk(topic, part.text, part.chunks)
            if chunk is None:
                turn.say("I'm sorry, I don't have information about that.")
                turn.note(f"no knowledge for '{part.text}'")
            elif (chunk.source, chunk.heading) in answered:
                conv.last_reply_questions.append(
                    (part.text, *answered[chunk.source, chunk.heading])
                )
                turn.note(f"'{part.text}' has the same answer as an earlier question")
                continue
            else:
                values = self._values(conv, topic)
                values["knowledge"] = chunk.text
                turn.say(*(t.format_map(values) for t in topic.answer or ["{knowledge}"]))
                turn.actions.append(
                    Action("answer", {"source": chunk.source, "heading": chunk.heading})
                )
                turn.note(f"answer from {chunk.source} / {chunk.heading} (score {chunk.score})")
                answered[chunk.source, chunk.heading] = (first, len(turn.sentences) - 1)
            conv.last_reply_questions.append((part.text, first, len(turn.sentences) - 1))
        if infos:
            conv.outcome = conv.outcome or "ai_resolved"
        if not flows:
            self._offer_more(conv, turn)
            return
        for later in flows[1:]:  # one flow at a time: the others are offered when it is done
            if later.text not in conv.pending_questions:
                conv.pending_questions.append(later.text)
        if flows[1:]:
            turn.note("pending: " + " | ".join(p.text for p in flows[1:]))
        flow = flows[0]
        first = len(turn.sentences)
        self._start(conv, flow.topic, flow.text, flow.understanding, flow.chunks, turn)
        if len(turn.sentences) > first:
            conv.last_reply_questions.append((flow.text, first, len(turn.sentences) - 1))

    def _on_pending_offer(
        self, conv: Conversation, text: str, confident: bool, turn: _Turn
    ) -> bool:
        """The answer to "You also asked ... would you like me to go over that?".

        True when handled; False when the caller moved on (the offer is dropped and the turn
        goes on as usual).
        """
        pending, conv.pending_questions = conv.pending_questions, []
        conv.stage = None
        kind = answer_kind(text)
        short = not confident or len(text.split()) <= 4
        if kind == "yes" and short:
            turn.note("answering pending: " + " | ".join(pending))
            parts = [
                SubQuestion(
                    q,
                    Understanding(
                        q,
                        conv.question_topics.get(q, UNKNOWN_TOPIC),
                        1.0,
                        UNKNOWN_TOPIC,
                        0.0,
                        extract_entities(q, conv.reference),
                    ),
                )
                for q in pending
                if conv.question_topics.get(q) in self.topics
            ]
            self._answer_parts(conv, parts, turn)
            return True
        if kind == "no" and short:
            turn.say("Okay.")
            turn.note("pending questions declined")
            self._offer_more(conv, turn)
            return True
        turn.note("pending questions dropped: the caller moved on")
        return False

    # --- card payments on the keypad ----------------------------------------------------------

    def _start_card_entry(self, conv: Conversation, turn: _Turn) -> None:
        spec = self.definition.card_payment
        assert spec is not None
        conv.stage = "card_entry"
        conv.secure_input = True
        conv.card_attempts = 0
        if id(conv) not in self._card_digits:
            weakref.finalize(conv, self._card_digits.pop, id(conv), None)
        self._card_digits[id(conv)] = []
        turn.say("Sure.", spec.prompt)
        turn.note("card payment: collecting the card number on the keypad (secure input)")

    def _end_card_entry(self, conv: Conversation) -> None:
        """Leave secure input and forget any digits typed so far."""
        conv.secure_input = False
        self._card_digits.pop(id(conv), None)

    def _on_card_entry_speech(self, conv: Conversation, text: str, turn: _Turn) -> None:
        spec = self.definition.card_payment
        assert spec is not None
        words = set(WORDS.findall(text.lower()))
        if answer_kind(text) == "no" or words & _CANCEL_ENTRY:
            self._end_card_entry(conv)
            conv.stage = None
            turn.say("Okay, I've cancelled the card payment.")
            turn.note("caller cancelled the card payment")
            self._offer_more(conv, turn)
            return
        turn.say(spec.prompt)
        turn.note("card entry: asked again to use the keypad")

    def _take_payment(self, conv: Conversation, last4: str, turn: _Turn) -> None:
        spec = self.definition.card_payment
        assert spec is not None
        token = "tok_" + secrets.token_hex(12)  # random: nothing about the card can be derived
        self._end_card_entry(conv)
        conv.stage = None
        conv.card_attempts = 0
        conv.failed_turns = 0
        conv.captured["card_last4"] = last4
        conv.captured["payment_token"] = token
        turn.actions.append(
            Action("take_payment", {"last4": last4, "token": token}, {"status": "approved"})
        )
        conv.intend(
            "Task",
            Subject="Card payment by phone",
            Description=(
                f"Invoice paid by card ending {last4} (payment token {token}); "
                "number entered on the keypad, not stored"
            ),
            Status="Completed",
        )
        values = _Values(company=self.definition.company, last4=last4)
        values["last4_spoken"] = f"<digits>{last4}</digits>"
        turn.say(*(t.format_map(values) for t in spec.taken))
        turn.note(f"payment taken: card ending {last4}, token {token}")
        conv.outcome = "ai_resolved"
        self._offer_more(conv, turn)

    def _card_invalid(self, conv: Conversation, turn: _Turn) -> None:
        spec = self.definition.card_payment
        assert spec is not None
        conv.card_attempts += 1
        if conv.card_attempts <= spec.max_reentries:
            self._card_digits[id(conv)] = []
            turn.say(spec.invalid)
            turn.note(f"card number not valid (attempt {conv.card_attempts}); asking again")
            return
        self._end_card_entry(conv)
        conv.resume_stage = None
        conv.stage = "offer_human"
        turn.say("I'm sorry, that card number still isn't valid.")
        turn.say(*self.definition.guardrails.offer_human)
        turn.note(f"card number not valid (attempt {conv.card_attempts}); offering a person")

    def _escalate(
        self, conv: Conversation, turn: _Turn, reason: str, say: list[str] | None = None
    ) -> None:
        """To a person as the escalation section says: its queue (the VIP queue, at high
        priority, for a VIP caller) and its wording (or `say`)."""
        self._end_card_entry(conv)
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
        turn.say(*(esc.say if say is None else say))
        turn.routing = "human"
        turn.end_call = True
        conv.outcome = "human"
        conv.ended = True
        turn.note(f"escalate to {queue}: {reason}")

    # --- helpers ----------------------------------------------------------------------------

    def _finish(self, conv: Conversation, turn: _Turn) -> Reply:
        sentences = tuple(redact_cards(s) for s in turn.sentences)
        if sentences and not any(n.startswith(("repeat", "hold on")) for n in turn.notes):
            conv.last_reply = sentences
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
        """Template values: the topic's slots (`{x}` and `{x_spoken}`), times picked from a
        schedule, webhook replies (`{save_as.field}`), `{caller.phone}`, `{call.date}`."""
        values = _Values(company=self.definition.company)
        for name, value in conv.captured.items():
            if name in ("card_last4", "payment_token"):
                continue
            values[name] = value
            values[f"{name}_spoken"] = value
            if _ISO_TIME.match(value):  # a time picked from a schedule
                values[f"{name}_spoken"] = speak_datetime(value)
                values[f"{name}_date"], values[f"{name}_time"] = value[:10], value[11:]
        for slot in topic.slots:
            value = conv.captured.get(slot.name)
            if value is None:
                continue
            values[f"{slot.name}_spoken"] = spoken_value(slot, value)
            if slot.entity == "person_name":  # the CRM's FirstName / LastName
                first, _, last = value.partition(" ")
                values[f"{slot.name}_first"], values[f"{slot.name}_last"] = (
                    (first, last) if last else ("", first)
                )
            elif slot.entity == "text":  # a subject line
                values[f"{slot.name}_short"] = subject_line(value)
        for name in conv.references & conv.captured.keys():
            values[f"{name}_spoken"] = spoken_reference(conv.captured[name])
        values["caller_name"] = conv.captured.get("name", "").split(" ")[0] or (
            conv.caller.name if conv.caller and conv.caller.name else ""
        )
        caller = conv.caller
        values["caller"] = Fields(
            "caller",
            {
                "phone": caller.phone if caller else "",
                "name": (caller.name if caller else None) or conv.captured.get("name", ""),
                "account": (caller.account if caller else None) or "",
                "vip": "true" if caller and caller.vip else "false",
            },
        )
        values["call"] = Fields(
            "call",
            {
                "date": conv.reference.date().isoformat(),
                "time": conv.reference.strftime("%H:%M"),
                "topic": conv.topic or "",
                "transcript": conv.transcript(),
            },
        )
        for name, reply in conv.results.items():
            values[name] = Fields(name, reply)
        return values

    # --- declared actions (`actions:` in the definition) -----------------------------------

    def _run_action(self, conv: Conversation, topic: TopicSpec, turn: _Turn) -> None:
        """Run the steps of the topic's declared action still to run (`conv.action_steps`).
        A step that waits for the caller (times offered, a yes/no offer) stays first in line;
        a branch (a lookup's not_found, an offer's yes or no) runs in place of its step;
        a handoff or end_call ends the call, a finish ends the request."""
        if conv.action != topic.action:
            conv.action = topic.action
            conv.action_steps = list(self.definition.actions[topic.action])
        while conv.action_steps:
            step: ActionStep = conv.action_steps.pop(0)
            values = self._values(conv, topic)
            kind = step.kind
            if kind == "say":
                turn.say(*(render(t, values) for t in step.say or []))
            elif kind == "crm":
                assert step.crm is not None
                fields = {
                    name: _field_value(value, values) for name, value in step.crm.fields.items()
                }
                conv.intend(step.crm.object, **fields)
                turn.actions.append(Action("crm", {"object": step.crm.object, "fields": fields}))
                turn.note(f"{step.crm.object} to write: {fields}")
            elif kind == "webhook":
                if not self._call_webhook(conv, topic, step, values, turn):
                    return
            elif kind == "offer_times":
                if self._offer_times(conv, topic, step, values, turn):
                    conv.action_steps.insert(0, step)  # this step again once the caller picks
                    return
            elif kind == "handoff":
                assert step.handoff is not None
                self._handoff(conv, turn, step.handoff, values)
                return
            elif kind in ("end_call", "finish"):
                ending = step.end_call or step.finish
                assert ending is not None
                self._end_action(conv)
                if step.finish:
                    turn.note("action finishes the request")
                    self._complete(conv, topic, values, turn, ending.say, ending.routing)
                    return
                turn.say(*(render(t, values) for t in ending.say))
                conv.outcome = turn.routing = ending.routing
                turn.end_call = conv.ended = True
                turn.note("action ends the call")
                return
            elif kind == "reference":
                assert step.reference is not None
                number = self._reference_number(step.reference.prefix, conv)
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
        self._end_action(conv)
        self._complete(conv, topic, self._values(conv, topic), turn)

    @staticmethod
    def _end_action(conv: Conversation) -> None:
        conv.action = None
        conv.action_steps = []
        conv.asked_again = {}

    def _lookup(self, conv: Conversation, step: ActionStep, values: dict, turn: _Turn) -> None:
        """Find the row; without one the `not_found` steps run next, in place of this one."""
        lookup = step.lookup
        assert lookup is not None
        key = render(lookup.value, values)
        row = find_row(self.tables.get(lookup.table, []), lookup.column, key)
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
        self, conv: Conversation, topic: TopicSpec, step: ActionStep, values: dict, turn: _Turn
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
        self._count_failure(conv)
        turn.say(*(render(t, values) for t in spec.say or [slot.reprompt or slot.prompt]))
        turn.note(f"asking for {slot.name} again ({asked + 1} of {spec.times})")
        return True

    def _on_offer_answer(self, conv: Conversation, text: str, turn: _Turn) -> None:
        """The caller's answer to an `offer` step: its yes or no steps run, in its place."""
        topic = self.topics[conv.topic or ""]
        offer = conv.action_steps[0].offer if conv.action_steps else None
        if offer is None:  # nothing waits for an answer any more
            conv.stage = None
            self._offer_more(conv, turn)
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
        self._run_action(conv, topic, turn)

    def _call_webhook(
        self, conv: Conversation, topic: TopicSpec, step: ActionStep, values: dict, turn: _Turn
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
                self._escalate(conv, turn, f"webhook failed: {error}")
                return False
            return True
        conv.results[call.save_as] = reply
        turn.actions.append(Action("webhook", {"url": call.url, "sent": payload}, reply))
        turn.note(f"webhook {call.url} replied {reply}")
        return True

    def _offer_times(
        self, conv: Conversation, topic: TopicSpec, step: ActionStep, values: dict, turn: _Turn
    ) -> bool:
        """Offer free times; True when the caller must now pick one."""
        offer = step.offer_times
        assert offer is not None
        schedule = self.definition.schedules[offer.schedule]
        wanted = conv.captured.get(offer.day_slot) if offer.day_slot else None
        if conv.wanted_time:  # "do you have anything at two?"
            day = (wanted or conv.reference.date().isoformat())[:10]
            wanted = f"{day}T{conv.wanted_time}"
        times = free_times(schedule, conv.reference, wanted, offer.count)
        if not times:
            turn.say("I'm sorry, I have no free times to offer.")
            turn.note(f"no free times in schedule {offer.schedule}")
            self._escalate(conv, turn, "no free times")
            return True
        conv.offered = times
        conv.stage = "offer_times"
        spoken = [speak_datetime(t) for t in times]
        values |= {f"time{i + 1}": text for i, text in enumerate(spoken)}
        values["times"] = (
            spoken[0] if len(spoken) == 1 else ", ".join(spoken[:-1]) + ", or " + spoken[-1]
        )
        turn.actions.append(
            Action("offer_times", {"schedule": offer.schedule, "wanted": wanted}, {"times": times})
        )
        turn.say(*(render(t, values) for t in offer.say))
        turn.note(f"offered {', '.join(times)}")
        return True

    def _on_time_choice(self, conv: Conversation, text: str, turn: _Turn) -> None:
        """The caller's answer to offered times: a pick (by its time, "the first", "yes"), or
        another day or time (offered afresh), or "no" (the next free times)."""
        topic = self.topics[conv.topic or ""]
        offer = conv.action_steps[0].offer_times if conv.action_steps else None
        if offer is None:  # nothing is offered any more
            conv.stage = None
            self._offer_more(conv, turn)
            return
        words = set(WORDS.findall(text.lower()))
        if words & GOODBYES and words <= GOODBYES | THANKS | {"ok", "okay", "it"}:
            self._end_action(conv)
            self._goodbye(conv, turn)  # nothing booked: the caller left before picking
            return
        when = next(
            (e for e in extract_entities(text, conv.reference) if e.type == "datetime"), None
        )
        if _ORDINAL_PICK.search(text.lower()):
            when = None  # "the second one" picks an offered time; it is not the 2nd of a month
        said_day = bool(when) and (
            when.value[:10] != conv.reference.date().isoformat()  # type: ignore[union-attr]
            or bool(re.search(r"\b(?:today|tonight)\b", text.lower()))
        )
        said_time = bool(when) and "T" in when.value  # type: ignore[union-attr]
        choice = None
        if said_time and not said_day:
            choice = next((t for t in conv.offered if t[11:16] == when.value[11:16]), None)  # type: ignore[union-attr]
        elif not when and words & SECOND and len(conv.offered) > 1:
            choice = conv.offered[1]
        elif not when and (words & FIRST or answer_kind(text) == "yes"):
            choice = conv.offered[0]
        if choice is None:
            if answer_kind(text) == "no" or when:
                if said_day and offer.day_slot:
                    conv.captured[offer.day_slot] = when.value[:10]  # type: ignore[union-attr]
                if said_time:
                    conv.wanted_time = when.value[11:16]  # type: ignore[union-attr]
                elif not when and conv.offered:  # "no": the times after those offered
                    last = conv.offered[-1]
                    if offer.day_slot:
                        conv.captured[offer.day_slot] = last[:10]
                    conv.wanted_time = f"{int(last[11:13]) + 1:02d}:{last[14:16]}"
                turn.note("caller wants another time")
                conv.stage = None
                self._run_action(conv, topic, turn)
                return
            turn.say(
                "Which would you prefer: "
                + " or ".join(speak_datetime(t) for t in conv.offered)
                + "?"
            )
            turn.note("no time choice heard")
            return
        conv.stage = None
        conv.wanted_time = None
        conv.captured[offer.into] = choice
        conv.action_steps.pop(0)
        turn.note(f"{offer.into} = {choice}")
        self._run_action(conv, topic, turn)

    def _handoff(self, conv: Conversation, turn: _Turn, handoff: Handoff, values: dict) -> None:
        """To a person: the step's queue, or without one the escalation's (`_escalate`)."""
        if handoff.queue is None:  # as the escalation section says (as for an angry caller)
            self._escalate(conv, turn, handoff.reason, handoff.say)
            self._end_action(conv)
            return
        self._end_card_entry(conv)
        queue, priority = handoff.queue, handoff.priority
        captured = ", ".join(f"{k}={v}" for k, v in conv.captured.items()) or "nothing"
        transcript = " | ".join(f"{who}: {text}" for who, text in conv.history)
        summary = redact_cards(
            f"Reason: {handoff.reason}. Topic: {conv.topic or 'none'}. Captured: {captured}. "
            f"Transcript: {transcript}"
        )
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
        wording = self.definition.escalation.say if handoff.say is None else handoff.say
        turn.say(*(render(t, values) for t in wording))
        self._end_action(conv)
        turn.routing = "human"
        turn.end_call = True
        conv.outcome = "human"
        conv.ended = True
        turn.note(f"hand off to {queue} ({priority}; skills {handoff.skills})")

    # --- built-in conversation acts ------------------------------------------------------------

    def _conversation_act(self, conv: Conversation, text: str, turn: _Turn) -> bool:
        """Acknowledgements, thanks, "say that again" and "hold on": understood apart from the
        topics, so they never start one. True when the turn was one of them."""
        act = conversation_act(text)
        if act is None:
            return False
        asking_yes_no = (
            conv.confirming
            or conv.stage not in (None, "anything_else")
            or (
                conv.pending_slot
                and conv.topic in self.topics
                and self._slot(conv.topic, conv.pending_slot).entity == "yes_no"
            )
        )
        acts = self.definition.acts
        if act == "repeat":
            turn.say(*acts.repeat, *conv.last_reply)
            turn.note("repeat: the last reply again")
            return True
        if act == "hold_on":
            turn.say(*acts.hold_on)
            turn.note("hold on: waiting for the caller")
            return True
        if asking_yes_no:
            return False  # "okay" or "thanks" may be the answer
        if act == "thanks":
            if conv.pending_slot:
                turn.say(*acts.thanks, self._pending_prompt(conv))
            elif conv.stage == "anything_else":
                return False  # "thanks, that's all" ends the call as before
            else:
                turn.say(*acts.thanks, "How can I help you today?")
            turn.note("thanks: acknowledged")
            return True
        if act == "acknowledgement" and conv.stage != "anything_else":
            if conv.pending_slot:
                turn.say(self._pending_prompt(conv))
            else:
                turn.say("How can I help you today?")
            turn.note("acknowledgement: no request yet")
            return True
        return False

    @staticmethod
    def _reference_number(prefix: str, conv: Conversation) -> str:
        """A stable reference for a record made in this call (same call, same number)."""
        seed = f"{prefix}|{conv.reference.isoformat()}|{conv.transcript()}|{sorted(conv.captured.items())}"
        return f"{prefix}-{int(hashlib.sha1(seed.encode()).hexdigest(), 16) % 90000 + 10000}"
