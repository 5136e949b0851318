"""The speech benchmark's telephone path: padding, network impairment, frame-by-frame recognition."""

from __future__ import annotations

import pytest

from workbench.audio.frames import FRAME_BYTES, SILENCE_FRAME
from workbench.speech.bench import (
    DOMAIN_SENTENCES,
    PAD_FRAMES,
    WER_SENTENCES,
    _FrameTimes,
    _SttTimes,
    impair_frames,
    load_sentences,
    padded_frames,
    recognise_frames,
)
from workbench.speech.stt import load_recognizer, set_input_band
from workbench.speech.tts import TelephoneTTS, load_synthesizer
from workbench.speech.wer import word_error_rate

SENTENCE = "Are you open on Saturday?"


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return padded_frames(TelephoneTTS(load_synthesizer("espeak:en-us")).render(SENTENCE))


def test_utterances_are_padded_with_line_silence(frames):
    assert frames[:PAD_FRAMES] == [SILENCE_FRAME] * PAD_FRAMES
    assert frames[-PAD_FRAMES:] == [SILENCE_FRAME] * PAD_FRAMES
    assert all(len(f) == FRAME_BYTES for f in frames)


def test_impairment_is_seeded_and_loses_frames_without_losing_time(frames):
    first = impair_frames(frames, seed=3)
    assert first == impair_frames(frames, seed=3)
    assert first is not None and len(first) >= len(frames)
    assert first != frames[: len(first)]
    assert all(len(f) == FRAME_BYTES for f in first)


def test_recognise_frames_times_every_stage_and_transcribes():
    recognizer = load_recognizer(domain_sentences=load_sentences(DOMAIN_SENTENCES))
    set_input_band(recognizer, "telephone")
    tts = TelephoneTTS(load_synthesizer("espeak:en-us"))
    utterance = padded_frames(tts.render(SENTENCE))
    frame_times, stt_times = _FrameTimes(), _SttTimes()
    text = recognise_frames(utterance, recognizer, frame_times=frame_times, stt_times=stt_times)
    assert word_error_rate(SENTENCE, text) <= 0.2, text
    summary = frame_times.summary()
    assert summary["total"]["n"] == len(utterance)
    assert set(summary) == {
        "ulaw_decode",
        "resample_8k_to_16k",
        "vad",
        "stt_feed_domain_lm",
        "total",
    }
    assert stt_times.audio_s == pytest.approx(len(utterance) * 0.02)
    assert len(stt_times.final_ms) == 1


def test_the_bundled_sentence_lists_load():
    assert len(load_sentences(WER_SENTENCES)) >= 30
    assert len(load_sentences(DOMAIN_SENTENCES)) >= 120
