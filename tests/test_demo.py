"""`workbench demo --ear`: the demo call listens with the accurate ear unless told otherwise,
and its header says which ear it heard the caller with."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from workbench.cli import app, main

pytestmark = pytest.mark.slow

FINAL_PASS_LANE = "STT final pass (whisper base"  # (rich may wrap the rest of the name)


def demo(*args: str) -> str:
    result = CliRunner().invoke(app, ["demo", "--no-crm", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_demo_listens_with_the_accurate_ear_by_default(tmp_path):
    output = demo("--json", str(tmp_path / "call.json"))
    assert "demo call · accurate ear" in output
    call = json.loads((tmp_path / "call.json").read_text())
    finals = [e for e in call["events"] if e["event"] == "FinalTranscript"]
    assert finals and all(final["ear"] == "accurate" for final in finals)


def test_the_demo_listens_with_the_fast_ear_when_asked():
    output = demo("--ear", "fast")
    assert "demo call · fast ear" in output
    assert FINAL_PASS_LANE not in output and "STT finalisation" in output


def test_an_unknown_ear_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--ear", "loud"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: unknown ear 'loud' (choose one of: fast, accurate)\n"
