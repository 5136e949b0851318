"""`workbench say`: a WAV file at the voice's rate, or 8 kHz μ-law with --telephone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from workbench.errors import ConfigError, WorkbenchError
from workbench.speech.say_cli import run_say


def workbench(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_say_writes_a_pcm16_wav_at_the_voice_rate(tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    result = workbench("say", "Hello, thanks for calling Northwind.", "-o", str(out), home=tmp_path)
    assert result.returncode == 0, result.stderr
    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    assert 1.0 < info.duration < 5.0
    assert str(out) in result.stdout and "22050 Hz" in result.stdout


def test_say_telephone_writes_8khz_mu_law(tmp_path: Path) -> None:
    out = tmp_path / "phone.wav"
    result = workbench(
        "say", "Your order has shipped.", "--telephone", "--voice", "espeak:en-us+f3",
        "-o", str(out), home=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "ULAW")
    assert info.frames % 160 == 0


def test_empty_text_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = workbench("say", "   ", "-o", str(tmp_path / "x.wav"), home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: nothing to say: the text is empty"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.wav").exists()


def test_unknown_voice_exits_2_naming_the_voices(tmp_path: Path) -> None:
    result = workbench(
        "say", "hi", "--voice", "robot", "-o", str(tmp_path / "x.wav"), home=tmp_path
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown voice 'robot'" in lines[0] and "espeak:en-us" in lines[0]


def test_an_unwritable_output_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError, match="does not exist"):
        run_say("hi", tmp_path / "missing" / "x.wav")
    (tmp_path / "dir.wav").mkdir()
    with pytest.raises(WorkbenchError, match="is a directory"):
        run_say("hi", tmp_path / "dir.wav")
    with pytest.raises(ConfigError, match="must be a .wav file"):
        run_say("hi", tmp_path / "x.mp3")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_file_that_cannot_be_created_is_one_clear_error() -> None:
    # /proc refuses new files even for root, so this reaches the write itself.
    with pytest.raises(WorkbenchError, match=r"^/proc/x\.wav: cannot write"):
        run_say("hi", Path("/proc/x.wav"))


def test_a_bad_lexicon_is_reported_with_its_line(tmp_path: Path) -> None:
    lexicon = tmp_path / "lex.yaml"
    lexicon.write_text("words:\n  SQL: [\n", encoding="utf-8")
    with pytest.raises(WorkbenchError, match=r"lex\.yaml:\d+:\d+: invalid YAML"):
        run_say("hi", tmp_path / "x.wav", lexicon=lexicon)


def test_a_lexicon_file_is_applied(tmp_path: Path) -> None:
    lexicon = tmp_path / "lex.yaml"
    lexicon.write_text("words:\n  hi: good afternoon and welcome to the show\n", encoding="utf-8")
    run_say("hi", tmp_path / "a.wav")
    run_say("hi", tmp_path / "b.wav", lexicon=lexicon)
    assert (
        soundfile.info(str(tmp_path / "b.wav")).duration
        > 2 * soundfile.info(str(tmp_path / "a.wav")).duration
    )
