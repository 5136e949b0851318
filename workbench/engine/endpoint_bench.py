"""Premature endpoints: does the agent take the turn from a caller who is only pausing?
`workbench bench endpoints`.

Each labelled sentence is said with a pause of 300–600 ms in the middle ("are you open on
Saturday | and do you take Delta Dental"), after the agent's greeting, through the whole
pipeline in virtual time (fixed stage costs, semantic endpointing). A *premature endpoint* is
the agent's audio reaching the caller before its sentence ended; the *overlap* it caused is the
agent audio the caller heard over the rest of the sentence. An endpoint decided early whose
reply was withdrawn before the caller heard any of it costs nothing and is counted apart. Half
the sentences are for tuning, the other half (`heldout`) are never tuned on. The p50 turn
latency is measured at the caller on the same calls (the last turn of each: the one that
answered the whole sentence). `--complete-ms` shows the trade-off: a longer wait after words
that sound complete talks over fewer callers who only pause, and answers everyone later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from workbench.audio.heard import first_audible_index, last_audible_index
from workbench.engine import events as ev
from workbench.engine.caller import SayTurnsCaller
from workbench.engine.calls import CallRuntime, run_call
from workbench.engine.latency import FixedLatency
from workbench.engine.session import SessionSettings
from workbench.stats import rounded_percentile

VOICE = "piper:joe"
DEFAULT_EAR = "fast"  # as `bench engine`, whose semantic p50 (≈ 280–290 ms) is the reference

# (first part, pause ms, second part): the first part of half of them sounds complete on its
# own (the hard case: only the pause and what follows say the sentence goes on).
SENTENCES: dict[str, list[tuple[str, int, str]]] = {
    "tune": [
        ("Are you open on Saturday", 450, "and do you take Delta Dental?"),
        ("I'd like to book", 350, "a demo for next week."),
        ("What are your opening hours", 500, "on public holidays?"),
        ("My order number is", 600, "four eight two one three."),
        ("I want to cancel", 400, "my subscription please."),
        ("How much does the business plan cost", 550, "per user?"),
        ("I need to change", 300, "the address on my account."),
        ("Can I pay by card", 500, "or only by bank transfer?"),
        ("I have a problem with", 450, "the export to Excel."),
        ("Do you have a free trial", 350, "for small teams?"),
    ],
    "heldout": [
        ("Is the office open on Sunday", 500, "or only on weekdays?"),
        ("I would like to speak", 400, "to a real person."),
        ("What payment options do you have", 600, "for enterprise customers?"),
        ("Where is my order", 350, "it was due on Monday."),
        ("I'd like to upgrade", 550, "to the enterprise plan."),
        ("Can you tell me", 300, "when you close today?"),
        ("The reports page is blank", 450, "since this morning."),
        ("Do you integrate with Salesforce", 500, "and with HubSpot?"),
        ("I want to update", 600, "my email address."),
        ("How long does shipping take", 400, "to Canada?"),
    ],
}


@dataclass(frozen=True)
class EndpointLine:
    text: str
    pause_ms: int
    premature: bool  # an endpoint was decided before the sentence ended (heard or not)
    overlap_ms: float  # agent audio heard over the rest of the sentence
    latency_ms: float | None  # the answering turn's latency at the caller
    talked_over_ms: float = 0.0  # of the overlap, agent audio heard while the caller's voice was on
    answered_whole: bool = True  # the reply the caller kept came after its whole sentence
    early_words: str = ""  # what the endpointer judged at the premature endpoint


class _Ears:
    """Wraps the caller to log what it heard (runs of agent audio) and its own speech."""

    def __init__(self, inner: SayTurnsCaller) -> None:
        self.inner = inner
        self.number = inner.number
        self.heard: list[tuple[float, float]] = []
        self.speech: list[tuple[float, float]] = []  # the whole sentence, first to last sound
        self.voice: list[tuple[float, float]] = []  # its runs of sound

    @property
    def done(self) -> bool:
        return self.inner.done

    def frame(self, t_ms: float) -> Any:
        frame = self.inner.frame(t_ms)
        if frame.speech_end_ms is not None:  # (frames with sound: runs of the caller's voice)
            if self.voice and t_ms - self.voice[-1][1] < 40.0:
                self.voice[-1] = (self.voice[-1][0], frame.speech_end_ms)
            else:
                self.voice.append((t_ms, frame.speech_end_ms))
            start = t_ms if not self.speech else self.speech[0][0]
            self.speech = [(start, frame.speech_end_ms)]
        return frame

    def hear(self, t_ms: float, pcm: np.ndarray) -> None:
        first = first_audible_index(pcm)
        if first is not None:
            last = last_audible_index(pcm)
            assert last is not None  # (audible somewhere, so audible last somewhere)
            start, end = t_ms + first / 8.0, t_ms + (last + 1) / 8.0
            if self.heard and start - self.heard[-1][1] < 30.0:
                self.heard[-1] = (self.heard[-1][0], end)
            else:
                self.heard.append((start, end))
        self.inner.hear(t_ms, pcm)

    def on_event(self, event: Any) -> None:
        self.inner.on_event(event)


def paused_render(render: Callable[[str], np.ndarray], pause_ms: int) -> Callable[[str], Any]:
    """Say "first | second" with `pause_ms` of silence where the bar is."""

    def say(text: str) -> np.ndarray:
        first, second = (part.strip() for part in text.split("|"))
        a, b = render(first), render(second)
        a = a[: (last_audible_index(a) or len(a) - 1) + 1]  # the pause is exactly pause_ms
        b = b[first_audible_index(b) or 0 :]
        gap = np.zeros(int(pause_ms * 8), dtype=np.int16)
        return np.concatenate([a, gap, b]).astype(np.int16)

    return say


def measure_line(
    runtime: CallRuntime,
    first: str,
    pause_ms: int,
    second: str,
    *,
    seed: int = 0,
    ear: str | None = None,
    settings: SessionSettings | None = None,
) -> EndpointLine:
    ears: list[_Ears] = []

    def factory(stack: Any) -> _Ears:
        tts = stack.caller_tts(VOICE)
        render = paused_render(lambda t: tts.render_pcm(t, 8000), pause_ms)
        caller = _Ears(SayTurnsCaller([f"{first} | {second}"], render))
        ears.append(caller)
        return caller

    result = run_call(
        runtime,
        factory,
        settings=settings or SessionSettings(endpointing="semantic"),
        latency=FixedLatency(),
        seed=seed,
        ear=ear,
        default_ear=DEFAULT_EAR,
        max_duration_ms=40000.0,
    )
    caller = ears[0]
    (onset, speech_end) = caller.speech[0] if caller.speech else (0.0, 0.0)
    endpoints = [e.t_ms for e in result.events if isinstance(e, ev.EndpointDecided)]
    early = [t for t in endpoints if onset < t < speech_end - 20.0]
    overlap = talked_over = 0.0
    if early:
        overlap = sum(
            max(0.0, min(end, speech_end) - max(start, early[0])) for start, end in caller.heard
        )
        talked_over = sum(
            max(0.0, min(end, v_end) - max(start, v_start, early[0]))
            for start, end in caller.heard
            for v_start, v_end in caller.voice
        )
    answered = [t.total_ms for t in result.timelines if t.turn > 0]
    # (an early reply the caller went on over is withdrawn and the whole sentence answered:
    # `SessionSettings.continuation_ms`; the last reply planned must come after its end)
    replies = [e.t_ms for e in result.events if isinstance(e, ev.ResponseStarted) and e.turn > 0]
    reasons = [
        e.reason for e in result.events if isinstance(e, ev.EndpointDecided) and e.t_ms in early
    ]
    return EndpointLine(
        f"{first} | {second}",
        pause_ms,
        bool(early),
        round(overlap, 1),
        answered[-1] if answered else None,
        round(talked_over, 1),
        bool(replies) and replies[-1] > speech_end,
        reasons[0] if reasons else "",
    )


def summarise(lines: Sequence[EndpointLine]) -> dict[str, Any]:
    latencies = [line.latency_ms for line in lines if line.latency_ms is not None]
    return {
        "sentences": len(lines),
        # the agent's audio reached the caller before its sentence ended
        "premature_endpoints": sum(line.overlap_ms > 0 for line in lines),
        # decided early, but the reply was withdrawn before the caller heard any of it
        "taken_back_unheard": sum(line.premature and not line.overlap_ms for line in lines),
        "overlap_ms_total": round(sum(line.overlap_ms for line in lines), 1),
        "talked_over_ms_total": round(sum(line.talked_over_ms for line in lines), 1),
        "answered_whole_sentence": sum(line.answered_whole for line in lines),
        "turn_latency_p50_ms": rounded_percentile(latencies, 50),
        "turn_latency_p95_ms": rounded_percentile(latencies, 95),
        "premature": [
            {
                "text": line.text,
                "pause_ms": line.pause_ms,
                "overlap_ms": line.overlap_ms,
                "talked_over_ms": line.talked_over_ms,
                "answered_whole": line.answered_whole,
                "endpoint": line.early_words,
            }
            for line in lines
            if line.overlap_ms > 0
        ],
    }


def run_endpoint_bench(
    split: str = "heldout", *, ear: str | None = None, complete_ms: float | None = None
) -> dict[str, Any]:
    if split not in SENTENCES:
        from workbench.errors import ConfigError

        raise ConfigError(f"unknown split {split!r}: expected tune or heldout")
    settings = SessionSettings(endpointing="semantic")
    if complete_ms is not None:
        settings = replace(settings, complete_ms=complete_ms)
    runtime = CallRuntime()
    started = time.perf_counter()
    lines = [
        measure_line(runtime, first, pause, second, seed=index, ear=ear, settings=settings)
        for index, (first, pause, second) in enumerate(SENTENCES[split])
    ]
    report = summarise(lines)
    report |= {
        "split": split,
        "ear": ear or DEFAULT_EAR,
        "endpointing": "semantic",
        "complete_ms": settings.complete_ms,
        "lines": [vars(line) for line in lines],
        "wall_s": round(time.perf_counter() - started, 1),
    }
    return report
