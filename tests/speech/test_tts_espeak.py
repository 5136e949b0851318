"""espeak-ng through ctypes: real streaming, voices and variants, rate and pitch, clear errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from workbench.errors import ConfigError, WorkbenchError
from workbench.speech.tts import list_voices, load_synthesizer, synthesize
from workbench.speech.tts_espeak import EspeakSynthesizer

LONG_SENTENCE = (
    "Thank you for calling Northwind, I can help you book a demo, check an order, "
    "or update the address on your account, so what would you like to do today?"
)


def test_a_long_sentence_arrives_in_several_int16_chunks_at_22050_hz() -> None:
    synth = load_synthesizer("espeak:en-us")
    chunks = list(synth.stream(LONG_SENTENCE))
    assert synth.sample_rate == 22050
    assert synth.name == "espeak" and synth.voice == "espeak:en-us"
    assert len(chunks) >= 10
    assert all(chunk.dtype == np.int16 and chunk.ndim == 1 for chunk in chunks)
    audio = np.concatenate(chunks)
    assert 4.0 < len(audio) / synth.sample_rate < 15.0
    assert np.abs(audio).max() > 5000  # speech, not silence


def test_the_first_chunk_is_delivered_before_synthesis_is_complete() -> None:
    # With at most one chunk buffered, espeak cannot finish before the consumer catches up,
    # so this fails if stream() collected the whole utterance before yielding.
    synth = EspeakSynthesizer("en-us", max_buffered_chunks=1)
    stream = synth.stream(LONG_SENTENCE)
    first = next(stream)
    assert len(first) > 0
    assert not stream.synthesis_done
    rest = list(stream)
    assert stream.synthesis_done
    assert len(rest) >= 10


def test_closing_a_stream_early_stops_synthesis_and_frees_the_engine() -> None:
    synth = EspeakSynthesizer("en-us", max_buffered_chunks=1)
    stream = synth.stream(LONG_SENTENCE * 3)
    next(stream)
    stream.close()
    assert list(stream) == []
    # The engine is free again: a new utterance streams completely.
    assert len(synthesize(synth, "Still here.")) > 0


def median_pitch_hz(audio: np.ndarray, rate: int = 22050) -> float:
    """Median autocorrelation pitch of the loud 40 ms frames."""
    pitches = []
    size = rate // 25
    for start in range(0, len(audio) - size, size):
        frame = audio[start : start + size].astype(np.float64)
        if np.sqrt(np.mean(frame**2)) < 1000:
            continue
        frame -= frame.mean()
        correlation = np.correlate(frame, frame, "full")[size - 1 :]
        shortest, longest = rate // 400, rate // 60
        pitches.append(rate / (shortest + np.argmax(correlation[shortest:longest])))
    return float(np.median(pitches))


PITCH_SENTENCE = "Your appointment is confirmed for next Tuesday morning."


def test_a_female_variant_speaks_higher() -> None:
    base = median_pitch_hz(synthesize(load_synthesizer("espeak:en-us"), PITCH_SENTENCE))
    female = median_pitch_hz(synthesize(load_synthesizer("espeak:en-us+f3"), PITCH_SENTENCE))
    assert female > 1.5 * base


def test_every_listed_voice_loads() -> None:
    for voice in list_voices():
        if voice.startswith("espeak:"):
            assert load_synthesizer(voice).voice == voice


def test_a_faster_rate_gives_shorter_audio() -> None:
    text = "Your appointment is confirmed for next Tuesday morning."
    normal = synthesize(load_synthesizer("espeak:en-us"), text)
    fast = synthesize(load_synthesizer("espeak:en-us", rate_wpm=300), text)
    assert len(fast) < 0.8 * len(normal)


def test_pitch_setting_raises_the_voice() -> None:
    low = synthesize(load_synthesizer("espeak:en-us", pitch=10), PITCH_SENTENCE)
    high = synthesize(load_synthesizer("espeak:en-us", pitch=90), PITCH_SENTENCE)
    assert median_pitch_hz(high) > 1.5 * median_pitch_hz(low)


def test_settings_do_not_leak_between_synthesizers() -> None:
    text = "Your appointment is confirmed for next Tuesday morning."
    before = synthesize(load_synthesizer("espeak:en-us"), text)
    synthesize(load_synthesizer("espeak:en-us", rate_wpm=400), text)
    after = synthesize(load_synthesizer("espeak:en-us"), text)
    assert abs(len(after) - len(before)) < 0.02 * len(before)


def test_two_threads_can_stream_at_once() -> None:
    synth = load_synthesizer("espeak:en-us")
    expected = len(synthesize(synth, LONG_SENTENCE))
    lengths: list[int] = []

    def speak() -> None:
        lengths.append(len(synthesize(synth, LONG_SENTENCE)))

    threads = [threading.Thread(target=speak) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(lengths) == 3
    assert all(abs(n - expected) < 0.02 * expected for n in lengths)


def test_an_unknown_voice_is_a_config_error_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as error:
        load_synthesizer("espeak:xx-nowhere")
    message = str(error.value)
    assert "espeak:xx-nowhere" in message
    assert "espeak:en-us" in message and "piper:joe" in message
    assert "\n" not in message


@pytest.mark.parametrize("voice", ["espeak:en-us+nosuchvariant", "festival:kal", "en-us", ""])
def test_other_bad_voice_names_are_config_errors(voice: str) -> None:
    with pytest.raises(ConfigError, match="unknown voice"):
        load_synthesizer(voice)


def test_out_of_range_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="rate 20 wpm"):
        load_synthesizer("espeak:en-us", rate_wpm=20)
    with pytest.raises(ConfigError, match="pitch 150"):
        load_synthesizer("espeak:en-us", pitch=150)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_a_clear_error(text: str) -> None:
    with pytest.raises(WorkbenchError, match="nothing to say"):
        load_synthesizer("espeak:en-us").stream(text)
