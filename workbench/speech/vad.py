"""Voice activity detection on telephone frames: webrtcvad plus start/stop hysteresis.

webrtcvad classifies each 20 ms frame as speech or not; a single frame's verdict flickers
(clicks, breaths, the gaps between words), so speech is declared only after `start_ms` of
consecutive speech frames and declared over only after `stop_ms` of consecutive non-speech.
The events carry the times the speech really began and ended, not the times they were
confirmed: `VadSpeechStart.t_ms` is the start of the first speech frame of the run and
`VadSpeechEnd.t_ms` the end of the last speech frame, so the confirmation delay (the
hysteresis) is visible to the caller as `confirmed_at - t_ms`, never hidden in the timestamp.

webrtcvad has its own hangover: after even one loud frame it keeps answering "speech" for
about four more frames (~80 ms at 20 ms frames), so a single click would pass a 60 ms start
hysteresis and every end would come ~80 ms late on a quiet line. Frames quieter than
`min_rms` (default 40, about −58 dBFS: below the −60 dBFS comfort noise of `frames.py`, far
below speech) are therefore never speech, whatever webrtcvad says. On a noisy line the
floor does not apply and webrtcvad's hangover shows in the end time.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

from workbench.audio.frames import rms
from workbench.errors import ConfigError

_VALID_RATES = (8000, 16000, 32000, 48000)
_VALID_FRAME_MS = (10, 20, 30)


@dataclass(frozen=True)
class VadSpeechStart:
    """Speech began at `t_ms` (the start of its first speech frame)."""

    t_ms: float


@dataclass(frozen=True)
class VadSpeechEnd:
    """Speech ended at `t_ms` (the end of its last speech frame)."""

    t_ms: float


class SpeechRuns:
    """Start and end hysteresis over a stream of per-chunk speech verdicts, shared by every
    detector: a start is confirmed by `start_ms` of consecutive speech (and dated at that run's
    first chunk), an end by `stop_ms` of consecutive non-speech (dated at the last speech)."""

    def __init__(self, start_ms: float, stop_ms: float) -> None:
        self.start_ms = float(start_ms)
        self.stop_ms = float(stop_ms)
        self.reset()

    def reset(self) -> None:
        self.in_speech = False
        self.run_start_ms: float | None = None  # start of the current run of speech chunks
        self._run_ms = 0.0  # length of that run
        self._silence_ms = 0.0  # consecutive non-speech since the last speech chunk
        self._last_speech_end_ms = 0.0

    def step(
        self, speech: bool, t_ms: float, duration_ms: float
    ) -> VadSpeechStart | VadSpeechEnd | None:
        """One chunk's verdict (`t_ms`: its first sample); an event when one is confirmed."""
        if speech:
            if self.run_start_ms is None:
                self.run_start_ms = t_ms
                self._run_ms = 0.0
            self._run_ms += duration_ms
            self._silence_ms = 0.0
            self._last_speech_end_ms = t_ms + duration_ms
            if not self.in_speech and self._run_ms >= self.start_ms:
                self.in_speech = True
                return VadSpeechStart(self.run_start_ms)
            return None
        # A non-speech chunk breaks any unconfirmed run: a start needs *consecutive* speech.
        self.run_start_ms = None
        self._run_ms = 0.0
        if self.in_speech:
            self._silence_ms += duration_ms
            if self._silence_ms >= self.stop_ms:
                self.in_speech = False
                self._silence_ms = 0.0
                return VadSpeechEnd(self._last_speech_end_ms)
        return None


