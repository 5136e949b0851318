"""Non-speech sounds made offline: seeded, in the telephone band, of the stated shape."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.speech import nonspeech


def _band_share(audio: np.ndarray, low: float = 250.0, high: float = 3500.0) -> float:
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / nonspeech.RATE)
    return float(power[(freqs >= low) & (freqs <= high)].sum() / power.sum())


@pytest.mark.parametrize("name", ["cough", "breath", "door"])
def test_transients_are_seeded_peak_normalised_and_in_the_phone_band(name):
    make = nonspeech.TRANSIENTS[name]
    sound = make(7)
    assert np.array_equal(sound, make(7))
    assert not np.array_equal(sound[:100], make(8)[:100])
    assert np.abs(sound).max() == pytest.approx(1.0)
    assert 0.1 <= len(sound) / nonspeech.RATE <= 0.8
    assert _band_share(sound) > 0.9


def test_a_cough_starts_sharply_and_a_breath_swells():
    cough = np.abs(nonspeech.cough(1))
    breath = np.abs(nonspeech.breath(1))
    # Time to reach half the peak: a cough's attack is a few ms, a breath's over 100 ms.
    assert np.argmax(cough > 0.5) / 8 < 30
    assert np.argmax(breath > 0.5) / 8 > 100


@pytest.mark.parametrize("make", [nonspeech.babble, nonspeech.line_noise])
def test_backgrounds_have_the_asked_length_and_unit_rms(make):
    audio = make(2.5, seed=4)
    assert len(audio) == 20000
    assert np.sqrt(np.mean(audio.astype(float) ** 2)) == pytest.approx(1.0, rel=1e-3)


def test_line_noise_carries_mains_hum_harmonics():
    audio = nonspeech.line_noise(4.0, seed=0).astype(float)
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(len(audio), 1 / nonspeech.RATE)
    at = lambda f: spectrum[np.argmin(np.abs(freqs - f))]  # noqa: E731
    around = lambda f: np.median(spectrum[(freqs > f + 15) & (freqs < f + 45)])  # noqa: E731
    assert at(420) > 10 * around(420)  # the 7th harmonic, inside the phone band
