"""Several questions in one turn, and answers the caller did not hear (cut off by a barge-in).

Apart because it answers around the single-request flow: the informational sub-questions are
answered in order, then the first one that starts a flow (slot filling, an action) is started,
so the reply ends with that flow's first prompt; further flows wait in `pending_questions`.
`conversation.last_reply_questions` maps sub-questions to the reply's sentences, so that
`on_interrupted` can turn the answers not fully heard into `pending_questions`, offered again
("You also asked: ... Would you like me to go over that?") once the current request is done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workbench.agent.conversation import Conversation
from workbench.agent.definition import UNKNOWN_TOPIC
from workbench.agent.entities import extract_entities
from workbench.agent.flow.card_payment import looks_like_card_number, wants_card_payment
from workbench.agent.flow.reply import Action, ReplyDraft
from workbench.agent.knowledge import KnowledgeChunk
from workbench.agent.speakable import answer_kind
from workbench.agent.understanding import Understanding

if TYPE_CHECKING:
    from workbench.agent.flow.responder import FlowResponder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubQuestion:
    """One question of a multi-question turn, understood on its own."""

    text: str
    understanding: Understanding
    chunks: list[KnowledgeChunk] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return self.understanding.topic


class MultiQuestion:
    """Answers a turn split into sub-questions and keeps track of the ones left unheard."""

    def __init__(self, flow: FlowResponder) -> None:
        self.flow = flow

    def needs_single_path(self, text: str, u: Understanding) -> bool:
        """Guardrails look at the whole utterance: a card number or anger is not split up."""
        lowered = text.lower()
        angry = any(k.lower() in lowered for k in self.flow.definition.escalation.angry_keywords)
        return angry or bool(u.entity("card_number")) or looks_like_card_number(text)

    def is_flow(self, part: SubQuestion) -> bool:
        """The sub-question starts a flow (slots, an action, a card payment), not an answer."""
        spec = self.flow.definition.card_payment
        paying = bool(spec and part.topic == spec.topic and wants_card_payment(part.text))
        return paying or not self.flow.is_informational(part.topic)

    def answer(self, conv: Conversation, parts: list[SubQuestion], turn: ReplyDraft) -> None:
        turn.note(
            f"split into {len(parts)} questions: "
            + " | ".join(f"{p.topic} '{p.text}'" for p in parts)
        )
        for part in parts:
            conv.question_topics[part.text] = part.topic
        self._answer_parts(conv, parts, turn)

    def _answer_parts(self, conv: Conversation, parts: list[SubQuestion], turn: ReplyDraft) -> None:
        """Answer the informational parts in order, then start the first flow (if any)."""
        flow = self.flow
        infos = [p for p in parts if not self.is_flow(p)]
        flows = [p for p in parts if self.is_flow(p)]
        answered: dict[tuple[str, str], tuple[int, int]] = {}
        for part in infos:
            topic = flow.topics[part.topic]
            conv.start_topic(part.topic)
            turn.topic = part.topic
            first = len(turn.sentences)
            chunk = flow.pick_chunk(topic, part.text, part.chunks)
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
                values = flow.values(conv, topic)
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
            flow.offer_more(conv, turn)
            return
        for later in flows[1:]:  # one flow at a time: the others are offered when it is done
            if later.text not in conv.pending_questions:
                conv.pending_questions.append(later.text)
        if flows[1:]:
            turn.note("pending: " + " | ".join(p.text for p in flows[1:]))
        first_flow = flows[0]
        first = len(turn.sentences)
        flow.start(
            conv,
            first_flow.topic,
            first_flow.text,
            first_flow.understanding,
            first_flow.chunks,
            turn,
        )
        if len(turn.sentences) > first:
            conv.last_reply_questions.append((first_flow.text, first, len(turn.sentences) - 1))

    def on_pending_offer(
        self, conv: Conversation, text: str, confident: bool, turn: ReplyDraft
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
                if conv.question_topics.get(q) in self.flow.topics
            ]
            self._answer_parts(conv, parts, turn)
            return True
        if kind == "no" and short:
            turn.say("Okay.")
            turn.note("pending questions declined")
            self.flow.offer_more(conv, turn)
            return True
        turn.note("pending questions dropped: the caller moved on")
        return False

    def on_interrupted(self, conv: Conversation, sentence_index: int) -> None:
        """The caller barged in during sentence `sentence_index` of the last reply.

        Informational answers of a multi-question reply that were not fully heard become
        `pending_questions` (offered again once the new request is done). Flow prompts are not:
        the flow's own state (the slot asked for) carries on.
        """
        unheard = [
            question
            for question, _, last in conv.last_reply_questions
            if last >= sentence_index
            and self.flow.is_informational(conv.question_topics.get(question))
        ]
        for question in unheard:
            if question not in conv.pending_questions:
                conv.pending_questions.append(question)
        if unheard:
            log.debug("interrupted at sentence %d; pending: %s", sentence_index, unheard)
