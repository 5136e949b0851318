"""The caller's side of a simulated call: what it says, and what it hears.

A `Caller` produces one 20 ms μ-law frame per tick (silence when it is not talking) and
says, for each frame, when its last *speech* sample was — the ground truth from which a
turn's latency is measured. It is told what it hears, so it can wait for the agent to finish
before speaking again. `SayTurnsCaller` is the simplest one: it says its lines in order, each
once the agent has finished speaking. The scenario language builds richer callers on the same
protocol (barge-ins, backchannels, DTMF, network changes).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from workbench.audio.codec import ulaw_encode
from workbench.audio.frames import FRAME_MS, FRAME_SAMPLES, SILENCE_FRAME
from workbench.audio.heard import (
    AUDIBLE_THRESHOLD,
    REPLY_GAP_MS,
    first_audible_index,
    last_audible_index,
)
from workbench.engine.interruption import leading_acknowledgement


@dataclass(frozen=True)
class CallerFrame:
    """What the caller sends for one 20 ms slot.

    `speech_end_ms`: the last speech sample in this frame (caller clock), None if none.
    `dtmf`: a keypad digit pressed during this frame (sent as its own message, like Twilio's
    `dtmf` event). `network`: new conditions for the caller's leg from this frame on.
    """

    payload: bytes
    speech_end_ms: float | None = None
    dtmf: str | None = None
    network: Any = None


class Caller(Protocol):
    number: str

    def frame(self, t_ms: float) -> CallerFrame:
        """The caller's audio for [t_ms, t_ms + 20)."""
        ...

    def hear(self, t_ms: float, pcm: np.ndarray) -> None:
        """The agent audio the caller hears during [t_ms, t_ms + 20)."""
        ...

    def on_event(self, event: Any) -> None: ...

    @property
    def done(self) -> bool:
        """True once the caller wants to hang up."""
        ...


def speech_after_first_pause_index(
    pcm: np.ndarray, *, min_pause_ms: float = 100.0, threshold: int = AUDIBLE_THRESHOLD
) -> int | None:
    """The first audible sample after the first pause (≥ `min_pause_ms`) inside the speech.

    "Yeah, but what about…": where the words after the acknowledgement begin. None when the
    speech has no such pause.
    """
    window = 40  # 5 ms at 8 kHz
    usable = len(pcm) - len(pcm) % window
    if usable == 0:
        return None
    peaks = np.abs(pcm[:usable].astype(np.int32)).reshape(-1, window).max(axis=1)
    loud = peaks > threshold
    first = np.flatnonzero(loud)
    if not first.size:
        return None
    pause_windows = max(1, round(min_pause_ms / 5.0))
    quiet_run = 0
    for index in range(int(first[0]), len(loud)):
        if not loud[index]:
            quiet_run += 1
        elif quiet_run >= pause_windows:
            chunk = pcm[index * window : (index + 1) * window]
            return index * window + (first_audible_index(chunk, threshold) or 0)
        else:
            quiet_run = 0
    return None


def interruption_onset_index(pcm: np.ndarray, text: str) -> int | None:
    """Where an interruption begins in the caller's audio: its first audible sample, or, when
    it opens with an acknowledgement ("Yeah, but…"), the first one after the pause that
    follows it (falling back to the first audible sample if the voice did not pause)."""
    if leading_acknowledgement(text) is not None:
        after = speech_after_first_pause_index(pcm)
        if after is not None:
            return after
    return first_audible_index(pcm)


class Utterance:
    """Caller audio queued for sending, frame by frame, with its speech truth."""

    def __init__(self, pcm8k: np.ndarray, text: str = "") -> None:
        pad = (-len(pcm8k)) % FRAME_SAMPLES
        self.pcm = np.concatenate([np.asarray(pcm8k, dtype=np.int16), np.zeros(pad, np.int16)])
        self.text = text
        self.position = 0

    @property
    def finished(self) -> bool:
        return self.position >= len(self.pcm)

    def next_frame(self, t_ms: float) -> CallerFrame:
        chunk = self.pcm[self.position : self.position + FRAME_SAMPLES]
        self.position += FRAME_SAMPLES
        last = last_audible_index(chunk)
        end = None if last is None else t_ms + (last + 1) * 1000.0 / 8000.0
        return CallerFrame(ulaw_encode(chunk), end)


