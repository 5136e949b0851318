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

This module owns the turn itself (which room a turn goes to), the built-in conversation acts
("say that again", "hold on", thanks) and the ends of a request ("anything else?", goodbye).
The rooms it composes (see the package docstring) own the rest: slots.py (capture and
read-backs), actions.py and times.py (declared actions), escalation.py (the no-input /
no-match ladder: re-prompt, offer a person, end politely with disposition "abandoned"),
multi_question.py (several questions in a turn, answers cut off by a barge-in) and
card_payment.py (a card number on the keypad, checked with Luhn, never stored).
"""

from __future__ import annotations

import re

from workbench.agent.conversation import Conversation
from workbench.agent.definition import UNKNOWN_TOPIC, AgentDefinition, SlotSpec, TopicSpec
from workbench.agent.flow.actions import DeclaredActions
from workbench.agent.flow.card_payment import (
    CardPayment,
    looks_like_card_number,
    wants_card_payment,
)
from workbench.agent.flow.escalation import Escalation, count_failure
from workbench.agent.flow.multi_question import MultiQuestion, SubQuestion
from workbench.agent.flow.reply import Reply, ReplyDraft
from workbench.agent.flow.slots import SlotFilling
from workbench.agent.flow.templates import Values, render, template_values
from workbench.agent.flow.times import TimeOffers
from workbench.agent.knowledge import KnowledgeChunk, KnowledgeIndex
from workbench.agent.speakable import (
    GOODBYES,
    GREETINGS,
    THANKS,
    WORDS,
    answer_kind,
    conversation_act,
    redact_cards,
    spoken_value,
)
from workbench.agent.tables import Row
from workbench.agent.understanding import Understanding


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
        # The rooms; each reaches the others through this responder.
        self.slots = SlotFilling(self)
        self.actions = DeclaredActions(self)
        self.times = TimeOffers(self)
        self.escalation = Escalation(self)
        self.multi = MultiQuestion(self)
        self.card = CardPayment(self)

    # --- entry points ---------------------------------------------------------------------

    def greet(self, conv: Conversation) -> Reply:
        d = self.definition
        caller = conv.caller
        if caller and caller.name and d.greeting_known_caller:
            text = d.greeting_known_caller.format_map(Values(caller_name=caller.name.split()[0]))
        else:
            text = d.greeting.format_map(Values(caller_name=""))
        turn = ReplyDraft(UNKNOWN_TOPIC)
        turn.say(text)
        turn.note("greeting" + (" (known caller)" if caller and caller.name else ""))
        return turn.finish(conv)

    def no_input(self, conv: Conversation) -> Reply:
        """The caller said nothing: the ladder (re-prompt, offer a person, end politely)."""
        if conv.ended:
            return Reply((), conv.outcome, (), "call already ended", True, conv.topic or "Unknown")
        if conv.stage == "card_entry" and self.card.typing(conv):
            # Silence while keys are being pressed is not "no input".
            return Reply(
                (), None, (), "no input ignored: card number being typed", False, conv.topic or ""
            )
        conv.last_reply_questions = []  # this reply answers no question
        turn = ReplyDraft(conv.topic or UNKNOWN_TOPIC)
        count_failure(conv)
        g = self.definition.guardrails
        reprompt = [*g.no_input, self.pending_prompt(conv)]
        self.escalation.ladder(conv, turn, "no input", reprompt, g.no_input_end)
        return turn.finish(conv)

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
        turn = ReplyDraft(conv.topic or u.topic)
        turn.note(
            f"understood {u.topic} ({u.confidence:.2f}; runner-up {u.runner_up} {u.runner_up_confidence:.2f})"
        )
        if conv.pending_questions:
            turn.note("pending questions: " + " | ".join(conv.pending_questions))
        if parts and len(parts) >= 2 and not self.multi.needs_single_path(text, u):
            self.multi.answer(conv, parts, turn)
        else:
            self._step(conv, text, u, chunks, turn)
        return turn.finish(conv)

    def on_interrupted(self, conv: Conversation, sentence_index: int) -> None:
        """The caller barged in during sentence `sentence_index` of the last reply
        (`MultiQuestion.on_interrupted`: unheard answers are offered again later)."""
        self.multi.on_interrupted(conv, sentence_index)

    def on_dtmf(self, conv: Conversation, digit: str) -> Reply | None:
        """A keypad key (`CardPayment.on_dtmf`): None while collecting and outside card entry."""
        turn = self.card.on_dtmf(conv, digit)
        return None if turn is None else turn.finish(conv)

    # --- the turn -------------------------------------------------------------------------

    def _step(
        self,
        conv: Conversation,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: ReplyDraft,
    ) -> None:
        esc = self.definition.escalation
        lowered = text.lower()
        words = set(WORDS.findall(lowered))
        if u.entity("card_number") or looks_like_card_number(text):
            turn.say(*self.definition.guardrails.card_numbers)
            turn.note("guardrail: card number not stored or read back")
        angry = next((k for k in esc.angry_keywords if k.lower() in lowered), None)
        if angry:
            self.escalation.escalate(conv, turn, f"caller upset (said '{angry}')")
            return
        if self._conversation_act(conv, text, turn):
            return
        confident = u.topic != UNKNOWN_TOPIC and u.confidence >= self.threshold
        if (
            u.topic in esc.topics
            and confident
            and answer_kind(text) is None
            and not self.slots.answers_pending_slot(conv, text, u)
        ):
            self.escalation.escalate(conv, turn, "caller asked for a person")
            return
        if conv.stage == "pending_offer" and self.multi.on_pending_offer(
            conv, text, confident, turn
        ):
            return
        if conv.stage == "card_entry":
            self.card.on_speech(conv, text, turn)
        elif conv.confirming and conv.stage != "offer_human":
            self.slots.on_confirmation(conv, text, u, chunks, turn)
        elif conv.stage == "offer_times":
            self.times.on_choice(conv, text, turn)
        elif conv.stage == "yes_no_offer":
            self.actions.on_offer_answer(conv, text, turn)
        elif conv.stage == "offer_human":
            self._on_offer_human(conv, text, u, chunks, turn, confident)
        elif conv.pending_slot and conv.topic:
            self.slots.on_slot_answer(conv, text, u, chunks, turn, confident)
        elif (
            conv.stage == "anything_else"
            and answer_kind(text) == "no"
            and (not confident or len(text.split()) <= 4)
        ):
            self.goodbye(conv, turn)
        elif conv.stage == "anything_else" and answer_kind(text) == "yes" and not confident:
            conv.stage = None
            turn.say("Sure. What else can I help you with?")
            turn.note("caller has another request")
        elif words & GOODBYES and words <= GOODBYES | THANKS | {"ok", "okay", "it"}:
            self.goodbye(conv, turn)
        elif words and words <= GREETINGS:
            turn.say("Hello! How can I help you today?")
            turn.note("small talk: greeting returned")
        elif confident:
            self.start(conv, u.topic, text, u, chunks, turn)
        else:
            self.escalation.no_match(conv, u, turn)

    def _on_offer_human(
        self,
        conv: Conversation,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: ReplyDraft,
        confident: bool,
    ) -> None:
        """The answer to "would you like to speak to someone?"."""
        kind = answer_kind(text)
        if kind == "yes":
            self.escalation.escalate(conv, turn, "caller accepted the offer of a person")
        elif confident and kind is None:
            conv.stage = None
            self.start(conv, u.topic, text, u, chunks, turn)
        elif kind == "no":
            conv.stage, conv.resume_stage = conv.resume_stage, None
            conv.failed_turns = 0
            prompt = self.pending_prompt(conv)
            if conv.stage == "card_entry":  # back to typing the card number
                self.card.resume(conv)
            turn.say("Okay.", prompt)
            turn.note("caller declined a person; carrying on")
        elif self.slots.answers_pending_slot(conv, text, u):
            # Back after a silence with the answer to the question asked before the offer.
            conv.stage, conv.resume_stage = conv.resume_stage, None
            self.slots.on_slot_answer(conv, text, u, chunks, turn, confident)
        else:
            self.escalation.no_match(conv, u, turn)

    def start(
        self,
        conv: Conversation,
        topic: str,
        text: str,
        u: Understanding,
        chunks: list[KnowledgeChunk],
        turn: ReplyDraft,
    ) -> None:
        """A new request: the topic's slots are filled from what was said, or asked for."""
        conv.start_topic(topic)
        conv.failed_turns = 0
        turn.topic = topic
        turn.note(f"start topic {topic}")
        spec = self.definition.card_payment
        if spec and topic == spec.topic and wants_card_payment(text):
            self.card.start(conv, turn)
            return
        self.slots.advance(conv, text, u, chunks, turn, fill_from_utterance=True, first=True)

    # --- endings ----------------------------------------------------------------------------

    def complete(
        self,
        conv: Conversation,
        topic: TopicSpec,
        values: dict,
        turn: ReplyDraft,
        answer: list[str] | None = None,
        routing: str | None = None,
    ) -> None:
        """The request is done: its answer (the topic's, or a `finish` step's), then "anything
        else?", or the goodbye when it routes to a person or a workflow."""
        routing = routing or topic.routing
        conv.mark_done(topic.name)
        turn.say(*(render(t, values) for t in (topic.answer if answer is None else answer)))
        conv.outcome = routing
        if routing == "ai_resolved":
            self.offer_more(conv, turn)
        else:
            turn.say(self.definition.goodbye)
            turn.routing = routing
            turn.end_call = True
            conv.ended = True
            turn.note(f"handed to {routing}")

    def offer_more(self, conv: Conversation, turn: ReplyDraft) -> None:
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

    def goodbye(self, conv: Conversation, turn: ReplyDraft) -> None:
        self.card.end(conv)
        turn.say(self.definition.goodbye)
        turn.routing = conv.outcome or "ai_resolved"
        turn.end_call = True
        conv.ended = True
        turn.note("caller is done")

    # --- what the rooms share ------------------------------------------------------------------

    def slot(self, topic: str, name: str) -> SlotSpec:
        return next(s for s in self.topics[topic].slots if s.name == name)

    def values(self, conv: Conversation, topic: TopicSpec) -> Values:
        """Template values for `topic` (`templates.template_values`)."""
        return template_values(conv, topic, self.definition.company)

    def is_informational(self, topic: str | None) -> bool:
        """The topic only answers from knowledge (no slots, no declared action)."""
        spec = self.topics.get(topic or "")
        return bool(spec and spec.action == "answer" and not spec.slots)

    def pick_chunk(
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

    def pending_prompt(self, conv: Conversation) -> str:
        """What the caller was last asked (for a re-prompt or after declining a person)."""
        stage = conv.resume_stage if conv.stage == "offer_human" else conv.stage
        spec = self.definition.card_payment
        if stage == "card_entry" and spec:
            return spec.prompt
        if conv.confirming and conv.topic in self.topics:
            slot = self.slot(conv.topic, conv.confirming)
            return render(
                slot.read_back, {"value": spoken_value(slot, conv.captured.get(slot.name, ""))}
            )
        if conv.pending_slot and conv.topic in self.topics:
            return self.slot(conv.topic, conv.pending_slot).prompt
        if stage == "yes_no_offer" and conv.action_steps and conv.action_steps[0].offer:
            return conv.action_steps[0].offer.reprompt
        if stage == "pending_offer":
            return "Would you like me to go over your other questions?"
        if stage == "anything_else":
            return self.definition.anything_else
        return "How can I help you today?"

    # --- built-in conversation acts ------------------------------------------------------------

    def _conversation_act(self, conv: Conversation, text: str, turn: ReplyDraft) -> bool:
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
                and self.slot(conv.topic, conv.pending_slot).entity == "yes_no"
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
                turn.say(*acts.thanks, self.pending_prompt(conv))
            elif conv.stage == "anything_else":
                return False  # "thanks, that's all" ends the call as before
            else:
                turn.say(*acts.thanks, "How can I help you today?")
            turn.note("thanks: acknowledged")
            return True
        if act == "acknowledgement" and conv.stage != "anything_else":
            if conv.pending_slot:
                turn.say(self.pending_prompt(conv))
            else:
                turn.say("How can I help you today?")
            turn.note("acknowledgement: no request yet")
            return True
        return False
