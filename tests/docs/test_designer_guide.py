"""docs/designer-guide.md: every YAML snippet is valid as the format it shows, and the tutorial,
followed literally (its files written, its commands run), ends in a passing suite."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench.agent.definition import load_definition
from workbench.paths import REPO_ROOT
from workbench.scenario.schema import parse_scenario
from workbench.speech.lexicon import Lexicon

GUIDE = REPO_ROOT / "docs" / "designer-guide.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)
KINDS = {"agent", "agent-part", "scenario", "scenario-steps", "scenario-expect", "lexicon", "table"}

BASE_AGENT = {
    "name": "Base",
    "company": "Base Co",
    "persona": "A receptionist.",
    "voice": "espeak:en-us",
    "greeting": "Hello.",
    "understanding": {"unknown_examples": ["tell me a joke", "what's the weather"]},
    "topics": [
        {
            "name": "Hours",
            "examples": ["when are you open", "hours", "opening hours", "are you open", "open"],
        }
    ],
}


def snippets() -> list[tuple[str, str, str]]:
    """(language, tag, body) of every fenced block in the guide."""
    text = GUIDE.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in FENCE.finditer(text)]


def yaml_snippets(kind: str) -> list[str]:
    return [body for language, tag, body in snippets() if language == "yaml" and tag == kind]


def test_every_yaml_snippet_says_what_it_is():
    tags = [tag for language, tag, _ in snippets() if language == "yaml"]
    assert tags and all(tag in KINDS or tag.startswith("file=") for tag in tags), tags


def test_the_guide_is_linked_from_the_readme():
    assert "(docs/designer-guide.md)" in (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def load_agent_text(tmp_path: Path, data: dict) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    load_definition(path)  # raises InputFileError naming the problem


@pytest.mark.parametrize("body", yaml_snippets("agent"))
def test_agent_snippets_are_whole_valid_agents(tmp_path, body):
    path = tmp_path / "agent.yaml"
    path.write_text(body, encoding="utf-8")
    load_definition(path)


@pytest.mark.parametrize("count", range(1, len(yaml_snippets("agent-part")) + 1))
def test_agent_fragments_are_valid_in_an_agent(tmp_path, count):
    """Fragments build on the ones before them (the actions use the slots shown earlier)."""
    data = dict(BASE_AGENT)
    for body in yaml_snippets("agent-part")[:count]:
        for key, value in yaml.safe_load(body).items():
            data[key] = data[key] + value if key == "topics" else value
    load_agent_text(tmp_path, data)


def lookup_fragment() -> dict:
    """The guide's fragment with the lookup and offer steps."""
    (body,) = [b for b in yaml_snippets("agent-part") if "lookup:" in b]
    return yaml.safe_load(body)


