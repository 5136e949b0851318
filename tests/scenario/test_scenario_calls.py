"""Scenarios run against the real demo agent in virtual time, and every report they produce.

One `CallRuntime` serves the module; each scenario's call runs once (module fixtures) and the
tests read its result, the caller's measurements and the artefacts made from them.
"""

from __future__ import annotations

import io
import json
import logging
import re
import textwrap
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from workbench.engine import events as ev
from workbench.engine.calls import CallRuntime
from workbench.paths import SCENARIOS_DIR
from workbench.scenario.pytest_plugin import failure_text
from workbench.scenario.report_html import html_report
from workbench.scenario.report_junit import junit_xml
from workbench.scenario.report_text import print_failed_transcript, print_result_line, print_summary
from workbench.scenario.runner import ScenarioResult, run_scenario
from workbench.scenario.schema import load_scenario
from workbench.scenario.summary import results_to_dict

pytestmark = pytest.mark.slow

CARD = "4000056655665556"  # a test card number: none of its digit runs may reach any output


@pytest.fixture(scope="module")
def runtime() -> CallRuntime:
    runtime = CallRuntime()
    runtime.stack(runtime.agent())
    return runtime


def scenario_file(tmp_path_factory: pytest.TempPathFactory, name: str, text: str) -> Path:
    path = tmp_path_factory.mktemp("scenarios") / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.fixture(scope="module")
def barge_in(runtime, tmp_path_factory) -> ScenarioResult:
    path = scenario_file(
        tmp_path_factory,
        "barge",
        """
        name: barge
        latency_profile: fixed
        steps:
          - say: What payment options do you have?
          - barge_in: Sorry, what are your opening hours?
            at_ms: 1500
          - say: No thank you goodbye.
        expect:
          barge_in_stop_ms: 250
          topic: BillingQuestion
        """,
    )
    return run_scenario(load_scenario(path), runtime)


@pytest.fixture(scope="module")
def card_payment(runtime, tmp_path_factory):
    path = scenario_file(
        tmp_path_factory,
        "card",
        f"""
        name: card
        latency_profile: fixed
        steps:
          - say: I want to pay my invoice by card.
          - dtmf: "{CARD}#"
            interval_ms: 150
          - say: No thank you goodbye.
        expect:
          agent_never_said: "/{CARD[-4:]}/"
        """,
    )
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        result = run_scenario(load_scenario(path), runtime)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    return result, [r.getMessage() for r in records]


def terminal_text(results: list[ScenarioResult]) -> str:
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    for result in results:
        print_result_line(console, result)
        print_failed_transcript(console, result)
    print_summary(console, results, 12.0)
    return out.getvalue()


def test_a_barge_in_lands_at_ms_into_the_real_agents_speech(barge_in):
    (item,) = barge_in.caller.interjections
    assert item.agent_audible_at_onset
    assert item.offset_ms == pytest.approx(1500.0, abs=20.0)
    # The agent's reply began where the caller heard it start (first audible sample).
    heard = [e.t_ms for e in barge_in.call.events if isinstance(e, ev.AgentAudioHeard)]
    assert any(abs(item.agent_onset_ms - t) <= 20.0 for t in heard)
    assert item.stop_ms is not None  # measured at the caller, whatever the agent did
    verdict = next(o for o in barge_in.outcomes if o.expectation == "barge_in_stop_ms")
    assert f"last agent audio heard {item.stop_ms:.0f} ms after the onset" in verdict.evidence


def test_a_turn_window_follows_the_caller_steps(barge_in):
    said = [a for a in barge_in.caller.actions if a.kind in ("say", "barge_in")]
    assert [a.step for a in said] == [0, 1, 2]
    assert all(a.onset_ms < a.speech_end_ms < a.ended_ms for a in said)
    # The caller's speech truth is what the engine measured latency from.
    origins = {round(t.origin_ms, 3) for t in barge_in.call.timelines if t.turn > 0}
    assert round(said[0].speech_end_ms, 3) in origins


