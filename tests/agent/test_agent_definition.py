"""The agent definition format: the demo agent loads, and mistakes are reported by file, line, field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench.agent import Agent, load_agent
from workbench.errors import InputFileError
from workbench.paths import DEMO_AGENT_DIR

MINIMAL = """\
name: Test Agent
company: Test Co
persona: A tester.
voice: espeak:en-us
greeting: Hello.
topics:
  - name: Hours
    examples: [when are you open, what are your hours, are you open today, opening times, hours please]
    answer: ["{knowledge}"]
  - name: Human
    examples: [a person please, speak to someone, operator, real human, transfer me]
    action: to_a_person
    routing: human
actions:
  to_a_person:
    - handoff: {queue: Reception}
"""


def write_agent(tmp_path: Path, text: str) -> Path:
    (tmp_path / "agent.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(InputFileError) as caught:
        load_agent(write_agent(tmp_path, text))
    return str(caught.value)


@pytest.fixture(scope="module")
def agent() -> Agent:
    return load_agent(DEMO_AGENT_DIR)


def test_the_demo_agent_has_exactly_the_required_topics(agent: Agent) -> None:
    assert agent.topics == (
        "BookDemo", "OpeningHours", "SupportRequest", "BillingQuestion", "ChangeAddress",
        "OrderStatus", "CancelSubscription", "SpeakToHuman", "Unknown",
    )  # fmt: skip
    assert agent.voice == "piper:joe"
    assert agent.lexicon_path is not None and agent.lexicon_path.name == "lexicon.yaml"
    assert all(len(t.examples) >= 15 for t in agent.definition.topics)
    assert len(agent.definition.understanding.unknown_examples) >= 15


def test_domain_sentences_cover_examples_prompts_and_knowledge(agent: Agent) -> None:
    sentences = agent.domain_sentences()
    assert "I'd like to book a demo" in sentences
    assert "What email address should we send the invitation to?" in sentences
    assert any("8 AM to 6 PM" in s for s in sentences)
    assert not any("{" in s for s in sentences)  # templates with placeholders are not speech


def test_a_minimal_agent_loads(tmp_path: Path) -> None:
    agent = load_agent(write_agent(tmp_path, MINIMAL))
    assert agent.name == "Test Agent"
    assert agent.understand("what are your hours today").topic == "Hours"


def test_an_unknown_key_names_file_line_and_field(tmp_path: Path) -> None:
    text = MINIMAL.replace("    routing: human\n", "    routing: human\n    colour: blue\n")
    message = load_error(tmp_path, text)
    assert f"{tmp_path / 'agent.yaml'}:14:5: topics[1].colour: unknown field" in message


def test_a_missing_field_names_the_mapping_that_lacks_it(tmp_path: Path) -> None:
    message = load_error(tmp_path, MINIMAL.replace("voice: espeak:en-us\n", ""))
    assert "agent.yaml:1:1: voice: required field is missing" in message


def test_a_wrong_type_names_its_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("    routing: human\n", "    routing: human\n    slots: 42\n")
    message = load_error(tmp_path, text)
    assert "agent.yaml:14:5: topics[1].slots:" in message
    assert "list" in message


def test_a_bad_enum_value_lists_the_allowed_ones(tmp_path: Path) -> None:
    message = load_error(tmp_path, MINIMAL.replace("routing: human", "routing: robot"))
    assert "agent.yaml:13:5: topics[1].routing:" in message and "'workflow'" in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    message = load_error(tmp_path, MINIMAL + "  - name: [unclosed\n")
    assert "agent.yaml:" in message and "invalid YAML" in message


def test_a_directory_without_agent_yaml_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no agent.yaml"):
        load_agent(tmp_path)


def test_a_missing_lexicon_file_is_reported(tmp_path: Path) -> None:
    message = load_error(tmp_path, MINIMAL + "lexicon: missing.yaml\n")
    assert "lexicon: file not found" in message


def test_the_demo_agent_can_be_copied_and_loaded(tmp_path: Path) -> None:
    target = tmp_path / "copy"
    shutil.copytree(DEMO_AGENT_DIR, target)
    assert load_agent(target / "agent.yaml").name == "Northwind Receptionist"


def test_card_payment_must_name_an_existing_topic(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL + "card_payment:\n  topic: Billing\n")
    assert "card_payment.topic: no topic named 'Billing'" in error
