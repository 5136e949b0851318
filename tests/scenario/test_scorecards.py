"""Every scenario call gets a scorecard (`engine.scorecard`), in the run JSON and the reports.

Real calls with the demo agent through the whole pipeline: the scorecard is read from what
the call did, never from the scenario's expectations.
"""

from __future__ import annotations

import json
import subprocess
import sys
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


# The caller stops to think for 1 s mid-sentence: a 500-ms silence endpoint takes the pause
# for the end of the turn, and the caller goes on before any reply has reached them.
THINKING_PAUSE = """\
name: thinking-pause
description: A thinking pause longer than the silence endpoint, mid-sentence.
latency_profile: fixed
endpointing: silence
silence_ms: 500
steps:
  - say: I would like to change
  - pause_ms: 1000
  - say: my address please.
    now: true
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


def test_a_thinking_pause_taken_for_the_end_of_the_turn_is_a_premature_endpoint(cards, tmp_path):
    (tmp_path / "thinking-pause.yaml").write_text(THINKING_PAUSE)
    (result,) = run_suite(
        [load_scenario(tmp_path / "thinking-pause.yaml")], options=RunOptions(check_crm=False)
    )
    # (the thinking pause at least; while the agent is paused for the second breath its
    # endpointer may also take a word gap in "my address please" for an end)
    assert result.scorecard.premature_endpoints >= 1
    # A caller who waits for every reply, or interrupts well into one, contradicts no endpoint.
    for name in ("opening-hours", "barge-in-long-answer", "backchannels-long-answer"):
        assert cards[name].scorecard.premature_endpoints == 0, name
    # The address caller says "my name is James … Smith" and "123 Main Street … Denver" in two
    # breaths; the semantic endpointer took the first breath for the end at least once.
    assert cards["change-address"].scorecard.premature_endpoints >= 1


def test_overlaps_are_judged_in_the_one_vocabulary(cards):
    backchannels = cards["backchannels-long-answer"].scorecard.interruptions
    assert backchannels["acknowledgements_and_noise"] == 2
    assert backchannels["counts"]["resumed"] == 2  # the agent paused and went on
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
    # The call told whole, as its VoiceCall tells it: the main outcome and every topic.
    moved = by_name["change-address"]["voice_call"]
    assert moved["intent"] == "ChangeAddress"
    assert "ChangeAddress (done)" in moved["summary"] and "Captured: " in moved["summary"]
    assert "Resolved by the AI agent" in moved["summary"]
    left = by_name["address-then-hang-up"]["voice_call"]
    assert "ChangeAddress (not finished)" in left["summary"]
    assert "Abandoned (the caller hung up)" in left["summary"]
    assert "<b>The call</b> (ChangeAddress)" in page


def test_workbench_report_adds_up_run_files_and_call_logs_with_charts(cards, tmp_path):
    results = list(cards.values())
    (tmp_path / "run.json").write_text(json.dumps(results_to_dict(results, 1.0), default=str))
    # The same calls as serve's call log writes them (one JSON line per call).
    with (tmp_path / "calls.jsonl").open("w") as log:
        for result in results:
            line = {
                "format": "workbench-call/1",
                "started_at": "2026-12-07T07:00:00+00:00",
                "agent": "Northwind Receptionist",
                "scorecard": result.scorecard.to_dict(),
                "turn_latencies_ms": [
                    {"turn": t.turn, "caller_text": t.caller_text, "total_ms": t.total_ms}
                    for t in result.call.timelines
                    if t.turn > 0
                ],
            }
            log.write(json.dumps(line) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "report", str(tmp_path), "--html",
         str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    n = len(results)
    assert data["calls"] == 2 * n  # both files, every call
    ai = sum(r.scorecard.resolution == "ai_resolved" for r in results)
    assert data["containment"] == round(ai / n, 3)
    assert data["containment_by_topic"]["ChangeAddress"]["calls"] == 4
    assert data["task_success_by_topic"]["ChangeAddress"] == {"succeeded": 2, "calls": 4}
    turns = sum(r.scorecard.latency_ms["turns"] for r in results)
    assert data["turn_latency_ms"]["turns"] == 2 * turns
    assert sum(b["turns"] for b in data["turn_latency_ms"]["histogram"]) == 2 * turns
    # The average waterfall comes from the run file's lanes: its lanes add up to the mean turn.
    run_totals = [t.total_ms for r in results for t in r.call.timelines if t.turn > 0]
    mean = sum(lane["mean_ms"] for lane in data["average_waterfall_ms"])
    assert mean == pytest.approx(sum(run_totals) / len(run_totals), abs=1.0)
    reasons = dict((reason, count) for reason, count in data["top_failure_reasons"])
    assert reasons["abandoned: ChangeAddress"] == 2  # the caller who hung up, in both files
    page = (tmp_path / "r.html").read_text()
    for heading in ("Containment by topic", "Task success by topic", "Turn latency at the caller",
                    "Average waterfall by lane", "Top failure reasons"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in page
    assert page.count("<svg") >= 4
    assert "calls from 2 file(s)" in page


def test_workbench_report_refuses_a_file_without_calls_in_one_line(tmp_path):
    (tmp_path / "calls.jsonl").write_text('{"hello": 1}\n')
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "report", str(tmp_path / "calls.jsonl")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: {tmp_path / 'calls.jsonl'}:1: not a call log line (no scorecard)"
    )
