"""Load runs that listen: a sample of calls recorded by the generator, heard after they end.

`workbench load … --listen 10%` keeps, on one call in ten, what the caller heard — the μ-law
frames as they played (a `clear` drops what had not played), the caller's speech and keys, and
the turn latencies the harness measured — in a `CallRecording` (appends only: the generator's
pacing loop must stay cheap). When the call ends the recording goes to a listening process
(`python -m workbench.telephony.caller.listened`, SCHED_IDLE), which replays it through the caller's
ear (`ear.CallerEar`: runs, turns, `clear`s) with the accurate transcriber and answers with the
turns heard. Back in the generator, `listened_call` judges the scenario's `agent_said` /
`agent_never_said` on the words (the same `heard_outcomes` as `workbench call`) and pairs each
measured turn with what the agent said in it, for the report's "listened" section
(`loadreport.listened_report`).

Nothing here imports Locust or gevent: the generator side is `loadtests/listening.py`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import FRAME_BYTES, FRAME_MS, SILENCE_FRAME
from workbench.errors import ConfigError
from workbench.telephony.caller.ear import (
    CallerEar,
    HeardRun,
    HeardTurn,
    Transcribe,
    heard_outcomes,
)

log = logging.getLogger(__name__)

MATCH_MS = 60.0  # a measured reply and the ear's turn onset agree within this (3 frames)


def parse_listen(text: str | float | None) -> float:
    """`--listen` as a percentage of calls: "10%", "10" or "0" (off); 0–100."""
    raw = str(text if text is not None else "0").strip()
    number = raw[:-1].strip() if raw.endswith("%") else raw
    try:
        value = float(number)
    except ValueError:
        raise ConfigError(f"--listen {raw!r}: expected a percentage of calls, e.g. 10%") from None
    if not 0.0 <= value <= 100.0:
        raise ConfigError(f"--listen {raw!r}: expected a percentage between 0% and 100%")
    return value


def is_sampled(index: int, percent: float, salt: str = "") -> bool:
    """Whether call number `index` (of its generator process; `salt` names the process) is one
    of the `percent` listened to: its index hashed into [0, 100). Deterministic, so a run can be
    repeated with the same calls listened to; 0 is none, 100 is all."""
    if percent <= 0.0:
        return False
    if percent >= 100.0:
        return True
    digest = hashlib.blake2b(f"{salt}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 < percent * 100.0


@dataclass(frozen=True)
class HeardExpectation:
    """A scenario's `agent_said` / `agent_never_said` (call-level: `step` None; else the index
    of the plan step whose window it judges)."""

    where: str
    step: int | None
    agent_said: tuple[str, ...] = ()
    agent_never_said: tuple[str, ...] = ()


@dataclass
class CallRecording:
    """What one sampled call heard, recorded by the generator (times on the call's schedule)."""

    scenario: str
    call_sid: str
    ulaw: bytearray = field(default_factory=bytearray)  # frame n played over [n·20, n·20+20)
    clears_at: list[int] = field(default_factory=list)  # frames played when each clear came
    caller: list[list[Any]] = field(default_factory=list)  # [onset_ms, end_ms | None, text]
    measured: list[tuple[str, float, float]] = field(default_factory=list)  # text, reply, ms
    steps: list[tuple[int, float]] = field(default_factory=list)  # (plan step, started_ms)

    # ------------------------------------------------ the pacing loop (appends only)

    def played(self, t_ms: float, chunk: bytes) -> None:
        """The agent frame played from `t_ms` (`chunk` shorter than a frame, or empty: the rest
        was silence)."""
        index = int(t_ms // FRAME_MS)
        missing = index * FRAME_BYTES - len(self.ulaw)
        if missing > 0:  # (ticks the pacer skipped after a stall: silence)
            self.ulaw += SILENCE_FRAME * (missing // FRAME_BYTES)
        self.ulaw += chunk
        if len(chunk) < FRAME_BYTES:
            self.ulaw += SILENCE_FRAME[len(chunk) :]

    def cleared(self) -> None:
        self.clears_at.append(len(self.ulaw) // FRAME_BYTES)

    def caller_onset(self, onset_ms: float, text: str) -> None:
        self.caller.append([onset_ms, None, text])

    def caller_end(self, end_ms: float) -> None:
        if self.caller and self.caller[-1][1] is None:
            self.caller[-1][1] = end_ms

    def keys(self, at_ms: float, digits: str) -> None:
        self.caller.append([at_ms, at_ms, f"(keys {digits})"])

    def timeline(self) -> tuple[list[int], list[list[Any]]]:
        """What goes down the pipe beside the audio (sent as raw bytes, `ulaw`, uncopied):
        the clears and the caller's speech, as plain values."""
        return list(self.clears_at), [list(c) for c in self.caller]


def hear_recording(
    ulaw: bytes | bytearray,
    timeline: tuple[list[int], list[list[Any]]],
    transcribe: Transcribe,
) -> list[HeardTurn]:
    """Replay a recording (its audio and `CallRecording.timeline`) through the caller's ear,
    frame by frame as it played, and return the turns heard with their words."""
    clears_at, caller = timeline
    ear = CallerEar(transcribe, live=False)
    frames = len(ulaw) // FRAME_BYTES
    clears = 0
    pcm = ulaw_decode(ulaw[: frames * FRAME_BYTES]).astype(np.int16)
    samples = FRAME_BYTES  # (8 kHz μ-law: one byte a sample)
    spans = [(float(on), float(on if end is None else end)) for on, end, _ in caller]
    for n in range(frames):
        t = n * FRAME_MS
        speech_end = None
        for onset, end in spans:  # the caller frame sent over [t, t + 20)
            if onset < end and onset < t + FRAME_MS and end > t:  # speech
                speech_end = min(t + FRAME_MS, end)
            elif onset == end and t <= onset < t + FRAME_MS:  # a key press
                speech_end = onset
        ear.caller_frame(t, speech_end)
        while clears < len(clears_at) and clears_at[clears] <= n:
            clears += 1
        ear.heard(t, pcm[n * samples : (n + 1) * samples], clears)
    turns = ear.finish()
    if ear.errors:
        raise RuntimeError(ear.errors[0])
    return turns


def listened_call(
    recording: CallRecording,
    turns: list[dict[str, Any]],
    expectations: tuple[HeardExpectation, ...],
) -> dict[str, Any]:
    """One listened call for the report: its conversation as heard, each measured turn with
    the agent's words (the latency is the harness's `response_latency`, the one definition),
    and the verdicts of the scenario's `agent_said` / `agent_never_said`."""
    heard = [
        HeardTurn(
            t["turn"],
            t["onset_ms"],
            t["end_ms"],
            [HeardRun(t["onset_ms"], t["end_ms"], t["text"], t["turn"])],
            cut_by=t["cut_by"],
        )
        for t in turns
    ]
    verdicts = judge(expectations, heard, recording.steps)
    measured = []
    for caller_text, reply_ms, latency_ms in recording.measured:
        agent = _turn_at(heard, reply_ms)
        measured.append(
            {
                "caller": caller_text,
                "agent": agent.text if agent is not None else "",
                "latency_ms": round(latency_ms, 1),
            }
        )
    conversation = [
        {"speaker": "caller", "at_ms": round(on, 1), "text": text}
        for on, _end, text in recording.caller
    ] + [
        {"speaker": "agent", "at_ms": round(t.onset_ms, 1), "text": t.text, "cut_by": t.cut_by}
        for t in heard
    ]
    return {
        "scenario": recording.scenario,
        "call_sid": recording.call_sid,
        "conversation": sorted(conversation, key=lambda line: line["at_ms"]),
        "turns": measured,
        "verdicts": verdicts,
    }


def judge(
    expectations: tuple[HeardExpectation, ...],
    turns: list[HeardTurn],
    steps: list[tuple[int, float]],
) -> list[dict[str, str]]:
    """`heard_outcomes` for each expectation: a step's on the turns heard in its window (from
    the moment it acted to the moment the next acting step did), the call's on all."""
    starts = dict(steps)
    order = sorted(steps, key=lambda s: s[1])
    out = []
    for expectation in expectations:
        if expectation.step is None:
            out += heard_outcomes(expectation, turns, expectation.where)
            continue
        start = starts.get(expectation.step)
        if start is None:  # the call never reached the step
            continue
        later = [t for _, t in order if t > start]
        end = later[0] if later else float("inf")
        window = [t for t in turns if start <= t.onset_ms < end]
        out += heard_outcomes(expectation, window, expectation.where)
    return out


def _turn_at(turns: list[HeardTurn], reply_ms: float) -> HeardTurn | None:
    """The heard turn the measured reply began (its onset where the harness saw the reply)."""
    near = [t for t in turns if abs(t.onset_ms - reply_ms) <= MATCH_MS]
    if near:
        return min(near, key=lambda t: abs(t.onset_ms - reply_ms))
    after = [t for t in turns if t.onset_ms >= reply_ms]
    return after[0] if after else None


# ---------------------------------------------------------------- the listening process


def _yield_the_cpu() -> None:
    """Run only on CPU time nobody else wants (SCHED_IDLE, inherited by the Whisper workers
    this process starts; their own `nice` does not change the policy): the generator's pacing
    loop must not wait for a transcription. Its transcripts come later, and the run waits
    for them (bounded) at its end."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):  # (not Linux): the lowest nice instead
        try:
            os.nice(19)
        except OSError:
            pass


def _serve(requests: Connection, answers: Connection, vocabulary: tuple[str, ...]) -> None:
    """Load the accurate ear (taught `vocabulary`), say so, then answer each recording
    (its `timeline`, then its audio as raw bytes) with ("ok", turns as dicts) or
    ("error", why)."""
    _yield_the_cpu()
    from workbench.telephony.caller.ear import accurate_transcriber

    try:
        transcribe = accurate_transcriber(vocabulary)
        transcribe(np.zeros(1600, np.int16))  # the Whisper workers loaded before any call ends
    except Exception as error:
        answers.send(("error", f"{type(error).__name__}: {error}"))
        return
    answers.send(("ready", os.getpid()))
    while True:
        try:
            timeline = requests.recv()
            if timeline is None:
                return
            ulaw = requests.recv_bytes()
        except EOFError:  # the generator is gone
            return
        try:
            turns = hear_recording(ulaw, timeline, transcribe)
            answers.send(("ok", [t.as_dict() for t in turns]))
        except Exception as error:  # one call's failure is reported, the process serves on
            answers.send(("error", f"{type(error).__name__}: {error}"))


if __name__ == "__main__":  # python -m workbench.telephony.caller.listened R W VOCABULARY_JSON
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
        tuple(json.loads(sys.argv[3])),
    )
