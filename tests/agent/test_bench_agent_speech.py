"""`workbench bench agent --quick`: the text figures as before, and a `speech` object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.paths import DEMO_AGENT_DIR


@pytest.mark.slow  # speaks nine utterances and loads both ears
def test_bench_agent_quick_adds_speech_to_the_text_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    result = CliRunner().invoke(
        app, ["bench", "agent", "--quick", "--repeat", "5", "--agent", str(DEMO_AGENT_DIR)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # The text part keeps its keys.
    assert report["heldout_utterances"] == 88 and report["heldout_accuracy"] >= 0.95
    assert set(report["understand_ms"]) == {"p50", "p95"}
    speech = report["speech"]
    assert speech["quick"] is True
    assert speech["utterances"] == 9  # one per topic
    assert set(speech["ears"]) == {"fast", "accurate"}
    assert isinstance(speech["checks"]["accurate_within_3_points_of_text"], bool)
    assert "load_average_1m_at_start" in speech["machine"]


def test_bench_agent_no_speech_is_text_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["bench", "agent", "--no-speech", "--repeat", "5"])
    assert result.exit_code == 0, result.output
    assert "speech" not in json.loads(result.stdout)
