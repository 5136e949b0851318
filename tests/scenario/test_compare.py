"""`workbench compare BASE NEW`: verdict changes and turn-latency regressions between two real runs.

The runs are real scenario calls (the demo agent, the whole audio pipeline) under the `fixed`
latency profile (the base) and under `slow-llm` (the new run: the same scenarios with a slow
hosted LLM), written as `workbench run --json` writes them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.scenario.compare import compare, load_side
from workbench.scenario.runner import RunOptions, run_suite
from workbench.scenario.schema import load_scenario
from workbench.scenario.summary import results_to_dict

HOURS = """\
name: hours
description: A caller asks when the office is open, then says goodbye.
steps:
  - say: What are your opening hours?
    expect: {topic: OpeningHours}
  - say: No thank you goodbye.
"""

# The same call with a turn-latency budget that a slow LLM breaks.
HOURS_BUDGET = HOURS.replace("name: hours", "name: hours-budget") + (
    "expect:\n  turn_latency_ms: {p95: 600}\n"
)


def write_run(tmp: Path, name: str, profile: str) -> Path:
    scenarios = [load_scenario(tmp / "hours.yaml"), load_scenario(tmp / "hours-budget.yaml")]
    results = run_suite(scenarios, options=RunOptions(profile=profile, check_crm=False))
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(results_to_dict(results, 1.0), default=str))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("compare")
    (tmp / "hours.yaml").write_text(HOURS)
    (tmp / "hours-budget.yaml").write_text(HOURS_BUDGET)
    return {"base": write_run(tmp, "base", "fixed"), "slow": write_run(tmp, "slow", "slow-llm")}


def only(path: Path, name: str, out: Path) -> Path:
    """The run file with one scenario kept (a run of that scenario alone)."""
    data = json.loads(path.read_text())
    data["scenarios"] = [s for s in data["scenarios"] if s["name"] == name]
    out.write_text(json.dumps(data))
    return out


def workbench(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *map(str, args)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )


def test_the_run_files_carry_what_compare_needs(runs):
    data = json.loads(runs["base"].read_text())
    item = data["scenarios"][0]
    assert item["latency_profile"] == "fixed"
    assert item["ear"] == "accurate" and item["seed"] == 0
    assert item["agent"]["name"] == "Northwind Receptionist" and len(item["agent"]["hash"]) == 16
    assert [t["turn"] for t in item["turn_latencies_ms"]] == [1, 2]
    assert item["scorecard"]["resolution"] == "ai_resolved"


def test_a_run_against_itself_exits_0(runs):
    done = workbench("compare", runs["base"], runs["base"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no regression" in done.stdout
    assert "REGRESSED" not in done.stdout


def test_a_slower_latency_profile_exits_1_naming_the_turns_that_regressed(runs, tmp_path):
    base = only(runs["base"], "hours", tmp_path / "base.json")
    slow = only(runs["slow"], "hours", tmp_path / "slow.json")
    done = workbench("compare", base, slow, "--html", tmp_path / "c.html")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "verdict:" not in done.stdout  # the scenario still passes: latency alone regressed
    assert "REGRESSED: p95 turn latency" in done.stdout
    # The slow LLM's turn 1 waits for a filler at 900 ms: three times the fixed profile's.
    assert "turns: hours turn 1" in done.stdout
    assert "REGRESSED: hours turn 1 “what are your opening hours”" in done.stdout
    assert "setup: hours: latency_profile fixed → slow-llm" in done.stdout
    page = (tmp_path / "c.html").read_text()
    # The page marks the same turns the text names (turn 1 at least; the goodbye's reply may
    # wait for the slow LLM too).
    named = done.stdout.count("REGRESSED: hours turn ")
    assert named >= 1 and page.count(">regressed<") == named


def test_a_generous_limit_lets_the_same_slowdown_pass(runs, tmp_path):
    base = only(runs["base"], "hours", tmp_path / "base.json")
    slow = only(runs["slow"], "hours", tmp_path / "slow.json")
    result = compare(load_side(base), load_side(slow), max_latency_regression_pct=1000.0)
    assert not result.regressed
    assert result.latency["p95_change_pct"] > 10.0  # it did get slower, within the limit


def test_a_pass_to_fail_change_exits_1(runs, tmp_path):
    base = only(runs["base"], "hours-budget", tmp_path / "base.json")
    slow = only(runs["slow"], "hours-budget", tmp_path / "slow.json")
    done = workbench("compare", base, slow, "--max-latency-regression", "100000")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "verdict: hours-budget: pass → fail" in done.stdout
    assert "REGRESSED: hours-budget: pass → fail" in done.stdout
    # and back: fail → pass is reported, and is no regression
    back = workbench("compare", slow, base)
    assert back.returncode == 0, back.stdout + back.stderr
    assert "verdict: hours-budget: fail → pass" in back.stdout


def test_repeats_give_each_turn_an_interval(runs, tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "n").mkdir()
    for i in range(3):  # the same run thrice on each side: virtual time makes them identical
        only(runs["base"], "hours", tmp_path / "b" / f"{i}.json")
        only(runs["slow"], "hours", tmp_path / "n" / f"{i}.json")
    result = compare(load_side(tmp_path / "b"), load_side(tmp_path / "n"))
    turn = result.turns[0]
    assert turn.interval is not None and turn.interval.low > 0
    assert turn.regressed


def test_a_file_that_is_not_a_run_is_a_one_line_error(tmp_path, runs):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    done = workbench("compare", bad, runs["base"])
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"error: {bad}: not a run report (write one with `workbench run ... --json FILE`)"
    )
    assert "Traceback" not in done.stderr
