"""Topic classification: held-out accuracy, the Unknown fallback, and STT-style robustness."""

from __future__ import annotations

import pytest
import yaml

from workbench.agent import Agent, load_agent
from workbench.agent.understanding import classifier_text
from workbench.paths import DEMO_AGENT_DIR

HELDOUT = yaml.safe_load((DEMO_AGENT_DIR / "heldout.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def agent() -> Agent:
    return load_agent(DEMO_AGENT_DIR)


def test_every_topic_has_at_least_eight_heldout_utterances(agent: Agent) -> None:
    assert set(HELDOUT) == set(agent.topics)
    assert all(len(HELDOUT[topic]) >= 8 for topic in agent.topics)


def test_heldout_utterances_are_not_training_examples(agent: Agent) -> None:
    d = agent.definition
    training = {classifier_text(e) for t in d.topics for e in t.examples}
    training |= {classifier_text(e) for e in d.understanding.unknown_examples}
    leaked = [
        u for utterances in HELDOUT.values() for u in utterances if classifier_text(u) in training
    ]
    assert leaked == []


def test_heldout_accuracy_is_at_least_95_percent(agent: Agent) -> None:
    results = [(topic, agent.understand(u).topic) for topic, us in HELDOUT.items() for u in us]
    accuracy = sum(truth == guess for truth, guess in results) / len(results)
    misses = [(t, g) for t, g in results if t != g]
    assert accuracy >= 0.95, f"held-out accuracy {accuracy:.3f}; misses: {misses}"


def test_off_topic_text_is_unknown(agent: Agent) -> None:
    u = agent.understand("what's the weather on mars")
    assert u.topic == "Unknown"
    assert u.runner_up != "Unknown"


def test_confidences_are_probabilities_and_ranked(agent: Agent) -> None:
    u = agent.understand("I'd like to book a demo for next week")
    assert u.topic == "BookDemo"
    assert 0.0 <= u.runner_up_confidence <= u.confidence <= 1.0
    assert agent.classifier.cv_accuracy > 0.7  # 5-fold cross-validation on the examples


def test_below_the_threshold_the_topic_is_unknown(agent: Agent) -> None:
    agent.classifier.threshold, saved = 0.999, agent.classifier.threshold
    try:
        u = agent.understand("could you maybe help me with something about the thing")
    finally:
        agent.classifier.threshold = saved
    assert u.topic == "Unknown"
    assert u.runner_up != "Unknown"


@pytest.mark.parametrize(
    ("typed", "spoken"),
    [
        ("Where's my order NW-48213?", "wheres my order n w four eight two one three"),
        ("What are your opening hours?", "what are your opening hours"),
        ("I can't log in!", "i cant log in"),
        ("Can I speak to a human, please?", "can i speak to a human please"),
    ],
)
def test_typed_and_transcribed_text_get_the_same_topic(
    agent: Agent, typed: str, spoken: str
) -> None:
    assert agent.understand(typed).topic == agent.understand(spoken).topic != "Unknown"


def test_empty_text_is_unknown(agent: Agent) -> None:
    assert agent.understand("").topic == "Unknown"
    assert agent.understand("...").topic == "Unknown"
