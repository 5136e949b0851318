"""What counts as heard: one threshold, and the µ-law shortcuts agree with decoding."""

from __future__ import annotations

import numpy as np

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.audio.heard import (
    AUDIBLE_THRESHOLD,
    audible_span,
    first_audible_index,
    last_audible_index,
    ulaw_audible_span,
    ulaw_is_audible,
)


def test_a_sample_is_audible_only_above_the_threshold():
    pcm = np.zeros(160, dtype=np.int16)
    pcm[10] = AUDIBLE_THRESHOLD  # at the threshold: not audible
    pcm[20] = -(AUDIBLE_THRESHOLD + 1)
    pcm[90] = AUDIBLE_THRESHOLD + 1
    assert first_audible_index(pcm) == 20
    assert last_audible_index(pcm) == 90
    assert audible_span(pcm) == (20, 90)
    assert audible_span(np.zeros(160, dtype=np.int16)) is None
    assert first_audible_index(np.zeros(0, dtype=np.int16)) is None


def test_the_ulaw_shortcuts_agree_with_decoding_every_frame():
    rng = np.random.default_rng(7)
    for _ in range(200):
        pcm = np.zeros(160, dtype=np.int16)
        start = int(rng.integers(0, 160))
        length = int(rng.integers(0, 160 - start))
        pcm[start : start + length] = rng.integers(-2000, 2000, length)
        payload = ulaw_encode(pcm)
        decoded = ulaw_decode(payload)
        span = audible_span(decoded)
        expected = None if span is None else (span[0], span[1] + 1)
        assert ulaw_audible_span(payload) == expected
        assert ulaw_is_audible(payload) == (span is not None)
