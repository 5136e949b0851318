"""Several questions in one turn: split, answered in order in one reply, unheard ones offered again."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.agent import Agent, Conversation, Reply, load_agent
from workbench.agent.questions import split_questions
from workbench.paths import DEMO_AGENT_DIR

SUNDAY = datetime(2026, 11, 22, 10, 0)
THREE = "how much is the pro plan and do you take bank transfers and are you open on saturday"


@pytest.fixture(scope="module")
def agent() -> Agent:
    return load_agent(DEMO_AGENT_DIR)


def start(agent: Agent) -> Conversation:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    return conv


def said(reply: Reply) -> str:
    return " ".join(reply.sentences)


def answer_of(conv: Conversation, reply: Reply, question: str) -> str:
    span = next((first, last) for q, first, last in conv.last_reply_questions if q == question)
    return " ".join(reply.sentences[span[0] : span[1] + 1])


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        (
            "what are your hours, and can I also change my address?",
            ["what are your hours", "can i also change my address"],
        ),
        (
            THREE,
            ["how much is the pro plan", "do you take bank transfers", "are you open on saturday"],
        ),
        (
            "where is my order? also, what are your hours?",
            ["where is my order", "what are your hours"],
        ),
        (
            "do you take visa also are you open on sunday",
            ["do you take visa", "are you open on sunday"],
        ),
        ("I want to book a demo for next tuesday", ["i want to book a demo for next tuesday"]),
        ("the app crashes and it is slow", ["the app crashes and it is slow"]),
        ("sorry what are your opening hours", ["sorry what are your opening hours"]),
        ("ok and what about you", ["ok what about you"]),  # too short to stand alone
    ],
)
def test_utterances_are_split_at_question_boundaries(text: str, pieces: list[str]) -> None:
    assert split_questions(text) == pieces


WORDS = ["a", "b", ",", "?", ".", "and", "also", "what is", "do you", "how much"]


@given(st.lists(st.sampled_from(WORDS)).map(" ".join))
def test_splitting_never_fails_and_keeps_every_word_but_the_joins(text: str) -> None:
    pieces = split_questions(text)
    assert pieces
    kept = " ".join(pieces).split()
    joins = {"and", "also"}
    assert all(w in kept for w in text.split() if w.isalpha() and w not in joins)


def test_three_questions_are_answered_in_order_in_one_reply(agent: Agent) -> None:
    conv = start(agent)
    _, reply = agent.respond(conv, THREE)
    questions = [q for q, _, _ in conv.last_reply_questions]
    assert questions == [
        "how much is the pro plan",
        "do you take bank transfers",
        "are you open on saturday",
    ]
    assert "59 dollars" in answer_of(conv, reply, "how much is the pro plan")
    assert "bank transfer" in answer_of(conv, reply, "do you take bank transfers")
    assert "closed on Saturdays" in answer_of(conv, reply, "are you open on saturday")
    spans = [(first, last) for _, first, last in conv.last_reply_questions]
    assert spans[0][0] == 0 and all(
        a[1] + 1 == b[0] for a, b in zip(spans, spans[1:], strict=False)
    )
    assert reply.sentences[-1] == "Is there anything else I can help you with?"
    assert "split into 3 questions" in reply.plan
    assert [a.params["source"] for a in reply.actions] == ["pricing", "payment-options", "hours"]


def test_an_informational_question_is_answered_before_a_flow_starts(agent: Agent) -> None:
    conv = start(agent)
    _, reply = agent.respond(conv, "what are your hours, and can I also change my address?")
    assert "Monday to Friday, from 8 AM to 6 PM" in reply.sentences[0]
    assert reply.sentences[-1] == "May I have your full name?"
    assert conv.topic == "ChangeAddress" and conv.pending_slot == "name"
    assert conv.last_reply_questions == [
        ("what are your hours", 0, 0),
        ("can i also change my address", 1, 2),
    ]
    assert "split into 2 questions" in reply.plan


def test_the_flow_is_started_last_even_when_asked_first(agent: Agent) -> None:
    conv = start(agent)
    _, reply = agent.respond(conv, "can i change my address and what are your hours")
    assert "8 AM to 6 PM" in reply.sentences[0]
    assert reply.sentences[-1] == "May I have your full name?"


def test_a_second_flow_waits_in_pending_questions(agent: Agent) -> None:
    conv = start(agent)
    _, reply = agent.respond(conv, "where is my order and can i also change my address")
    assert conv.topic == "OrderStatus" and "order number" in said(reply)
    assert conv.pending_questions == ["can i also change my address"]
    assert "pending: can i also change my address" in reply.plan


def test_one_question_is_not_split(agent: Agent) -> None:
    conv = start(agent)
    _, reply = agent.respond(conv, "I want to book a demo for next tuesday")
    assert "split" not in reply.plan and conv.last_reply_questions == []


def test_answers_cut_off_by_a_barge_in_are_offered_after_the_new_answer(agent: Agent) -> None:
    conv = start(agent)
    _, reply = agent.respond(conv, THREE)
    transfer_first = next(f for q, f, _ in conv.last_reply_questions if "transfers" in q)
    agent.on_interrupted(conv, transfer_first)  # the pricing answer was heard, the rest not
    assert conv.pending_questions == ["do you take bank transfers", "are you open on saturday"]
    _, reply = agent.respond(conv, "do you have an annual discount")
    assert "15 percent" in said(reply)
    assert said(reply).endswith(
        "You also asked: do you take bank transfers and are you open on saturday. "
        "Would you like me to go over that?"
    )
    assert "pending questions: do you take bank transfers | are you open on saturday" in reply.plan
    _, reply = agent.respond(conv, "yes please")
    assert "bank transfer" in said(reply) and "closed on Saturdays" in said(reply)
    assert conv.pending_questions == [] and conv.stage == "anything_else"


def test_declining_the_offer_drops_the_pending_questions(agent: Agent) -> None:
    conv = start(agent)
    agent.respond(conv, THREE)
    agent.on_interrupted(conv, 0)
    agent.respond(conv, "what are your support hours")
    _, reply = agent.respond(conv, "no thanks")
    assert said(reply) == "Okay. Is there anything else I can help you with?"
    assert conv.pending_questions == []


def test_answers_fully_heard_are_not_pending(agent: Agent) -> None:
    conv = start(agent)
    reply = agent.respond(conv, THREE)[1]
    agent.on_interrupted(conv, len(reply.sentences) - 1)  # during "anything else?"
    assert conv.pending_questions == []


def test_a_flow_prompt_cut_off_is_not_pending_the_flow_goes_on(agent: Agent) -> None:
    conv = start(agent)
    agent.respond(conv, "what are your hours, and can I also change my address?")
    agent.on_interrupted(conv, 1)
    assert conv.pending_questions == [] and conv.pending_slot == "name"


def test_a_later_reply_without_questions_is_not_mapped(agent: Agent) -> None:
    conv = start(agent)
    agent.respond(conv, THREE)
    agent.no_input(conv)
    agent.on_interrupted(conv, 0)  # cut during "Are you still there?": nothing was asked
    assert conv.last_reply_questions == [] and conv.pending_questions == []


def test_a_second_flow_is_offered_when_the_first_is_done(agent: Agent) -> None:
    conv = start(agent)
    for line in ("where is my order and can i also change my address", "four eight two one three"):
        agent.respond(conv, line)
    _, reply = agent.respond(conv, "yes")
    assert "is shipped" in said(reply)
    assert said(reply).endswith(
        "You also asked: can I also change my address. Would you like me to go over that?"
    )
    _, reply = agent.respond(conv, "yes")
    assert conv.topic == "ChangeAddress" and said(reply).endswith("May I have your full name?")
