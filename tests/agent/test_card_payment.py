"""Card payments with the number typed on the keypad: secure input, Luhn, last four and a token."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime

import pytest

from workbench.agent import Agent, Conversation, Reply, load_agent
from workbench.paths import DEMO_AGENT_DIR

SUNDAY = datetime(2026, 11, 22, 10, 0)
CARD = "4111111111111111"  # a Luhn-valid test card
AMEX = "378282246310005"
BAD = "4111111111111112"


@pytest.fixture(scope="module")
def agent() -> Agent:
    return load_agent(DEMO_AGENT_DIR)


def said(reply: Reply) -> str:
    return " ".join(reply.sentences)


def paying(agent: Agent, line: str = "I want to pay my invoice by card") -> Conversation:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    agent.respond(conv, line)
    return conv


def keypad(agent: Agent, conv: Conversation, keys: str) -> list[Reply]:
    """Press `keys`; the replies the agent gave (None while it collects is left out)."""
    replies = [agent.on_dtmf(conv, key) for key in keys]
    return [r for r in replies if r is not None]


def everything(conv: Conversation, replies: list[Reply]) -> str:
    """The conversation and the replies as text, without spaces or dashes between digits."""
    text = json.dumps(vars(conv), default=repr) + json.dumps([asdict(r) for r in replies])
    return squeeze(text)


def squeeze(text: str) -> str:
    return "".join(ch for ch in text if ch not in " -")


@pytest.mark.parametrize(
    "line", ["I want to pay my invoice by card", "can I pay with my credit card"]
)
def test_paying_by_card_asks_for_the_number_on_the_keypad(agent: Agent, line: str) -> None:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    _, reply = agent.respond(conv, line)
    assert "enter your card number on your keypad, followed by the pound key" in said(reply)
    assert conv.secure_input and conv.stage == "card_entry" and conv.topic == "BillingQuestion"
    assert "secure input" in reply.plan


@pytest.mark.parametrize("line", ["do you take visa", "I need to update my credit card"])
def test_questions_about_cards_are_answered_not_collected(agent: Agent, line: str) -> None:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.respond(conv, line)
    assert not conv.secure_input and conv.stage != "card_entry"


def test_a_valid_card_is_charged_keeping_only_the_last_four_and_a_token(
    agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    conv = paying(agent)
    assert [agent.on_dtmf(conv, key) for key in CARD[:-1]] == [None] * 15
    (reply,) = keypad(agent, conv, CARD[-1] + "#")  # 16 digits end the entry; '#' is ignored
    assert "card ending in <digits>1111</digits>" in said(reply)
    assert said(reply).endswith("Is there anything else I can help you with?")
    (payment,) = reply.actions
    assert payment.kind == "take_payment" and set(payment.params) == {"last4", "token"}
    assert payment.params["last4"] == "1111" and payment.params["token"].startswith("tok_")
    task = conv.intended_crm_actions[-1]
    assert task["object"] == "Task" and "1111" in task["fields"]["Description"]
    assert payment.params["token"] in task["fields"]["Description"]
    assert not conv.secure_input and conv.stage == "anything_else"
    assert conv.captured["card_last4"] == "1111"
    assert CARD not in everything(conv, [reply])
    assert CARD not in squeeze(caplog.text)


def test_the_pound_key_ends_a_shorter_number(agent: Agent) -> None:
    conv = paying(agent, "can I pay with my credit card")
    (reply,) = keypad(agent, conv, AMEX + "#")
    assert reply.actions[0].params["last4"] == "0005"
    assert AMEX not in everything(conv, [reply])


def test_star_starts_the_entry_over(agent: Agent) -> None:
    conv = paying(agent)
    assert keypad(agent, conv, "9999*") == []
    (reply,) = keypad(agent, conv, CARD)
    assert reply.actions[0].kind == "take_payment"


def test_an_invalid_number_is_asked_again_twice_then_a_person_is_offered(agent: Agent) -> None:
    conv = paying(agent)
    replies = keypad(agent, conv, BAD + "#" + BAD + "#" + "1234#")
    assert len(replies) == 3
    assert "isn't valid" in said(replies[0]) and "enter it again" in said(replies[0])
    assert conv.secure_input is False and conv.stage == "offer_human"
    assert "connect you with a colleague" in said(replies[2])
    assert all(not r.actions for r in replies)
    _, reply = agent.respond(conv, "yes")
    assert reply.routing == "human"
    assert BAD not in everything(conv, [*replies, reply])


def test_a_spoken_card_number_is_refused_and_never_read_back(agent: Agent) -> None:
    conv = paying(agent)
    _, reply = agent.respond(
        conv, "it's four one one one one one one one one one one one one one one one"
    )
    assert "don't read card numbers" in said(reply) and "keypad" in said(reply)
    assert conv.secure_input  # still waiting for the keypad
    assert CARD not in everything(conv, [reply])


def test_silence_while_typing_is_not_no_input(agent: Agent) -> None:
    conv = paying(agent)
    keypad(agent, conv, "4111")
    reply = agent.no_input(conv)
    assert reply.sentences == () and conv.reprompt_count == 0
    (done,) = keypad(agent, conv, CARD[4:])
    assert done.actions[0].params["last4"] == "1111"


def test_the_caller_can_cancel_the_payment(agent: Agent) -> None:
    conv = paying(agent)
    keypad(agent, conv, "41")
    _, reply = agent.respond(conv, "cancel that")
    assert "cancelled the card payment" in said(reply) and not conv.secure_input
    assert keypad(agent, conv, "11111111111111#") == []  # keys outside card entry are ignored


def test_keys_outside_card_entry_are_ignored(agent: Agent) -> None:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    assert keypad(agent, conv, "123#") == []
