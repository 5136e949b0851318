"""Sounds a caller's line carries that are not the caller's words, synthesised offline with numpy.

A barge-in detector must stop the agent for the caller's voice and for nothing else, so the
labelled lines (`labelled_lines.py`) mix these in. None is a recording: each is a recipe, seeded,
so a clip is the same on every machine and nothing is downloaded.

- `cough`: one or two bursts, each a sharp attack and a fast decay of noise shaped by two
  resonances (the vocal tract's, roughly), ~250-450 ms in all.
- `breath`: a slow swell of high-passed noise, 400-700 ms, much quieter than speech.
- `door`: an impulsive thud (a few decaying low resonances and a broadband click) and a short
  rattle; after the phone band-pass little of the thud's body remains, as on a real line.
- `line_noise`: a line's hiss plus mains hum (60 Hz and its odd harmonics) and rare crackles.
- `babble`: the shipped office babble (`assets/sounds/babble.wav`: several TTS voices reading
  unrelated sentences at once, summed; `scenario/noise.py` renders it), from a seeded offset.

Every sound is 8 kHz float32 through the telephone band (300-3400 Hz); the transients come
with peak 1.0, the backgrounds with unit RMS, and the mixer (`labelled_lines.py`) sets levels.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from workbench.audio.wav import read_wav
from workbench.paths import ASSETS_DIR

RATE = 8000
BABBLE_ASSET = ASSETS_DIR / "sounds" / "babble.wav"
_PHONE_BAND = signal.butter(4, (300.0, 3400.0), btype="bandpass", fs=RATE, output="sos")


def phone_band(audio: np.ndarray) -> np.ndarray:
    """What survives a telephone channel (300-3400 Hz)."""
    return signal.sosfilt(_PHONE_BAND, np.asarray(audio, dtype=np.float64))


def _resonate(noise: np.ndarray, freq: float, bandwidth: float) -> np.ndarray:
    """A two-pole resonator at `freq` Hz: shapes white noise into a vowel-like colour."""
    r = np.exp(-np.pi * bandwidth / RATE)
    theta = 2.0 * np.pi * freq / RATE
    return signal.lfilter([1.0 - r], [1.0, -2.0 * r * np.cos(theta), r * r], noise)


def _peak_one(audio: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    return (audio / peak if peak > 0 else audio).astype(np.float32)


def _unit_rms(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float64)
    audio = audio - audio.mean()
    rms = float(np.sqrt(np.mean(audio**2)))
    return (audio / rms if rms > 0 else audio).astype(np.float32)


def cough(seed: int = 0) -> np.ndarray:
    """A cough: one or two noise bursts with a sharp attack, peak 1.0."""
    rng = np.random.default_rng(seed)
    bursts = []
    for index in range(int(rng.integers(1, 3))):
        n = int(rng.uniform(0.16, 0.26) * RATE)
        t = np.arange(n) / RATE
        attack = np.minimum(1.0, t / 0.008)
        envelope = attack * np.exp(-t / rng.uniform(0.04, 0.09))
        noise = rng.standard_normal(n)
        shaped = _resonate(noise, rng.uniform(450, 800), 300) + 0.6 * _resonate(
            noise, rng.uniform(1300, 2200), 500
        )
        burst = shaped * envelope * (1.0 if index == 0 else rng.uniform(0.5, 0.8))
        bursts.append(burst)
        bursts.append(np.zeros(int(rng.uniform(0.05, 0.12) * RATE)))
    return _peak_one(phone_band(np.concatenate(bursts)))


def breath(seed: int = 0) -> np.ndarray:
    """An in-breath near the mouthpiece: a slow swell of hiss, peak 1.0."""
    rng = np.random.default_rng(seed)
    n = int(rng.uniform(0.4, 0.7) * RATE)
    envelope = np.sin(np.pi * np.arange(n) / n) ** 2
    hiss = signal.sosfilt(
        signal.butter(2, rng.uniform(700, 1200), btype="highpass", fs=RATE, output="sos"),
        rng.standard_normal(n),
    )
    return _peak_one(phone_band(hiss * envelope))


def door(seed: int = 0) -> np.ndarray:
    """A door closing in the room: a thud, a click and a short rattle, peak 1.0."""
    rng = np.random.default_rng(seed)
    n = int(0.45 * RATE)
    t = np.arange(n) / RATE
    thud = sum(
        np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t / rng.uniform(0.03, 0.08))
        for f in rng.uniform(80, 450, size=4)
    )
    click = np.zeros(n)
    width = int(0.004 * RATE)
    click[:width] = rng.standard_normal(width) * np.hanning(width) * 3.0
    rattle_start = int(rng.uniform(0.05, 0.1) * RATE)
    rattle = np.zeros(n)
    m = n - rattle_start
    rattle[rattle_start:] = (
        _resonate(rng.standard_normal(m), rng.uniform(1500, 2800), 200)
        * np.exp(-np.arange(m) / RATE / 0.05)
        * 0.4
    )
    return _peak_one(phone_band(thud + click + rattle))


def line_noise(seconds: float, seed: int = 0) -> np.ndarray:
    """A poor line: hiss, mains hum (60 Hz and odd harmonics, the band keeps 300 Hz up) and
    a few crackles; unit RMS."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    hiss = rng.standard_normal(n)
    hum = sum(
        (0.8 / k) * np.sin(2 * np.pi * 60.0 * k * t + rng.uniform(0, 2 * np.pi))
        for k in (1, 3, 5, 7, 9)
    )
    crackle = np.zeros(n)
    for at in rng.integers(0, max(1, n - 40), size=max(1, int(seconds * 2))):
        crackle[at : at + 40] += rng.standard_normal(40) * 6.0 * np.hanning(40)
    return _unit_rms(phone_band(hiss + 3.0 * hum + crackle))


def babble(seconds: float, seed: int = 0) -> np.ndarray:
    """`seconds` of the shipped office babble, from a seeded offset (looped), unit RMS."""
    loop = np.asarray(read_wav(BABBLE_ASSET).samples, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    start = int(rng.integers(0, len(loop)))
    reps = -(-(start + n) // len(loop))
    return _unit_rms(np.tile(loop, reps)[start : start + n])


TRANSIENTS = {"cough": cough, "breath": breath, "door": door}
BACKGROUNDS = {"babble": babble, "line": line_noise}