@pytest.fixture(scope="module")
def lookup_agent(tmp_path_factory):
    """A whole agent from the lookup fragment and the guide's table: the steps run as shown."""
    from workbench.agent import load_agent

    folder = tmp_path_factory.mktemp("guide-lookup")
    fragment = lookup_fragment()
    data = dict(BASE_AGENT, topics=BASE_AGENT["topics"] + fragment["topics"])
    data["actions"] = fragment["actions"]
    (folder / "agent.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (table,) = yaml_snippets("table")
    (folder / "members.yaml").write_text(table, encoding="utf-8")
    return load_agent(folder)


def guide_call(agent, *lines: str):
    conv = agent.new_conversation()
    agent.greet(conv)
    return conv, [" ".join(agent.respond(conv, line)[1].sentences) for line in lines]


def test_the_guides_lookup_finds_a_row_of_its_table(lookup_agent):
    _, said = guide_call(lookup_agent, "check my coverage", "ABC123456")
    assert said[0] == "What's your member ID?"
    assert said[1].startswith("Your Gold plan covers two cleanings a year and fillings.")


def test_the_guides_lookup_asks_again_twice_then_hands_off(lookup_agent):
    conv, said = guide_call(
        lookup_agent, "check my coverage", "ABC000000", "ABC000001", "ABC000002"
    )
    assert said[1].startswith("I can't find") and said[1].endswith("member ID again?")
    assert said[2].startswith("I can't find")
    assert conv.ended and conv.outcome == "human"  # the handoff to the front desk
    assert said[3] == "Let me connect you with a colleague."  # the escalation's wording


def test_the_guides_offer_runs_its_no_steps_or_its_yes_steps(lookup_agent):
    conv, said = guide_call(lookup_agent, "cancel my appointment", "Dana Lee", "no")
    assert said[1] == "Would you like to move it to another day instead?"
    reference = conv.captured["cancellation"]
    assert said[2].startswith("Your appointment is cancelled. Your reference is <spell>CX")
    assert conv.intended_crm_actions[0]["fields"] == {
        "Subject": "Cancel the appointment of Dana Lee",
        "Description": f"Cancelled by phone, reference {reference}",
        "SuppliedName": "Lee",
        "Priority": "Medium",
    }
    assert conv.outcome == "workflow" and conv.ended
    conv, said = guide_call(lookup_agent, "cancel my appointment", "Dana Lee", "perhaps", "yes")
    assert said[2] == "Sorry, shall I move it instead? Please say yes or no."
    assert conv.outcome == "human"  # yes: the handoff, and no Case for a cancellation
    (transfer,) = conv.intended_crm_actions
    assert transfer["fields"]["Subject"] == "Call transferred to Front desk: move an appointment"


@pytest.mark.parametrize("body", yaml_snippets("scenario"))
def test_scenario_snippets_are_valid_scenarios(body):
    parse_scenario(Path("guide.yaml"), yaml.safe_load(body), yaml.compose(body))


@pytest.mark.parametrize("body", yaml_snippets("scenario-steps"))
def test_the_steps_are_valid_steps(body):
    steps = yaml.safe_load(body)
    scenario = parse_scenario(Path("guide.yaml"), {"name": "steps", "steps": steps}, None)
    assert len(scenario.steps) == len(steps) == 11


@pytest.mark.parametrize("body", yaml_snippets("scenario-expect"))
def test_the_expectations_are_valid_expectations(body):
    expect = yaml.safe_load(body)
    data = {"name": "expect", "steps": [{"say": "hello"}], "expect": expect}
    scenario = parse_scenario(Path("guide.yaml"), data, None)
    assert scenario.expect.crm and scenario.expect.entities


@pytest.mark.parametrize("body", yaml_snippets("lexicon"))
def test_the_lexicon_snippet_loads(tmp_path, body):
    path = tmp_path / "lexicon.yaml"
    path.write_text(body, encoding="utf-8")
    assert Lexicon.load(path).apply("Cigna") != "Cigna"


def tutorial_files() -> dict[str, str]:
    return {tag[len("file=") :]: body for _, tag, body in snippets() if tag.startswith("file=")}


def tutorial_commands() -> list[list[str]]:
    commands = []
    for language, tag, body in snippets():
        if language == "bash" and tag == "tutorial":
            commands += [shlex.split(line) for line in body.splitlines() if line.strip()]
    return commands


def test_the_tutorial_writes_an_agent_and_three_scenarios():
    files = tutorial_files()
    assert sorted(files) == [
        "bikes/agent.yaml",
        "bikes/knowledge/shop.md",
        "bikes/scenarios/book-repair.yaml",
        "bikes/scenarios/mechanic.yaml",
        "bikes/scenarios/prices.yaml",
    ]
    assert [c[:2] for c in tutorial_commands()] == [
        ["workbench", "check"],
        ["workbench", "check"],
        ["workbench", "run"],
    ]


@pytest.mark.slow
def test_the_tutorial_followed_literally_ends_in_a_passing_suite(tmp_path):
    for name, body in tutorial_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body, encoding="utf-8")
    env = dict(os.environ, WORKBENCH_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO_ROOT))
    for command in tutorial_commands():
        assert command[0] == "workbench"
        done = subprocess.run(
            [sys.executable, "-m", "workbench", *command[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
        if command[1] == "run":
            assert "3 passed, 0 failed of 3 scenarios" in done.stdout
        else:
            assert done.stdout.startswith("ok: 1 agent(s)")
