"""Knowledge retrieval: markdown chunking and BM25 search over the demo agent's documents."""

from __future__ import annotations

import pytest

from workbench.agent import Agent, load_agent
from workbench.agent.knowledge import KnowledgeIndex, split_markdown
from workbench.paths import DEMO_AGENT_DIR


@pytest.fixture(scope="module")
def agent() -> Agent:
    return load_agent(DEMO_AGENT_DIR)


def test_markdown_splits_into_one_chunk_per_paragraph_with_its_heading() -> None:
    text = "# Hours\n\n## Office\nOpen 9 to 5.\n\nClosed at lunch.\n\n## Weekends\n- Closed\n- Really\n"
    chunks = split_markdown("hours", text)
    assert [(c.heading, c.text) for c in chunks] == [
        ("Hours: Office", "Open 9 to 5."),
        ("Hours: Office", "Closed at lunch."),
        ("Hours: Weekends", "Closed Really"),
    ]


def test_an_hours_question_retrieves_the_office_hours_chunk(agent: Agent) -> None:
    best = agent.retrieve("what time do you open in the morning", k=3)[0]
    assert best.source == "hours"
    assert "8 AM to 6 PM" in best.text


def test_a_holiday_question_retrieves_the_holiday_chunk(agent: Agent) -> None:
    best = agent.retrieve("are you open on christmas")[0]
    assert best.source == "holidays" and "Christmas" in best.text


def test_a_payment_question_retrieves_payment_options(agent: Agent) -> None:
    assert agent.retrieve("can I pay by bank transfer")[0].source == "payment-options"


def test_scores_are_ranked_and_k_is_respected(agent: Agent) -> None:
    results = agent.retrieve("price of the business plan per user", k=2)
    assert len(results) == 2
    assert results[0].score >= results[1].score > 0
    assert results[0].heading == "Pricing: Business plan"


def test_nothing_is_returned_for_unrelated_words() -> None:
    index = KnowledgeIndex(split_markdown("hours", "# Hours\nOpen 9 to 5.\n"))
    assert index.search("zebra xylophone") == []
