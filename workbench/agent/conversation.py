"""Per-call dialogue state: what the caller wants, what has been captured and confirmed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CallerContext:
    """What is known about the caller before they speak (from caller ID and the CRM)."""

    phone: str
    name: str | None = None
    account: str | None = None
    vip: bool = False
    open_cases: tuple[str, ...] = ()


@dataclass
class Conversation:
    """The state of one call, mutated by `Agent.reply` turn by turn.

    `captured` holds confirmed and unconfirmed slot values by slot name; `confirming` names the
    slot whose read-back awaits a yes/no; `pending_slot` the slot last asked for; `stage` an
    action's own step ("offer_times" while times are offered, "yes_no_offer" while an offer
    awaits a yes or a no, "anything_else" after a topic is done, "offer_human" while a person is offered,
    "pending_offer" while unheard answers are offered again, "card_entry" while a card number
    is typed on the keypad). `intended_crm_actions` lists the records a finished call should
    write (the CRM mapping turns them into Salesforce objects).

    Multi-question turns: `last_reply_questions` says which sentences of the last reply answer
    which sub-question (`(question, first_sentence, last_sentence)`, 0-based, inclusive; empty
    when the turn asked one thing); `question_topics` the topic each sub-question was understood
    as; `pending_questions` the sub-questions whose answers the caller did not hear (cut off by a
    barge-in), offered again once the current request is done.

    `secure_input` is True while the agent collects a card number on the keypad: the session
    masks those digits, and the agent keeps them out of this object altogether (the digits live
    in the responder, flow/card_payment.py, until '#'; then only the last four and a token
    remain).
    """

    caller: CallerContext | None = None
    reference: datetime = field(default_factory=datetime.now)
    topic: str | None = None
    captured: dict[str, str] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    confirming: str | None = None
    pending_slot: str | None = None
    stage: str | None = None
    offered: list[str] = field(default_factory=list)
    turn_count: int = 0
    reprompt_count: int = 0  # re-prompts in this call (no input, no match, answer not understood)
    failed_turns: int = 0  # turns in a row without progress: drives the no-input/no-match ladder
    history: list[tuple[str, str]] = field(default_factory=list)  # ("caller"|"agent", text)
    topics_seen: list[str] = field(default_factory=list)
    escalation_summary: str | None = None
    intended_crm_actions: list[dict] = field(default_factory=list)
    outcome: str | None = None  # the routing the call would end with now
    ended: bool = False
    secure_input: bool = False  # keypad entry of a card number in progress
    card_attempts: int = 0  # invalid card numbers entered so far
    last_reply_questions: list[tuple[str, int, int]] = field(default_factory=list)
    question_topics: dict[str, str] = field(default_factory=dict)
    pending_questions: list[str] = field(default_factory=list)
    resume_stage: str | None = None  # the stage to go back to when an offered person is declined
    # A declared action under way: its name and the steps still to run, first the one waiting
    # for the caller (stage "offer_times" for a pick, "yes_no_offer" for an offer's yes or no).
    action: str | None = None
    action_steps: list = field(default_factory=list)  # of definition.ActionStep
    asked_again: dict[str, int] = field(default_factory=dict)  # ask_again steps, by slot
    references: set[str] = field(default_factory=set)  # captured names that are references
    results: dict[str, dict] = field(default_factory=dict)  # webhook replies, by `save_as`
    partial_date: str | None = None  # "05-09": a date of birth's day and month, year to come
    wanted_time: str | None = None  # "HH:MM": offer times from then on ("later, at three")
    last_reply: tuple[str, ...] = ()  # what the agent said last (for "say that again")
    # For the call's scorecard: topics whose action ran to its end (all slots were confirmed
    # before it could start), and replies that were a no-match (a subset of the re-prompts).
    topics_done: list[str] = field(default_factory=list)
    no_matches: int = 0

    def start_topic(self, topic: str) -> None:
        """Switch to a new topic: its slots start empty (values already captured are kept)."""
        self.topic = topic
        self.confirming = None
        self.pending_slot = None
        self.stage = None
        self.offered = []
        self.asked_again = {}
        if topic not in self.topics_seen:
            self.topics_seen.append(topic)

    def mark_done(self, topic: str) -> None:
        """The topic's action ran to its end (the scorecard's task success)."""
        if topic not in self.topics_done:
            self.topics_done.append(topic)

    @property
    def disposition(self) -> str | None:
        """`outcome` in the CRM's words (`workbench.crm.call_record.DISPOSITIONS`)."""
        return {"human": "escalated_to_human"}.get(self.outcome or "", self.outcome)

    def intend(self, object_: str, **fields: object) -> None:
        """Record a CRM write the call should make: `{"object": "Case", "fields": {...}}`.

        Field names are Salesforce's (standard fields); empty values are left out so the CRM
        mapping's defaults apply.
        """
        kept = {name: value for name, value in fields.items() if value not in (None, "")}
        self.intended_crm_actions.append({"object": object_, "fields": kept})

    def transcript(self) -> str:
        return "\n".join(f"{who}: {text}" for who, text in self.history)