class SayTurnsCaller:
    """Says each line after the agent has finished its reply, then hangs up.

    The agent counts as finished after `reply_gap_ms` of inaudible audio following audible
    audio; if the agent says nothing for `patience_ms`, the caller goes on anyway.
    """

    def __init__(
        self,
        lines: list[str],
        render: Any,
        *,
        number: str = "+15550100",
        reply_gap_ms: float = REPLY_GAP_MS,
        patience_ms: float = 10000.0,
    ) -> None:
        self.number = number
        self._render = render  # text -> 8 kHz int16 PCM
        self._lines = deque(lines)
        self.reply_gap_ms = reply_gap_ms
        self.patience_ms = patience_ms
        self._speaking: Utterance | None = None
        self._heard_audio = False
        self._quiet_since: float | None = 0.0
        self._waiting_since = 0.0
        self._done = False
        self.said: list[tuple[float, str]] = []
        self.speech_ends: list[
            float | None
        ] = []  # the last speech sample of each line, caller clock

    @property
    def done(self) -> bool:
        return self._done

    def frame(self, t_ms: float) -> CallerFrame:
        if self._speaking is None and self._ready_to_speak(t_ms):
            if self._lines:
                text = self._lines.popleft()
                self._speaking = Utterance(self._render(text), text)
                self.said.append((t_ms, text))
                self.speech_ends.append(None)
            else:
                self._done = True
        if self._speaking is not None:
            frame = self._speaking.next_frame(t_ms)
            if frame.speech_end_ms is not None:
                self.speech_ends[-1] = frame.speech_end_ms
            if self._speaking.finished:
                self._speaking = None
                self._heard_audio = False
                self._quiet_since = None
                self._waiting_since = t_ms + FRAME_MS
            return frame
        return CallerFrame(SILENCE_FRAME)

    def _ready_to_speak(self, t_ms: float) -> bool:
        if self._heard_audio and self._quiet_since is not None:
            return t_ms - self._quiet_since >= self.reply_gap_ms
        return t_ms - self._waiting_since >= self.patience_ms

    def hear(self, t_ms: float, pcm: np.ndarray) -> None:
        if self._speaking is not None:
            return
        if first_audible_index(pcm) is not None:
            self._heard_audio = True
            self._quiet_since = None
        elif self._heard_audio and self._quiet_since is None:
            self._quiet_since = t_ms

    def on_event(self, event: Any) -> None:
        pass


MAX_MIC_BACKLOG = (
    10  # 20 ms blocks: quiet microphone audio waiting to be sent beyond 200 ms is shed
)
MAX_MIC_SPEECH_BACKLOG = 100  # speech is shed only beyond 2 s: a stalled call must not lose words


class InteractiveCaller:
    """A person at a softphone: typed lines (spoken in a TTS voice), WAV files, microphone
    frames and keypad presses, queued from any thread and sent one 20 ms frame per tick.

    What the caller hears goes to `on_heard(pcm)` (e.g. the speaker and a level meter). Mute
    sends silence instead of the microphone; hold sends silence and hears nothing.
    """

    def __init__(
        self, render: Any = None, *, number: str = "+14155550199", on_heard: Any = None
    ) -> None:
        import queue as _queue

        self.number = number
        self._render = render  # text -> 8 kHz int16 PCM
        self._frames: _queue.SimpleQueue = _queue.SimpleQueue()
        self._current: Utterance | None = None
        self._pending_network: Any = None
        self._pending_dtmf: _queue.SimpleQueue = _queue.SimpleQueue()
        self._done = False
        self.on_heard = on_heard
        self.muted = False
        self.on_hold = False
        self.mic_blocks_dropped = 0

    # any thread -------------------------------------------------------
    def say_text(self, text: str) -> None:
        if self._render is None:
            raise RuntimeError("this caller has no voice to speak typed text")
        self._frames.put(Utterance(self._render(text), text))

    def play_pcm(self, pcm8k: np.ndarray, label: str = "") -> None:
        self._frames.put(Utterance(pcm8k, label))

    def push_microphone(self, pcm8k: np.ndarray) -> None:
        """One 20 ms block from the microphone (dropped while muted or on hold).

        The sound card's clock and the call's clock drift apart, a stalled machine makes the
        call skip ticks, and a device that runs faster than real time would flood the call.
        The backlog is shed in pauses, as a jitter buffer shrinks in silence: a quiet block
        beyond `MAX_MIC_BACKLOG` waiting is dropped, a spoken one only beyond
        `MAX_MIC_SPEECH_BACKLOG`. Dropping spoken blocks at 200 ms cut words out of the middle
        of a sentence on a loaded machine ("opening hours" heard as "opening now ed").
        """
        if self.muted or self.on_hold:
            return
        waiting = self._frames.qsize()
        quiet = last_audible_index(pcm8k) is None
        if waiting >= MAX_MIC_SPEECH_BACKLOG or (quiet and waiting >= MAX_MIC_BACKLOG):
            self.mic_blocks_dropped += 1
            return
        self._frames.put(Utterance(pcm8k, ""))

    def press(self, digit: str) -> None:
        self._pending_dtmf.put(digit)

    def set_network(self, conditions: Any) -> None:
        self._pending_network = conditions

    def hang_up(self) -> None:
        self._done = True

    # driver thread ----------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done

    def frame(self, t_ms: float) -> CallerFrame:
        import queue as _queue

        network, self._pending_network = self._pending_network, None
        try:
            dtmf = self._pending_dtmf.get_nowait()
        except _queue.Empty:
            dtmf = None
        if self._current is None or self._current.finished:
            try:
                self._current = self._frames.get_nowait()
            except _queue.Empty:
                self._current = None
        if self._current is None or self.on_hold:
            return CallerFrame(SILENCE_FRAME, None, dtmf, network)
        frame = self._current.next_frame(t_ms)
        return CallerFrame(frame.payload, frame.speech_end_ms, dtmf, network)

    def hear(self, t_ms: float, pcm: np.ndarray) -> None:
        if self.on_heard is not None and not self.on_hold:
            self.on_heard(pcm)

    def on_event(self, event: Any) -> None:
        pass


