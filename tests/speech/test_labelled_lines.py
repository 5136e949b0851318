"""The labelled turn-taking lines: two disjoint halves, truthful onsets, levels as labelled."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.audio.heard import AUDIBLE_THRESHOLD
from workbench.errors import ConfigError
from workbench.speech import labelled_lines as ll
from workbench.speech.labelled_lines import load_texts, speech_conditions


def test_the_tuning_and_heldout_halves_share_no_text():
    texts = load_texts()
    tune = {t.text for t in texts if t.split == "tune"}
    heldout = {t.text for t in texts if t.split == "heldout"}
    assert tune and heldout
    assert not tune & heldout
    for split in ("tune", "heldout"):
        labels = {t.label for t in texts if t.split == split}
        assert labels == {"acknowledgement", "interruption"}


def test_every_voice_meets_every_background_transient_and_rate_in_each_half():
    for split in ("tune", "heldout"):
        count = len([t for t in load_texts() if t.split == split])
        for voice_index in range(len(ll.VOICES)):
            conditions = [speech_conditions(split, t, voice_index) for t in range(count)]
            assert {c.background for c in conditions} == {"clean", "babble", "line"}
            assert {c.transient for c in conditions} == {None, "cough", "breath", "door"}
            rates = {ll.RATES_WPM[(t + voice_index) % 3] for t in range(count)}
            assert rates == set(ll.RATES_WPM)


@pytest.fixture(scope="module")
def clips():
    return {
        split: list(ll.labelled_clips(split, voices=("espeak:en-us+f3",), quick=True))
        for split in ("tune", "heldout")
    }


def test_the_halves_share_no_noise_either(clips):
    tune_noise = [c.pcm for c in clips["tune"] if c.kind == "noise"]
    heldout_noise = [c.pcm for c in clips["heldout"] if c.kind == "noise"]
    assert tune_noise and heldout_noise
    for a in tune_noise:
        for b in heldout_noise:
            n = min(len(a), len(b))
            assert not np.array_equal(a[:n], b[:n])


def test_nothing_is_audible_before_the_onset_of_a_clean_line(clips):
    clean = [c for c in clips["tune"] + clips["heldout"] if c.condition.name == "clean"]
    assert clean
    for clip in clean:
        onset = int(clip.onset_ms * 8)
        assert np.abs(clip.pcm[:onset].astype(int)).max() <= AUDIBLE_THRESHOLD
        assert abs(int(clip.pcm[onset])) > AUDIBLE_THRESHOLD


def test_a_background_sits_at_its_labelled_snr_below_the_speech_level():
    condition = ll.Condition("babble", 10.0)
    pcm, onset, _ = ll.mix(None, condition, seed=3)
    assert onset is None
    lead = pcm[int(0.4 * 8000) : int(1.0 * 8000)].astype(float)  # past the fade-in
    snr = 20 * np.log10(ll.SPEECH_RMS / np.sqrt(np.mean(lead**2)))
    assert snr == pytest.approx(10.0, abs=1.5)


def test_a_transient_ends_well_before_the_voice_begins():
    speech = np.zeros(4000)
    speech[1000:3000] = 3000.0
    for seed in range(5):
        pcm, onset, _ = ll.mix(speech, ll.Condition(transient="cough"), seed=seed)
        loud = np.flatnonzero(np.abs(pcm[: int(onset * 8)].astype(int)) > AUDIBLE_THRESHOLD)
        assert loud.size, "the cough is in the lead-in"
        assert onset - loud[-1] / 8 >= 200.0


def test_a_malformed_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "lines.tsv"
    path.write_text("# comment\ntune\tacknowledgement\tYeah.\ntune acknowledgement Okay.\n")
    with pytest.raises(ConfigError, match=r"lines.tsv:3:"):
        load_texts(path)


def test_an_unknown_split_is_refused():
    with pytest.raises(ConfigError, match="unknown split"):
        next(ll.labelled_clips("train"))
