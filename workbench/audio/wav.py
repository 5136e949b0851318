"""WAV files in and out (soundfile), with one clear error for anything unusable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from workbench.audio.codec import float_to_int16, ulaw_decode, ulaw_encode
from workbench.errors import InputFileError

SUPPORTED_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


@dataclass(frozen=True)
class Audio:
    """Mono int16 samples and their rate."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def read_wav(path: str | Path, *, allow_stereo: bool = False) -> Audio:
    """Read a WAV file (PCM, float or μ-law) as mono int16.

    A missing file, a file that is not audio, an unsupported rate or several channels
    (unless `allow_stereo`, which averages them) raise `InputFileError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such audio file")
    try:
        # libsndfile converts float samples to int16 without scaling (0.5 would read as 0),
        # so float files are read as floats and scaled here.
        is_float = soundfile.info(str(path)).subtype in _FLOAT_SUBTYPES
        data, rate = soundfile.read(
            str(path), dtype="float64" if is_float else "int16", always_2d=True
        )
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise InputFileError(f"{path}: not a readable audio file ({error})") from None
    if is_float:
        data = float_to_int16(data)
    if rate not in SUPPORTED_RATES:
        raise InputFileError(
            f"{path}: unsupported sample rate {rate} Hz (supported: "
            f"{', '.join(str(r) for r in SUPPORTED_RATES)})"
        )
    channels = data.shape[1]
    if channels != 1:
        if not allow_stereo:
            raise InputFileError(f"{path}: {channels} channels; a mono file is required")
        data = np.round(data.mean(axis=1, keepdims=True)).astype(np.int16)
    if len(data) == 0:
        raise InputFileError(f"{path}: the file holds no audio")
    return Audio(np.ascontiguousarray(data[:, 0]), int(rate))


def write_wav(
    path: str | Path, samples: np.ndarray, sample_rate: int, *, ulaw: bool = False
) -> None:
    """Write mono int16 samples; `ulaw=True` stores 8-bit G.711 μ-law as a phone line carries it."""
    samples = np.asarray(samples, dtype=np.int16)
    if ulaw:
        # libsndfile's μ-law encoder rounds some samples differently from `audioop`; samples
        # already quantised by our codec encode identically, so the file holds our bytes.
        samples = ulaw_decode(ulaw_encode(samples))
    subtype = "ULAW" if ulaw else "PCM_16"
    soundfile.write(str(path), samples, sample_rate, subtype=subtype)


def write_ulaw_wav(path: str | Path, ulaw_bytes: bytes) -> None:
    """Write μ-law bytes (8 kHz) as a μ-law WAV file, sample-exact."""
    write_wav(path, ulaw_decode(ulaw_bytes), 8000, ulaw=True)
