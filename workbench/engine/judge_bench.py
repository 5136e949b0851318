"""How well the interruption judge tells acknowledgements from interruptions: `bench judge`.

Each labelled line is spoken over the agent's greeting, 1.5 s in, through the whole audio path
(caller voice → μ-law → VAD → recogniser → judge) in virtual time with fixed stage costs. A
backchannel is judged right when the agent keeps talking; an interruption when it stops. For the
interruptions, the stop latency is measured at the caller, from the onset of the interruption
proper (after a leading "Yeah," — see `interruption_onset_index`) to the last agent audio heard.

`--noisy tune|heldout` speaks the labelled turn-taking lines instead (`speech/labelled_lines.py`:
three voices at three rates, over office babble or line noise at 10-20 dB SNR from the call's
first frame, with a cough, a breath or a door 250 ms or more before the words), and adds lines
with no words at all (the noise alone, over the agent, where the agent must keep talking). Tune
on `tune`; report `heldout`, which shares no text and no noise sample with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.engine import events as ev
from workbench.engine.caller import CallerFrame, TalkOverGreetingCaller
from workbench.engine.calls import CallRuntime, run_call
from workbench.engine.latency import FixedLatency
from workbench.engine.outcomes import OverlapOutcome
from workbench.engine.outcomes import summarise as summarise_outcomes
from workbench.engine.session import SessionSettings
from workbench.engine.virtual import CallResult
from workbench.speech import labelled_lines as ll
from workbench.speech import nonspeech
from workbench.speech.ears import resolve_ear
from workbench.stats import rounded_percentile

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
# A labelled line's label as the caller's intent (`engine/outcomes.py`).
INTENTS = {"backchannel": "acknowledgement", "interruption": "interruption", "noise": "noise"}


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
    condition: str = "clean"  # what the line carried besides the voice (noisy lines)
    outcome: OverlapOutcome | None = None  # what became of it, measured at the caller


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
    intent: str | None = None,
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
        caller.intent = intent
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
        intent=INTENTS[label],
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
    outcome = result.overlaps[0] if result.overlaps else None
    return JudgedLine(
        voice, label, text, stopped, correct, stop_ms, heard, verdicts, outcome=outcome
    )


class NoisyLineCaller:
    """A `TalkOverGreetingCaller` on a line that carries `condition`: the background under
    every frame from the call's first, and the transient ending `gap_ms` before the caller's
    words (or, with no words, where the words would have been). The truth (speech onset,
    interruption onset) is the inner caller's, taken from the clean voice."""

    def __init__(
        self,
        inner: TalkOverGreetingCaller,
        condition: ll.Condition,
        speech_rms: float,
        *,
        seed: int,
        gap_ms: float = 250.0,
        silent_line_ms: float | None = None,
    ) -> None:
        self.inner = inner
        self.number = inner.number
        self.condition = condition
        self._noise: np.ndarray | None = None
        if condition.background != "clean":
            gain = speech_rms / 10.0 ** (condition.snr_db / 20.0)  # type: ignore[operator]
            make = nonspeech.BACKGROUNDS[condition.background]
            self._noise = make(30.0, seed).astype(np.float64) * gain
        self._transient: np.ndarray | None = None
        if condition.transient:
            low, high = ll.TRANSIENT_PEAK[condition.transient]
            peak = speech_rms * np.random.default_rng(seed).uniform(low, high)
            self._transient = nonspeech.TRANSIENTS[condition.transient](seed) * peak
        self._gap_ms = gap_ms
        self._silent_line_ms = silent_line_ms  # no words: hang up this long after "speaking"

    @property
    def done(self) -> bool:
        inner = self.inner
        if self._silent_line_ms is not None and inner.agent_audio_began is not None:
            return inner._t - inner.agent_audio_began > inner.into_ms + self._silent_line_ms
        return inner.done

    def frame(self, t_ms: float) -> CallerFrame:
        sent = self.inner.frame(t_ms)
        pcm = ulaw_decode(sent.payload).astype(np.float64)
        start = round(t_ms * 8)
        if self._noise is not None:
            pcm += np.take(self._noise, np.arange(start, start + len(pcm)), mode="wrap")
        words_at = self._words_at()
        if self._transient is not None and words_at is not None:
            at = round(words_at * 8) - len(self._transient)
            if self._silent_line_ms is None:
                at -= round(self._gap_ms * 8)
            lo, hi = max(start, at), min(start + len(pcm), at + len(self._transient))
            if lo < hi:
                pcm[lo - start : hi - start] += self._transient[lo - at : hi - at]
        out = np.clip(np.round(pcm), -32768, 32767).astype(np.int16)
        return CallerFrame(ulaw_encode(out), sent.speech_end_ms, sent.dtmf, sent.network)

    def _words_at(self) -> float | None:
        """When the caller begins talking over the agent (known once the greeting is heard)."""
        inner = self.inner
        if inner.agent_audio_began is None:
            return None
        return inner.agent_audio_began + inner.into_ms

    def hear(self, t_ms: float, pcm: np.ndarray) -> None:
        self.inner.hear(t_ms, pcm)

    def on_event(self, event: Any) -> None:
        self.inner.on_event(event)


