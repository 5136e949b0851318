"""`workbench bench engine`: what the engine itself costs, and what the caller hears.

- **overhead per frame**: time in the session's per-frame path (caller frame in, agent frame
  out) minus the time spent in the speech models on that path (VAD, "pause" mode's Silero
  onset detector, resampling for STT, the recogniser's feed); reported for the session alone and for the whole simulated tick, which
  adds the caller's network leg and both jitter buffers.
- **virtual-time speed-up** of a call of about 60 s with the real speech stack (agent TTS cache
  off, so every reply is really synthesised; the caller's lines are rendered beforehand, as
  they are the outside world).
- **caller-side turn latency** on the demo agent, clean network, measured costs, semantic and
  silence (500 ms) endpointing side by side, over single-question calls across the topics.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

from workbench.engine import events as ev
from workbench.engine.calls import CallRuntime, run_call, say_lines_caller
from workbench.engine.session import SessionSettings
from workbench.stats import latency_summary

LATENCY_QUESTIONS = [
    "What are your opening hours?",
    "I would like to book a demo.",
    "My software keeps crashing when I log in.",
    "I have a question about my invoice.",
    "I need to change our billing address.",
    "Where is my order?",
    "I want to cancel my subscription.",
    "Can I speak to a real person please?",
    "Are you open on Saturdays?",
    "How much does the professional plan cost?",
    "Do you accept payment by bank transfer?",
    "What is your office address?",
]

LONG_CALL_LINES = [
    "Hi, what are your opening hours?",
    "Are you open on public holidays?",
    "How much does the professional plan cost?",
    "Do you accept payment by bank transfer?",
    "What is your office address?",
    "I would like to book a demo.",
    "My name is Dana Whitfield.",
    "No, that's all. Thank you, bye.",
]


class _Stopwatch:
    """Wraps a callable and adds up the time spent in it."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.total = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.total += time.perf_counter() - start


DEFAULT_EAR = "fast"  # the engine's own overhead, without the final pass's compute
# The speech models on the per-frame path, timed apart from the session's own overhead.
MODEL_TIMERS = ("vad_process", "vad_frame", "stt_feed", "resample", "onset")


def _instrumented_run(runtime: CallRuntime, lines: list[str], ear: str | None) -> dict[str, Any]:
    """One call with the per-frame path timed, split into model time and the rest."""
    timers: dict[str, _Stopwatch] = {}
    state: dict[str, Any] = {}

    def on_driver(driver: Any) -> None:
        session = driver.session
        models = [
            ("vad_process", session.listening.vad, "process"),
            ("vad_frame", session.listening.vad, "frame_is_speech"),
            ("stt_feed", session.recognizer, "feed"),
            ("resample", session.listening.upsampler, "process"),
        ]
        if session.listening.onset is not None:  # "pause" mode's voice onset model (Silero)
            models.append(("onset", session.listening.onset, "process"))
        for name, owner, attr in models:
            timers[name] = _Stopwatch(getattr(owner, attr))
            setattr(owner, attr, timers[name])
        timers["session_frame"] = _Stopwatch(session.on_caller_frame)
        session.on_caller_frame = timers["session_frame"]
        timers["session_pull"] = _Stopwatch(session.pull_agent_frame)
        session.pull_agent_frame = timers["session_pull"]
        state["driver"] = driver

    result = run_call(
        runtime,
        say_lines_caller(lines),
        settings=SessionSettings(endpointing="semantic"),
        on_driver=on_driver,
        ear=ear,
        default_ear=DEFAULT_EAR,
    )
    frames = result.duration_ms / 20.0 + 1
    models = sum(timers[k].total for k in MODEL_TIMERS if k in timers)
    session_total = timers["session_frame"].total + timers["session_pull"].total
    return {
        "result": result,
        "frames": frames,
        "session_overhead_us": (session_total - models) / frames * 1e6,
        "model_us": models / frames * 1e6,
        "tick_overhead_us": (result.wall_s - models - _stage_seconds(result)) / frames * 1e6,
    }


def _stage_seconds(result: Any) -> float:
    """Wall time spent inside stage work (it ran inline in virtual time)."""
    total = 0.0
    for timeline in result.timelines:
        for span in timeline.spans:
            if span.detail.startswith("measured "):
                total += float(span.detail.split()[1]) / 1000.0
    return total


def _latencies(
    runtime: CallRuntime, mode: str, questions: list[str], ear: str | None
) -> list[float]:
    totals = []
    for seed, question in enumerate(questions):
        result = run_call(
            runtime,
            say_lines_caller([question]),
            settings=SessionSettings(endpointing=mode),
            seed=seed,
            ear=ear,
            default_ear=DEFAULT_EAR,
        )
        totals += [t.total_ms for t in result.timelines if t.turn > 0][:1]
    return totals


def _summary(values: list[float]) -> dict[str, float | int]:
    return latency_summary(values, suffix="_ms", count="n", mean=True)


def heard_with(result: Any) -> str:
    """The ear a call listened with, as its `CallStarted` settings say."""
    started = next((e for e in result.events if isinstance(e, ev.CallStarted)), None)
    return str(started.settings.get("ear", "?")) if started is not None else "?"


def run_engine_bench(*, quick: bool = False, ear: str | None = None) -> dict[str, Any]:
    """`ear`: a flag's choice; None: the agent's `ear:`, else fast."""
    started = time.perf_counter()
    runtime = CallRuntime(tts_cache=False)
    agent = runtime.agent()
    stack = runtime.stack(agent)
    # The caller's voice is the outside world: render its lines before timing anything.
    for line in {*LONG_CALL_LINES, *LATENCY_QUESTIONS}:
        stack.caller_tts("piper:joe").render_pcm(line, 8000)

    long_call = _instrumented_run(
        runtime, LONG_CALL_LINES if not quick else LONG_CALL_LINES[:3], ear
    )
    call = long_call["result"]
    questions = LATENCY_QUESTIONS[:4] if quick else LATENCY_QUESTIONS
    semantic = _latencies(runtime, "semantic", questions, ear)
    silence = _latencies(runtime, "silence", questions, ear)
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "agent": agent.name,
        "agent_voice": stack.agent_voice,
        "caller_voice": "piper:joe",
        "ear": heard_with(call),
        "overhead_per_frame_us": {
            "session_excluding_models": round(long_call["session_overhead_us"], 1),
            "whole_tick_with_network_simulation_excluding_models": round(
                long_call["tick_overhead_us"], 1
            ),
            "speech_models_on_frame_path": round(long_call["model_us"], 1),
            "target_us": 50,
        },
        "virtual_time": {
            "call_s": round(call.duration_ms / 1000.0, 1),
            "wall_s": round(call.wall_s, 2),
            "speedup": round(call.speedup, 1),
            "target_speedup": 10,
            "turns": len(call.timelines) - 1,
        },
        "turn_latency_clean_network": {
            "semantic": _summary(semantic),
            "silence_500ms": _summary(silence),
            "targets": {"semantic_p50_ms": 350, "semantic_p95_ms": 600},
        },
        "bench_wall_s": round(time.perf_counter() - started, 1),
    }
