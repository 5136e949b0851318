"""Streaming resampling: frame by frame equals whole-buffer, matches scipy, never clicks."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.audio.resample import StreamingResampler, resample

AMPLITUDE = 10000.0
RATE_PAIRS = [(8000, 16000), (16000, 8000), (22050, 8000)]
TONES_HZ = [440.0, 1000.0]


def sine(rate: int, freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(AMPLITUDE * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def stream_in_frames(resampler: StreamingResampler, audio: np.ndarray, frame: int) -> np.ndarray:
    chunks = [resampler.process(audio[i : i + frame]) for i in range(0, len(audio), frame)]
    return np.concatenate([*chunks, resampler.flush()])


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    reference = reference.astype(np.float64)
    error_energy = np.sum((test.astype(np.float64) - reference) ** 2)
    if error_energy == 0:  # identical after rounding to int16
        return float("inf")
    return float(10 * np.log10(np.sum(reference**2) / error_energy))


@pytest.mark.parametrize(("src", "dst"), RATE_PAIRS)
def test_frame_by_frame_output_equals_whole_buffer_output(src: int, dst: int) -> None:
    audio = sine(src, 440.0)
    framed = stream_in_frames(StreamingResampler(src, dst), audio, src * 20 // 1000)
    whole_resampler = StreamingResampler(src, dst)
    whole = np.concatenate([whole_resampler.process(audio), whole_resampler.flush()])
    np.testing.assert_array_equal(framed, whole)


@pytest.mark.parametrize(("src", "dst"), RATE_PAIRS)
def test_odd_chunk_sizes_give_the_same_samples(src: int, dst: int) -> None:
    audio = sine(src, 1000.0, seconds=0.25)
    reference = stream_in_frames(StreamingResampler(src, dst), audio, len(audio))
    rng = np.random.default_rng(7)
    resampler = StreamingResampler(src, dst)
    chunks, start = [], 0
    while start < len(audio):
        size = int(rng.integers(0, 97))  # includes empty chunks
        chunks.append(resampler.process(audio[start : start + size]))
        start += size
    np.testing.assert_array_equal(np.concatenate([*chunks, resampler.flush()]), reference)


@pytest.mark.parametrize(("src", "dst"), RATE_PAIRS)
@pytest.mark.parametrize("freq", TONES_HZ)
def test_streamed_sine_matches_zero_phase_resample_after_the_delay(
    src: int, dst: int, freq: float
) -> None:
    audio = sine(src, freq)
    resampler = StreamingResampler(src, dst)
    streamed = stream_in_frames(resampler, audio, src * 20 // 1000)
    reference = resample(audio, src, dst)
    assert len(reference) == dst  # one second in, one second out
    aligned = streamed[resampler.delay_samples : resampler.delay_samples + len(reference)]
    assert len(aligned) == len(reference)  # flush pushed out everything the delay held back
    edge = dst // 10  # both filters see the start and end of the tone differently
    assert snr_db(reference[edge:-edge], aligned[edge:-edge]) >= 60.0


@pytest.mark.parametrize(("src", "dst"), RATE_PAIRS)
def test_no_click_at_frame_boundaries(src: int, dst: int) -> None:
    freq = 1000.0
    resampler = StreamingResampler(src, dst)
    streamed = stream_in_frames(resampler, sine(src, freq), src * 20 // 1000).astype(np.float64)
    steady = streamed[resampler.delay_samples + dst // 10 : dst - dst // 10]
    # A sine of amplitude A sampled at fs never moves more than 2·A·sin(π·f/fs) between
    # samples; allow a hair of passband ripple and the rounding of two int16 samples.
    bound = 2 * AMPLITUDE * np.sin(np.pi * freq / dst) * 1.001 + 2
    assert np.max(np.abs(np.diff(steady))) <= bound


def test_int16_in_gives_int16_out_and_float_in_gives_float32() -> None:
    resampler = StreamingResampler(8000, 16000)
    assert resampler.process(np.zeros(160, dtype=np.int16)).dtype == np.int16
    assert StreamingResampler(8000, 16000).process(np.zeros(160)).dtype == np.float32
    assert resample(np.zeros(160, dtype=np.int16), 8000, 16000).dtype == np.int16
    assert resample(np.zeros(160), 8000, 16000).dtype == np.float32


def test_loud_input_is_clipped_not_wrapped() -> None:
    square = np.tile(np.r_[np.full(20, 32767), np.full(20, -32768)], 40).astype(np.int16)
    out = resample(square, 8000, 16000)  # Gibbs overshoot exceeds int16 range
    assert out.max() == 32767 and out.min() == -32768
    streamed = StreamingResampler(8000, 16000).process(square)
    assert streamed.max() == 32767 and streamed.min() == -32768


def test_same_rate_resample_is_a_copy() -> None:
    audio = sine(8000, 440.0, seconds=0.1)
    copy = resample(audio, 8000, 8000)
    np.testing.assert_array_equal(copy, audio)
    assert copy is not audio


def test_reset_starts_a_new_stream() -> None:
    audio = sine(16000, 440.0, seconds=0.1)
    resampler = StreamingResampler(16000, 8000)
    first = resampler.process(audio)
    resampler.reset()
    np.testing.assert_array_equal(resampler.process(audio), first)


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        StreamingResampler(0, 8000)
    with pytest.raises(ValueError, match="positive"):
        resample(np.zeros(10, dtype=np.int16), 8000, -1)
