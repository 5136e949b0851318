"""`bench engine` and `bench judge` listen with the fast ear unless `--ear` says otherwise, and
their JSON says which ear the calls listened with."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from workbench.cli import app, main
from workbench.engine import bench, judge_bench
from workbench.engine import events as ev

pytestmark = pytest.mark.slow


def ear_of(result) -> str:
    return next(e for e in result.events if isinstance(e, ev.CallStarted)).settings["ear"]


@pytest.fixture
def one_question(monkeypatch):
    """The engine bench cut down to one line per kind of call (its figures do not matter)."""
    monkeypatch.setattr(bench, "LONG_CALL_LINES", ["What are your opening hours?"])
    monkeypatch.setattr(bench, "LATENCY_QUESTIONS", ["What are your opening hours?"])


@pytest.mark.parametrize(("flag", "ear"), [(None, "fast"), ("accurate", "accurate")])
def test_bench_engine_reports_the_ear_its_calls_listened_with(one_question, flag, ear):
    report = bench.run_engine_bench(quick=True, ear=flag)

    assert report["ear"] == ear
    assert report["turn_latency_clean_network"]["semantic"]["n"] == 1


def test_the_judge_bench_talks_over_the_agent_with_the_fast_ear_unless_told(runtime):
    fast, _ = judge_bench.talk_over(runtime, "Okay.")
    accurate, _ = judge_bench.talk_over(runtime, "Okay.", ear="accurate")

    assert ear_of(fast) == "fast"
    assert ear_of(accurate) == "accurate"


def test_bench_judge_json_names_the_ear(monkeypatch):
    monkeypatch.setattr(judge_bench, "BACKCHANNELS", ("Okay.",))
    monkeypatch.setattr(judge_bench, "INTERRUPTIONS", ("Wait, what are your opening hours?",))

    result = CliRunner().invoke(
        app, ["bench", "judge", "--voice", "piper:joe", "--ear", "accurate"]
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ear"] == "accurate" and report["lines"] == 2


@pytest.mark.parametrize("command", [["bench", "engine"], ["bench", "judge"]])
def test_an_unknown_ear_is_one_error_line(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--ear", "loud"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: unknown ear 'loud' (choose one of: fast, accurate)\n"
