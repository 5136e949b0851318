"""Piper with the packaged `joe` voice: natural speech, streamed per sentence or clause."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import ConfigError, WorkbenchError
from workbench.speech.tts import TelephoneTTS, load_synthesizer
from workbench.speech.tts_piper import split_for_streaming


def test_text_is_cut_into_sentences_and_the_first_sentence_into_clauses() -> None:
    assert split_for_streaming("Fine, thanks; bye! Hello there. Yes, of course.") == [
        "Fine,",
        "thanks;",
        "bye!",
        "Hello there.",
        "Yes, of course.",
    ]


def test_a_long_first_clause_is_cut_before_a_joining_word() -> None:
    pieces = split_for_streaming("I'd like to book a demo for next Tuesday at noon please.")
    assert pieces == ["I'd like to book a demo", "for next Tuesday at noon please."]
    assert " ".join(pieces) == "I'd like to book a demo for next Tuesday at noon please."


def test_short_text_stays_whole() -> None:
    assert split_for_streaming("  Yes, of course.  ") == ["Yes,", "of course."]
    assert split_for_streaming("Thanks for calling") == ["Thanks for calling"]


def test_pitch_is_refused_for_piper() -> None:
    with pytest.raises(ConfigError, match="no pitch setting"):
        load_synthesizer("piper:joe", pitch=60)


def test_an_unknown_piper_voice_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown voice 'piper:amy'.*piper:joe"):
        load_synthesizer("piper:amy")


def test_empty_text_is_refused_before_the_model_loads() -> None:
    with pytest.raises(WorkbenchError, match="nothing to say"):
        load_synthesizer("piper:joe").stream(" ")


@pytest.mark.slow
def test_piper_speaks_a_sentence_in_several_streamed_pieces() -> None:
    synth = load_synthesizer("piper:joe")
    chunks = list(synth.stream("Thanks for calling. I'd like to help you book a demo today."))
    assert synth.sample_rate == 22050
    assert synth.name == "piper" and synth.voice == "piper:joe"
    assert len(chunks) >= 2
    assert all(chunk.dtype == np.int16 for chunk in chunks)
    audio = np.concatenate(chunks)
    assert 2.0 < len(audio) / 22050 < 8.0
    assert np.abs(audio).max() > 3000


@pytest.mark.slow
def test_piper_rate_and_telephone_frames() -> None:
    text = "Your order has shipped."
    slow = TelephoneTTS(load_synthesizer("piper:joe", rate_wpm=100)).render(text)
    fast = TelephoneTTS(load_synthesizer("piper:joe", rate_wpm=300)).render(text)
    assert len(slow) % 160 == 0 and len(fast) % 160 == 0
    assert len(fast) < 0.7 * len(slow)
