"""The final pass in its own process: the same words as in-process, shared by every call,
skipping passes no longer wanted, and surviving its worker's death."""

from __future__ import annotations

import os

import numpy as np
import pytest

from workbench.speech import final_pass_process
from workbench.speech.final_pass_process import ProcessFinalPass
from workbench.speech.stt_whisper import WhisperFinalPass

VOCABULARY = ("Northwind", "Priya")


@pytest.fixture(scope="module")
def sentence_pcm16k():
    from workbench.audio.codec import ulaw_decode
    from workbench.audio.resample import StreamingResampler
    from workbench.speech.tts import TelephoneTTS, load_synthesizer

    pcm = ulaw_decode(
        TelephoneTTS(load_synthesizer("piper:joe")).render(
            "Can I speak to Priya at Northwind about my invoice?"
        )
    )
    resampler = StreamingResampler(8000, 16000)
    return np.concatenate([resampler.process(pcm), resampler.flush()])


def test_the_worker_hears_what_the_pass_hears_in_process(sentence_pcm16k):
    in_process = WhisperFinalPass(VOCABULARY).transcribe(sentence_pcm16k)
    in_worker = ProcessFinalPass(VOCABULARY).transcribe(sentence_pcm16k)
    assert in_worker.text == in_process.text
    assert "northwind" in in_worker.text and "priya" in in_worker.text
    assert in_worker.confidence == pytest.approx(in_process.confidence)


def test_every_call_and_agent_shares_one_worker_process(sentence_pcm16k):
    first, second = ProcessFinalPass(VOCABULARY), ProcessFinalPass(("Brightsmile",))
    assert first._worker is second._worker
    assert first._worker._process.pid != os.getpid()
    assert first._worker._process.poll() is None  # alive
    assert second.transcribe(sentence_pcm16k[:8000]) is not None


def test_a_pass_no_longer_wanted_when_its_turn_comes_is_not_run(sentence_pcm16k):
    assert ProcessFinalPass(VOCABULARY).transcribe(sentence_pcm16k, skip=lambda: True) is None


def test_a_dead_worker_is_replaced_and_the_pass_still_answers(sentence_pcm16k):
    final_pass = ProcessFinalPass(VOCABULARY)
    worker = final_pass._worker
    dead = worker._process
    dead.kill()
    dead.wait()
    assert "northwind" in final_pass.transcribe(sentence_pcm16k).text
    assert worker._process is not dead and worker._process.poll() is None


def test_a_worker_that_cannot_load_its_model_says_why(monkeypatch):
    from workbench.errors import ConfigError

    worker = final_pass_process._Worker("large")
    with pytest.raises(ConfigError, match="unknown whisper model"):
        worker.ensure_started()
