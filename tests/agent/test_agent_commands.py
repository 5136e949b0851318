"""`workbench classify`, `workbench chat` and `workbench bench agent` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli import app, main
from workbench.paths import DEMO_AGENT_DIR


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    import os

    return dict(os.environ)


def workbench(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_classify_prints_one_json_object_per_line(env: dict[str, str]) -> None:
    result = workbench(env, "classify", stdin="what time do you open\n\nmy order is NW-48213\n")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["topic"] for line in lines] == ["OpeningHours", "OrderStatus"]
    assert lines[0]["text"] == "what time do you open" and 0 < lines[0]["confidence"] <= 1
    assert lines[1]["entities"] == [
        {"type": "order_number", "value": "NW-48213", "start": 12, "end": 20}
    ]


def test_classify_with_a_broken_agent_is_one_error_line_per_problem(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "agent.yaml").write_text("name: x\ncolour: blue\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        main(["classify", "--agent", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "agent.yaml:2:1: colour: unknown field" in err
    assert "Traceback" not in err


def test_chat_greets_replies_and_ends_on_bye(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["chat", "--show-plan"], input="what are your opening hours\nbye\n"
    )
    assert result.exit_code == 0, result.output
    assert "Thank you for calling Northwind Software" in result.output
    assert "8 AM to 6 PM" in result.output
    assert "topic OpeningHours" in result.output and "plan:" in result.output


def test_chat_takes_keypad_keys_and_silence(env: dict[str, str]) -> None:
    lines = "I want to pay my invoice by card\n/keys 4111111111111111#\n/silence\nbye\n"
    result = CliRunner().invoke(app, ["chat"], input=lines)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "card ending in 1111" in output and "<digits>" not in output
    assert "actions take_payment" in output and "Are you still there?" in output


def test_bench_agent_prints_json(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["bench", "agent", "--no-speech", "--repeat", "20", "--agent", str(DEMO_AGENT_DIR)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["heldout_accuracy"] >= 0.95
    assert set(report["understand_ms"]) == {"p50", "p95"}


def test_voices_lists_the_voices_agents_and_callers_can_use() -> None:
    result = CliRunner().invoke(app, ["voices"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert "piper:joe" in lines and "espeak:en-us+klatt3  (default caller voice)" in lines


def test_say_help_points_at_the_voices_command() -> None:
    result = CliRunner().invoke(app, ["say", "--help"])
    assert "workbench voices" in " ".join(result.output.split())
    assert "list_voices" not in result.output


def test_chat_shows_a_spelled_read_back_as_letters(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["chat"], input="I'd like to book a demo\nThis is Dana Lee\nbye\n"
    )
    output = " ".join(result.output.split())
    assert "spelled D-A-N-A L-E-E" in output and "<spell>" not in output
