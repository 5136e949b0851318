"""`workbench bench vad`: which voice-onset detector should pause the agent for a barge-in.

Each detector runs on every labelled clip (`labelled_lines.py`) in 20 ms telephone frames, as
a call would feed it. For a speech clip the truth is the voice's first audible sample; for a
noise clip there is no voice. Scored, per detector:

- `onset_ms` p50/p90/p95/max: from the true voice onset to the end of the frame on which the
  detector *confirmed* the start (what a barge-in waits for; the time the event carries is
  earlier and does not matter here). A start confirmed before the onset is not a detection;
- `missed`: speech clips (acknowledgements, interruptions) with no start confirmed between
  the onset and 300 ms after the voice ends;
- `false_fires`: noise clips with any start, by the kind of noise; and `early_fires`: speech
  clips whose lead-in (background, cough, breath, door) fired before the voice began;
- `us_per_frame`: mean and p99 cost of one `process` call, in microseconds.

Thresholds are chosen on the `tune` split (a small grid per detector, best by fewest false and
early fires plus misses, then lowest p90 onset) and reported on the `heldout` split, which
shares no text and no noise sample with it. The shipped webrtcvad settings (aggressiveness 2,
60 ms) are reported too, untuned.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.speech.bench import machine_info
from workbench.speech.labelled_lines import VOICES, LabelledClip, labelled_clips
from workbench.speech.silero import SileroVoiceDetector
from workbench.speech.vad import (
    NoiseGatedVoiceActivityDetector,
    VadSpeechEnd,
    VadSpeechStart,
    VoiceActivityDetector,
)
from workbench.stats import rounded_percentile

FRAME = 160
FRAME_MS = 20.0
DETECT_AFTER_END_MS = 300.0

# name -> (factory from a config, the grid of configs tried on the tuning split)
Factory = Callable[..., Any]
DETECTORS: dict[str, tuple[Factory, list[dict[str, Any]]]] = {
    "webrtcvad": (
        lambda **c: VoiceActivityDetector(**c),
        [{"aggressiveness": a, "start_ms": s} for a in (1, 2, 3) for s in (40, 60, 80, 100)],
    ),
    "webrtcvad+energy": (
        lambda **c: NoiseGatedVoiceActivityDetector(**c),
        [
            {"aggressiveness": a, "start_ms": s, "noise_margin": m}
            for a, s, m in itertools.product((2, 3), (40, 60, 80), (3.0, 4.5, 6.0))
        ],
    ),
    "silero": (
        lambda **c: SileroVoiceDetector(**c),
        [
            {"threshold": t, "start_ms": s, "noise_margin": None}
            for t, s in itertools.product((0.3, 0.4, 0.5, 0.6, 0.7, 0.8), (32, 64, 96))
        ],
    ),
    "silero+energy": (
        lambda **c: SileroVoiceDetector(**c),
        [
            {"threshold": t, "start_ms": s, "noise_margin": m}
            for t, s, m in itertools.product((0.3, 0.5, 0.7), (32, 64), (3.0, 4.5, 6.0, 8.0))
        ],
    ),
}
SHIPPED = ("webrtcvad", {"aggressiveness": 2, "start_ms": 60})  # the session's defaults today


@dataclass(frozen=True)
class ClipResult:
    clip: LabelledClip
    confirmed_ms: tuple[float, ...]  # when each start was confirmed (end of that frame)
    ended_ms: tuple[float, ...]  # when each end was confirmed
    frame_us: tuple[float, ...]

    def in_speech_at(self, t_ms: float) -> bool:
        """Whether the detector was between a confirmed start and its end at `t_ms`."""
        starts = [t for t in self.confirmed_ms if t <= t_ms]
        if not starts:
            return False
        return not any(starts[-1] <= t <= t_ms for t in self.ended_ms)

    @property
    def covered(self) -> bool:
        """An early fire (on the lead-in's noise) still held when the voice began: the agent
        would already be paused, so there is no onset to detect, and no miss."""
        return self.clip.onset_ms is not None and self.in_speech_at(self.clip.onset_ms)

    @property
    def missed(self) -> bool:
        return self.clip.kind != "noise" and self.onset_latency_ms is None and not self.covered

    @property
    def early(self) -> bool:
        onset = self.clip.onset_ms
        return onset is not None and any(t < onset for t in self.confirmed_ms)

    @property
    def onset_latency_ms(self) -> float | None:
        clip = self.clip
        if clip.onset_ms is None:
            return None
        for t in self.confirmed_ms:
            if clip.onset_ms <= t <= clip.speech_end_ms + DETECT_AFTER_END_MS:  # type: ignore[operator]
                return t - clip.onset_ms
        return None


def run_detector(detector: Any, clip: LabelledClip) -> ClipResult:
    """Feed `clip` to `detector` in 20 ms frames; when each start was confirmed, and the cost."""
    confirmed = []
    ended = []
    costs = []
    pcm = clip.pcm
    for index in range(len(pcm) // FRAME):
        frame = pcm[index * FRAME : (index + 1) * FRAME]
        t_ms = index * FRAME_MS
        started = time.perf_counter()
        event = detector.process(frame, t_ms)
        costs.append((time.perf_counter() - started) * 1e6)
        if isinstance(event, VadSpeechStart):
            confirmed.append(t_ms + FRAME_MS)
        elif isinstance(event, VadSpeechEnd):
            ended.append(t_ms + FRAME_MS)
    return ClipResult(clip, tuple(confirmed), tuple(ended), tuple(costs))


def _noise_kind(clip: LabelledClip) -> str:
    return clip.condition.transient or clip.condition.name


def score(results: Sequence[ClipResult]) -> dict[str, Any]:
    speech = [r for r in results if r.clip.kind != "noise"]
    noise = [r for r in results if r.clip.kind == "noise"]
    latencies = [r.onset_latency_ms for r in speech if r.onset_latency_ms is not None]
    costs = [c for r in results for c in r.frame_us]
    fired = [r for r in noise if r.confirmed_ms]
    return {
        "speech_clips": len(speech),
        "noise_clips": len(noise),
        "onset_ms_p50": rounded_percentile(latencies, 50),
        "onset_ms_p90": rounded_percentile(latencies, 90),
        "onset_ms_p95": rounded_percentile(latencies, 95),
        "onset_ms_max": round(max(latencies), 1) if latencies else None,
        "missed": {
            label: sum(r.missed for r in speech if r.clip.kind == label)
            for label in ("acknowledgement", "interruption")
        },
        "false_fires": len(fired),
        "false_fires_by_noise": dict(Counter(_noise_kind(r.clip) for r in fired)),
        "noise_clips_by_kind": dict(Counter(_noise_kind(r.clip) for r in noise)),
        "early_fires": sum(r.early for r in speech),
        "early_fires_held_at_onset": sum(r.covered for r in speech),
        "early_fires_by_condition": dict(Counter(r.clip.condition.name for r in speech if r.early)),
        "onset_ms_by_background": {
            background: {
                "p50": rounded_percentile(values, 50),
                "p90": rounded_percentile(values, 90),
                "clips": len(values),
            }
            for background in ("clean", "babble", "line")
            if (
                values := [
                    r.onset_latency_ms
                    for r in speech
                    if r.onset_latency_ms is not None and r.clip.condition.background == background
                ]
            )
        },
        "us_per_frame_mean": round(float(np.mean(costs)), 1) if costs else None,
        "us_per_frame_p99": rounded_percentile(costs, 99),
    }


def _errors(summary: dict[str, Any]) -> int:
    return summary["false_fires"] + summary["early_fires"] + sum(summary["missed"].values())


def tune(name: str, clips: Sequence[LabelledClip]) -> tuple[dict[str, float], dict[str, Any]]:
    """The config of `name`'s grid with the fewest errors on `clips`, then the lowest p90."""
    factory, grid = DETECTORS[name]
    best: tuple[tuple[float, float], dict[str, float], dict[str, Any]] | None = None
    table = []
    for config in grid:
        summary = score([run_detector(factory(**config), clip) for clip in clips])
        key = (_errors(summary), summary["onset_ms_p90"] or float("inf"))
        table.append({**config, "errors": key[0], "onset_ms_p90": summary["onset_ms_p90"]})
        if best is None or key < best[0]:
            best = (key, config, summary)
    assert best is not None
    return best[1], {**best[2], "grid": table}


def frame_cost(
    configs: dict[str, dict[str, float]], clips: Sequence[LabelledClip], rounds: int = 5
) -> dict[str, Any]:
    """µs per 20 ms frame of each detector, measured side by side: the detectors take turns
    on the same clips, round after round, and each one's median round is reported (a busy
    machine slows every round alike, so the ratios hold where the absolute figures do not)."""
    per_round: dict[str, list[float]] = {name: [] for name in configs}
    frames = sum(len(clip.pcm) // FRAME for clip in clips)
    for _ in range(rounds):
        for name, config in configs.items():
            factory, _ = DETECTORS[name]
            detectors = [factory(**config) for _ in clips]  # (loading is not per frame)
            started = time.perf_counter()
            for detector, clip in zip(detectors, clips, strict=True):
                pcm = clip.pcm
                for index in range(len(pcm) // FRAME):
                    detector.process(pcm[index * FRAME : (index + 1) * FRAME], index * FRAME_MS)
            per_round[name].append((time.perf_counter() - started) * 1e6 / frames)
    medians = {name: round(float(np.median(v)), 1) for name, v in per_round.items()}
    cheapest = min(medians.values())
    return {
        "frames_per_round": frames,
        "rounds": rounds,
        "us_per_frame_median": medians,
        "relative_to_cheapest": {n: round(v / cheapest, 1) for n, v in medians.items()},
        "share_of_frame_pct": {
            n: round(100 * v / (FRAME_MS * 1000), 2) for n, v in medians.items()
        },
    }


def run_vad_bench(
    *,
    quick: bool = False,
    voices: Sequence[str] = VOICES,
    detectors: Sequence[str] = tuple(DETECTORS),
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    started = time.perf_counter()
    machine = machine_info()
    progress("rendering the labelled clips")
    tune_clips = list(labelled_clips("tune", voices=voices, quick=quick))
    heldout_clips = list(labelled_clips("heldout", voices=voices, quick=quick))
    report: dict[str, Any] = {
        "machine": machine,
        "quick": quick,
        "voices": list(voices),
        "clips": {"tune": len(tune_clips), "heldout": len(heldout_clips)},
        "detectors": {},
    }
    for name in detectors:
        progress(f"tuning {name} on the tuning split")
        config, tuned = tune(name, tune_clips)
        factory, _ = DETECTORS[name]
        progress(f"{name} on the held-out split")
        results = [run_detector(factory(**config), clip) for clip in heldout_clips]
        heldout = score(results)
        heldout["missed_clips"] = [
            {"text": r.clip.text, "voice": r.clip.voice, "condition": r.clip.condition.name}
            for r in results
            if r.missed
        ]
        report["detectors"][name] = {"config": config, "tune": tuned, "heldout": heldout}
    progress("cost per frame, side by side")
    report["cost"] = frame_cost(
        {name: entry["config"] for name, entry in report["detectors"].items()},
        heldout_clips[:: max(1, len(heldout_clips) // 12)],
        rounds=3 if quick else 5,
    )
    name, config = SHIPPED
    if name in detectors:
        factory, _ = DETECTORS[name]
        report["shipped_webrtcvad"] = {
            "config": config,
            "heldout": score([run_detector(factory(**config), c) for c in heldout_clips]),
        }
    report["wall_s"] = round(time.perf_counter() - started, 1)
    return report
