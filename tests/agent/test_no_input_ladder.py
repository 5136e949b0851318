"""The no-input / no-match ladder: re-prompt, then offer a person, then end the call politely."""

from __future__ import annotations

from datetime import datetime

import pytest

from workbench.agent import Agent, Conversation, Reply, load_agent
from workbench.paths import DEMO_AGENT_DIR

SUNDAY = datetime(2026, 11, 22, 10, 0)


@pytest.fixture(scope="module")
def agent() -> Agent:
    return load_agent(DEMO_AGENT_DIR)


def said(reply: Reply) -> str:
    return " ".join(reply.sentences)


def asked_for_name(agent: Agent) -> Conversation:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    agent.respond(conv, "book a demo")
    return conv


def test_first_silence_reprompts_with_the_pending_question(agent: Agent) -> None:
    conv = asked_for_name(agent)
    reply = agent.no_input(conv)
    assert said(reply).startswith("Are you still there?")
    assert said(reply).endswith("May I have your full name?")
    assert conv.reprompt_count == 1 and not reply.end_call and reply.routing is None
    assert "no input (reprompt 1)" in reply.plan


def test_second_silence_offers_a_person_and_yes_transfers(agent: Agent) -> None:
    conv = asked_for_name(agent)
    agent.no_input(conv)
    reply = agent.no_input(conv)
    assert said(reply) == "I can connect you with a colleague. Would you like that?"
    assert conv.reprompt_count == 2 and conv.stage == "offer_human" and not reply.end_call
    _, reply = agent.respond(conv, "yes please")
    assert reply.routing == "human" and reply.end_call
    assert conv.disposition == "escalated_to_human"


def test_declining_the_person_goes_back_to_the_question(agent: Agent) -> None:
    conv = asked_for_name(agent)
    agent.no_input(conv)
    agent.no_input(conv)
    _, reply = agent.respond(conv, "no")
    assert said(reply) == "Okay. I'd be happy to set that up. May I have your full name?"
    assert conv.failed_turns == 0 and conv.pending_slot == "name"
    agent.respond(conv, "dana lee")
    assert conv.captured["name"] == "Dana Lee"


def test_third_silence_ends_the_call_politely(agent: Agent) -> None:
    conv = asked_for_name(agent)
    replies = [agent.no_input(conv) for _ in range(3)]
    assert replies[2].end_call and replies[2].routing is None
    assert "call us back" in said(replies[2])
    assert conv.ended and conv.disposition == "abandoned" and conv.reprompt_count == 3
    assert "ending the call politely" in replies[2].plan


def test_no_match_climbs_the_same_ladder_keeping_the_off_topic_wording(agent: Agent) -> None:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    replies = [
        agent.respond(conv, line)[1]
        for line in ("tell me a joke", "sing me a song", "what is the capital of france")
    ]
    assert "only help with questions about Northwind Software" in said(replies[0])
    assert "connect you with a colleague" in said(replies[1]) and not replies[1].end_call
    assert replies[2].end_call and conv.disposition == "abandoned"
    assert [r.plan.rsplit("; ", 1)[-1] for r in replies] == [
        "guardrail: off-topic refusal (reprompt 1)",
        "guardrail: off-topic refusal 2: offering a person",
        "guardrail: off-topic refusal 3: ending the call politely",
    ]


def test_silence_and_no_match_share_the_count(agent: Agent) -> None:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    agent.respond(conv, "tell me a joke")
    assert "connect you with a colleague" in said(agent.no_input(conv))
    assert agent.no_input(conv).end_call


def test_a_good_turn_resets_the_ladder(agent: Agent) -> None:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    agent.no_input(conv)
    agent.respond(conv, "what are your opening hours")
    assert conv.failed_turns == 0
    assert "still there" in said(agent.no_input(conv))
    assert conv.reprompt_count == 2  # the call's re-prompts, as the engine reports them


def test_answering_the_question_after_the_offer_carries_on(agent: Agent) -> None:
    conv = asked_for_name(agent)
    agent.no_input(conv)
    agent.no_input(conv)
    _, reply = agent.respond(conv, "dana lee")
    assert conv.captured["name"] == "Dana Lee" and conv.confirming == "name"
    assert not reply.end_call and conv.stage is None
