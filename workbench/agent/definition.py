"""The agent definition format (`agent.yaml`) and its loading with file/line/field errors.

The YAML is validated by pydantic models that forbid unknown keys. Pydantic reports a problem
as a location such as `("topics", 2, "slots", 0, "confirm")`; we walk the same location through
the YAML node tree (`yaml.compose`) to find the line the person has to fix, so every error reads
like `agent.yaml:41: topics[2].slots[0].confirm: Input should be 'spell', 'digits', ...`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from workbench.errors import InputFileError
from workbench.yamlfile import (
    did_you_mean,
    format_location,
    node_position,
    read_yaml,
    validation_problems,
)

ENTITY_TYPES = (
    "person_name",
    "email",
    "phone",
    "datetime",
    "date",  # a calendar day; `when:` future (default), past or any picks the year if unsaid
    "date_of_birth",  # a past day, the year required
    "time",
    "number",
    "identifier",  # letters and digits matching the slot's `pattern` (a member id, a policy)
    "money",
    "yes_no",
    "choice",  # one of the slot's `choices`
    "order_number",
    "card_number",
    "address",
    "text",  # the caller's own words (a problem description)
)
# The one built-in action: answer from knowledge. Everything else an agent does is declared
# under `actions:` (docs/designer-guide.md, "Actions: what the agent does").
ACTION_KINDS = ("answer",)
_GUIDE = "docs/designer-guide.md#actions-what-the-agent-does"
# Kinds that were built in before the declared format; an agent naming one is told how the
# same thing is declared now (assets/agents/northwind/agent.yaml declares each of them).
REMOVED_KINDS: dict[str, str] = {
    "book_demo": "offer_times from a schedule, then crm writes (a Lead, a Task)",
    "open_case": "a reference step (prefix: CS), then a crm write of a Case",
    "lookup_order": "a lookup step in a YAML table (not_found: ask_again, then a handoff)",
    "change_address": "a crm write of a Task with the new address",
    "cancel_subscription": "an offer step (yes: / no: steps) and a crm write of a Case",
    "escalate": "a handoff step (queue and say default to the escalation section)",
}
UNKNOWN_TOPIC = "Unknown"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlotSpec(_Strict):
    """Something to capture in a topic, and how to confirm it with the caller.

    `prompt` asks for it, `reprompt` asks again when the answer held no value, `read_back`
    confirms it (`{value}` is the value as spoken: spelled, digit by digit or plain, by
    `confirm`). `type` is accepted as another name for `entity`.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    entity: Literal[ENTITY_TYPES]  # type: ignore[valid-type]
    prompt: str
    confirm: Literal["spell", "digits", "plain", "none"] = "plain"
    reprompt: str | None = None
    read_back: str = "I have {value}. Is that right?"
    when: Literal["future", "past", "any"] = "future"  # date: which year an unsaid year means
    pattern: str | None = None  # identifier: a regular expression over the upper-case value
    choices: list[str] = []  # choice: the values a caller can pick

    @model_validator(mode="before")
    @classmethod
    def _type_alias(cls, data: object) -> object:
        if isinstance(data, dict) and "type" in data and "entity" not in data:
            data = {("entity" if k == "type" else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _type_settings(self) -> SlotSpec:
        if self.entity == "choice" and not self.choices:
            raise ValueError(f"slot {self.name!r}: a choice slot needs `choices`")
        if self.entity == "identifier":
            if not self.pattern:
                raise ValueError(f"slot {self.name!r}: an identifier slot needs a `pattern`")
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise ValueError(f"slot {self.name!r}: bad pattern: {error}") from None
        if "{value}" not in self.read_back and self.confirm != "none":
            raise ValueError(f"slot {self.name!r}: read_back must contain {{value}}")
        return self


WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CRM_OBJECTS = (
    "Case",
    "Lead",
    "Task",
    "Event",
)  # the records a call writes (see assets/crm/mapping.yaml)
_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"


class FieldChoice(_Strict):
    """A CRM field whose value depends on another: `{from: "{caller.vip}", values: {"true":
    High}, default: Medium}` (the same shape as the CRM mapping's `from`/`values`/`default`)."""

    from_: str = Field(alias="from")  # a template, e.g. "{caller.vip}" or "{visit}"
    values: dict[str, str | int | float | bool]
    default: str | int | float | bool | None = None  # None: the field is left out


class CrmWrite(_Strict):
    """Write a record to the CRM after the call: field values are templates over the slots,
    the caller and the call (`{name}`, `{caller.phone}`, `{call.date}`). A field whose value
    comes out empty is left out, so the CRM mapping's default applies."""

    object: Literal[CRM_OBJECTS]  # type: ignore[valid-type]
    fields: dict[str, str | int | float | bool | FieldChoice]


class WebhookCall(_Strict):
    """POST the captured slots as JSON to `url`; the JSON reply is kept as `{save_as.field}`."""

    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=3.0, gt=0, le=30)
    retries: int = Field(default=1, ge=0, le=5)
    save_as: str = Field(default="webhook", pattern=r"^[a-z][a-z0-9_]*$")
    on_failure: list[str] = ["I'm sorry, our booking system isn't answering right now."]
    # What happens when every attempt failed: carry on (say on_failure, then the next steps) or
    # hand the caller to a person (say on_failure, then the agent's escalation).
    then: Literal["continue", "handoff"] = "handoff"


class OfferTimes(_Strict):
    """Offer free times from a schedule; the caller's pick is captured as slot `into`."""

    schedule: str
    day_slot: str | None = None  # a date or datetime slot holding the day the caller wants
    into: str = Field(default="appointment", pattern=r"^[a-z][a-z0-9_]*$")
    count: int = Field(default=2, ge=1, le=4)
    say: list[str] = ["I can offer {times}. Which would you prefer?"]


class Handoff(_Strict):
    """Transfer the caller to a person: the queue, the skills needed and the priority.

    Without `say`, the escalation section's wording. Without a `queue`, the caller is escalated
    as the escalation section says (its `queue`; its `vip_queue`, at high priority, for a VIP).
    """

    queue: str | None = None
    skills: list[str] = []
    priority: Literal["low", "normal", "high"] = "normal"
    reason: str = "handed off by the agent"
    say: list[str] | None = None


class EndCall(_Strict):
    say: list[str] = []
    routing: Literal["ai_resolved", "human", "workflow"] = "ai_resolved"


class Finish(_Strict):
    """End the request here (not the call): say this instead of the topic's `answer`, count the
    call as `routing`, skip the action's remaining steps; then "anything else?" (ai_resolved)
    or the goodbye (human, workflow)."""

    say: list[str] = []
    routing: Literal["ai_resolved", "human", "workflow"] = "ai_resolved"


class Reference(_Strict):
    """Make a reference number for the caller to quote ("CS-48213"), stable within the call:
    `{into}` and `{into_spoken}` (the letters spelled, the digits one by one)."""

    prefix: str = Field(pattern=r"^[A-Z]{1,4}$")
    into: str = Field(default="reference", pattern=r"^[a-z][a-z0-9_]*$")


class Lookup(_Strict):
    """Find a row in a YAML table shipped with the agent (`table`, relative to its folder: a
    list of rows, at the top of the file or under one key). The row whose `column` equals
    `value` (a template; compared ignoring case, spaces and dashes) becomes `{into.<column>}`;
    when none does, the `not_found` steps run in place of this one."""

    table: str
    column: str
    value: str
    into: str = Field(default="found", pattern=r"^[a-z][a-z0-9_]*$")
    not_found: list[ActionStep] = []


class AskAgain(_Strict):
    """Forget a slot's value and ask for it again with `say` (default: the slot's reprompt or
    prompt); the action starts over once it is captured again. After `times` asks in one
    request the step does nothing, and the steps after it run (a fallback such as a handoff)."""

    slot: str
    say: list[str] | None = None
    times: int = Field(default=2, ge=1, le=5)


class YesNoOffer(_Strict):
    """Say an offer and wait for a yes or a no: the `yes` or the `no` steps then run in place
    of this one (a retention offer, "shall I text you a reminder?")."""

    say: list[str]
    yes: list[ActionStep] = []
    no: list[ActionStep] = []
    reprompt: str = "Sorry, was that a yes or a no?"

    @model_validator(mode="before")
    @classmethod
    def _yes_no_keys(cls, data: object) -> object:
        # YAML reads a bare `yes:` / `no:` key as true / false.
        if isinstance(data, dict):
            data = {
                {True: "yes", False: "no"}.get(k, k) if isinstance(k, bool) else k: v
                for k, v in data.items()
            }
        return data


ACTION_STEP_KINDS = (
    "say",
    "crm",
    "webhook",
    "offer_times",
    "handoff",
    "end_call",
    "finish",
    "reference",
    "lookup",
    "ask_again",
    "offer",
)


class ActionStep(_Strict):
    """One step of a declared action: exactly one of its keys."""

    say: list[str] | None = None
    crm: CrmWrite | None = None
    webhook: WebhookCall | None = None
    offer_times: OfferTimes | None = None
    handoff: Handoff | None = None
    end_call: EndCall | None = None
    finish: Finish | None = None
    reference: Reference | None = None
    lookup: Lookup | None = None
    ask_again: AskAgain | None = None
    offer: YesNoOffer | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ActionStep:
        given = [kind for kind in ACTION_STEP_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(
                "an action step has exactly one of: "
                + ", ".join(ACTION_STEP_KINDS)
                + (f" (this one has {', '.join(given)})" if given else "")
            )
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in ACTION_STEP_KINDS if getattr(self, kind) is not None)

    def branches(self) -> list[tuple[str, list[ActionStep]]]:
        """The step lists nested in this step, by field: lookup's not_found, offer's yes/no."""
        if self.lookup:
            return [("not_found", self.lookup.not_found)]
        if self.offer:
            return [("yes", self.offer.yes), ("no", self.offer.no)]
        return []


Lookup.model_rebuild()
YesNoOffer.model_rebuild()


def walk_steps(steps: list[ActionStep], loc: tuple = ()):
    """(location, step) of every step, nested ones included: `(0, "lookup", "not_found", 1)`."""
    for index, step in enumerate(steps):
        yield (*loc, index), step
        for field, nested in step.branches():
            yield from walk_steps(nested, (*loc, index, step.kind, field))


class ScheduleSpec(_Strict):
    """Opening hours and bookings, for `offer_times`."""

    days: list[Literal[WEEKDAY_NAMES]] = list(WEEKDAY_NAMES[:5])  # type: ignore[valid-type]
    open: str = Field(default="09:00", pattern=_CLOCK)
    close: str = Field(default="17:00", pattern=_CLOCK)
    slot_minutes: int = Field(default=30, ge=5, le=480)
    # Taken times: "2026-12-08T09:00" (once) or "tuesday 09:00" (every week).
    booked: list[str] = []
    earliest_days: int = Field(default=1, ge=0, le=60)  # 1: from tomorrow on

    @field_validator("booked")
    @classmethod
    def _booked_times(cls, values: list[str]) -> list[str]:
        weekly = re.compile(rf"^({'|'.join(WEEKDAY_NAMES)}) ([01]\d|2[0-3]):[0-5]\d$")
        once = re.compile(r"^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d$")
        for value in values:
            if not (weekly.match(value.lower()) or once.match(value)):
                raise ValueError(
                    f"booked time {value!r}: write '2026-12-08T09:00' or 'tuesday 09:00'"
                )
        return values


class ActsSpec(_Strict):
    """Wording of the built-in conversation acts, understood apart from the topics."""

    thanks: list[str] = ["You're welcome."]
    hold_on: list[str] = ["Sure, take your time."]
    repeat: list[str] = ["Sure."]  # said before the last reply is repeated
    back_to_question: str = "Now, back to my question."  # after a digression
    ask_year: str = "And the year?"  # a date of birth given without its year


class TopicSpec(_Strict):
    """A topic: what callers say, what to capture, what to do, what to answer."""

    name: str
    description: str = ""
    examples: list[str] = Field(min_length=5)
    slots: list[SlotSpec] = []
    # "answer" (from knowledge) or the name of an action declared under `actions:`.
    action: str = "answer"
    knowledge: list[str] = []  # preferred knowledge files (stems) for the answer
    answer: list[str] = []  # templates said when the topic is done
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
    understanding: UnderstandingSpec = UnderstandingSpec()
    topics: list[TopicSpec] = Field(min_length=1)
    escalation: EscalationSpec = EscalationSpec()
    guardrails: GuardrailSpec = GuardrailSpec()
    card_payment: CardPaymentSpec | None = None  # keypad card payments (off when absent)
    actions: dict[str, list[ActionStep]] = {}  # declared actions, by name
    schedules: dict[str, ScheduleSpec] = {}
    acts: ActsSpec = ActsSpec()
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
            names = [slot.name for slot in topic.slots]
            if len(set(names)) != len(names):
                raise ValueError(f"topic {topic.name!r}: two slots have the same name")
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
    removed = removed_field_problems(path, data, root)
    try:
        definition = AgentDefinition.model_validate(data)
    except ValidationError as error:
        problems = removed + validation_problems(path, root, error, AgentDefinition)
        raise InputFileError("\n".join(problems)) from None
    problems = removed + reference_problems(path, definition, root)
    if problems:
        raise InputFileError("\n".join(problems))
    return definition, root


def removed_field_problems(path: Path, data: dict, root: yaml.Node | None) -> list[str]:
    """Fields of the days of built-in action kinds, each with what replaced it; they are taken
    out of `data` so the rest is still checked (every problem is listed at once)."""
    problems: list[str] = []

    def at(loc: tuple, why: str) -> None:
        line, column = node_position(root, loc)
        problems.append(f"{path}:{line}:{column}: {format_location(loc)}: {why}")

    if "orders" in data:
        data.pop("orders")
        at(
            ("orders",),
            "no longer a field; look rows up in the file with a lookup step: - lookup: "
            '{table: orders.yaml, column: number, value: "{order_number}", into: order}'
            f" (see {_GUIDE})",
        )
    for index, topic in enumerate(data.get("topics") or []):
        if isinstance(topic, dict) and "templates" in topic:
            topic.pop("templates")
            at(
                ("topics", index, "templates"),
                "no longer a topic field; an action's wording is written in its steps under "
                f"actions: (say:, offer_times.say, offer.say, ask_again.say; see {_GUIDE})",
            )
    return problems


def reference_problems(path: Path, d: AgentDefinition, root: yaml.Node | None) -> list[str]:
    """Names inside the definition that must exist: topics' actions, actions' schedules and
    slots (`file:line:column: field: why`, with a suggestion)."""
    problems: list[str] = []

    def at(loc: tuple, why: str) -> None:
        line, column = node_position(root, loc)
        problems.append(f"{path}:{line}:{column}: {format_location(loc)}: {why}")

    for index, topic in enumerate(d.topics):
        if topic.action in ACTION_KINDS or topic.action in d.actions:
            continue
        if topic.action in REMOVED_KINDS:
            at(
                ("topics", index, "action"),
                f"{topic.action!r} is no longer built in; declare it under actions: as "
                f"{REMOVED_KINDS[topic.action]} (see {_GUIDE}; "
                "assets/agents/northwind/agent.yaml declares each)",
            )
            continue
        at(
            ("topics", index, "action"),
            f"no action {topic.action!r}{did_you_mean(topic.action, [*d.actions, *ACTION_KINDS])}"
            "; declare it under actions:, or answer from knowledge with action: answer",
        )
    slots = {slot.name for topic in d.topics for slot in topic.slots}
    for name, steps in d.actions.items():
        for loc, step in walk_steps(steps, ("actions", name)):
            offer = step.offer_times
            if step.ask_again and step.ask_again.slot not in slots:
                wrong = step.ask_again.slot
                at(
                    (*loc, "ask_again", "slot"),
                    f"no slot {wrong!r}{did_you_mean(wrong, slots)}",
                )
            if offer is None:
                continue
            if offer.schedule not in d.schedules:
                at(
                    (*loc, "offer_times", "schedule"),
                    f"no schedule {offer.schedule!r}{did_you_mean(offer.schedule, d.schedules)}"
                    f" (declared schedules: {', '.join(d.schedules) or 'none'})",
                )
            if offer.day_slot and offer.day_slot not in slots:
                at(
                    (*loc, "offer_times", "day_slot"),
                    f"no slot {offer.day_slot!r}{did_you_mean(offer.day_slot, slots)}",
                )
    return problems
