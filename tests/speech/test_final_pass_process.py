"""The final pass in processes of its own: the same words as in-process, shared by every call,
never waiting behind a pass already running, skipping passes no longer wanted, and surviving a
worker's death."""

from __future__ import annotations

import os
import threading

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


def test_every_call_and_agent_shares_one_pool_of_worker_processes(sentence_pcm16k):
    first, second = ProcessFinalPass(VOCABULARY), ProcessFinalPass(("Brightsmile",))
    assert first._pool is second._pool
    assert len(first._pool.workers) == final_pass_process.pool_size()
    for worker in first._pool.workers:
        assert worker._process.pid != os.getpid()
        assert worker._process.poll() is None  # alive
    assert second.transcribe(sentence_pcm16k[:8000]) is not None


@pytest.mark.skipif(final_pass_process.pool_size() < 2, reason="one core: one worker")
def test_a_pass_does_not_wait_behind_a_pass_already_running(sentence_pcm16k):
    final_pass = ProcessFinalPass(VOCABULARY)
    release = threading.Event()

    def still_wanted_once_released() -> bool:
        release.wait()  # holds its worker, as a discarded pass still computing would
        return False

    running = threading.Thread(
        target=final_pass.transcribe,
        args=(sentence_pcm16k[:8000],),
        kwargs={"skip": still_wanted_once_released},
    )
    running.start()
    answers: list = []
    wanted = threading.Thread(target=lambda: answers.append(final_pass.transcribe(sentence_pcm16k)))
    wanted.start()
    wanted.join(timeout=120)  # with one worker this would wait for `release` forever
    release.set()
    running.join(timeout=120)
    assert answers and "northwind" in answers[0].text


def test_a_pass_no_longer_wanted_when_its_turn_comes_is_not_run(sentence_pcm16k):
    assert ProcessFinalPass(VOCABULARY).transcribe(sentence_pcm16k, skip=lambda: True) is None


def test_a_pass_discarded_while_it_runs_is_cancelled_and_its_worker_serves_the_next(
    sentence_pcm16k,
):
    final_pass = ProcessFinalPass(VOCABULARY)
    asked = []

    def discarded_once_running() -> bool:  # wanted when its turn comes, then not
        asked.append(True)
        return len(asked) > 1

    assert final_pass.transcribe(sentence_pcm16k, skip=discarded_once_running) is None
    assert len(asked) > 1
    for _ in final_pass._pool.workers:  # whichever worker it was, the next pass is whole
        assert "northwind" in final_pass.transcribe(sentence_pcm16k).text


def test_in_process_a_pass_discarded_during_encoding_stops_before_decoding(sentence_pcm16k):
    asked = []

    def discarded_after_the_first_ask() -> bool:
        asked.append(True)
        return len(asked) > 1

    final_pass = WhisperFinalPass(VOCABULARY)
    assert final_pass.transcribe(sentence_pcm16k, skip=discarded_after_the_first_ask) is None
    assert len(asked) == 2  # as its turn came, and once its audio was encoded


def test_a_dead_worker_is_replaced_and_the_pass_still_answers(sentence_pcm16k):
    final_pass = ProcessFinalPass(VOCABULARY)
    dead = {worker: worker._process for worker in final_pass._pool.workers}
    for process in dead.values():
        process.kill()
        process.wait()
    assert "northwind" in final_pass.transcribe(sentence_pcm16k).text
    replaced = [w for w, process in dead.items() if w._process is not process]
    assert len(replaced) == 1 and replaced[0]._process.poll() is None


def test_a_worker_that_cannot_load_its_model_says_why(monkeypatch):
    from workbench.errors import ConfigError

    worker = final_pass_process._Worker("large")
    with pytest.raises(ConfigError, match="unknown whisper model"):
        worker.ensure_started()