def judge_noisy_line(
    runtime: CallRuntime,
    clip_spec: tuple[str, str, str | None, int | None, ll.Condition, int],
    *,
    mode: str = "judge",
    ear: str | None = None,
) -> JudgedLine:
    """One labelled line (or noise alone: label "noise", text "") over the agent's greeting."""
    label, text, voice, rate, condition, seed = clip_spec
    callers: list[NoisyLineCaller] = []

    def factory(stack: Any) -> NoisyLineCaller:
        tts = stack.caller_tts(voice or ll.VOICES[0], rate)

        def render(line: str) -> np.ndarray:
            if not line:
                return np.zeros(160, dtype=np.int16)
            return np.round(ll.normalised_speech(tts.render_pcm(line, 8000))).astype(np.int16)

        inner = TalkOverGreetingCaller(text, render, into_ms=1500.0, hang_up_after_ms=3500.0)
        inner.intent = INTENTS[label]
        caller = NoisyLineCaller(
            inner, condition, ll.SPEECH_RMS, seed=seed,
            silent_line_ms=3500.0 if not text else None,
        )  # fmt: skip
        callers.append(caller)
        return caller

    result = run_call(
        runtime,
        factory,
        latency=FixedLatency(),
        max_duration_ms=15000.0,
        settings=SessionSettings(interruption=mode),
        ear=ear,
        default_ear=DEFAULT_EAR,
    )
    caller = callers[0].inner
    interruptions = [e for e in result.events if isinstance(e, ev.Interruption)]
    stopped = any(i.stopped_agent for i in interruptions)
    stop_ms = None
    onset = caller.interruption_onset or caller.speech_onset
    if label == "interruption" and stopped and onset is not None:
        if caller.last_agent_audio is not None:
            stop_ms = max(0.0, caller.last_agent_audio - onset)
    return JudgedLine(
        voice or "",
        label,
        text,
        stopped,
        stopped == (label == "interruption"),
        stop_ms,
        " / ".join(i.text for i in interruptions),
        " / ".join(i.kind for i in interruptions),
        condition.name,
        result.overlaps[0] if result.overlaps else None,
    )


