"""`workbench transcribe`: a WAV file in, its words out; bad input is one clear line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from workbench.audio.codec import ulaw_decode
from workbench.audio.wav import write_wav
from workbench.errors import ConfigError, InputFileError
from workbench.paths import ASSETS_DIR, DEMO_AGENT_DIR
from workbench.speech.transcribe_cli import run_transcribe
from workbench.speech.tts import TelephoneTTS, load_synthesizer
from workbench.speech.wer import word_error_rate

WORKBENCH = Path(sys.executable).parent / "workbench"
DOMAIN = ASSETS_DIR / "speech" / "domain_sentences.txt"
SENTENCE = "What are your opening hours?"
# espeak's audio differs slightly from one rendering to the next, and so, now and then, does
# the transcript: allow one wrong word in five.
MAX_WER = 0.2


def workbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WORKBENCH), *map(str, args)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def wav_files(tmp_path_factory) -> dict[str, Path]:
    """The sentence as a μ-law 8 kHz file (what `say --telephone` writes) and as 16 kHz PCM."""
    directory = tmp_path_factory.mktemp("transcribe")
    tts = TelephoneTTS(load_synthesizer("espeak:en-us"))
    files = {"ulaw8k": directory / "ulaw8k.wav", "pcm16k": directory / "pcm16k.wav"}
    write_wav(files["ulaw8k"], ulaw_decode(tts.render(SENTENCE)), 8000, ulaw=True)
    write_wav(files["pcm16k"], tts.render_pcm(SENTENCE, 16000), 16000)
    return files


def assert_result_shape(result: dict, duration_ms: float) -> None:
    assert {"text", "words", "final_after_end_ms", "confidence", "ear", "backend"} <= set(result)
    assert isinstance(result["text"], str)
    assert result["final_after_end_ms"] >= 0
    assert 0 <= result["confidence"] <= 1
    for word in result["words"]:
        assert set(word) == {"word", "start_ms", "end_ms"}
        assert 0 <= word["start_ms"] <= word["end_ms"] <= duration_ms
    assert " ".join(w["word"] for w in result["words"]) == result["text"]


@pytest.mark.parametrize("kind", ["ulaw8k", "pcm16k"])
def test_run_transcribe_reads_any_supported_rate(wav_files, kind):
    path = wav_files[kind]
    result = run_transcribe(path, lm_sentences=DOMAIN, ear="fast")
    assert result["ear"] == "fast"
    assert word_error_rate(SENTENCE, result["text"]) <= MAX_WER, result["text"]
    assert_result_shape(result, 1000 * soundfile.info(str(path)).duration)


def test_json_output_of_the_command(wav_files):
    done = workbench(
        "transcribe", wav_files["ulaw8k"], "--lm-sentences", DOMAIN, "--ear", "fast", "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert word_error_rate(SENTENCE, result["text"]) <= MAX_WER, result["text"]
    assert_result_shape(result, 1000 * soundfile.info(str(wav_files["ulaw8k"])).duration)


def test_plain_output_is_the_text(wav_files):
    done = workbench("transcribe", wav_files["pcm16k"], "--lm-sentences", DOMAIN, "--ear", "fast")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    assert word_error_rate(SENTENCE, done.stdout) <= MAX_WER, done.stdout


@pytest.mark.skipif(not (DEMO_AGENT_DIR / "agent.yaml").is_file(), reason="no demo agent yet")
def test_an_agent_biases_recognition_with_its_own_sentences(wav_files):
    result = run_transcribe(wav_files["pcm16k"], agent=DEMO_AGENT_DIR, ear="fast")
    assert word_error_rate(SENTENCE, result["text"]) <= MAX_WER, result["text"]


@pytest.fixture(scope="module")
def piper_order(tmp_path_factory) -> Path:
    """A caller giving a brand name and an order number, in piper's voice over the phone."""
    path = tmp_path_factory.mktemp("accurate") / "order.wav"
    tts = TelephoneTTS(load_synthesizer("piper:joe"))
    write_wav(path, ulaw_decode(tts.render(ORDER_SENTENCE)), 8000, ulaw=True)
    return path


ORDER_SENTENCE = "I have a question about my Northwind Ops account, it's order 45712."


def test_the_accurate_ear_is_the_default_and_reports_both_passes(piper_order):
    """Whisper's words for the agent, the streaming pass's beside them, word times in the file."""
    result = run_transcribe(piper_order, agent=DEMO_AGENT_DIR)
    assert result["ear"] == "accurate" and result["backend"] is None
    assert word_error_rate(ORDER_SENTENCE, result["text"]) <= 0.1, result["text"]
    assert "northwind" in result["text"]
    assert word_error_rate(ORDER_SENTENCE, result["streaming_text"]) < 1.0
    assert_result_shape(result, 1000 * soundfile.info(str(piper_order)).duration)
    assert result["words"][-1]["end_ms"] > result["words"][0]["start_ms"]


def test_an_unknown_ear_is_one_error_line(piper_order):
    done = workbench("transcribe", piper_order, "--ear", "sharp")
    assert done.returncode == 2
    assert "unknown ear 'sharp' (choose one of: fast, accurate)" in done.stderr


def write_stereo(path: Path) -> Path:
    soundfile.write(str(path), np.zeros((8000, 2), dtype=np.int16), 8000)
    return path


def write_odd_rate(path: Path) -> Path:
    soundfile.write(str(path), np.zeros(12345, dtype=np.int16), 12345)
    return path


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda d: [d / "missing.wav"], "no such audio file"),
        (lambda d: [write_stereo(d / "stereo.wav")], "mono file is required"),
        (lambda d: [write_odd_rate(d / "odd.wav")], "unsupported sample rate 12345 Hz"),
        (lambda d: [write_stereo(d / "x.wav"), "--backend", "vosk"], "unknown STT backend 'vosk'"),
        (
            lambda d: [write_odd_rate(d / "y.wav"), "--lm-sentences", d / "none.txt"],
            "unsupported sample rate",
        ),
    ],
    ids=["missing", "stereo", "rate-12345", "unknown-backend", "file-checked-first"],
)
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, make_args, message):
    done = workbench("transcribe", *make_args(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_missing_or_empty_sentence_files_are_input_errors(wav_files, tmp_path):
    with pytest.raises(InputFileError, match="no such sentence file"):
        run_transcribe(wav_files["ulaw8k"], lm_sentences=tmp_path / "none.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no sentences"):
        run_transcribe(wav_files["ulaw8k"], lm_sentences=empty)


def test_agent_and_sentences_together_are_a_config_error(wav_files):
    with pytest.raises(ConfigError, match="either --agent or --lm-sentences"):
        run_transcribe(wav_files["ulaw8k"], agent=DEMO_AGENT_DIR, lm_sentences=DOMAIN)
