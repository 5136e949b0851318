"""`bench vad`: how onsets, misses and false fires are counted, and the report it prints."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from workbench.speech.labelled_lines import Condition, LabelledClip
from workbench.speech.vad_bench import ClipResult, run_vad_bench, score


def _clip(kind: str = "interruption", onset: float | None = 1000.0) -> LabelledClip:
    end = None if onset is None else onset + 500.0
    return LabelledClip(
        "t-000", "tune", kind, "Wait.", None, None, Condition(), np.zeros(24000, np.int16),
        onset, end,
    )  # fmt: skip


def test_onset_latency_runs_from_the_true_onset_to_the_confirming_frame():
    result = ClipResult(_clip(), confirmed_ms=(1100.0,), ended_ms=(), frame_us=(1.0,))
    assert result.onset_latency_ms == 100.0
    assert not result.early and not result.missed


def test_a_fire_on_the_lead_in_is_early_and_one_still_held_at_the_onset_is_no_miss():
    held = ClipResult(_clip(), confirmed_ms=(900.0,), ended_ms=(), frame_us=(1.0,))
    assert held.early and held.covered and not held.missed
    assert held.onset_latency_ms is None
    released = ClipResult(_clip(), confirmed_ms=(700.0,), ended_ms=(950.0,), frame_us=(1.0,))
    assert released.early and not released.covered and released.missed


def test_a_start_long_after_the_voice_ended_is_a_miss():
    late = ClipResult(_clip(), confirmed_ms=(1900.0,), ended_ms=(), frame_us=(1.0,))
    assert late.missed


def test_any_start_on_a_noise_clip_is_a_false_fire():
    quiet = ClipResult(_clip("noise", None), (), (), (1.0,))
    fired = ClipResult(_clip("noise", None), (300.0,), (), (1.0,))
    summary = score([quiet, fired, ClipResult(_clip(), (1040.0,), (), (2.0,))])
    assert summary["false_fires"] == 1 and summary["noise_clips"] == 2
    assert summary["onset_ms_p50"] == 40.0
    assert summary["missed"] == {"acknowledgement": 0, "interruption": 0}


@pytest.mark.slow
def test_the_bench_tunes_on_one_half_and_reports_the_other():
    report = run_vad_bench(
        quick=True, voices=("espeak:en-us+f3",), detectors=("webrtcvad", "silero+energy")
    )
    assert report["clips"]["tune"] == report["clips"]["heldout"] > 0
    for name in ("webrtcvad", "silero+energy"):
        entry = report["detectors"][name]
        assert entry["config"] in [
            {k: v for k, v in row.items() if k not in ("errors", "onset_ms_p90")}
            for row in entry["tune"]["grid"]
        ]
        assert entry["heldout"]["onset_ms_p50"] is not None
        assert (
            entry["heldout"]["speech_clips"] + entry["heldout"]["noise_clips"]
            == (report["clips"]["heldout"])
        )
    assert report["cost"]["us_per_frame_median"]["silero+energy"] > 0
    assert report["shipped_webrtcvad"]["config"] == {"aggressiveness": 2, "start_ms": 60}
    json.dumps(report)


def test_an_unknown_detector_is_one_line_and_exit_2():
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "bench", "vad", "--detector", "rnnoise"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown detector 'rnnoise'" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
