"""`run_suite`: worker processes, results in the order given, a broken call reported per scenario."""

from __future__ import annotations

from pathlib import Path

from workbench.scenario.runner import RunOptions, run_suite
from workbench.scenario.schema import load_scenario


def broken_agent_scenarios(tmp_path: Path, count: int) -> list:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "agent.yaml").write_text("name: broken\ntopics: not-a-list\n")
    scenarios = []
    for i in range(count):
        path = tmp_path / f"s{i}.yaml"
        path.write_text(f"name: s{i}\nagent: agent\nsteps:\n  - say: {'hello ' * (i + 1)}\n")
        scenarios.append(load_scenario(path))
    return scenarios


def test_worker_processes_return_results_in_the_order_given(tmp_path):
    scenarios = broken_agent_scenarios(tmp_path, 3)
    seen = []
    results = run_suite(
        scenarios, jobs=2, options=RunOptions(check_crm=False), on_result=seen.append
    )
    assert [r.scenario.name for r in results] == ["s0", "s1", "s2"]
    assert sorted(r.scenario.name for r in seen) == ["s0", "s1", "s2"]
    for result in results:
        assert not result.passed and result.call is None
        assert result.error.startswith("the call could not run: ")
        assert "agent.yaml" in result.error


def test_one_process_runs_them_in_turn(tmp_path):
    results = run_suite(broken_agent_scenarios(tmp_path, 2), jobs=1)
    assert [r.scenario.name for r in results] == ["s0", "s1"]
    assert all(r.error for r in results)
