"""20 ms telephone frames: 160 μ-law bytes at 8 kHz, exactly what Twilio Media Streams carries."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np

from workbench.audio.codec import ulaw_decode, ulaw_encode

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES  # one μ-law byte per sample
STT_SAMPLE_RATE = 16000

SILENCE_BYTE = ulaw_encode(np.zeros(1, dtype=np.int16))  # 0xFF
SILENCE_FRAME = SILENCE_BYTE * FRAME_BYTES


def silence_frame() -> bytes:
    """One 20 ms frame of digital silence."""
    return SILENCE_FRAME


def comfort_noise_frame(rng: np.random.Generator, level_dbfs: float = -60.0) -> bytes:
    """One 20 ms frame of low white noise, so a line never sounds dead (seeded by the caller)."""
    amplitude = 32767.0 * 10 ** (level_dbfs / 20.0)
    noise = rng.normal(0.0, amplitude, FRAME_SAMPLES)
    return ulaw_encode(np.clip(np.round(noise), -32768, 32767).astype(np.int16))


class Framer:
    """Cuts a stream of 8 kHz PCM of any chunk size into whole 20 ms μ-law frames."""

    def __init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)

    def push(self, pcm: np.ndarray) -> list[bytes]:
        self._pending = np.concatenate([self._pending, np.asarray(pcm, dtype=np.int16)])
        whole = len(self._pending) // FRAME_SAMPLES * FRAME_SAMPLES
        frames = [
            ulaw_encode(self._pending[i : i + FRAME_SAMPLES])
            for i in range(0, whole, FRAME_SAMPLES)
        ]
        self._pending = self._pending[whole:]
        return frames

    def flush(self) -> list[bytes]:
        """The last partial frame, padded with silence (nothing if there is none)."""
        if len(self._pending) == 0:
            return []
        padded = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        padded[: len(self._pending)] = self._pending
        self._pending = np.zeros(0, dtype=np.int16)
        return [ulaw_encode(padded)]


def pcm_to_frames(pcm8k: np.ndarray) -> list[bytes]:
    """Whole 8 kHz PCM buffer → list of 20 ms μ-law frames (the last one padded)."""
    framer = Framer()
    return framer.push(pcm8k) + framer.flush()


def frames_to_pcm(frames: Iterable[bytes]) -> np.ndarray:
    """μ-law frames → one 8 kHz int16 buffer."""
    return ulaw_decode(b"".join(frames))


def iter_frames(ulaw: bytes) -> Iterator[bytes]:
    """Split a μ-law byte string into 20 ms frames (the last one padded with silence)."""
    for i in range(0, len(ulaw), FRAME_BYTES):
        frame = ulaw[i : i + FRAME_BYTES]
        yield frame + SILENCE_BYTE * (FRAME_BYTES - len(frame))


def rms(pcm: np.ndarray) -> float:
    """Root-mean-square level of int16 (or float) samples: the one level every detector uses."""
    samples = np.asarray(pcm, dtype=np.float64)
    # (np.vdot, not np.dot: the same sum, but np.dot lets go of the GIL, which a busy server's
    # clock thread then waits up to a switch interval to get back)
    return math.sqrt(float(np.vdot(samples, samples)) / max(1, len(samples)))


WORD_GAP_RATIO = 0.1  # a frame this far below the speech's peak is a gap between words


def word_start(frames: list[bytes]) -> int:
    """Where the last word of `frames` (μ-law speech, cut mid-sentence) begins: the index of
    the last quiet frame (a gap between words), or 0 when the speech has no gap (one word)."""
    levels = [rms(ulaw_decode(f)) for f in frames]
    if not levels:
        return 0
    quiet = WORD_GAP_RATIO * max(levels)
    for index in range(len(levels) - 1, -1, -1):
        if levels[index] <= quiet:
            return index
    return 0