TALK_OVER_GAP_MS = 300.0  # agent quiet this long after the caller began: it stopped


class TalkOverGreetingCaller:
    """Waits until it has heard `into_ms` of the agent's greeting, then says `line` over it;
    records when its speech began (`speech_onset`), where the interruption proper began
    (`interruption_onset`: after a leading "Yeah," — see `interruption_onset_index`) and the
    last agent audio it heard after that. The judge's tests and bench use it."""

    def __init__(
        self, line: str, render: Any, *, into_ms: float = 1500.0, hang_up_after_ms: float = 9000.0
    ):
        self.number = "+14155550199"
        self._render = render
        self.line = line
        self.into_ms = into_ms
        self.hang_up_after_ms = hang_up_after_ms
        self.agent_audio_began: float | None = None
        self.speech_onset: float | None = None
        self.interruption_onset: float | None = None
        self.last_agent_audio: float | None = None
        self._utterance: Utterance | None = None
        self._spoke = False
        self._done = False
        self._t = 0.0
        self._quiet_since: float | None = None
        self._stop_settled = False
        # What the line means ("interruption", "acknowledgement", "noise"), when the bench
        # knows: the call then records its overlap outcome (`CallResult.overlaps`).
        self.intent: str | None = None
        self.speech_end: float | None = None

    @property
    def done(self) -> bool:
        return self._done

    def caller_sounds(self) -> list[Any]:
        from workbench.engine.overlaps import CallerSound

        if self.intent is None or self.agent_audio_began is None:
            return []
        # (a line of noise alone has no speech onset: it counts from where words would be)
        spoken = self.interruption_onset or self.speech_onset
        onset = spoken if spoken is not None else self.agent_audio_began + self.into_ms
        return [CallerSound(self.intent, onset, self.speech_end)]  # type: ignore[arg-type]

    def frame(self, t_ms: float) -> CallerFrame:
        self._t = t_ms
        if self.speech_onset is not None and t_ms - self.speech_onset > self.hang_up_after_ms:
            self._done = True
        if (
            not self._spoke
            and self.agent_audio_began is not None
            and t_ms - self.agent_audio_began >= self.into_ms
        ):
            self._spoke = True
            self._utterance = Utterance(self._render(self.line), self.line)
            proper = interruption_onset_index(self._utterance.pcm, self.line)
            if proper is not None:
                self.interruption_onset = t_ms + proper / 8.0
        if self._utterance is not None and not self._utterance.finished:
            start = self._utterance.position
            frame = self._utterance.next_frame(t_ms)
            chunk = self._utterance.pcm[start : start + 160]
            onset = first_audible_index(chunk)
            if self.speech_onset is None and onset is not None:
                self.speech_onset = t_ms + onset / 8.0
            last = last_audible_index(chunk)
            if last is not None:
                self.speech_end = t_ms + (last + 1) / 8.0
            return frame
        return CallerFrame(SILENCE_FRAME)

    def hear(self, t_ms: float, pcm: np.ndarray) -> None:
        last = last_audible_index(pcm)
        if last is not None and self.agent_audio_began is None:
            self.agent_audio_began = t_ms
        if self.speech_onset is None or self._stop_settled:
            return
        # The agent's audio that was playing when the caller began: its end is where it
        # stopped (a gap of TALK_OVER_GAP_MS separates it from whatever the agent says next).
        if last is not None:
            if self._quiet_since is not None and t_ms - self._quiet_since >= TALK_OVER_GAP_MS:
                self._stop_settled = True
                return
            self.last_agent_audio = t_ms + (last + 1) / 8.0
            self._quiet_since = None
        elif self._quiet_since is None:
            self._quiet_since = t_ms

    def on_event(self, event: Any) -> None:
        pass
