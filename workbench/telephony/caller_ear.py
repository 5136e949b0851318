"""The caller's ear: what a deployed agent said, as the caller heard it, in words.

`workbench call` can only know what reached the caller's side of the wire. This module keeps
the agent audio that actually *played* at the caller (a Media Streams `clear` drops queued
audio before it plays, so a reply cut by the caller's barge-in is heard only up to the cut),
cuts it into speech runs (audible audio separated by `RUN_GAP_MS` of quiet) and transcribes
each run, as it ends, with the accurate ear (pocketsphinx for digit runs + Whisper base in the
shared worker processes, `final_pass_process.py`, so the pass never holds the pacing clock's
interpreter). Runs are grouped into agent *turns*: a turn ends where the caller starts
speaking or a `clear` arrives.

Each transcribed run is offered to `on_run(run)` at once, so a scripted caller can wait for
`agent_said /regex/` during the call; at the end `finish()` returns the heard turns, each with
its latency at the caller (the caller's last speech sample → the turn's first audible sample).

No agent internals are used: the same ear works against any Media Streams agent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.audio.frames import FRAME_MS
from workbench.audio.heard import first_audible_index, last_audible_index

log = logging.getLogger(__name__)

SAMPLE_MS = 1000.0 / 8000.0
RUN_GAP_MS = 600.0  # quiet this long ends a speech run (a reply's sentences stay together)
MAX_RUN_MS = 24000.0  # Whisper reads 30 s at most: a longer run is cut at its next quiet frame
LEAD_MS = 100.0  # audio kept before a run's first audible sample (soft onsets)
TAIL_MS = 200.0  # and after its last


@dataclass
class HeardRun:
    """One stretch of agent speech the caller heard, and its words."""

    onset_ms: float
    end_ms: float
    text: str = ""
    turn: int = 0


@dataclass
class HeardTurn:
    """What the agent said between two caller utterances, as heard at the caller."""

    index: int
    onset_ms: float
    end_ms: float
    runs: list[HeardRun] = field(default_factory=list)
    cut_by: str = ""  # "clear" (the agent cleared its audio) | "caller" (caller spoke over it)
    latency_ms: float | None = None  # caller's last speech sample → the turn's first audible

    @property
    def text(self) -> str:
        return " ".join(r.text for r in self.runs if r.text).strip()

    def as_dict(self) -> dict[str, Any]:
        return {
            "turn": self.index,
            "onset_ms": round(self.onset_ms, 1),
            "end_ms": round(self.end_ms, 1),
            "text": self.text,
            "cut_by": self.cut_by,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
        }


Transcribe = Callable[[np.ndarray], str]  # 8 kHz int16 → words


def accurate_transcriber(vocabulary: tuple[str, ...] = ()) -> Transcribe:
    """The accurate ear over whole runs: pocketsphinx's general model (for digit strings)
    and Whisper base in the shared worker processes."""
    from workbench.audio.resample import resample
    from workbench.speech.ears import TwoPassRecognizer
    from workbench.speech.final_pass_process import ProcessFinalPass
    from workbench.speech.stt import load_recognizer

    ear = TwoPassRecognizer(load_recognizer("pocketsphinx"), ProcessFinalPass(vocabulary))
    lock = threading.Lock()  # one utterance at a time through the two-pass recogniser

    def transcribe(pcm8k: np.ndarray) -> str:
        pcm16k = resample(np.asarray(pcm8k, dtype=np.int16), 8000, 16000)
        with lock:
            ear.begin_utterance()
            for i in range(0, len(pcm16k), 320):
                ear.feed(pcm16k[i : i + 320])
            return ear.end_utterance().text

    return transcribe


class CallerEar:
    """Collects the agent audio one caller heard; see the module docstring.

    Feed it from the client's ticking thread: `heard(t_ms, pcm)` for each 20 ms played (with
    the client's running `clears` count) and `caller_frame(t_ms, speech_end_ms)` for each
    frame the caller sent. Transcription runs on a thread of its own.
    """

    def __init__(
        self,
        transcribe: Transcribe,
        *,
        on_run: Callable[[HeardRun], None] | None = None,
        run_gap_ms: float = RUN_GAP_MS,
        live: bool = True,
    ) -> None:
        # `live`: transcribe each run as it closes (a script that waits for the agent's words
        # needs them during the call); else keep the audio and transcribe once the call is
        # over (`finish`), so the recogniser never competes with the call it is timing: live,
        # beside a served agent on two cores, the caller's ticks ran late and turn latency
        # read 1655 ms where it was 204 ms without listening.
        self.live = live
        self._deferred: list[tuple[HeardRun, np.ndarray]] = []
        self._transcribe = transcribe
        self.on_run = on_run
        self.run_gap_ms = run_gap_ms
        self.turns: list[HeardTurn] = []
        self.errors: list[str] = []
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="caller-ear")
        self._pending: list[Future[None]] = []
        self._lead: list[np.ndarray] = []  # the last frames before a run starts
        self._chunks: list[np.ndarray] = []  # the open run's audio
        self._run: HeardRun | None = None
        self._last_audible_ms: float | None = None
        self._quiet_frames = 0
        self._clears = 0
        self._turn_open = False  # a caller utterance or a clear closes the current turn
        self._caller_speaking = False
        self._caller_speech_end: float | None = None

    # ------------------------------------------------------------ the ticking thread

    def caller_frame(self, t_ms: float, speech_end_ms: float | None) -> None:
        """The caller sent [t_ms, t_ms + 20): its speech starting ends the agent's turn."""
        if speech_end_ms is None:
            self._caller_speaking = False
            return
        if not self._caller_speaking and self._turn_open:
            if self._run is not None or self._audible_recently(t_ms):
                self.turns[-1].cut_by = self.turns[-1].cut_by or "caller"
            self._close_run()
            self._turn_open = False
        self._caller_speaking = True
        self._caller_speech_end = speech_end_ms

    def heard(self, t_ms: float, pcm: np.ndarray, clears: int = 0) -> None:
        """20 ms of agent audio played at the caller from `t_ms` (silence when none played)."""
        if clears != self._clears:
            self._clears = clears
            if self._turn_open:
                self.turns[-1].cut_by = "clear"
                self._close_run()
                self._turn_open = False
        first = first_audible_index(pcm)
        if first is None:
            if self._run is not None:
                self._chunks.append(pcm)
                self._quiet_frames += 1
                long_run = self._run_length_ms() >= MAX_RUN_MS
                if self._quiet_frames * FRAME_MS >= self.run_gap_ms or long_run:
                    self._close_run()
            else:
                self._lead = [*self._lead, pcm][-int(LEAD_MS // FRAME_MS) :]
            return
        start = t_ms + first * SAMPLE_MS
        last = last_audible_index(pcm)
        assert last is not None  # (audible from `first` on)
        self._last_audible_ms = t_ms + (last + 1) * SAMPLE_MS
        self._quiet_frames = 0
        if self._run is None:
            if not self._turn_open:
                self._open_turn(start)
            self._run = HeardRun(start, self._last_audible_ms, turn=self.turns[-1].index)
            self._chunks = [*self._lead, pcm]
            self._lead = []
        else:
            self._chunks.append(pcm)
        self._run.end_ms = self._last_audible_ms
        self.turns[-1].end_ms = self._last_audible_ms

    # ------------------------------------------------------------ any thread

    def pending(self) -> bool:
        """Heard words still to come: a run still open, or one being transcribed."""
        return self._run is not None or any(not f.done() for f in self._pending)

    def finish(self, timeout_s: float = 60.0) -> list[HeardTurn]:
        """Close the open run, wait for every transcription, and return the turns heard."""
        self._close_run()
        for run, pcm in self._deferred:
            self._pending.append(self._executor.submit(self._words, run, pcm))
        self._deferred = []
        deadline = time.monotonic() + timeout_s
        for future in list(self._pending):
            try:
                future.result(max(0.0, deadline - time.monotonic()))
            except Exception as error:  # recorded: a report says why a turn has no words
                why = str(error) or f"not transcribed within {timeout_s:g} s"
                self.errors.append(f"{type(error).__name__}: {why}")
        self._executor.shutdown(wait=False)
        return self.turns

    # ------------------------------------------------------------ inside

    def _audible_recently(self, t_ms: float) -> bool:
        last = self._last_audible_ms
        return last is not None and t_ms - last < self.run_gap_ms

    def _run_length_ms(self) -> float:
        return len(self._chunks) * FRAME_MS

    def _open_turn(self, onset_ms: float) -> None:
        latency = None
        end = self._caller_speech_end
        if end is not None and onset_ms > end:
            latency = onset_ms - end
        self._caller_speech_end = None  # one utterance answers one turn
        self.turns.append(HeardTurn(len(self.turns), onset_ms, onset_ms, latency_ms=latency))
        self._turn_open = True

    def _close_run(self) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        keep = int(self._quiet_frames) - int(TAIL_MS // FRAME_MS)
        chunks = self._chunks[: len(self._chunks) - keep] if keep > 0 else self._chunks
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        self._chunks, self._quiet_frames = [], 0
        self.turns[run.turn].runs.append(run)
        if self.live:
            self._pending.append(self._executor.submit(self._words, run, pcm))
        else:
            self._deferred.append((run, pcm))

    def _words(self, run: HeardRun, pcm: np.ndarray) -> None:
        run.text = self._transcribe(pcm).strip()
        if self.on_run is not None:
            self.on_run(run)


def heard_conversation(turns: list[HeardTurn], caller_actions: list[Any]) -> list[dict[str, Any]]:
    """Both sides as heard at the caller, in time order: what the caller said (its script's
    words, from when its speech began) and each agent turn's words with its latency."""
    lines: list[dict[str, Any]] = []
    for action in caller_actions:
        if action.text and action.onset_ms is not None:
            lines.append(
                {"speaker": "caller", "at_ms": round(action.onset_ms, 1), "text": action.text}
            )
    for turn in turns:
        line = {"speaker": "agent", "at_ms": round(turn.onset_ms, 1), "text": turn.text}
        line.update(latency_ms=turn.as_dict()["latency_ms"], cut_by=turn.cut_by)
        lines.append(line)
    return sorted(lines, key=lambda line: line["at_ms"])


# Steps after which the agent's reply belongs to them (as `scenario.assertions.WINDOW_KINDS`).
WINDOW_KINDS = ("say", "say_wav", "silence", "dtmf", "barge_in", "hang_up")


def step_windows(actions: list[Any]) -> dict[int, tuple[str, float, float]]:
    """Each acting step's window at the caller: step index → (where, start_ms, end_ms), from
    the moment it acted to the moment the next acting step did."""
    acting = [a for a in actions if a.kind in WINDOW_KINDS]
    out: dict[int, tuple[str, float, float]] = {}
    for i, action in enumerate(acting):
        end = acting[i + 1].started_ms if i + 1 < len(acting) else float("inf")
        out[action.step] = (f"step {action.step + 1}: {action.label}", action.started_ms, end)
    return out


def heard_outcomes(expect: Any, turns: list[HeardTurn], where: str) -> list[dict[str, str]]:
    """`agent_said` / `agent_never_said` judged on what the caller heard in `turns`."""

    text = " ".join(t.text for t in turns if t.text)
    shown = text if len(text) <= 300 else text[:299] + "…"
    out = []
    for pattern in getattr(expect, "agent_said", None) or []:
        ok = heard_matches(pattern, text)
        out.append(_verdict("agent_said", where, ok, repr(pattern), f"heard: {shown!r}"))
    for pattern in getattr(expect, "agent_never_said", None) or []:
        hits = [t.text for t in turns if heard_matches(pattern, t.text)]
        evidence = f"heard in {hits[0]!r}" if hits else "not heard"
        out.append(_verdict("agent_never_said", where, not hits, repr(pattern), evidence))
    return out


def heard_matches(pattern: str, heard: str) -> bool:
    """`pattern` (a scenario's substring or /regex/) against words as transcribed.

    A transcript has no capitals, punctuation or reliable word breaks: "8 AM" is heard as
    "8 a m", "Northwind" as "north wind". So a pattern is also tried on the heard words with
    spelled letters joined ("8 am"), and a substring also with every space left out on both
    sides ("northwind")."""
    from workbench.scenario.persona import heard_forms
    from workbench.scenario.schema import is_regex, text_matches

    if any(text_matches(pattern, form) for form in heard_forms(heard)):
        return True
    if is_regex(pattern):
        return False
    return "".join(pattern.lower().split()) in "".join(heard.lower().split())


def _verdict(name: str, where: str, ok: bool, expected: str, evidence: str) -> dict[str, str]:
    status = "pass" if ok else "fail"
    return {
        "expectation": name,
        "where": where,
        "status": status,
        "expected": expected,
        "evidence": evidence,
    }
