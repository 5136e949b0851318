"""Hold audio, made here rather than downloaded: a soft, slow sine melody as 8 kHz μ-law.

`python -m workbench.telephony.sounds` writes `assets/sounds/hold.wav`; `hold_frames()` reads it
(or synthesises the same melody when the file is missing), ready to loop 20 ms at a time.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from workbench.audio.codec import ulaw_encode
from workbench.audio.frames import FRAME_BYTES, SAMPLE_RATE, iter_frames
from workbench.paths import ASSETS_DIR

HOLD_WAV = ASSETS_DIR / "sounds" / "hold.wav"

# A calm arpeggio (Hz, beats); one beat is 0.4 s, the loop lasts 8 s.
_MELODY = (
    (523.25, 2),
    (659.25, 2),
    (783.99, 2),
    (659.25, 2),
    (587.33, 2),
    (698.46, 2),
    (880.00, 2),
    (698.46, 2),
    (523.25, 2),
    (659.25, 2),
    (783.99, 4),
)
_BEAT_S = 0.4
_LEVEL = 0.08  # about -22 dBFS: audible, never loud


def hold_melody() -> np.ndarray:
    """The hold loop as 8 kHz int16 PCM (each note with a soft attack and decay)."""
    notes = []
    for frequency, beats in _MELODY:
        n = int(SAMPLE_RATE * _BEAT_S * beats)
        t = np.arange(n) / SAMPLE_RATE
        envelope = np.minimum(1.0, t / 0.03) * np.exp(-2.5 * t / (_BEAT_S * beats))
        tone = np.sin(2 * np.pi * frequency * t) + 0.3 * np.sin(2 * np.pi * 2 * frequency * t)
        notes.append(_LEVEL * envelope * tone / 1.3)
    pcm = np.concatenate(notes)
    return np.round(pcm * 32767).astype(np.int16)


def write_hold_wav(path: Path = HOLD_WAV) -> Path:
    from workbench.audio.wav import write_ulaw_wav

    path.parent.mkdir(parents=True, exist_ok=True)
    write_ulaw_wav(path, ulaw_encode(hold_melody()))
    return path


@functools.cache
def hold_frames() -> tuple[bytes, ...]:
    """The hold loop as 20 ms μ-law frames (from the bundled WAV, or synthesised)."""
    if HOLD_WAV.is_file():
        from workbench.audio.wav import read_wav

        ulaw = ulaw_encode(read_wav(HOLD_WAV).samples)
    else:
        ulaw = ulaw_encode(hold_melody())
    frames = [f for f in iter_frames(ulaw) if len(f) == FRAME_BYTES]
    return tuple(frames)


if __name__ == "__main__":
    print(write_hold_wav())
