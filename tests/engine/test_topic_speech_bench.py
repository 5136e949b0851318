"""The speech part of `bench agent`: held-out utterances spoken, heard by each ear, classified."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.engine.topic_speech_bench import run_topic_speech_bench
from workbench.paths import DEMO_AGENT_DIR

pytestmark = pytest.mark.slow  # piper, two pocketsphinx decoders and Whisper load


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    heldout = {"OpeningHours": ["what are your hours"], "SpeakToHuman": ["i want an operator"]}
    return run_topic_speech_bench(DEMO_AGENT_DIR, heldout=heldout)


def test_each_ear_reports_accuracy_its_gap_to_text_changes_and_wer(report: dict[str, Any]) -> None:
    assert report["voice"] == "piper:joe" and report["network"] == "clean"
    assert report["utterances"] == 2 and report["text_accuracy"] == 1.0
    assert set(report["ears"]) == {"fast", "accurate"}
    for ear in report["ears"].values():
        assert set(ear) == {"accuracy", "points_vs_text", "wer", "topic_changed"}
        assert 0.0 <= ear["accuracy"] <= 1.0 and ear["wer"] >= 0.0
        assert ear["points_vs_text"] == pytest.approx((ear["accuracy"] - 1.0) * 100, abs=0.1)
        for change in ear["topic_changed"]:
            assert set(change) == {"topic", "reference", "heard", "text_topic", "heard_topic"}
            assert change["heard_topic"] != change["text_topic"]


def test_the_accurate_ear_keeps_the_topic_of_clearly_spoken_utterances(
    report: dict[str, Any],
) -> None:
    accurate = report["ears"]["accurate"]
    assert accurate["topic_changed"] == [] and accurate["accuracy"] == 1.0
    assert report["checks"] == {"accurate_within_3_points_of_text": True}


def test_the_machine_and_its_load_are_recorded(report: dict[str, Any]) -> None:
    machine = report["machine"]
    assert machine["cpu_count"] >= 1
    assert machine["load_average_1m_at_start"] >= 0 and machine["load_average_1m_at_end"] >= 0
