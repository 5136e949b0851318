"""TelephoneTTS: 20 ms μ-law frames at 8 kHz, streamed, with the lexicon and number modes applied."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import FRAME_BYTES
from workbench.audio.resample import resample
from workbench.errors import WorkbenchError
from workbench.speech.lexicon import Lexicon
from workbench.speech.tts import TelephoneTTS, load_synthesizer, synthesize
from workbench.speech.tts_espeak import EspeakSynthesizer

SENTENCE = "Thank you for calling Northwind, how can I help you today?"


@pytest.fixture(autouse=True)
def workbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


class FakeReplaySynthesizer:
    """Replays one recorded espeak utterance in its original chunks (espeak itself varies by a
    few milliseconds from call to call, so exact comparisons need a fixed recording)."""

    name = "espeak"
    voice = "espeak:en-us"
    sample_rate = 22050

    def __init__(self, chunks: list[np.ndarray]) -> None:
        self.chunks = chunks

    def stream(self, text: str) -> Iterator[np.ndarray]:
        return iter(self.chunks)


@pytest.fixture(scope="module")
def recording() -> FakeReplaySynthesizer:
    return FakeReplaySynthesizer(list(load_synthesizer("espeak:en-us").stream(SENTENCE)))


def test_frames_are_160_bytes_and_last_exactly_as_long_as_the_speech(
    recording: FakeReplaySynthesizer,
) -> None:
    frames = list(TelephoneTTS(recording).stream_frames(SENTENCE))
    assert all(isinstance(frame, bytes) and len(frame) == FRAME_BYTES for frame in frames)
    native_samples = sum(len(chunk) for chunk in recording.chunks)
    expected_samples = math.ceil(native_samples * 8000 / 22050)
    assert len(frames) == math.ceil(expected_samples / 160)


def test_streamed_frames_match_resampling_the_whole_utterance(
    recording: FakeReplaySynthesizer,
) -> None:
    streamed = ulaw_decode(TelephoneTTS(recording).render(SENTENCE)).astype(np.float64)
    whole = resample(np.concatenate(recording.chunks), 22050, 8000).astype(np.float64)
    n = min(len(streamed), len(whole))
    assert len(streamed) - len(whole) < 160  # only the last frame's padding
    assert np.corrcoef(streamed[:n], whole[:n])[0, 1] > 0.99  # aligned, no lag, no clicks


def test_live_espeak_frames_last_as_long_as_the_speech() -> None:
    synth = load_synthesizer("espeak:en-us")
    tts = TelephoneTTS(synth)
    native_seconds = len(synthesize(synth, tts.prepare_text(SENTENCE))) / synth.sample_rate
    frames = list(tts.stream_frames(SENTENCE))
    assert all(len(frame) == FRAME_BYTES for frame in frames)
    assert len(frames) * 0.020 == pytest.approx(native_seconds, abs=0.05)


def test_frames_flow_before_synthesis_is_complete() -> None:
    synth = EspeakSynthesizer("en-us", max_buffered_chunks=1)
    frames = TelephoneTTS(synth).stream_frames(SENTENCE * 2)
    assert len(next(frames)) == FRAME_BYTES
    frames.close()


def test_render_is_the_frames_joined(recording: FakeReplaySynthesizer) -> None:
    tts = TelephoneTTS(recording)
    ulaw = tts.render(SENTENCE)
    assert len(ulaw) % FRAME_BYTES == 0
    assert ulaw == b"".join(tts.stream_frames(SENTENCE))


def test_render_pcm_gives_pcm_at_the_requested_rate(recording: FakeReplaySynthesizer) -> None:
    tts = TelephoneTTS(recording)
    native_samples = sum(len(chunk) for chunk in recording.chunks)
    for rate in (8000, 16000):
        pcm = tts.render_pcm(SENTENCE, rate)
        assert pcm.dtype == np.int16
        assert abs(len(pcm) - native_samples * rate / 22050) <= 1


def test_the_lexicon_changes_what_is_spoken_and_heard() -> None:
    synth = load_synthesizer("espeak:en-us")
    plain = TelephoneTTS(synth)
    with_lexicon = TelephoneTTS(synth, lexicon=Lexicon({"SQL": "sequel"}))
    text = "We store it in SQL."
    assert plain.prepare_text(text) == "We store it in SQL."
    assert with_lexicon.prepare_text(text) == "We store it in sequel."
    # "S Q L" and "sequel" differ by ~80 ms; espeak varies by a few ms between calls.
    difference_s = (len(plain.render(text)) - len(with_lexicon.render(text))) / 8000
    assert abs(difference_s) > 0.04


def test_number_modes_are_applied_before_synthesis() -> None:
    tts = TelephoneTTS(load_synthesizer("espeak:en-us"), lexicon=Lexicon.default())
    assert tts.prepare_text("Order NW-48213 costs $1,299.50 at 9:30.") == (
        "Order N W, 4 8 2 1 3 costs one thousand two hundred ninety-nine dollars and "
        "fifty cents at nine thirty."
    )
    assert tts.prepare_text("Card <digits>4111</digits>,  name <spell>smith</spell>") == (
        "Card 4 1 1 1, name s m i t h"
    )


@pytest.mark.parametrize("text", ["", "  ", "<spell></spell>"])
def test_nothing_to_say_is_an_error_when_asked_not_when_iterated(text: str) -> None:
    tts = TelephoneTTS(load_synthesizer("espeak:en-us"))
    with pytest.raises(WorkbenchError, match="nothing to say"):
        tts.stream_frames(text)


class FakeSilentSynthesizer:
    """A 16 kHz backend that streams 25 ms chunks of silence: the wrapper is backend-agnostic."""

    name = "fake"
    voice = "fake:silence"
    sample_rate = 16000

    def stream(self, text: str) -> Iterator[np.ndarray]:
        for _ in range(len(text)):
            yield np.zeros(400, dtype=np.int16)


def test_any_synthesizer_rate_becomes_whole_8khz_frames() -> None:
    frames = list(TelephoneTTS(FakeSilentSynthesizer()).stream_frames("abcd"))  # 100 ms
    assert len(frames) == 5
    assert all(len(frame) == FRAME_BYTES for frame in frames)
