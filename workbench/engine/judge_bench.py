"""How well the interruption judge tells acknowledgements from interruptions: `bench judge`.

Each labelled line is spoken over the agent's greeting, 1.5 s in, through the whole audio path
(caller voice → μ-law → VAD → recogniser → judge) in virtual time with fixed stage costs. A
backchannel is judged right when the agent keeps talking; an interruption when it stops. For the
interruptions, the stop latency is measured at the caller, from the onset of the interruption
proper (after a leading "Yeah," — see `interruption_onset_index`) to the last agent audio heard.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.engine import events as ev
from workbench.engine.caller import TalkOverGreetingCaller
from workbench.engine.calls import CallRuntime, run_call
from workbench.engine.latency import FixedLatency
from workbench.engine.session import SessionSettings
from workbench.engine.virtual import CallResult
from workbench.speech.ears import resolve_ear

# What callers say while they listen. Some are hard on purpose ("makes sense" is all content
# words; "uh-huh, right" is two acknowledgements in a row).
BACKCHANNELS: tuple[str, ...] = (
    "Uh-huh.",
    "Yeah.",
    "Right.",
    "Okay.",
    "Mm-hmm.",
    "Yes.",
    "Sure.",
    "Got it.",
    "I see.",
    "Yep.",
    "Alright.",
    "Oh, okay.",
    "Okay, great.",
    "Uh-huh, right.",
    "Mhm.",
    "Cool.",
    "Makes sense.",
    "Right, right.",
)

# How callers take the turn, including the ones that open like an acknowledgement.
INTERRUPTIONS: tuple[str, ...] = (
    "Wait, what are your opening hours?",
    "Sorry, what are your opening hours?",
    "Yeah, but how much does it cost?",
    "Actually, I need to cancel my subscription.",
    "Hold on a second.",
    "No, that's not what I asked.",
    "What about refunds?",
    "Can I speak to a person?",
    "Excuse me, I have a question.",
    "Stop, please.",
    "Okay, but what about my order?",
    "How much is the pro plan?",
    "I want to change my address.",
    "Hang on.",
    "Right, and what about support?",
    "Where is my order?",
)

DEFAULT_VOICES = ("piper:joe", "espeak:en-us+klatt3")
DEFAULT_EAR = "fast"  # what the bench has always measured; `--ear accurate` to compare


@dataclass(frozen=True)
class JudgedLine:
    voice: str
    label: str  # "backchannel" | "interruption"
    text: str
    stopped: bool  # the agent stopped (or paused) for it
    correct: bool
    stop_ms: float | None  # interruptions: interruption onset → last agent audio heard
    heard: str  # what the recogniser made of it
    verdicts: str  # the Interruption events' kinds, in order


def talk_over(
    runtime: CallRuntime,
    line: str,
    voice: str = "piper:joe",
    *,
    mode: str = "judge",
    into_ms: float = 1500.0,
    hang_up_after_ms: float = 9000.0,
    max_duration_ms: float = 20000.0,
    ear: str | None = None,
) -> tuple[CallResult, TalkOverGreetingCaller]:
    """A call whose caller says `line` `into_ms` into the agent's greeting (virtual time, fixed
    stage costs): the call and the caller, with what it measured. `ear`: a flag's choice;
    None: the agent's `ear:`, else fast."""
    callers: list[TalkOverGreetingCaller] = []

    def factory(stack: Any) -> TalkOverGreetingCaller:
        tts = stack.caller_tts(voice)
        caller = TalkOverGreetingCaller(
            line,
            lambda text: tts.render_pcm(text, 8000),
            into_ms=into_ms,
            hang_up_after_ms=hang_up_after_ms,
        )
        callers.append(caller)
        return caller

    result = run_call(
        runtime,
        factory,
        latency=FixedLatency(),
        max_duration_ms=max_duration_ms,
        settings=SessionSettings(interruption=mode),
        ear=ear,
        default_ear=DEFAULT_EAR,
    )
    return result, callers[0]


def judge_line(
    runtime: CallRuntime,
    text: str,
    label: str,
    voice: str,
    *,
    mode: str = "judge",
    ear: str | None = None,
) -> JudgedLine:
    result, caller = talk_over(
        runtime,
        text,
        voice,
        mode=mode,
        hang_up_after_ms=3500.0,
        max_duration_ms=15000.0,
        ear=ear,
    )
    interruptions = [e for e in result.events if isinstance(e, ev.Interruption)]
    stopped = any(i.stopped_agent for i in interruptions)
    heard = " / ".join(i.text for i in interruptions)
    verdicts = " / ".join(i.kind for i in interruptions)
    stop_ms = None
    onset = caller.interruption_onset or caller.speech_onset
    if label == "interruption" and stopped and onset is not None:
        if caller.last_agent_audio is not None:
            stop_ms = max(0.0, caller.last_agent_audio - onset)
    correct = stopped == (label == "interruption")
    return JudgedLine(voice, label, text, stopped, correct, stop_ms, heard, verdicts)


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarise(lines: Sequence[JudgedLine]) -> dict[str, Any]:
    backchannels = [line for line in lines if line.label == "backchannel"]
    interruptions = [line for line in lines if line.label == "interruption"]
    stops = [line.stop_ms for line in interruptions if line.stop_ms is not None]
    return {
        "lines": len(lines),
        "accuracy": round(sum(line.correct for line in lines) / len(lines), 3) if lines else None,
        "false_interruptions": sum(line.stopped for line in backchannels),
        "backchannels": len(backchannels),
        "missed_interruptions": sum(not line.stopped for line in interruptions),
        "interruptions": len(interruptions),
        "stop_ms_p50": _percentile(stops, 50),
        "stop_ms_p95": _percentile(stops, 95),
        "stop_ms_max": round(max(stops), 1) if stops else None,
        "wrong": [
            {"voice": line.voice, "label": line.label, "text": line.text, "heard": line.heard}
            for line in lines
            if not line.correct
        ],
    }


def run_judge_bench(
    voices: Sequence[str] = DEFAULT_VOICES,
    *,
    mode: str = "judge",
    quick: bool = False,
    ear: str | None = None,
) -> dict[str, Any]:
    runtime = CallRuntime()
    started = time.perf_counter()
    backchannels = BACKCHANNELS[::3] if quick else BACKCHANNELS
    interruptions = INTERRUPTIONS[::3] if quick else INTERRUPTIONS
    lines = [
        judge_line(runtime, text, label, voice, mode=mode, ear=ear)
        for voice in voices
        for label, texts in (("backchannel", backchannels), ("interruption", interruptions))
        for text in texts
    ]
    report = summarise(lines)
    report["mode"] = mode
    report["ear"] = resolve_ear(ear, runtime.agent().definition.ear, default=DEFAULT_EAR)
    report["voices"] = list(voices)
    report["by_voice"] = {
        voice: {
            key: value
            for key, value in summarise([line for line in lines if line.voice == voice]).items()
            if key != "wrong"
        }
        for voice in voices
    }
    report["stops"] = [
        {"voice": line.voice, "text": line.text, "stop_ms": line.stop_ms}
        for line in lines
        if line.stop_ms is not None
    ]
    report["wall_s"] = round(time.perf_counter() - started, 1)
    return report
