"""The agent definition format (`agent.yaml`) and its loading with file/line/field errors.

The YAML is validated by pydantic models that forbid unknown keys. Pydantic reports a problem
as a location such as `("topics", 2, "slots", 0, "confirm")`; we walk the same location through
the YAML node tree (`yaml.compose`) to find the line the person has to fix, so every error reads
like `agent.yaml:41: topics[2].slots[0].confirm: Input should be 'spell', 'digits', ...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from workbench.errors import InputFileError
from workbench.yamlfile import read_yaml, validation_problems

ENTITY_TYPES = (
    "person_name",
    "email",
    "phone",
    "datetime",
    "order_number",
    "card_number",
    "address",
    "text",  # the caller's own words (a problem description)
)
ACTION_KINDS = (
    "book_demo",
    "open_case",
    "lookup_order",
    "change_address",
    "cancel_subscription",
    "escalate",
    "answer",
)
# Templates an action needs besides `answer` (its say-what-happened template).
ACTION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "book_demo": ("offer",),
    "lookup_order": ("not_found",),
    "cancel_subscription": ("retention_offer", "retention_accepted"),
}
UNKNOWN_TOPIC = "Unknown"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlotSpec(_Strict):
    """Something to capture in a topic, and how to confirm it with the caller."""

    name: str
    entity: Literal[ENTITY_TYPES]  # type: ignore[valid-type]
    prompt: str
    confirm: Literal["spell", "digits", "plain", "none"] = "plain"
    reprompt: str | None = None


class TopicSpec(_Strict):
    """A topic: what callers say, what to capture, what to do, what to answer."""

    name: str
    description: str = ""
    examples: list[str] = Field(min_length=5)
    slots: list[SlotSpec] = []
    action: Literal[ACTION_KINDS] = "answer"  # type: ignore[valid-type]
    knowledge: list[str] = []  # preferred knowledge files (stems) for the answer
    answer: list[str] = []  # templates said when the topic is done
    templates: dict[str, list[str]] = {}
    routing: Literal["ai_resolved", "human", "workflow"] = "ai_resolved"
    crm: list[Literal["Case", "Lead", "Task", "Contact"]] = []


class EscalationSpec(_Strict):
    """When to hand the caller to a person, and to which queue."""

    topics: list[str] = ["SpeakToHuman"]
    angry_keywords: list[str] = []
    max_no_match: int = Field(default=2, ge=1)
    queue: str = "Reception"
    vip_queue: str = "Priority"
    say: list[str] = ["Let me connect you with a colleague."]


class GuardrailSpec(_Strict):
    """What the agent refuses, and how."""

    off_topic: list[str] = ["Sorry, I can only help with questions about our company."]
    no_match: list[str] = ["Sorry, I didn't catch that. Could you say it another way?"]
    no_input: list[str] = ["Are you still there? How can I help?"]
    card_numbers: list[str] = [
        "For your security, please don't share card numbers on this call.",
    ]
    blocked_phrases: list[str] = []  # topics the agent must not discuss (off-topic refusals)
    # The no-input / no-match ladder: re-prompt, then offer a person, then end the call.
    offer_human: list[str] = [
        "I can connect you with a colleague. Would you like that?",
    ]
    no_input_end: list[str] = [
        "I'm sorry, I can't hear you. Please call us back any time. Goodbye.",
    ]
    no_match_end: list[str] = [
        "I'm sorry I couldn't help this time. Please call us back any time. Goodbye.",
    ]


class CardPaymentSpec(_Strict):
    """Taking a card payment with the card number typed on the keypad (DTMF), never spoken.

    Only the last four digits and a random token are kept; the digits themselves never reach the
    conversation, the transcript, the plan, the actions or the logs.
    """

    topic: str = "BillingQuestion"  # the topic whose callers may ask to pay by card
    prompt: str = "Sure. Please enter your card number on your keypad, followed by the pound key."
    invalid: str = (
        "Sorry, that card number isn't valid. Please enter it again, followed by the pound key."
    )
    taken: list[str] = ["Thank you. Your payment with the card ending in {last4_spoken} is done."]
    max_reentries: int = Field(default=2, ge=0)  # then a person is offered
    digits: int = Field(default=16, ge=13, le=19)  # entry also ends when this many arrived


class UnderstandingSpec(_Strict):
    threshold: float = Field(default=0.45, gt=0.0, lt=1.0)
    unknown_examples: list[str] = []  # off-topic utterances, trained as the Unknown topic


class AgentDefinition(_Strict):
    """The whole of `agent.yaml`."""

    name: str
    company: str
    persona: str
    voice: str
    greeting: str
    greeting_known_caller: str | None = None
    anything_else: str = "Is there anything else I can help you with?"
    goodbye: str = "Thanks for calling. Goodbye!"
    lexicon: str | None = None  # path relative to the agent directory
    orders: str | None = None  # bundled order book, relative path
    understanding: UnderstandingSpec = UnderstandingSpec()
    topics: list[TopicSpec] = Field(min_length=1)
    escalation: EscalationSpec = EscalationSpec()
    guardrails: GuardrailSpec = GuardrailSpec()
    card_payment: CardPaymentSpec | None = None  # keypad card payments (off when absent)
    # How calls listen unless a scenario or a command says otherwise: "fast" (pocketsphinx
    # alone) or "accurate" (a Whisper final pass); absent, each command uses its own default.
    ear: Literal["fast", "accurate"] | None = None
    # The agent's own words a caller may say and no dictionary knows: company, product and
    # people names ("Zentrix", "Priya Raman"). Both ears are taught them.
    vocabulary: list[str] = []

    @field_validator("voice")
    @classmethod
    def _voice_has_backend(cls, value: str) -> str:
        if ":" not in value:
            raise ValueError("must be '<backend>:<voice>', e.g. 'espeak:en-us' or 'piper:joe'")
        return value

    @field_validator("topics")
    @classmethod
    def _topic_names_unique(cls, topics: list[TopicSpec]) -> list[TopicSpec]:
        seen: set[str] = set()
        for topic in topics:
            if topic.name in seen:
                raise ValueError(f"topic {topic.name!r} is defined twice")
            if topic.name == UNKNOWN_TOPIC:
                raise ValueError(
                    "'Unknown' is the built-in fallback; list its examples under understanding.unknown_examples"
                )
            seen.add(topic.name)
            for kind in ACTION_TEMPLATES.get(topic.action, ()):
                if kind not in topic.templates:
                    raise ValueError(
                        f"topic {topic.name!r}: action {topic.action} needs templates.{kind}"
                    )
        return topics

    @model_validator(mode="after")
    def _card_payment_topic_exists(self) -> AgentDefinition:
        if self.card_payment and self.card_payment.topic not in {t.name for t in self.topics}:
            raise ValueError(f"card_payment.topic: no topic named {self.card_payment.topic!r}")
        return self

    @model_validator(mode="after")
    def _two_classes(self) -> AgentDefinition:
        if len(self.topics) < 2 and not self.understanding.unknown_examples:
            raise ValueError(
                "topics: an agent needs two topics, or one plus understanding.unknown_examples"
            )
        return self


def load_definition(path: Path) -> AgentDefinition:
    """Parse and validate `agent.yaml`; any problem raises `InputFileError`, one line per
    problem: `file:line:column: field: why` (with "did you mean" for a misspelt field)."""
    return load_definition_and_tree(path)[0]


def load_definition_and_tree(path: Path) -> tuple[AgentDefinition, yaml.Node | None]:
    """The definition and its YAML node tree (for positions of later checks)."""
    data, root = read_yaml(path, "agent definition")
    if not isinstance(data, dict):
        raise InputFileError(f"{path}:1:1: the agent definition must be a mapping of fields")
    try:
        return AgentDefinition.model_validate(data), root
    except ValidationError as error:
        problems = validation_problems(path, root, error, AgentDefinition)
        raise InputFileError("\n".join(problems)) from None
