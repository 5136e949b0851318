"""The agent: its definition, understanding, knowledge retrieval and responders.

Public API (stable; the engine, scenario runner, CRM mapping and UI call these):

    from workbench.agent import load_agent, Agent, CallerContext

    load_agent(path: Path | str) -> Agent
        `path` is the agent directory (agent.yaml + knowledge/*.md [+ lexicon.yaml, the
        tables its lookup steps name]).
        Raises workbench.errors.InputFileError naming file, line and field. Builds the topic
        classifier and the retrieval index.

    Agent
        name: str; company: str; persona: str; voice: str ("espeak:en-us", "piper:joe")
        greeting: str (template; {caller_name} when known); lexicon_path: Path | None
        topics: tuple[str, ...] (includes "Unknown"); directory: Path; definition: AgentDefinition
        domain_sentences() -> list[str]            # STT domain LM text
        understand(text: str, *, reference: datetime | None = None) -> Understanding
        retrieve(text: str, k: int = 3) -> list[KnowledgeChunk]
        new_conversation(caller: CallerContext | None = None, *,
                         reference: datetime | None = None) -> Conversation
        greet(conversation: Conversation) -> Reply
        reply(conversation: Conversation, text: str, understanding: Understanding,
              chunks: list[KnowledgeChunk]) -> Reply
        no_input(conversation: Conversation) -> Reply   # the caller said nothing (timeout):
            # 1st re-prompts ("Are you still there?" + the pending question), 2nd offers a person
            # ("yes" escalates), 3rd ends politely (end_call, disposition "abandoned"); repeated
            # no-match climbs the same ladder (conversation.failed_turns, reset by any progress;
            # conversation.reprompt_count counts every re-prompt of the call and is never reset)
        on_interrupted(conversation: Conversation, sentence_index: int) -> None
            # the caller barged in during sentence `sentence_index` (0-based) of the last reply:
            # sub-question answers not fully heard become conversation.pending_questions, offered
            # ("You also asked: ... Would you like me to go over that?") once the new request is
            # done; "yes" answers them, "no" drops them, anything else moves on
        on_dtmf(conversation: Conversation, digit: str) -> Reply | None
            # a keypad key; while conversation.secure_input (card payment) returns None until '#'
            # or 16 digits, then a Reply (Luhn-valid: Action take_payment {last4, token}; else
            # re-enter, twice, then a person is offered); None outside card entry. Digits are
            # kept in the responder, never in the conversation; '*' starts the entry over
        split_turn(conversation, text) -> list[SubQuestion] | None   # multi-question turns
        respond(conversation, text) -> tuple[Understanding, Reply]  # understand+retrieve+reply
        classifier.cv_accuracy, train_seconds (classifier training time, without imports)

    Understanding (frozen): text, topic, confidence, runner_up, runner_up_confidence,
        entities: tuple[Entity, ...]; entity(type) -> Entity | None
    Entity (frozen): type, value, start, end, raw
        types: person_name, email, phone, datetime (ISO "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM"),
        order_number ("NW-48213"), card_number (Luhn-valid digits), address
        self-corrections keep the value after the last marker (no / sorry / I mean / actually /
        rather / make that): "next tuesday - no, wednesday" -> wednesday only
    KnowledgeChunk (frozen): source (file name), heading, text, score
    CallerContext (frozen): phone, name=None, account=None, vip=False, open_cases=()
    Reply (frozen): sentences: tuple[str, ...] (may hold <digits>…</digits> / <spell>…</spell>),
        routing: "ai_resolved" | "human" | "workflow" | None (None = conversation continues),
        actions: tuple[Action, ...], plan: str, end_call: bool, topic: str
    Action (frozen): kind, params: dict, result: dict
        kinds: answer (params {source, heading}); escalate (params {reason, queue, priority,
        summary}: the escalation section's hand-off); take_payment (params {last4, token};
        result {status}); and one per step of a declared action (agent.yaml `actions:`,
        docs/designer-guide.md): crm {object, fields}, webhook {url, sent} -> the reply,
        offer_times {schedule, wanted} -> {times}, handoff {queue, skills, priority, reason,
        summary}, reference {prefix} -> {number}, lookup {table, column, value} -> {found, the
        row's columns}, offer {offer} -> {accepted: yes | no}. No kind is specific to an agent.
    Conversation (mutable, per call): caller, reference (datetime relative dates resolve
        against; pass it to understand() too), topic, captured: dict[str, str], confirmed,
        confirming, pending_slot, stage, turn_count, reprompt_count (whole call), failed_turns,
        history: list[tuple[str, str]] (card numbers redacted), escalation_summary: str | None,
        intended_crm_actions: list[{"object": "Case"|"Lead"|"Task", "fields": {SF field: value}}],
        outcome ("ai_resolved" | "human" | "workflow" | "abandoned" | None: how the call would
        end now), disposition (outcome in CRM words: "human" -> "escalated_to_human"), ended,
        secure_input (True while a card number is typed on the keypad: mask DTMF),
        last_reply_questions: list[(question, first_sentence, last_sentence)] (multi-question
        replies only, 0-based inclusive), question_topics: dict[question, topic],
        pending_questions: list[str] (answers cut off by a barge-in), card_attempts
    SubQuestion (frozen): text, understanding, chunks; topic

    workbench.agent.llm: LlmClient(base_url=None, model=None, api_key=None, *,
        connect_timeout=3.0, read_timeout=10.0) with stream_tokens(messages) -> Iterator[str] and
        stream_sentences(messages) -> Iterator[str]; LlmError(WorkbenchError);
        LlmResponder(agent, client).reply(...) -> Reply (same signature as Agent.reply; falls
        back to the flow reply on LlmError).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.agent.agent import Agent, load_agent
    from workbench.agent.conversation import CallerContext, Conversation
    from workbench.agent.entities import Entity
    from workbench.agent.flow.reply import Action, Reply
    from workbench.agent.knowledge import KnowledgeChunk
    from workbench.agent.understanding import Understanding

# Imported on first use, so `workbench --help` (which imports agent/commands.py) stays fast.
_EXPORTS = {
    "Action": "workbench.agent.flow.reply",
    "Agent": "workbench.agent.agent",
    "CallerContext": "workbench.agent.conversation",
    "Conversation": "workbench.agent.conversation",
    "Entity": "workbench.agent.entities",
    "KnowledgeChunk": "workbench.agent.knowledge",
    "Reply": "workbench.agent.flow.reply",
    "Understanding": "workbench.agent.understanding",
    "load_agent": "workbench.agent.agent",
}
__all__ = [
    "Action",
    "Agent",
    "CallerContext",
    "Conversation",
    "Entity",
    "KnowledgeChunk",
    "Reply",
    "Understanding",
    "load_agent",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'workbench.agent' has no attribute {name!r}")
