"""20 ms telephone frames: 160 μ-law bytes, padded with silence, lossless round trip."""

from __future__ import annotations

import numpy as np

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.audio.frames import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    SILENCE_FRAME,
    Framer,
    comfort_noise_frame,
    frames_to_pcm,
    iter_frames,
    pcm_to_frames,
    silence_frame,
)


def speechlike(samples: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, 4000, samples), -32768, 32767).astype(np.int16)


def test_a_frame_is_20_ms_at_8_khz() -> None:
    assert FRAME_SAMPLES == 160
    assert FRAME_BYTES == 160


def test_silence_frame_is_160_bytes_that_decode_to_zero() -> None:
    assert silence_frame() == SILENCE_FRAME
    assert len(SILENCE_FRAME) == 160
    assert set(SILENCE_FRAME) == {0xFF}
    assert not ulaw_decode(SILENCE_FRAME).any()


def test_framer_emits_only_whole_frames_across_uneven_chunks() -> None:
    pcm = speechlike(1000)
    framer = Framer()
    frames = []
    for start in range(0, 1000, 70):
        frames += framer.push(pcm[start : start + 70])
    assert len(frames) == 1000 // 160  # 6 whole frames, 40 samples still pending
    assert all(len(frame) == 160 for frame in frames)
    assert b"".join(frames) == ulaw_encode(pcm[:960])
    last = framer.flush()
    assert len(last) == 1 and len(last[0]) == 160
    assert last[0][:40] == ulaw_encode(pcm[960:])
    assert last[0][40:] == SILENCE_FRAME[:120]
    assert framer.flush() == []


def test_flush_with_nothing_pending_returns_nothing() -> None:
    framer = Framer()
    assert framer.push(speechlike(320)) and framer.flush() == []


def test_pcm_to_frames_pads_the_last_frame_with_silence() -> None:
    frames = pcm_to_frames(speechlike(161))
    assert [len(frame) for frame in frames] == [160, 160]
    assert frames[1][1:] == SILENCE_FRAME[:159]
    assert pcm_to_frames(np.zeros(0, dtype=np.int16)) == []


def test_frames_round_trip_to_the_mu_law_quantised_pcm() -> None:
    pcm = speechlike(1600)
    frames = pcm_to_frames(pcm)
    assert len(frames) == 10
    decoded = frames_to_pcm(frames)
    np.testing.assert_array_equal(decoded, ulaw_decode(ulaw_encode(pcm)))
    assert pcm_to_frames(decoded) == frames  # μ-law quantised audio survives exactly


def test_iter_frames_splits_and_pads_mu_law_bytes() -> None:
    data = bytes(range(256)) * 2  # 512 bytes
    frames = list(iter_frames(data))
    assert [len(frame) for frame in frames] == [160, 160, 160, 160]
    assert b"".join(frames)[:512] == data
    assert frames[-1][32:] == SILENCE_FRAME[:128]
    assert list(iter_frames(b"")) == []


def test_comfort_noise_is_quiet_seeded_and_not_silent() -> None:
    first = comfort_noise_frame(np.random.default_rng(3))
    assert first == comfort_noise_frame(np.random.default_rng(3))
    assert len(first) == 160
    pcm = ulaw_decode(first).astype(np.float64)
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(pcm**2)) / 32767)
    assert -66 < rms_dbfs < -54  # μ-law quantisation blurs −60 dBFS a little
    louder = ulaw_decode(comfort_noise_frame(np.random.default_rng(3), level_dbfs=-30))
    assert np.abs(louder).mean() > 10 * np.abs(pcm).mean()


def test_a_cut_word_starts_at_the_last_gap_between_words():
    from workbench.audio.codec import ulaw_encode
    from workbench.audio.frames import word_start

    loud = ulaw_encode(np.full(160, 8000, dtype=np.int16))
    gap = ulaw_encode(np.full(160, 50, dtype=np.int16))
    assert word_start([loud, loud, gap, loud, loud, gap, loud, loud]) == 5
    assert word_start([loud, loud, loud]) == 0  # one word: from its start
    assert word_start([]) == 0
