"""`workbench bench scorecard`: judging a finished call costs a sliver of the call itself."""

from __future__ import annotations

import pytest

from workbench.scenario.scorecard_bench import SCENARIOS, run_scorecard_bench

pytestmark = pytest.mark.slow


def test_scoring_and_tracing_a_call_costs_under_two_percent_of_its_cpu():
    report = run_scorecard_bench(repeats=3)
    assert [row["scenario"] for row in report["calls"]] == list(SCENARIOS)
    for row in report["calls"]:
        assert row["events"] > 0 and row["turns"] >= 1, row
        assert 0 < row["scorecard_and_log_cpu_ms"] < row["call_cpu_ms"] * 0.02, row
    assert report["worst_share_of_call_cpu"] < 0.02
