"""WAV in and out: PCM and μ-law, and one clear error naming the file for anything unusable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.audio.wav import Audio, read_wav, write_ulaw_wav, write_wav
from workbench.errors import InputFileError


def tone(rate: int, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


@pytest.mark.parametrize("rate", [8000, 16000, 22050])
def test_pcm_round_trip_is_sample_exact(tmp_path: Path, rate: int) -> None:
    path = tmp_path / "tone.wav"
    write_wav(path, tone(rate), rate)
    audio = read_wav(path)
    assert audio.sample_rate == rate
    assert audio.samples.dtype == np.int16
    np.testing.assert_array_equal(audio.samples, tone(rate))
    assert audio.duration_s == pytest.approx(0.5)
    assert soundfile.info(str(path)).subtype == "PCM_16"


def test_mu_law_round_trip_keeps_the_mu_law_bytes(tmp_path: Path) -> None:
    ulaw = ulaw_encode(tone(8000))
    path = tmp_path / "call.wav"
    write_ulaw_wav(path, ulaw)
    info = soundfile.info(str(path))
    assert (info.subtype, info.samplerate, info.channels) == ("ULAW", 8000, 1)
    audio = read_wav(path)
    assert audio.sample_rate == 8000
    assert ulaw_encode(audio.samples) == ulaw
    np.testing.assert_array_equal(audio.samples, ulaw_decode(ulaw))


def test_write_wav_ulaw_flag_stores_g711(tmp_path: Path) -> None:
    path = tmp_path / "flag.wav"
    write_wav(path, tone(8000), 8000, ulaw=True)
    assert soundfile.info(str(path)).subtype == "ULAW"
    np.testing.assert_array_equal(read_wav(path).samples, ulaw_decode(ulaw_encode(tone(8000))))


def test_float_wav_is_read_as_int16(tmp_path: Path) -> None:
    path = tmp_path / "float.wav"
    soundfile.write(str(path), np.array([0.0, 0.5, -0.5]), 16000, subtype="FLOAT")
    samples = read_wav(path).samples
    assert samples.dtype == np.int16
    assert list(samples) == [0, 16384, -16384]


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.wav"
    with pytest.raises(InputFileError, match=r"nowhere\.wav: no such audio file"):
        read_wav(path)


def test_a_directory_is_not_an_audio_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such audio file"):
        read_wav(tmp_path)


def test_non_audio_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n")
    with pytest.raises(InputFileError, match=r"notes\.wav: not a readable audio file"):
        read_wav(path)


def test_stereo_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    left = tone(8000)
    right = np.zeros_like(left)
    soundfile.write(str(path), np.stack([left, right], axis=1), 8000, subtype="PCM_16")
    with pytest.raises(InputFileError, match=r"stereo\.wav: 2 channels; a mono file is required"):
        read_wav(path)
    mixed = read_wav(path, allow_stereo=True)
    np.testing.assert_array_equal(mixed.samples, np.round(left / 2).astype(np.int16))


def test_unsupported_rate_names_the_file_and_the_rate(tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    write_wav(path, tone(12345), 12345)
    with pytest.raises(InputFileError, match=r"odd\.wav: unsupported sample rate 12345 Hz"):
        read_wav(path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    write_wav(path, np.zeros(0, dtype=np.int16), 8000)
    with pytest.raises(InputFileError, match=r"empty\.wav: the file holds no audio"):
        read_wav(path)


def test_audio_duration() -> None:
    assert Audio(np.zeros(4000, dtype=np.int16), 8000).duration_s == 0.5
