"""Self-corrections ("tuesday, no, wednesday") keep the corrected value, in entities and slots."""

from __future__ import annotations

from datetime import datetime

import pytest

from workbench.agent import Agent, Conversation, load_agent
from workbench.agent.entities import corrected_text, extract_entities
from workbench.paths import DEMO_AGENT_DIR

SUNDAY = datetime(2026, 11, 22, 10, 0)


@pytest.fixture(scope="module")
def agent() -> Agent:
    return load_agent(DEMO_AGENT_DIR)


def values(text: str, type_: str) -> list[str]:
    return [e.value for e in extract_entities(text, SUNDAY) if e.type == type_]


@pytest.mark.parametrize(
    ("text", "type_", "value"),
    [
        ("next tuesday — no, wednesday", "datetime", "2026-11-25"),
        ("next tuesday no wednesday", "datetime", "2026-11-25"),
        ("my name is dana smith, sorry, dana smyth", "person_name", "Dana Smyth"),
        ("my name is dana smith sorry dana smyth", "person_name", "Dana Smyth"),
        ("order four eight two one three, no, four eight two one four", "order_number", "NW-48214"),
        ("tuesday at ten i mean thursday", "datetime", "2026-11-26"),
        ("tuesday at ten, actually, at eleven", "datetime", "2026-11-24T11:00"),
        ("monday, or rather friday", "datetime", "2026-11-27"),
        ("friday at 2 pm, make that 3 pm", "datetime", "2026-11-27T15:00"),
        ("dana at acme dot com sorry dana at acme dot org", "email", "dana@acme.org"),
        ("call me on 415 555 0100 i mean 415 555 0199", "phone", "+14155550199"),
    ],
)
def test_the_value_after_the_last_correction_marker_is_kept(
    text: str, type_: str, value: str
) -> None:
    assert values(text, type_) == [value]


def test_the_corrected_entity_points_at_what_was_said() -> None:
    (entity,) = extract_entities("my name is dana smith, sorry, dana smyth", SUNDAY)
    assert entity.raw == "dana smyth"


@pytest.mark.parametrize(
    "text",
    [
        "my name is dana lee, no problem",
        "i have no idea, my name is dana lee",
        "sorry, this is dana lee",
    ],
)
def test_markers_without_a_new_value_change_nothing(text: str) -> None:
    assert values(text, "person_name") == ["Dana Lee"]


def test_corrected_text_is_what_follows_the_last_marker() -> None:
    assert corrected_text("dana smith sorry dana smyth") == "dana smyth"
    assert corrected_text("dana lee, sorry") == "dana lee"
    assert corrected_text("dana lee") == "dana lee"


def talk(agent: Agent, *lines: str) -> Conversation:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    for line in lines:
        agent.respond(conv, line)
    return conv


def test_a_corrected_date_fills_the_slot(agent: Agent) -> None:
    conv = talk(
        agent, "book a demo", "Dana Lee", "yes", "dana at acme dot com", "yes",
        "next tuesday — no, wednesday",
    )  # fmt: skip
    assert conv.captured["date"] == "2026-11-25" and conv.confirming == "date"


def test_a_corrected_bare_name_fills_the_slot(agent: Agent) -> None:
    conv = talk(agent, "book a demo", "dana smith sorry dana smyth")
    assert conv.captured["name"] == "Dana Smyth"


def test_a_corrected_order_number_is_looked_up(agent: Agent) -> None:
    conv = talk(agent, "where is my order", "four eight two one five, no, four eight two one three")
    assert conv.captured["order_number"] == "NW-48213"


def test_no_its_x_at_a_read_back_takes_x(agent: Agent) -> None:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    agent.respond(conv, "where is my order")
    agent.respond(conv, "four eight two one four")
    _, reply = agent.respond(conv, "no, it's four eight two one three")
    assert conv.captured["order_number"] == "NW-48213"
    assert "<digits>48213</digits>" in " ".join(reply.sentences)
    assert "correction: order_number = NW-48213" in reply.plan
    _, reply = agent.respond(conv, "yes")
    assert reply.actions[0].result["status"] == "shipped"


def test_a_corrected_date_at_a_read_back_is_read_back(agent: Agent) -> None:
    conv = talk(
        agent, "book a demo", "Dana Lee", "yes", "dana at acme dot com", "yes",
        "next tuesday", "no, wednesday",
    )  # fmt: skip
    assert conv.captured["date"] == "2026-11-25" and conv.confirming == "date"


def test_the_speech_model_knows_corrections_anger_and_card_payments(agent: Agent) -> None:
    sentences = set(agent.domain_sentences())
    assert {"no sorry", "i mean", "make that", "this is ridiculous"} <= sentences
    assert "i want to pay my invoice by card" in sentences
