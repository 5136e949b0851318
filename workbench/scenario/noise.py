"""Background noise for scripted callers, made here rather than downloaded.

- `pink` and `brown`: coloured noise synthesised from a seed (1/f and 1/f² power), the usual
  stand-ins for room rumble and street/car noise.
- `babble`: an office murmur: several TTS voices reading unrelated sentences at once, offset
  in time, summed and level-compressed so no single voice stands out. It takes a few seconds
  to make, so it is rendered once into `assets/sounds/babble.wav` (shipped) or, failing that,
  into `cache_dir("noise")`.

`load_noise(sound, seed)` returns 8 kHz float32 audio with unit RMS; the caller scales it to
the scenario's SNR (`gain_for_snr`) and loops it under everything it sends.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from workbench.audio.heard import AUDIBLE_THRESHOLD
from workbench.audio.resample import resample
from workbench.audio.wav import read_wav, write_wav
from workbench.paths import ASSETS_DIR, cache_dir

log = logging.getLogger(__name__)

RATE = 8000
FRAME = 160  # 20 ms
NOISE_SECONDS = 20.0
BABBLE_ASSET = ASSETS_DIR / "sounds" / "babble.wav"

_BABBLE_LINES = (
    "Did you see the numbers for the third quarter, they look better than last year.",
    "I'll send the slides over after lunch, and we can go through them on Thursday.",
    "The printer on the second floor is jammed again, somebody should call facilities.",
    "We need to move the meeting with the design team to next week.",
    "Can you grab me a coffee on your way back, no sugar please.",
    "The client wants the report by Friday, so let's split the work between us.",
    "I think the new project plan is too ambitious for the budget we have.",
    "Has anyone seen my charger, I left it in the small conference room.",
)
_BABBLE_VOICES = ("espeak:en-us", "espeak:en-us+f3", "espeak:en-gb", "espeak:en-us+m3")


def pink_noise(seconds: float = NOISE_SECONDS, seed: int = 0) -> np.ndarray:
    """1/f noise, unit RMS, by shaping white noise's spectrum."""
    return _coloured(seconds, seed, exponent=1.0)


def brown_noise(seconds: float = NOISE_SECONDS, seed: int = 0) -> np.ndarray:
    """1/f² noise (a random walk's spectrum), unit RMS, with the DC and sub-20 Hz removed."""
    return _coloured(seconds, seed, exponent=2.0)


def _coloured(seconds: float, seed: int, exponent: float) -> np.ndarray:
    n = int(seconds * RATE)
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / RATE)
    shape = np.zeros_like(freqs)
    audible = freqs >= 20.0  # below 20 Hz a phone line carries nothing
    shape[audible] = freqs[audible] ** (-exponent / 2.0)
    noise = np.fft.irfft(spectrum * shape, n)
    return _unit_rms(noise)


def make_babble(seconds: float = NOISE_SECONDS, seed: int = 0) -> np.ndarray:
    """Office babble: TTS sentences in several voices, overlapped, unit RMS."""
    from workbench.speech.tts import load_synthesizer

    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    mix = np.zeros(n, dtype=np.float64)
    for index, voice in enumerate(_BABBLE_VOICES):
        synthesizer = load_synthesizer(voice)
        track = np.zeros(n, dtype=np.float64)
        position = int(rng.uniform(0, 1.5) * RATE)
        line = index
        while position < n:
            text = _BABBLE_LINES[line % len(_BABBLE_LINES)]
            line += len(_BABBLE_VOICES) - 1
            pcm = np.concatenate(list(synthesizer.stream(text))).astype(np.float64)
            pcm = resample(pcm.astype(np.int16), synthesizer.sample_rate, RATE).astype(np.float64)
            end = min(n, position + len(pcm))
            track[position:end] += pcm[: end - position]
            position = end + int(rng.uniform(0.2, 0.8) * RATE)
        mix += _unit_rms(track)
    # Soft compression evens out the voices, so it sounds like a room rather than a person.
    mix = np.tanh(mix / (2.0 * np.std(mix)))
    return _unit_rms(mix)


def _unit_rms(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float64)
    audio = audio - audio.mean()
    rms = float(np.sqrt(np.mean(audio**2)))
    return (audio / rms if rms > 0 else audio).astype(np.float32)


def write_babble_asset(path: Path = BABBLE_ASSET, seed: int = 0) -> Path:
    """Render the babble once into `path` (8 kHz 16-bit WAV at −26 dBFS RMS)."""
    babble = make_babble(seed=seed)
    write_wav(path, np.round(babble * 1600.0).astype(np.int16), RATE)
    return path


@functools.lru_cache(maxsize=8)
def load_noise(sound: str, seed: int = 0) -> np.ndarray:
    """8 kHz float32 noise with unit RMS: `pink`, `brown`, `babble` or a WAV file path."""
    if sound == "pink":
        return pink_noise(seed=seed)
    if sound == "brown":
        return brown_noise(seed=seed)
    if sound == "babble":
        path = BABBLE_ASSET
        if not path.is_file():
            path = cache_dir("noise") / "babble.wav"
            if not path.is_file():
                log.info("rendering office babble into %s (once)", path)
                write_babble_asset(path)
        return _unit_rms(_busy_from_the_start(read_wav(path).samples))
    audio = read_wav(sound)
    samples = audio.samples
    if audio.sample_rate != RATE:
        samples = resample(samples, audio.sample_rate, RATE)
    return _unit_rms(samples)


def _busy_from_the_start(loop: np.ndarray) -> np.ndarray:
    """The loop rotated to begin where the room is already talking (its voices all enter a
    moment after the rendering's start, and an office is not silent when a call begins)."""
    frames = np.asarray(loop[: len(loop) // FRAME * FRAME], dtype=np.float64).reshape(-1, FRAME)
    levels = np.sqrt(np.mean(frames**2, axis=1))
    busy = np.flatnonzero(levels >= 0.5 * np.median(levels))
    return np.roll(loop, -int(busy[0]) * FRAME) if busy.size else loop


def gain_for_snr(speech_rms: float, snr_db: float) -> float:
    """The factor for unit-RMS noise so that speech is `snr_db` above it."""
    return speech_rms / (10.0 ** (snr_db / 20.0))


def active_rms(pcm: np.ndarray, threshold: int = AUDIBLE_THRESHOLD) -> float:
    """RMS of the speech in `pcm` (20 ms blocks whose peak passes `threshold`)."""
    pcm = np.asarray(pcm, dtype=np.float64)
    blocks = pcm[: len(pcm) // 160 * 160].reshape(-1, 160)
    loud = blocks[np.abs(blocks).max(axis=1) > threshold] if len(blocks) else blocks
    if not len(loud):
        return 0.0
    return float(np.sqrt(np.mean(loud**2)))


if __name__ == "__main__":  # regenerate the shipped asset: python -m workbench.scenario.noise
    write_babble_asset()