class VoiceActivityDetector:
    """Turns a stream of PCM frames into speech start and end events.

    `aggressiveness` is webrtcvad's mode, 0 (least eager to call noise non-speech) to 3.
    `start_ms` is how much consecutive speech confirms a start; `stop_ms` how much
    consecutive non-speech confirms an end. Frames must be 10, 20 or 30 ms of int16 at
    `sample_rate` (a decoded 160-byte μ-law frame is 20 ms at 8 kHz). `min_rms`: see the module
    docstring.
    """

    def __init__(
        self,
        aggressiveness: int = 2,
        start_ms: float = 60,
        stop_ms: float = 200,
        sample_rate: int = 8000,
        min_rms: float = 40.0,
    ) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise ConfigError(f"VAD aggressiveness must be 0-3, got {aggressiveness}")
        if sample_rate not in _VALID_RATES:
            raise ConfigError(f"VAD sample rate must be one of {_VALID_RATES}, got {sample_rate}")
        if start_ms < 0 or stop_ms < 0:
            raise ConfigError(f"VAD start_ms/stop_ms must be >= 0, got {start_ms}/{stop_ms}")
        self.aggressiveness = aggressiveness
        self.start_ms = float(start_ms)
        self.stop_ms = float(stop_ms)
        self.sample_rate = sample_rate
        self.min_rms = float(min_rms)
        self._valid_lengths = {sample_rate * ms // 1000 for ms in _VALID_FRAME_MS}
        self._vad = webrtcvad.Vad(aggressiveness)
        self.reset()

    def reset(self) -> None:
        """Forget all state: the next frame starts a new stream in silence."""
        self._runs = SpeechRuns(self.start_ms, self.stop_ms)

    @property
    def is_speech(self) -> bool:
        """True between a confirmed start and its confirmed end."""
        return self._runs.in_speech

    def frame_is_speech(self, frame_pcm: np.ndarray) -> bool:
        """One frame's verdict without hysteresis: webrtcvad's, for frames above `min_rms`."""
        pcm = np.asarray(frame_pcm, dtype=np.int16)
        if len(pcm) not in self._valid_lengths:
            raise ValueError(
                f"VAD frames must be 10, 20 or 30 ms at {self.sample_rate} Hz, got {len(pcm)} samples"
            )
        if not self._vad.is_speech(pcm.tobytes(), self.sample_rate):
            return False
        return rms(pcm) >= self.min_rms

    def process(self, frame_pcm: np.ndarray, t_ms: float) -> VadSpeechStart | VadSpeechEnd | None:
        """Classify one frame whose first sample is at `t_ms`; return an event when one is confirmed."""
        frame_ms = 1000.0 * len(frame_pcm) / self.sample_rate
        return self._runs.step(self.frame_is_speech(frame_pcm), t_ms, frame_ms)


class NoiseGatedVoiceActivityDetector(VoiceActivityDetector):
    """webrtcvad with an energy gate against the line's noise floor: the call session's gate
    (engine/listening.py `Listening._is_speech_frame`) as a detector of its own, so benches can
    compare it.

    A frame is speech only if webrtcvad says so and its RMS stands `noise_margin` (default 4.5,
    13 dB) above the floor: the median frame level of the last `floor_frames` frames (1.5 s)
    heard outside speech. Nothing is speech until `min_floor_frames` (200 ms) have measured it.
    """

    def __init__(
        self,
        aggressiveness: int = 2,
        start_ms: float = 60,
        stop_ms: float = 200,
        sample_rate: int = 8000,
        min_rms: float = 40.0,
        *,
        noise_margin: float = 4.5,
        floor_frames: int = 75,
        min_floor_frames: int = 10,
    ) -> None:
        self.noise_margin = float(noise_margin)
        self.floor_frames = floor_frames
        self.min_floor_frames = min_floor_frames
        super().__init__(aggressiveness, start_ms, stop_ms, sample_rate, min_rms)

    def reset(self) -> None:
        super().reset()
        self._levels: deque[float] = deque(maxlen=self.floor_frames)

    def frame_is_speech(self, frame_pcm: np.ndarray) -> bool:
        if len(self._levels) < self.min_floor_frames or not super().frame_is_speech(frame_pcm):
            return False
        return rms(frame_pcm) >= self.noise_margin * statistics.median(self._levels)

    def process(self, frame_pcm: np.ndarray, t_ms: float) -> VadSpeechStart | VadSpeechEnd | None:
        if not self.is_speech:
            self._levels.append(rms(frame_pcm))
        return super().process(frame_pcm, t_ms)
