"""G.711 μ-law: bit-exact with CPython's `audioop` on every possible input."""

from __future__ import annotations

import warnings

import numpy as np

from workbench.audio.codec import float_to_int16, ulaw_decode, ulaw_encode

with warnings.catch_warnings():
    # audioop is deprecated on 3.11 (removed in 3.13); it is only the reference here.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def test_encoding_matches_audioop_for_all_65536_samples() -> None:
    expected = audioop.lin2ulaw(ALL_INT16.tobytes(), 2)
    assert ulaw_encode(ALL_INT16) == expected


def test_decoding_matches_audioop_for_all_256_codes() -> None:
    expected = np.frombuffer(audioop.ulaw2lin(ALL_CODES, 2), dtype=np.int16)
    decoded = ulaw_decode(ALL_CODES)
    assert decoded.dtype == np.int16
    np.testing.assert_array_equal(decoded, expected)


def test_decode_then_encode_returns_every_code_except_negative_zero() -> None:
    # 0x7F decodes to 0 like 0xFF does, and 0 encodes as 0xFF: μ-law has two zeros.
    round_trip = ulaw_encode(ulaw_decode(ALL_CODES))
    differing = [code for code in range(256) if round_trip[code] != code]
    assert differing == [0x7F]
    assert round_trip[0x7F] == 0xFF


def test_encoding_is_one_byte_per_sample_and_accepts_lists() -> None:
    assert ulaw_encode([0, 1000, -1000]) == audioop.lin2ulaw(
        np.array([0, 1000, -1000], dtype=np.int16).tobytes(), 2
    )
    assert ulaw_encode(np.zeros(0, dtype=np.int16)) == b""


def test_decoding_accepts_bytearray_and_memoryview() -> None:
    data = bytes([0x00, 0x80, 0xFF, 0x7F, 0x42])
    expected = ulaw_decode(data)
    np.testing.assert_array_equal(ulaw_decode(bytearray(data)), expected)
    np.testing.assert_array_equal(ulaw_decode(memoryview(data)), expected)


def test_float_to_int16_scales_rounds_and_clips() -> None:
    converted = float_to_int16(np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5]))
    assert converted.dtype == np.int16
    np.testing.assert_array_equal(converted, [0, 16384, -16384, 32767, -32767, 32767, -32768])
