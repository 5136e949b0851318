"""Goal-driven callers: a persona, and rules that answer what the agent just asked.

The slow tests run the designer guide's goal scenario, unchanged but for `agent:`, with the
demo agent and the dental agent in process: one file, no line written for either's wording.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from workbench.errors import InputFileError
from workbench.paths import ASSETS_DIR, REPO_ROOT
from workbench.scenario.persona import Rule, choose_rule, fill_persona, misread, spelled
from workbench.scenario.schema import parse_scenario

GUIDE = REPO_ROOT / "docs" / "designer-guide.md"


def guide_goal_scenario() -> str:
    blocks = re.findall(r"^```yaml scenario\n(.*?)^```", GUIDE.read_text(), re.S | re.M)
    return next(body for body in blocks if "goal:" in body)


def rules(*pairs: tuple[str, str]) -> list[Rule]:
    return [Rule(when=when, say=say) for when, say in pairs]


def test_the_rule_that_matched_latest_in_the_reply_answers_it():
    answers = rules(("/name/", "name"), ("/mail/", "email"))
    assert choose_rule(answers, "Thanks, David Lee. What email address?").say == "email"
    assert choose_rule(answers, "Got your email. And your full name?").say == "name"
    assert choose_rule(answers, "Which day suits you?") is None


def test_rules_match_words_as_the_callers_ear_hears_them():
    answers = rules(("/8 ?AM/", "the morning"), ("/check ?up/", "a checkup"))
    assert choose_rule(answers, "we have 8 a m free").say == "the morning"
    assert choose_rule(answers, "is it for a check up").say == "a checkup"


def test_values_are_spelled_as_a_person_spells_them():
    assert spelled("lee@example.com") == "l e e at example dot com"
    assert spelled("jo.li@mail.example.org") == "j o dot l i at mail dot example dot org"
    assert spelled("AB-12") == "a b dash 1 2"


def test_persona_values_fill_placeholders_and_leave_others_as_written():
    persona = {"email": "lee@example.com"}
    data = {"crm": [{"fields": {"Email": "{email}", "Phone": r"/\d{3}/", "Note": "{other}"}}]}
    assert fill_persona(data, persona) == {
        "crm": [{"fields": {"Email": "lee@example.com", "Phone": r"/\d{3}/", "Note": "{other}"}}]
    }


def test_the_guides_goal_scenario_fills_its_persona_into_rules_and_lines():
    body = guide_goal_scenario()
    scenario = parse_scenario(Path("guide.yaml"), yaml.safe_load(body), yaml.compose(body))
    assert scenario.goal is not None
    lines = scenario.goal.lines()
    assert "My name is David Lee." in lines and "d a v i d at example dot com" in lines


@pytest.mark.parametrize(
    "rule, why",
    [
        ({"when": "/name/"}, "a rule needs exactly one of say or spell"),
        ({"when": "/(/", "say": "x"}, "invalid regex"),
        ({"when": "/name/", "say": "x", "spell": "y"}, "a rule needs exactly one of say or spell"),
    ],
)
def test_a_bad_rule_is_one_clear_line(rule, why):
    data = {"name": "g", "steps": [{"say": "hi"}], "goal": {"rules": [rule]}}
    with pytest.raises(InputFileError, match=re.escape(why)):
        parse_scenario(Path("g.yaml"), data, None)


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["northwind", "dental"])
def test_a_goal_driven_caller_books_with_an_agent_whose_wording_it_was_not_written_for(
    agent, tmp_path
):
    from workbench.engine.calls import CallRuntime
    from workbench.scenario.runner import run_scenario
    from workbench.scenario.schema import load_scenario

    data = yaml.safe_load(guide_goal_scenario())
    data["agent"] = str(ASSETS_DIR / "agents" / agent)
    path = tmp_path / "goal.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run_scenario(load_scenario(path), CallRuntime())
    said = [o for o in result.outcomes if o.expectation == "agent_said"]
    assert [o.status for o in said] == ["pass"], [o.line() for o in result.outcomes]
    said_by_caller = [action.text for action in result.caller.actions]
    assert {"My name is David Lee.", "Next Tuesday"} <= set(said_by_caller)


@pytest.mark.parametrize(
    ("value", "reply", "wrong"),
    [
        ("James Smith", "I have Jane Smith, is that right?", True),
        ("James Smith", "I have James Smith, is that right?", False),
        ("James Smith", "Thanks, James. Is that right?", False),  # a word left out: not misread
        ("james@example.com", "I have jamesadexample dot com. Correct?", True),
        ("james@example.com", "I have j a m e s at example dot com. Correct?", False),
        ("james@example.com", "Next Tuesday at 2 PM, is that right?", False),  # another value
    ],
)
def test_a_read_back_is_misread_when_part_of_the_value_is_there_and_the_rest_is_garbled(
    value, reply, wrong
):
    assert misread(value, reply) is wrong


def test_a_checked_confirmation_corrects_a_wrong_read_back_and_confirms_a_right_one():
    rule = Rule(when="/right|correct/", say="Yes.", check=["James Smith", "james@example.com"])
    assert rule.answer("I have James Smith, is that right?") == "Yes."
    assert rule.answer("I have Jane Smith, is that right?") == "No, it's James Smith."
    assert (
        rule.answer("So that's jamesadexample dot com, correct?")
        == "No, it's j a m e s at example dot com."
    )
    # every line it may say is known beforehand (the caller renders them before the call)
    assert set(rule.lines()) == {
        "Yes.",
        "No, it's James Smith.",
        "No, it's j a m e s at example dot com.",
    }
