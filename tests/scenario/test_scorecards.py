"""Every scenario call gets a scorecard (`engine.scorecard`), in the run JSON and the reports.

Real calls with the demo agent through the whole pipeline: the scorecard is read from what
the call did, never from the scenario's expectations.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.scenario.report_html import html_report
from workbench.scenario.runner import RunOptions, run_suite
from workbench.scenario.schema import load_scenario
from workbench.scenario.summary import results_to_dict

BUNDLED = Path(__file__).resolve().parents[2] / "scenarios"

# The caller asks for an address change, gives nothing and hangs up.
ADDRESS_THEN_HANG_UP = """\
name: address-then-hang-up
description: The caller starts an address change, then hangs up before giving a name.
latency_profile: fixed
steps:
  - say: I need to change my address.
  - wait_for: agent_starts_speaking
  - pause_ms: 2500
  - hang_up: true
"""


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cards")
    (tmp / "address-then-hang-up.yaml").write_text(ADDRESS_THEN_HANG_UP)
    paths = [
        BUNDLED / f"{name}.yaml"
        for name in (
            "opening-hours",
            "change-address",
            "speak-to-human",
            "off-topic",
            "backchannels-long-answer",
            "barge-in-long-answer",
        )
    ] + [tmp / "address-then-hang-up.yaml"]
    results = run_suite(
        [load_scenario(p) for p in paths], jobs=2, options=RunOptions(check_crm=False)
    )
    return {r.scenario.name: r for r in results}


def test_a_question_answered_is_ai_resolved_and_its_topic_succeeded(cards):
    card = cards["opening-hours"].scorecard
    assert card.resolution == "ai_resolved"
    assert [(t.topic, t.action, t.success) for t in card.topics] == [
        ("OpeningHours", "answer", True)
    ]
    assert card.task_success is True
    assert card.turns == 2 and card.reprompts == 0 and card.no_matches == 0
    assert card.latency_ms["turns"] == 2
    assert card.latency_ms["p50"] <= card.latency_ms["p95"] <= card.latency_ms["max"]
    assert card.crm == {"records": 1, "by_object": {"VoiceCall": 1}}


def test_a_task_succeeds_when_its_slots_are_captured_and_its_action_done(cards):
    card = cards["change-address"].scorecard
    (topic,) = card.topics
    assert topic.topic == "ChangeAddress"
    assert set(topic.slots_required) == {"name", "address"}
    assert set(topic.slots_captured) == {"name", "address"}
    assert topic.action_done and topic.success
    assert card.crm["by_object"] == {"Task": 1, "VoiceCall": 1}


def test_a_task_left_halfway_fails_and_the_call_is_abandoned(cards):
    card = cards["address-then-hang-up"].scorecard
    (topic,) = card.topics
    assert topic.topic == "ChangeAddress"
    assert topic.slots_captured == () and not topic.action_done
    assert card.task_success is False
    assert card.resolution == "abandoned" and card.end_reason == "caller_hung_up"


def test_a_hand_off_is_handed_off(cards):
    assert cards["speak-to-human"].scorecard.resolution == "handed_off"


def test_an_off_topic_request_counts_as_a_no_match_re_prompt(cards):
    card = cards["off-topic"].scorecard
    assert card.no_matches == 1 and card.reprompts >= 1
    assert card.task_success is None  # no topic taken up


def test_overlaps_are_judged_in_the_one_vocabulary(cards):
    backchannels = cards["backchannels-long-answer"].scorecard.interruptions
    assert backchannels["acknowledgements_and_noise"] == 2
    assert backchannels["counts"]["talked_over"] == 2  # the agent kept talking
    assert backchannels["abandoned_replies"] == 0
    barge = cards["barge-in-long-answer"].scorecard.interruptions
    assert barge["interruptions"] == 1 and barge["yielded"] == 1
    assert barge["stop_latency_ms"]["n"] == 1 and barge["stop_latency_ms"]["p50"] > 0


def test_scorecards_are_in_the_run_json_and_the_html_report(cards):
    results = list(cards.values())
    data = results_to_dict(results, 1.0)
    by_name = {s["name"]: s for s in data["scenarios"]}
    assert by_name["change-address"]["scorecard"]["topics"][0]["success"] is True
    suite = data["summary"]["scorecard"]
    assert suite["calls"] == len(results)
    assert suite["resolutions"]["handed_off"] == 1 and suite["resolutions"]["abandoned"] == 1
    assert suite["containment"] == round(suite["resolutions"]["ai_resolved"] / len(results), 3)
    assert suite["task_success_by_topic"]["ChangeAddress"] == {"calls": 2, "succeeded": 1}
    page = html_report(results, 1.0)
    assert "containment (AI-resolved)" in page and "task success: ChangeAddress" in page
    assert page.count("<b>Scorecard</b>") == len(results)
