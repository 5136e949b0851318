"""`workbench bench ear`: how well each ear hears callers, what it costs, and turn latency.

Fidelity is measured on speech nobody tuned for: `assets/speech/heldout_ear.txt`, caller
sentences written before any tuning and kept out of every model, example and lexicon
(`tests/speech/test_heldout_ear.py` checks). The old `wer_sentences.txt` (written with the
domain LM's sentences) is reported beside it.

- `wer`: per ear (fast, accurate) × voice (piper at its own rate and faster, each espeak
  caller voice) × condition (clean; impaired = 3 % loss and 40 ms jitter through `NetworkLeg`
  and the jitter buffer), through the telephone path a call uses (TTS → μ-law frames → decode
  → 8 → 16 kHz → VAD and recognisers), both ears biased to the agent's vocabulary.
- `cost_per_utterance_ms`: the accurate ear's final pass (Whisper over the whole utterance),
  and the fast ear's final (pocketsphinx closing the utterance), wall time after the last
  frame (the caller would wait for it if nothing ran early).
- `turn_latency_ms`: caller-perceived turn latency of calls to the agent in virtual time
  (`measured` profile: every stage's real compute), semantic endpointing, clean network,
  piper caller saying held-out sentences, per ear — with the final-pass lane apart and the
  passes started early and discarded because the caller went on.
- `call_clock`: `CLOCK_CALLS` live calls on one `CallClock` (the real-time driver `serve`
  uses), callers talking at staggered moments, per ear: how late the clock's 20 ms ticks
  ran (worst, and ticks over 20 ms late). The final pass runs on stage threads; CTranslate2
  releases the GIL while it computes, so it must not hold the clock up.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench.paths import ASSETS_DIR, DEMO_AGENT_DIR
from workbench.speech.bench import (
    IMPAIRED,
    WER_SENTENCES,
    _SttTimes,
    impair_frames,
    load_sentences,
    machine_info,
    padded_frames,
    recognise_frames,
)
from workbench.speech.ears import EARS, load_ear
from workbench.speech.wer import corpus_wer, word_error_rate
from workbench.stats import latency_summary

log = logging.getLogger(__name__)

HELDOUT_SENTENCES = ASSETS_DIR / "speech" / "heldout_ear.txt"
# (voice, speaking rate in words a minute; None = the voice's own)
VOICES: tuple[tuple[str, int | None], ...] = (
    ("piper:joe", None),
    ("piper:joe", 200),
    ("espeak:en-us+klatt3", None),
    ("espeak:en-us+klatt4", None),
    ("espeak:en-us+klatt", None),
    ("espeak:en-us", None),
)
TARGETS = {
    "accurate_wer_heldout_clean": {
        "piper:joe": 0.06,
        "espeak:en-us+klatt3": 0.30,
        "espeak:en-us+klatt4": 0.30,
        "espeak:en-us+klatt": 0.30,
    },
    "accurate_turn_latency_p50_ms": 600.0,
    "accurate_turn_latency_p95_ms": 900.0,
}
LATENCY_CALLS = 4
LATENCY_LINES = 6  # held-out sentences a latency call says (fewer if the agent ends it)


def voice_name(voice: str, rate: int | None) -> str:
    return voice if rate is None else f"{voice} ({rate} wpm)"


def reference_text(sentence: str) -> str:
    """What the caller said, as words: the sentence without its TTS reading-mode tags."""
    from workbench.speech.numbers import display_text

    return display_text(sentence)


def _summary(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    return latency_summary(values, count="n")


def _render(voice: str, rate: int | None, sentences: Sequence[str]) -> list[bytes]:
    from workbench.speech.tts import TelephoneTTS, load_synthesizer

    tts = TelephoneTTS(load_synthesizer(voice, rate_wpm=rate))
    return [tts.render(sentence) for sentence in sentences]


def _wer_grid(
    sentences: Sequence[str],
    voices: Sequence[tuple[str, int | None]],
    conditions: Sequence[str],
    ears: dict[str, Any],
    costs: dict[str, _SttTimes] | None,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """WER per voice × condition × ear; `costs` collects the final delays (clean only)."""
    references = [reference_text(s) for s in sentences]
    grid: dict[str, Any] = {}
    for voice, rate in voices:
        name = voice_name(voice, rate)
        progress(f"synthesising {len(sentences)} sentences with {name}")
        clean = [padded_frames(ulaw) for ulaw in _render(voice, rate, sentences)]
        audio = {"clean": clean}
        if "impaired" in conditions:
            audio["impaired"] = [impair_frames(f, seed=i) or f for i, f in enumerate(clean)]
        per_voice: dict[str, Any] = {}
        for condition in conditions:
            per_ear: dict[str, Any] = {}
            for ear, recognizer in ears.items():
                reset = getattr(recognizer, "reset_adaptation", None)
                if reset is not None:
                    reset()  # each voice and condition is a new caller: a new call
                progress(f"recognising {name} {condition} with the {ear} ear")
                times = costs[ear] if costs is not None and condition == "clean" else None
                pairs = [
                    (reference, recognise_frames(frames, recognizer, stt_times=times))
                    for reference, frames in zip(references, audio[condition], strict=True)
                ]
                worst = sorted(pairs, key=lambda p: -word_error_rate(*p))[:3]
                per_ear[ear] = {
                    "wer": round(corpus_wer(pairs), 4),
                    "worst": [{"reference": r, "heard": h} for r, h in worst],
                }
            per_voice[condition] = per_ear
        grid[name] = per_voice
    return grid


def _turn_latency(
    ear: str, lines: Sequence[str], calls: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Caller-perceived turn latency of calls in virtual time with `ear` (measured costs)."""
    from workbench.engine import events as ev
    from workbench.engine.calls import CallRuntime, run_call, say_lines_caller
    from workbench.engine.latency import MeasuredLatency
    from workbench.engine.session import SessionSettings

    runtime = CallRuntime()
    totals: list[float] = []
    lanes: list[float] = []
    discarded = 0
    finals = 0
    per_call = max(1, len(lines) // calls)
    for index in range(calls):
        said = list(lines[index * per_call : (index + 1) * per_call])
        if not said:
            break
        progress(f"{ear} ear: call {index + 1} of {calls} ({len(said)} lines)")
        events: list[Any] = []
        result = run_call(
            runtime,
            say_lines_caller(said),
            settings=SessionSettings(endpointing="semantic"),
            latency=MeasuredLatency(),
            seed=index,
            ear=ear,
            on_event=events.append,
        )
        discarded += sum(isinstance(e, ev.FinalPassDiscarded) for e in events)
        finals += sum(isinstance(e, ev.FinalTranscript) for e in events)
        for timeline in result.timelines:
            if timeline.turn == 0 or timeline.notes and "no caller speech" in timeline.notes[0]:
                continue
            totals.append(timeline.total_ms)
            lane = timeline.lane("STT")
            if lane is not None:
                lanes.append(lane.duration_ms)
    return {
        "turns": _summary(totals),
        "stt_lane_ms": _summary(lanes),
        "final_transcripts": finals,
        "passes_discarded": discarded,
    }


CLOCK_CALLS = 4
CLOCK_SECONDS = 20.0


def _call_clock(ear: str, lines: Sequence[str], seconds: float) -> dict[str, Any]:
    """Live calls with `ear` on one call clock, fed on the wall clock; the clock's lateness."""
    import threading

    from workbench.audio.frames import SILENCE_FRAME, iter_frames
    from workbench.engine import events as ev
    from workbench.engine.calls import CallRuntime, ear_settings
    from workbench.engine.latency import MeasuredLatency
    from workbench.engine.realtime import CallClock, RealTimeDriver
    from workbench.engine.session import CallSession, SessionSettings

    runtime = CallRuntime()
    agent = runtime.agent(None)
    stack = runtime.stack(agent)
    tts = stack.caller_tts("piper:joe")
    said = [tts.render(line) for line in lines]
    gap = [SILENCE_FRAME] * 100  # 2 s between lines: the agent answers in between
    clock = CallClock("ear-bench-clock")
    drivers: list[RealTimeDriver] = []
    feeds: list[list[bytes]] = []
    finals: list[int] = [0]

    def count(event: Any) -> None:
        if isinstance(event, ev.FinalTranscript):
            finals[0] += 1

    for index in range(CLOCK_CALLS):
        settings = ear_settings(SessionSettings(), ear, MeasuredLatency())
        session = CallSession(f"CA-ear-bench-{ear}-{index}", agent, stack, settings)
        drivers.append(
            RealTimeDriver(
                session, send_frame=lambda frame: None, on_event=count, clock=clock, workers=3
            )
        )
        # Staggered: each caller starts its lines at its own moment, as calls do.
        frames = [SILENCE_FRAME] * (25 + 40 * index)
        for ulaw in said[index:] + said[:index]:
            frames += list(iter_frames(ulaw)) + gap
        feeds.append(frames)
    for driver in drivers:
        driver.start()
    ticks = int(seconds * 1000 / 20)
    started = time.perf_counter()
    for tick in range(ticks):  # the callers' side: a frame every 20 ms for each call
        for driver, frames in zip(drivers, feeds, strict=True):
            driver.push_caller_frame(frames[tick % len(frames)])
        delay = started + (tick + 1) * 0.02 - time.perf_counter()
        if delay > 0:
            threading.Event().wait(delay)
    for driver in drivers:
        driver.hang_up()
    for driver in drivers:
        driver.join(timeout=10)
    return {
        "calls": CLOCK_CALLS,
        "seconds": seconds,
        "final_transcripts": finals[0],
        "worst_tick_lateness_ms": round(max(d.worst_lateness_ms for d in drivers), 1),
        "ticks_over_20ms_late": sum(d.late_ticks for d in drivers),
    }


def run_ear_bench(
    *,
    quick: bool = False,
    sentences_path: Path = HELDOUT_SENTENCES,
    agent_dir: Path = DEMO_AGENT_DIR,
    progress: Callable[[str], None] = log.info,
) -> dict[str, Any]:
    """Run the ear benchmark and return one JSON-able dict (see the module docstring)."""
    from workbench.speech.transcribe_cli import agent_words

    started = time.perf_counter()
    machine = machine_info()
    heldout = load_sentences(sentences_path)
    old = load_sentences(WER_SENTENCES)
    voices = VOICES[:1] if quick else VOICES
    conditions = ("clean",) if quick else ("clean", "impaired")
    if quick:
        heldout, old = heldout[:4], old[:3]
    words = agent_words(agent_dir)
    progress("loading both ears")
    ears = {
        ear: load_ear(
            ear,
            domain_sentences=words.sentences,
            spoken_forms=words.spoken_forms,
            vocabulary=words.vocabulary,
        )
        for ear in EARS
    }
    costs = {ear: _SttTimes() for ear in EARS}
    wer = {
        "heldout": _wer_grid(heldout, voices, conditions, ears, costs, progress),
        "old_sentences": _wer_grid(old, voices, ("clean",), ears, None, progress),
    }
    latency_lines = [reference_text(s) for s in heldout][: LATENCY_CALLS * LATENCY_LINES]
    calls = 1 if quick else LATENCY_CALLS
    latency = {ear: _turn_latency(ear, latency_lines, calls, progress) for ear in EARS}
    clock_lines = [reference_text(s) for s in load_sentences(WER_SENTENCES)[:8]]
    clock: dict[str, Any] = {}
    for ear in EARS:
        progress(f"{CLOCK_CALLS} live calls on one call clock with the {ear} ear")
        clock[ear] = _call_clock(ear, clock_lines, 4.0 if quick else CLOCK_SECONDS)

    checks: dict[str, bool] = {}
    for voice, limit in TARGETS["accurate_wer_heldout_clean"].items():  # type: ignore[union-attr]
        if voice in wer["heldout"]:
            measured = wer["heldout"][voice]["clean"]["accurate"]["wer"]
            checks[f"accurate_wer_heldout_{voice}_le_{limit:g}"] = measured <= limit
    turns = latency["accurate"]["turns"]
    if turns["n"]:
        checks["accurate_turn_p50_le_600ms"] = turns["p50"] <= 600.0
        checks["accurate_turn_p95_le_900ms"] = turns["p95"] <= 900.0
    checks["accurate_call_clock_no_tick_over_20ms_late"] = (
        clock["accurate"]["ticks_over_20ms_late"] == 0
    )
    machine["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    return {
        "benchmark": "ear",
        "quick": quick,
        "machine": machine,
        "agent": str(agent_dir),
        "sentences": {"heldout": len(heldout), "old": len(old)},
        "impairment": dict(IMPAIRED, seed="sentence index"),
        "wer": wer,
        "cost_per_utterance_ms": {
            ear: {
                "final_after_end": costs[ear].summary()["final_after_end_ms"],
                "what": "Whisper final pass over the utterance"
                if ear == "accurate"
                else "pocketsphinx closing the utterance",
            }
            for ear in EARS
        },
        "turn_latency_ms": latency,
        "call_clock": clock,
        "targets": TARGETS,
        "checks": checks,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "statistics": "p50/p95 by numpy's linear interpolation",
    }