def test_dtmf_digits_are_absent_from_every_output_of_a_card_payment(card_payment, tmp_path):
    result, log_messages = card_payment
    agent_lines = [text for speaker, text in result.call.transcript if speaker == "agent"]
    assert any(f"card ending in {CARD[-4:]}" in text for text in agent_lines)  # it was taken
    keyed = [e for e in result.call.events if isinstance(e, ev.DtmfReceived)]
    assert len(keyed) == len(CARD) + 1
    assert all(e.digit == "*" and e.secure for e in keyed[: len(CARD)])  # the card: masked
    assert [e.digit for e in keyed if e.digit.isdigit()] == []  # the closing '#' may show
    artefacts = {
        "json": json.dumps(results_to_dict([result], 1.0), default=str),
        "junit": junit_xml([result], 1.0),
        "html": html_report([result], 1.0),
        "terminal": terminal_text([result]),
        "pytest failure": failure_text(result),
        "logs": "\n".join(log_messages),
    }
    # A digit per event would slip past a search for runs: look at the keypad entries too.
    assert not re.search(r'"digit": "[0-9]"', artefacts["json"])
    assert not re.search(r"key [0-9]<", artefacts["html"])
    runs = {CARD[i : i + 6] for i in range(len(CARD) - 5)}  # any 6 consecutive digits
    for name, text in artefacts.items():
        digits_only = re.sub(r"[^0-9]", "", text)
        for run in runs:
            assert run not in text, f"{name} contains {run}"
        assert CARD not in digits_only, f"{name} contains the card number (separated)"


def test_junit_xml_is_well_formed_with_one_case_per_scenario(barge_in, card_payment):
    results = [barge_in, card_payment[0]]
    root = ET.fromstring(junit_xml(results, 3.5).split("\n", 1)[1])
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["barge", "card"]
    failed = [r for r in results if not r.passed]
    assert int(suite.get("failures")) == len(failed)
    for case, result in zip(cases, results, strict=True):
        failure = case.find("failure")
        assert (failure is None) == result.passed
        if failure is not None:
            assert failure.text.splitlines()[0] == result.failures[0].line()
        assert "caller:" in case.find("system-out").text or result.call.transcript == []


class StrictHtml(HTMLParser):
    """Fails on a closing tag that does not match the open one (html.parser is lenient)."""

    VOID = {"meta", "br", "rect", "hr", "img", "input", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.seen.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.seen.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def test_the_html_report_is_one_well_formed_self_contained_page(barge_in):
    page = html_report([barge_in], 2.0)
    parser = StrictHtml()
    parser.feed(page)
    parser.close()
    assert parser.stack == []
    assert "script" not in parser.seen and "link" not in parser.seen  # nothing external
    assert parser.seen.count("svg") == len(barge_in.call.timelines)  # a waterfall per turn
    assert "barge-in</span> “Sorry, what are your opening hours?”" in page
    assert "barge-in stop at the caller" in page
    for outcome in barge_in.outcomes:
        assert f"<td>{outcome.expectation}</td>" in page


def test_the_terminal_summary_names_failures_with_evidence(barge_in):
    text = terminal_text([barge_in])
    verdict = "PASS" if barge_in.passed else "FAIL"
    assert text.startswith(f"{verdict} barge ")
    for failure in barge_in.failures:
        assert failure.expectation in text
    assert "barge-in stop at the caller: p50" in text


def test_the_json_report_has_the_suite_numbers_and_every_expectation(barge_in):
    data = json.loads(json.dumps(results_to_dict([barge_in], 2.0), default=str))
    assert data["summary"]["scenarios"] == 1
    assert data["summary"]["barge_in_stop_ms"]["count"] == 1
    (scenario,) = data["scenarios"]
    assert len(scenario["expectations"]) == len(barge_in.outcomes)
    assert scenario["caller"]["interjections"][0]["offset_ms"] == pytest.approx(1500, abs=20)
    assert scenario["call"]["turns"]


def test_a_reply_begun_in_a_comma_pause_twice_still_answers_all_three_questions(runtime):
    # "What are your opening hours, | how much does it cost, | and are you open on Christmas?":
    # the agent starts in the first comma pause, is withdrawn as the caller goes on (and once
    # more): the merged turn keeps its first question.
    result = run_scenario(load_scenario(SCENARIOS_DIR / "three-questions.yaml"), runtime=runtime)
    assert result.call is not None
    said = [text for who, text in result.call.transcript if who == "caller"]
    assert "opening hours" in said[0] and "christmas" in said[0]
    assert result.passed, [o for o in result.outcomes if o.status != "pass"]
