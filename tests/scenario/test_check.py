"""`workbench check`: each mistake a designer makes is caught before a run, naming the file,
line and column and the fix; `workbench run` stops on the same problems with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.scenario.check import check_paths

ROOT = Path(__file__).resolve().parents[2]

AGENT = """\
name: Clinic
company: Clinic Co
persona: A receptionist.
voice: espeak:en-us
greeting: Hello.
topics:
  - name: Hours
    examples: [when are you open, what are your hours, are you open today, opening times, hours please]
    knowledge: [hours]
    answer: ["{knowledge}"]
  - name: Booking
    examples: [book an appointment, i need an appointment, can i see the dentist, make a booking, schedule a visit]
    slots:
      - name: name
        entity: person_name
        prompt: May I have your name?
    answer: ["Thanks {name}."]
"""

SCENARIO = """\
name: hours
agent: ../agent
steps:
  - say: When are you open?
    expect: {topic: Hours}
"""


def make(tmp_path: Path, agent: str = AGENT, scenario: str = SCENARIO) -> Path:
    (tmp_path / "agent" / "knowledge").mkdir(parents=True)
    (tmp_path / "agent" / "agent.yaml").write_text(agent)
    (tmp_path / "agent" / "knowledge" / "hours.md").write_text("# Hours\n\nWe open at nine.\n")
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "hours.yaml").write_text(scenario)
    return tmp_path


def problems(tmp_path: Path, **files: str) -> list[str]:
    make(tmp_path, **files)
    return check_paths([tmp_path / "agent", tmp_path / "scenarios"]).problems


def workbench(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, WORKBENCH_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_correct_agent_and_scenario_have_no_problems(tmp_path):
    assert problems(tmp_path) == []


def test_the_bundled_agent_and_scenarios_check_clean():
    result = check_paths([ROOT / "scenarios", ROOT / "assets" / "agents" / "northwind"])
    assert result.problems == []
    assert len(result.scenarios) >= 20 and len(result.agents) == 1


def test_an_expected_topic_the_agent_lacks_is_named_with_a_suggestion(tmp_path):
    found = problems(tmp_path, scenario=SCENARIO.replace("topic: Hours", "topic: Hour"))
    assert found == [
        f"{tmp_path / 'scenarios' / 'hours.yaml'}:5:14: steps[0].expect.topic: the agent has "
        "no topic 'Hour' (did you mean 'Hours'?); its topics: Hours, Booking, Unknown"
    ]


def test_a_wait_for_topic_and_a_call_topic_are_checked_too(tmp_path):
    scenario = SCENARIO + "  - wait_for: topic\n    topic: Bookings\nexpect: {topic: Hourz}\n"
    found = problems(tmp_path, scenario=scenario)
    assert [line.split(": ", 2)[1] for line in found] == ["steps[1].topic", "expect.topic"]
    assert "did you mean 'Booking'?" in found[0] and "did you mean 'Hours'?" in found[1]


def test_an_expected_slot_the_agent_lacks_is_named(tmp_path):
    scenario = SCENARIO + "expect: {entities: {nam: Dana}}\n"
    found = problems(tmp_path, scenario=scenario)
    assert len(found) == 1
    assert (
        ":6:21: expect.entities.nam: no slot or entity type 'nam' (did you mean 'name'?)"
        in (found[0])
    )


def test_a_misindented_agent_is_explained_in_plain_words(tmp_path):
    agent = AGENT.replace("    knowledge: [hours]", "   knowledge: [hours]")
    found = problems(tmp_path, agent=agent)
    assert found[0] == (
        f"{tmp_path / 'agent' / 'agent.yaml'}:9:4: invalid YAML: this line is indented "
        "differently from the lines above it; entries of one list or mapping must start in the "
        "same column (the block begins on line 7)"
    )
    assert "<block end>" not in "\n".join(found)


def test_an_unquoted_colon_in_a_value_is_explained(tmp_path):
    found = problems(tmp_path, agent=AGENT.replace("greeting: Hello.", "greeting: Hi: welcome"))
    assert found[0].startswith(f"{tmp_path / 'agent' / 'agent.yaml'}:5:")
    assert "must be put in quotes" in found[0]


def test_tabs_are_named(tmp_path):
    found = problems(tmp_path, scenario=SCENARIO.replace("  - say", "\t- say"))
    assert found == [
        f"{tmp_path / 'scenarios' / 'hours.yaml'}:4:1: invalid YAML: a tab character; "
        "YAML indents with spaces only"
    ]


def test_unknown_keys_suggest_the_field_meant(tmp_path):
    agent = AGENT.replace("    examples: [book", "    exmaples: [book").replace(
        "        prompt:", "        promt:"
    )
    found = problems(tmp_path, agent=agent, scenario=SCENARIO.replace("expect:", "expct:"))
    text = "\n".join(found)
    assert "agent.yaml:12:5: topics[1].exmaples: unknown field (did you mean 'examples'?)" in text
    assert "agent.yaml:16:9: topics[1].slots[0].promt: unknown field (did you mean 'prompt'?)" in (
        text
    )
    assert "hours.yaml:5:5: steps[0].expct: unknown field (did you mean 'expect'?)" in text


def test_a_missing_knowledge_file_is_named(tmp_path):
    found = problems(tmp_path, agent=AGENT.replace("knowledge: [hours]", "knowledge: [hour]"))
    assert found == [
        f"{tmp_path / 'agent' / 'agent.yaml'}:9:17: topics[0].knowledge[0]: no knowledge file "
        f"hour.md in {tmp_path / 'agent' / 'knowledge'} (did you mean 'hours'?)"
    ]


def test_unknown_voices_are_named_for_agent_and_caller(tmp_path):
    scenario = SCENARIO.replace("agent: ../agent\n", "agent: ../agent\ncaller: {voice: piper:jo}\n")
    found = problems(
        tmp_path,
        agent=AGENT.replace("voice: espeak:en-us", "voice: espeak:en-uss"),
        scenario=scenario,
    )
    assert (
        "agent.yaml:4:1: voice: unknown voice 'espeak:en-uss' (did you mean 'espeak:en-us'?)"
        in (found[0])
    )
    assert (
        "hours.yaml:3:10: caller.voice: unknown voice 'piper:jo' (did you mean 'piper:joe'?)"
        in (found[1])
    )


def test_escalation_must_name_an_existing_topic(tmp_path):
    found = problems(tmp_path, agent=AGENT + "escalation:\n  topics: [Bookin]\n")
    assert found == [
        f"{tmp_path / 'agent' / 'agent.yaml'}:19:12: escalation.topics[0]: no topic named "
        "'Bookin' (did you mean 'Booking'?)"
    ]


def test_a_scenario_whose_agent_is_broken_says_so(tmp_path):
    make(tmp_path, agent=AGENT.replace("voice: espeak:en-us\n", ""))
    found = check_paths([tmp_path / "scenarios"]).problems
    assert found[0].endswith("agent.yaml:1:1: voice: required field is missing")
    assert found[1] == (
        f"{tmp_path / 'scenarios' / 'hours.yaml'}: its agent {tmp_path / 'agent'} has problems "
        "(listed above)"
    )


def test_duplicate_scenario_names_are_reported(tmp_path):
    make(tmp_path)
    (tmp_path / "scenarios" / "again.yaml").write_text(SCENARIO)
    found = check_paths([tmp_path / "scenarios"]).problems
    assert len(found) == 1 and "'hours' is also the name of" in found[0]


@pytest.mark.slow
def test_check_command_lists_every_problem_and_exits_2(tmp_path):
    make(tmp_path, scenario=SCENARIO.replace("topic: Hours", "topic: Hour"))
    done = workbench("check", str(tmp_path / "agent"), str(tmp_path / "scenarios"), home=tmp_path)
    assert done.returncode == 2
    assert "the agent has no topic 'Hour' (did you mean 'Hours'?)" in done.stderr
    assert done.stderr.rstrip().endswith("1 problem found")
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.slow
def test_check_command_says_ok_for_a_clean_suite(tmp_path):
    make(tmp_path)
    done = workbench("check", str(tmp_path / "agent"), str(tmp_path / "scenarios"), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok: 1 agent(s), 1 scenario(s), no problems"


@pytest.mark.slow
def test_run_checks_first_and_never_shows_a_traceback(tmp_path):
    make(
        tmp_path, agent=textwrap.dedent(AGENT).replace("    knowledge: [hours]", "   knowledge: x")
    )
    done = workbench("run", str(tmp_path / "scenarios"), "--ear", "fast", home=tmp_path)
    assert done.returncode == 2
    assert "agent.yaml:9:4: invalid YAML: this line is indented differently" in done.stderr
    assert "nothing was run" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


ACTION_AGENT = AGENT.replace(
    '    answer: ["Thanks {name}."]\n',
    '    action: save\n    answer: ["Thanks {name}."]\n'
    "actions:\n  save:\n    - crm:\n        object: Task\n"
    '        fields: {Subject: "Booking for {name}", ActivityDate: "{day}"}\n',
)


def test_a_crm_field_the_org_lacks_is_named_with_a_suggestion(tmp_path):
    assert problems(tmp_path, agent=ACTION_AGENT) == [
        f"{tmp_path / 'agent' / 'agent.yaml'}:23:49: actions.save[0].crm.fields.ActivityDate: "
        "{day} names no value in '{day}'"
    ]
    found = problems(tmp_path / "b", agent=ACTION_AGENT.replace("Subject:", "Subjet:"))
    assert any(
        "actions.save[0].crm.fields.Subjet: Task.Subjet: no such field (did you mean 'Subject'?)"
        in line
        for line in found
    )


def test_a_template_value_no_slot_provides_is_named(tmp_path):
    found = problems(
        tmp_path, agent=AGENT.replace('answer: ["Thanks {name}."]', 'answer: ["Thanks {nmae}."]')
    )
    assert found == [
        f"{tmp_path / 'agent' / 'agent.yaml'}:17:5: topics[1].answer: {{nmae}} names no value "
        "(did you mean 'name'?) in 'Thanks {nmae}.'"
    ]