def noisy_line_specs(
    split: str, voices: Sequence[str] = ll.VOICES, *, quick: bool = False
) -> list[tuple[str, str, str | None, int | None, ll.Condition, int]]:
    """The split's labelled lines as (label, text, voice, rate, condition, seed), the same
    voices, rates and conditions `bench vad` uses, then the noise-only lines."""
    texts = [t for t in ll.load_texts() if t.split == split]
    conditions = ll.noise_conditions()
    if quick:
        texts, conditions = texts[::3], conditions[::3]
    specs = []
    for text_index, line in enumerate(texts):
        for voice_index, voice in enumerate(voices):
            label = "backchannel" if line.label == "acknowledgement" else "interruption"
            rate = ll.RATES_WPM[(text_index + voice_index) % len(ll.RATES_WPM)]
            condition = ll.speech_conditions(split, text_index, voice_index)
            seed = ll.seed_of(split, "judge", text_index, voice_index)
            specs.append((label, line.text, voice, rate, condition, seed))
    for index, condition in enumerate(conditions):
        specs.append(("noise", "", None, None, condition, ll.seed_of(split, "judge-noise", index)))
    return specs


def summarise(lines: Sequence[JudgedLine]) -> dict[str, Any]:
    backchannels = [line for line in lines if line.label == "backchannel"]
    interruptions = [line for line in lines if line.label == "interruption"]
    stops = [line.stop_ms for line in interruptions if line.stop_ms is not None]
    noise = [line for line in lines if line.label == "noise"]
    extra = (
        {"noise_stops": sum(line.stopped for line in noise), "noise": len(noise)} if noise else {}
    )
    return {
        **extra,
        # The same lines in the outcome vocabulary (`engine/outcomes.py`), measured at the
        # caller: yielded, resumed with its resume gap, abandoned replies.
        "outcomes": summarise_outcomes(line.outcome for line in lines if line.outcome),
        "lines": len(lines),
        "accuracy": round(sum(line.correct for line in lines) / len(lines), 3) if lines else None,
        "false_interruptions": sum(line.stopped for line in backchannels),
        "backchannels": len(backchannels),
        "missed_interruptions": sum(not line.stopped for line in interruptions),
        "interruptions": len(interruptions),
        "stop_ms_p50": rounded_percentile(stops, 50),
        "stop_ms_p95": rounded_percentile(stops, 95),
        "stop_ms_max": round(max(stops), 1) if stops else None,
        "wrong": [
            {"voice": line.voice, "label": line.label, "text": line.text, "heard": line.heard}
            | ({"condition": line.condition} if line.condition != "clean" else {})
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
    noisy: str | None = None,
) -> dict[str, Any]:
    """`noisy`: a split of the labelled noisy lines ("tune" or "heldout") instead of the
    clean ones (`voices` then default to the labelled lines' three)."""
    if noisy is not None:
        return _run_noisy(noisy, voices, mode=mode, quick=quick, ear=ear)
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


def _run_noisy(
    split: str, voices: Sequence[str], *, mode: str, quick: bool, ear: str | None
) -> dict[str, Any]:
    if split not in ll.SPLITS:
        from workbench.errors import ConfigError

        raise ConfigError(f"unknown split {split!r} for --noisy: expected tune or heldout")
    runtime = CallRuntime()
    started = time.perf_counter()
    voices = ll.VOICES if tuple(voices) == DEFAULT_VOICES else tuple(voices)
    lines = [
        judge_noisy_line(runtime, spec, mode=mode, ear=ear)
        for spec in noisy_line_specs(split, voices, quick=quick)
    ]
    report = summarise(lines)
    report["mode"] = mode
    report["ear"] = resolve_ear(ear, runtime.agent().definition.ear, default=DEFAULT_EAR)
    report["split"] = split
    report["voices"] = list(voices)
    backgrounds = ("clean", "babble", "line")
    report["by_background"] = {
        background: {
            key: value
            for key, value in summarise(
                [line for line in lines if line.condition.split("@")[0].split("+")[0] == background]
            ).items()
            if key != "wrong"
        }
        for background in backgrounds
    }
    report["by_transient"] = {
        transient: {
            key: value
            for key, value in summarise(
                [line for line in lines if line.condition.endswith("+" + transient)]
            ).items()
            if key != "wrong"
        }
        for transient in ("cough", "breath", "door")
    }
    report["wall_s"] = round(time.perf_counter() - started, 1)
    return report
