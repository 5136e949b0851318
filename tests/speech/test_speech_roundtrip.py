"""`workbench say` → `workbench transcribe`: what the TTS says, the STT hears back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.paths import ASSETS_DIR
from workbench.speech.wer import word_error_rate

WORKBENCH = Path(sys.executable).parent / "workbench"
DOMAIN = ASSETS_DIR / "speech" / "domain_sentences.txt"


def workbench(*args: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(WORKBENCH), *map(str, args)], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize(
    ("voice", "telephone", "sentence", "max_wer"),
    [
        # espeak audio varies slightly between renderings; measured 0.0, at worst one word wrong.
        ("espeak:en-us", True, "What are your opening hours?", 0.2),
        # Piper samples noise on every synthesis, so its audio varies run to run: measured 0.0,
        # bound set to allow one or two wrong words.
        ("piper:joe", False, "Can I speak to a human, please?", 0.35),
    ],
    ids=["espeak-telephone", "piper-wideband"],
)
def test_say_then_transcribe_gives_the_sentence_back(tmp_path, voice, telephone, sentence, max_wer):
    wav = tmp_path / "said.wav"
    workbench("say", sentence, "-o", wav, "--voice", voice, *(["--telephone"] if telephone else []))
    result = json.loads(workbench("transcribe", wav, "--lm-sentences", DOMAIN, "--json").stdout)
    assert word_error_rate(sentence, result["text"]) <= max_wer, result["text"]
    assert result["words"]
