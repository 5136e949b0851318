"""Scenario files as load-test plans: weights from tags and the intent the CRM should record."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

from workbench.paths import REPO_ROOT
from workbench.scenario.schema import load_scenario

_SPEC = importlib.util.spec_from_file_location(
    "loadtests_call_script", REPO_ROOT / "loadtests/call_script.py"
)
call_script = importlib.util.module_from_spec(_SPEC)
sys.modules["loadtests_call_script"] = call_script
_SPEC.loader.exec_module(call_script)


def scenario(tmp_path: Path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(text.lstrip())
    return load_scenario(path)


def test_weight_comes_from_a_weight_tag_with_a_default_of_one(tmp_path: Path):
    heavy = scenario(tmp_path, 'name: a\ntags: [smoke, "weight:5"]\nsteps: [{say: hi}]\n')
    plain = scenario(tmp_path, "name: b\ntags: [smoke]\nsteps: [{say: hi}]\n")
    assert call_script.scenario_weight(heavy) == 5.0
    assert call_script.scenario_weight(plain) == 1.0


def test_weighted_pick_follows_the_weights():
    plans = [
        call_script.CallPlan("often", 9.0, (), "+1", 10.0, None),
        call_script.CallPlan("rarely", 1.0, (), "+1", 10.0, None),
    ]
    rng = random.Random(7)
    picks = [call_script.pick(plans, rng).name for _ in range(2000)]
    assert 0.85 < picks.count("often") / len(picks) < 0.95


def test_expected_intent_is_the_crm_voicecall_intent_else_the_call_topic():
    opening = load_scenario(REPO_ROOT / "scenarios/opening-hours.yaml")
    assert call_script.expected_intent(opening) == "OpeningHours"
    # A per-turn topic (the barge-in's question) is not what the call's record carries.
    barge = load_scenario(REPO_ROOT / "scenarios/barge-in-long-answer.yaml")
    assert call_script.expected_intent(barge) is None
    backchannels = load_scenario(REPO_ROOT / "scenarios/backchannels-long-answer.yaml")
    assert call_script.expected_intent(backchannels) == "BillingQuestion"


def test_synthetic_voice_is_audible_deterministic_and_grows_with_the_text():
    short = call_script.synthetic_render("uh-huh")
    long = call_script.synthetic_render("What are your opening hours on Saturday?")
    assert len(long) > len(short)
    assert (short == call_script.synthetic_render("uh-huh")).all()
    assert abs(short.astype(int)).max() > 3000
