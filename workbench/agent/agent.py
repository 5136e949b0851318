"""`load_agent` and `Agent`: a loaded agent definition with its classifier, index and responder."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

from workbench.agent.conversation import CallerContext, Conversation
from workbench.agent.definition import (
    UNKNOWN_TOPIC,
    AgentDefinition,
    load_definition,
    walk_steps,
)
from workbench.agent.flow.multi_question import SubQuestion
from workbench.agent.flow.reply import Reply
from workbench.agent.flow.responder import FlowResponder
from workbench.agent.knowledge import KnowledgeChunk, KnowledgeIndex
from workbench.agent.questions import MIN_CONFIDENCE, split_questions
from workbench.agent.tables import Row, columns, load_table
from workbench.agent.understanding import (
    TopicClassifier,
    Understanding,
    import_sklearn,
    understand,
)
from workbench.errors import InputFileError
from workbench.yamlfile import did_you_mean, format_location, read_yaml

log = logging.getLogger(__name__)

# How callers answer the agent's questions, for the STT domain language model.
SLOT_PHRASES: dict[str, list[str]] = {  # more are added by name/email/digit_phrases()
    "person_name": ["my name is", "this is", "it's", "my first name is", "my last name is"],
    "email": [
        "my email is", "my email address is", "at gmail dot com", "at outlook dot com",
        "at example dot com", "dot com", "dot org", "dot net", "dot io", "underscore", "dash",
    ],
    "datetime": [
        "today", "tomorrow", "tomorrow morning", "tomorrow afternoon", "next week",
        "monday", "tuesday", "wednesday", "thursday", "friday", "next monday", "next tuesday",
        "next wednesday", "next thursday", "next friday", "in the morning", "in the afternoon",
        "at nine am", "at ten am", "at eleven am", "at noon", "at one pm", "at two pm",
        "at three pm", "at four pm", "the first one", "the second one", "the earlier one",
        "the later one",
    ],
    "order_number": ["my order number is", "order n w", "it's n w"],
    "address": [
        "our new address is", "main street", "avenue", "road", "boulevard", "suite",
        "we moved to", "in seattle", "in portland", "in san francisco",
    ],
    "phone": ["my number is", "you can reach me at", "area code"],
    "text": ["it's not working", "i get an error", "it keeps crashing", "since this morning"],
    "time": [
        "at nine am", "at ten thirty", "at two pm", "at three thirty pm", "around noon",
        "in the morning", "in the afternoon", "half past two",
    ],
    "yes_no": ["yes", "no", "yes I do", "no I don't"],
    "money": ["fifty dollars", "one hundred dollars", "twenty five dollars and fifty cents"],
    "number": ["one", "two", "three", "just one", "two of us", "three people"],
    "identifier": ["my member id is", "it's a b c", "the number is"],
}  # fmt: skip
SLOT_PHRASES["date"] = SLOT_PHRASES["datetime"] + [
    "the ninth of may",
    "december the third",
    "january fifteenth",
    "on the twentieth",
]
# Dates of birth: day, month and year as callers say them ("the ninth of May nineteen
# seventy two"): without them the recogniser hears no year at all.
SLOT_PHRASES["date_of_birth"] = [
    f"{day} of {month} nineteen {decade}"
    for day, month, decade in zip(
        ["the first", "the ninth", "the twelfth", "the twentieth", "the third", "the fifteenth",
         "the twenty first", "the thirtieth", "the seventh", "the second", "the eleventh",
         "the sixth"],
        ["january", "february", "march", "april", "may", "june", "july", "august",
         "september", "october", "november", "december"],
        ["seventy two", "eighty five", "sixty one", "ninety", "fifty eight", "seventy nine",
         "eighty", "ninety nine", "sixty six", "seventy", "eighty eight", "ninety three"],
        strict=True,
    )
] + [
    "my date of birth is", "i was born on", "march third two thousand", "born in nineteen",
    "two thousand and five", "two thousand twelve", "the twelfth of march two thousand fifteen",
    "two thousand ten", "two thousand eighteen", "two thousand twenty",
]  # fmt: skip
ANSWER_PHRASES = [
    "yes", "no", "yes please", "no thanks", "that's right", "that's correct", "correct",
    "that's wrong", "no that's all", "no thank you bye", "goodbye", "thank you",
    # Interruptions, which callers say over the agent: the judge must hear them.
    "yeah but", "yeah but what about", "okay but", "wait", "wait a second", "hold on",
    "hang on", "sorry", "actually", "excuse me", "no no",
]  # fmt: skip
# Acknowledgements callers make while the agent talks. Said far more often than any one
# question, so they weigh more in the language model (ACKNOWLEDGEMENT_WEIGHT copies): heard
# as themselves rather than as "and the" or "anna my", the judge lets them pass.
ACKNOWLEDGEMENT_PHRASES = [
    "uh huh", "uh-huh", "mhm", "hmm", "mm", "yeah", "yeah okay", "okay", "right", "sure",
    "got it", "i see", "yeah right", "okay thanks", "alright", "all right", "oh okay",
    "okay great", "great", "cool", "makes sense", "right right", "yeah yeah", "yep", "yes",
    "uh huh right", "okay got it", "sounds good",
]  # fmt: skip
ACKNOWLEDGEMENT_WEIGHT = 3

# How callers correct themselves ("tuesday, no, wednesday"), so the markers are recognised.
CORRECTION_PHRASES = [
    "no sorry", "sorry i mean", "i mean", "no wait", "actually", "or rather", "make that",
    "no it's", "no sorry it's",
]  # fmt: skip
# Asking to pay by card (keypad entry), when the agent takes card payments.
PAYMENT_PHRASES = [
    "i want to pay my invoice by card", "can i pay with my credit card", "i'd like to pay by card",
    "pay my bill with a credit card", "i want to make a payment",
]  # fmt: skip

# Names, digits and spellings callers give when asked: without them in the language model
# the recogniser cannot hear "dana whitfield" or "four eight two one three" at all.
FIRST_NAMES = """james mary john patricia robert jennifer michael linda david elizabeth william
    barbara richard susan joseph jessica thomas sarah charles karen daniel lisa matthew nancy
    anthony betty mark sandra steven ashley paul emily andrew donna joshua michelle kevin carol
    brian amanda george melissa dana marcus priya tom elena oliver sam jordan chris aisha ben
    alex maria anna peter laura""".split()
LAST_NAMES = """smith johnson williams brown jones garcia miller davis rodriguez martinez
    hernandez lopez gonzalez wilson anderson thomas taylor moore jackson martin lee thompson
    white harris clark lewis robinson walker young allen king wright scott green baker adams
    nelson hill whitfield raman becker ortiz nolan khan carter""".split()
DIGIT_WORDS = "zero oh one two three four five six seven eight nine".split()


def name_phrases() -> list[str]:
    phrases = [
        f"my name is {first} {last}"
        for first, last in zip(FIRST_NAMES, LAST_NAMES * 2, strict=False)
    ]
    phrases += [f"this is {f}" for f in FIRST_NAMES]
    phrases += [
        f"{first} {last}" for first, last in zip(FIRST_NAMES[::-1], LAST_NAMES, strict=False)
    ]
    return phrases


def email_phrases() -> list[str]:
    domains = ["example dot com", "gmail dot com", "outlook dot com", "yahoo dot com"]
    return [f"{f} at {domains[i % len(domains)]}" for i, f in enumerate(FIRST_NAMES)] + [
        f"{first} dot {last} at example dot com"
        for first, last in zip(FIRST_NAMES[:20], LAST_NAMES, strict=False)
    ]


def digit_phrases() -> list[str]:
    """Digit strings in every order, so any sequence is a likely path through the model."""
    phrases = [" ".join(DIGIT_WORDS[(i + k) % 11] for k in range(5)) for i in range(11)]
    phrases += [" ".join(DIGIT_WORDS[(i * 3 + k * 7) % 11] for k in range(4)) for i in range(11)]
    return phrases + [f"it is {p}" for p in phrases[:6]] + [f"n w {p}" for p in phrases[:6]]


class Agent:
    """A voice agent ready to take calls: understands, retrieves, and replies turn by turn."""

    def __init__(self, directory: Path, definition: AgentDefinition) -> None:
        self.directory = directory
        self.definition = definition
        self.name = definition.name
        self.company = definition.company
        self.persona = definition.persona
        self.voice = definition.voice
        self.greeting = definition.greeting
        self.lexicon_path = self._relative_file(definition.lexicon, "lexicon")
        self.tables = self._load_tables(definition)
        self.topics: tuple[str, ...] = tuple(t.name for t in definition.topics) + (UNKNOWN_TOPIC,)
        import_sklearn()
        started, started_cpu = time.perf_counter(), time.process_time()
        examples = {t.name: t.examples for t in definition.topics}
        if definition.understanding.unknown_examples:
            examples[UNKNOWN_TOPIC] = definition.understanding.unknown_examples
        self.classifier = TopicClassifier(examples, definition.understanding.threshold)
        # Training cost alone (wall and CPU time), without the one-off scikit-learn import.
        self.train_seconds = time.perf_counter() - started
        self.train_cpu_seconds = time.process_time() - started_cpu
        knowledge_dir = directory / "knowledge"
        self.knowledge = (
            KnowledgeIndex.from_directory(knowledge_dir)
            if knowledge_dir.is_dir()
            else KnowledgeIndex([])
        )
        self.responder = FlowResponder(definition, self.knowledge, self.tables)
        log.info("agent %s: classifier trained in %.0f ms", self.name, self.train_seconds * 1000)

    def _relative_file(self, name: str | None, field: str) -> Path | None:
        if not name:
            return None
        path = (self.directory / name).resolve()
        if not path.is_file():
            raise InputFileError(
                f"{self.directory / 'agent.yaml'}: {field}: file not found: {path}"
            )
        return path

    def _load_tables(self, definition: AgentDefinition) -> dict[str, list[Row]]:
        """The tables of the agent's `lookup` steps, by their file name as written."""
        tables: dict[str, list[Row]] = {}
        for name, steps in definition.actions.items():
            for loc, step in walk_steps(steps, ("actions", name)):
                lookup = step.lookup
                if lookup is None:
                    continue
                where = format_location((*loc, "lookup"))
                if lookup.table not in tables:
                    path = self._relative_file(lookup.table, f"{where}.table")
                    assert path is not None
                    tables[lookup.table] = load_table(path)
                known = columns(tables[lookup.table])
                if lookup.column not in known:
                    raise InputFileError(
                        f"{self.directory / 'agent.yaml'}: {where}.column: no column "
                        f"{lookup.column!r} in {lookup.table}{did_you_mean(lookup.column, known)}"
                    )
        return tables

    def domain_sentences(self) -> list[str]:
        """Text for the STT domain language model: examples, prompts, answers and lexicon words."""
        d = self.definition
        sentences: list[str] = []
        for topic in d.topics:
            sentences += topic.examples
            sentences += [slot.prompt for slot in topic.slots]
            sentences += topic.answer
        for steps in d.actions.values():  # what the agent's actions say (offers, results)
            for _, step in walk_steps(steps):
                for said in (
                    step.say,
                    step.offer and step.offer.say,
                    step.finish and step.finish.say,
                ):
                    sentences += said or []
        sentences += d.understanding.unknown_examples
        entities = {slot.entity for topic in d.topics for slot in topic.slots}
        for entity in sorted(entities):
            sentences += SLOT_PHRASES.get(entity, [])
        if "person_name" in entities:
            sentences += name_phrases()
        if "email" in entities:
            sentences += email_phrases()
        if entities & {"order_number", "phone", "card_number", "identifier", "number"}:
            sentences += digit_phrases()
        for steps in d.actions.values():  # the keys callers look up: "order number NW-48213"
            for _, step in walk_steps(steps):
                if step.lookup:
                    label = f"{step.lookup.into} {step.lookup.column}".replace("_", " ")
                    rows = self.tables.get(step.lookup.table, [])
                    sentences += [f"{label} {row.get(step.lookup.column)}" for row in rows]
        for topic in d.topics:  # the values a choice slot offers, as callers say them
            for slot in topic.slots:
                sentences += [f"{choice}" for choice in slot.choices]
                sentences += [f"a {choice} please" for choice in slot.choices]
        sentences += ANSWER_PHRASES
        sentences += ACKNOWLEDGEMENT_PHRASES * ACKNOWLEDGEMENT_WEIGHT
        sentences += CORRECTION_PHRASES
        # Anger must be heard to be escalated: "this is ridiculous" is in no example.
        sentences += [f"this is {k}" for k in d.escalation.angry_keywords]
        sentences += list(d.escalation.angry_keywords)
        if d.card_payment:
            sentences += PAYMENT_PHRASES
        sentences += [chunk.text for chunk in self.knowledge.chunks]
        sentences += self.vocabulary()
        return [s for s in sentences if "{" not in s]

    def vocabulary(self) -> list[str]:
        """The agent's own words, for both ears: its declared vocabulary (names and products
        a caller may say), its company, the choices its slots offer ("tune-up" was heard as
        "tuner" without them) and the words of its pronunciation lexicon."""
        terms = [*self.definition.vocabulary, self.definition.company]
        for topic in self.definition.topics:
            for slot in topic.slots:
                terms += slot.choices
        if self.lexicon_path:
            data = read_yaml(self.lexicon_path, "lexicon", tree=False)[0] or {}
            terms += [str(word) for word in (data.get("words") or {})]
        return terms

    def understand(self, text: str, *, reference: datetime | None = None) -> Understanding:
        """Topic (calibrated confidence, "Unknown" below the threshold) and entities of `text`."""
        return understand(self.classifier, text, reference)

    def retrieve(self, text: str, k: int = 3) -> list[KnowledgeChunk]:
        """The `k` knowledge chunks that best match `text` (BM25)."""
        return self.knowledge.search(text, k)

    def new_conversation(
        self, caller: CallerContext | None = None, *, reference: datetime | None = None
    ) -> Conversation:
        """Fresh per-call state; relative dates resolve against `reference` (default: now)."""
        return Conversation(caller=caller, reference=reference or datetime.now())

    def greet(self, conversation: Conversation) -> Reply:
        return self.responder.greet(conversation)

    def reply(
        self,
        conversation: Conversation,
        text: str,
        understanding: Understanding,
        chunks: list[KnowledgeChunk],
    ) -> Reply:
        """The next reply of the flow responder (mutates `conversation`).

        A turn that asks several questions ("what are your hours and can I change my address")
        is split (`split_turn`) and answered part by part in this one reply.
        """
        parts = self.split_turn(conversation, text)
        return self.responder.reply(conversation, text, understanding, chunks, parts)

    def split_turn(self, conversation: Conversation, text: str) -> list[SubQuestion] | None:
        """The sub-questions of `text`, each understood on its own; None for a single request.

        Only a caller free to ask (no read-back, question or offer pending) is split. Pieces no
        topic claims confidently ("my name is dana") are merged into the piece before them (or
        after, for the first); pieces of the same slot-filling topic are merged so the flow sees
        everything the caller said about it.
        """
        c = conversation
        if c.ended or c.confirming or c.pending_slot or c.stage not in (None, "anything_else"):
            return None
        pieces = split_questions(text)
        if len(pieces) < 2:
            return None
        threshold = max(self.definition.understanding.threshold, MIN_CONFIDENCE)
        kept: list[str] = []
        orphans: list[str] = []  # pieces before the first confident one
        for piece in pieces:
            u = self.understand(piece, reference=c.reference)
            if u.topic != UNKNOWN_TOPIC and u.confidence >= threshold:
                kept.append(" ".join([*orphans, piece]))
                orphans = []
            elif kept:
                kept[-1] += " " + piece
            else:
                orphans.append(piece)
        if orphans and kept:
            kept[-1] += " " + " ".join(orphans)
        parts: list[SubQuestion] = []
        for piece in kept:
            u = self.understand(piece, reference=c.reference)
            same = next((p for p in parts if p.topic == u.topic), None)
            if same is not None and not self.responder.is_informational(u.topic):
                merged = f"{same.text} and {piece}"
                u = self.understand(merged, reference=c.reference)
                parts[parts.index(same)] = SubQuestion(merged, u, self.retrieve(merged))
                continue
            parts.append(SubQuestion(piece, u, self.retrieve(piece)))
        return parts if len(parts) >= 2 else None

    def no_input(self, conversation: Conversation) -> Reply:
        """Reply when the caller said nothing: re-prompt, then offer a person, then end politely."""
        return self.responder.no_input(conversation)

    def on_interrupted(self, conversation: Conversation, sentence_index: int) -> None:
        """The caller barged in while sentence `sentence_index` (0-based) of the last reply was
        being said; answers not fully heard become `conversation.pending_questions`."""
        self.responder.on_interrupted(conversation, sentence_index)

    def on_dtmf(self, conversation: Conversation, digit: str) -> Reply | None:
        """A keypad key ('0'-'9', '*', '#'). While a card number is collected
        (`conversation.secure_input`) returns None until '#' (or 16 digits), then the reply
        (payment taken with the last four only, or asked to re-enter); None outside card entry."""
        return self.responder.on_dtmf(conversation, digit)

    def respond(self, conversation: Conversation, text: str) -> tuple[Understanding, Reply]:
        """Understand, retrieve and reply in one call (chat, tests); dates relative to the call."""
        understanding = self.understand(text, reference=conversation.reference)
        return understanding, self.reply(conversation, text, understanding, self.retrieve(text))


def load_agent(path: Path | str) -> Agent:
    """Load the agent in directory `path` (agent.yaml + knowledge/*.md); errors name file and line."""
    directory = Path(path)
    if directory.is_file():
        directory = directory.parent
    definition_path = directory / "agent.yaml"
    if not definition_path.is_file():
        raise InputFileError(f"{directory}: no agent.yaml in the agent directory")
    return Agent(directory, load_definition(definition_path))
