"""The accurate ear's final pass in a process of its own, shared by every call of a process.

Why a process: in threads, Whisper's pass shares the interpreter with the call clock. Its
feature extraction and decoding loop hold the GIL in between CTranslate2's native work, so
with four live calls the clock's 20 ms ticks ran up to 34 ms late while passes ran
(BENCHMARKS.md, "The ear"). In its own process the pass holds no lock the calls need, and it
runs below the calls' priority (`stt_whisper.FINAL_PASS_NICE`) so the clock keeps its core.

A pool of worker processes (one per core, at most `MAX_WORKERS`) serves every call and agent
of the parent, each worker one pass at a time on one thread: a request carries the agent's
vocabulary, and a worker keeps one `WhisperFinalPass` per vocabulary. A request goes to
the first idle worker. Why more than one: a call starts passes early in the caller's pauses
and discards most of them when the caller goes on (about four per turn); with one worker the
wanted pass at the end of the turn waited behind a discarded one already running. A request
whose `skip` says it is no longer wanted when its turn comes is not sent at all; one that
`skip` discards while its worker runs it is cancelled (a byte on the worker's cancel pipe),
and the worker stops after encoding, before the decoding that is the other half of a pass.

The worker is a fresh interpreter (`python -m workbench.speech.final_pass_process`: no copy
of the parent's threads or locks, and unlike multiprocessing's `spawn` it never re-imports
the parent's main script, which a script without a `__main__` guard would run again). It
talks over two pipes of its own (its stdout stays free for library chatter), loads the model
before it says it is ready, and ends when its parent does (its request pipe closes).
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import numpy as np

from workbench.errors import ConfigError
from workbench.speech.stt import Transcript, Word
from workbench.speech.stt_whisper import DEFAULT_MODEL, FINAL_PASS_NICE

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0  # loading the model takes ~1-3 s; a busy machine may take longer
MAX_WORKERS = 2  # more would only take cores from the calls' clock
CANCEL_POLL_S = 0.02  # how often the parent asks a running pass's `skip` (a frame)


class PassRequest(NamedTuple):
    """One pass, as it goes down a worker's pipe (as a plain tuple)."""

    vocabulary: tuple[str, ...]  # the agent's: a worker keeps a pass per vocabulary
    pcm: bytes  # 16 kHz 16-bit mono
    word_times: bool
    context: str  # what the agent just said


def _serve(requests: Connection, conn: Connection, cancel: Connection, model: str) -> None:
    """The worker: load the model, then answer `PassRequest`s from `requests` on `conn`; a
    byte on `cancel` stops the running pass."""
    try:
        os.nice(FINAL_PASS_NICE)
    except OSError:
        pass
    from workbench.speech.stt_whisper import WhisperFinalPass, load_model

    try:
        load_model(model)
    except ConfigError as error:
        conn.send(("config-error", str(error)))
        return
    except Exception as error:  # reported to the parent, which raises it there
        conn.send(("error", f"{type(error).__name__}: {error}"))
        return
    conn.send(("ready", os.getpid()))
    passes: dict[tuple[str, ...], WhisperFinalPass] = {}
    while True:
        try:
            request = requests.recv()
        except EOFError:  # the parent is gone
            return
        if request is None:
            return
        vocabulary, pcm, word_times, context = PassRequest(*request)
        while cancel.poll():  # a cancel that came after its pass had ended
            cancel.recv_bytes()
        try:
            final_pass = passes.get(vocabulary)
            if final_pass is None:
                final_pass = passes[vocabulary] = WhisperFinalPass(vocabulary, model=model)
            audio = np.frombuffer(pcm, dtype=np.int16)
            result = final_pass.transcribe(
                audio, word_times=word_times, context=context, skip=cancel.poll
            )
            if result is None:
                conn.send(("cancelled",))
                continue
            words = [(w.word, w.start_ms, w.end_ms) for w in result.words]
            conn.send(("ok", result.text, words, result.confidence))
        except Exception as error:
            conn.send(("error", f"{type(error).__name__}: {error}"))


class _Worker:
    """The parent's handle on one worker process (started on first use, restarted once if
    it dies)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._lock = threading.Lock()  # one request at a time: send, then receive its answer
        self._send: Connection | None = None
        self._conn: Connection | None = None  # the answers
        self._cancel: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def _start(self) -> None:
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        cancel_read, cancel_write = os.pipe()
        fds = (request_read, answer_write, cancel_read)
        command = [sys.executable, "-m", __name__, *map(str, fds)]
        process = subprocess.Popen(
            [*command, self.model],
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
        )
        for fd in fds:
            os.close(fd)
        cancel = Connection(cancel_write, readable=False)
        send = Connection(request_write, readable=False)
        answers = Connection(answer_read, writable=False)
        if not answers.poll(READY_TIMEOUT_S):
            process.kill()
            raise RuntimeError(f"the final-pass worker did not load in {READY_TIMEOUT_S:.0f} s")
        try:
            status, detail = answers.recv()
        except EOFError:
            raise RuntimeError("the final-pass worker ended while loading its model") from None
        if status == "config-error":
            raise ConfigError(detail)
        if status != "ready":
            raise RuntimeError(f"the final-pass worker failed to load: {detail}")
        logger.info("final-pass worker %s ready (Whisper %s)", detail, self.model)
        self._send, self._conn, self._cancel, self._process = send, answers, cancel, process

    def ensure_started(self) -> None:
        with self._lock:
            if self._conn is None:
                self._start()

    def request(self, request: PassRequest, skip: Callable[[], bool]) -> tuple[Any, ...] | None:
        with self._lock:
            if skip():
                return None
            for attempt in (1, 2):
                if self._conn is None or self._send is None:
                    self._start()
                assert self._conn is not None and self._send is not None
                try:
                    self._send.send(tuple(request))
                    answer = self._answer(skip)
                    return None if answer[0] == "cancelled" else answer
                except (EOFError, OSError):
                    logger.warning("the final-pass worker died (attempt %d); restarting", attempt)
                    self._close()
            raise RuntimeError("the final-pass worker keeps dying")

    def _answer(self, skip: Callable[[], bool]) -> tuple[Any, ...]:
        """The running pass's answer; cancels it once `skip()` says it is no longer wanted."""
        assert self._conn is not None and self._cancel is not None
        cancelled = False
        while not self._conn.poll(CANCEL_POLL_S):
            if not cancelled and skip():
                self._cancel.send_bytes(b"x")
                cancelled = True
        return tuple(self._conn.recv())

    def _close(self) -> None:
        for conn in (self._send, self._conn, self._cancel):
            if conn is not None:
                conn.close()
        self._send = self._conn = self._cancel = None
        if self._process is not None:
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def stop(self) -> None:
        with self._lock:
            if self._send is not None:
                try:
                    self._send.send(None)
                except OSError:
                    pass
            self._close()


class _Pool:
    """Workers for one model; a request takes the first idle one (waiting if none is)."""

    def __init__(self, model: str, size: int) -> None:
        self.workers = [_Worker(model) for _ in range(size)]
        self._idle: list[_Worker] = []  # started and not serving a request
        self._ready = 0  # workers started
        self._changed = threading.Condition()
        self._start_lock = threading.Lock()
        self._started = False

    def ensure_started(self) -> None:
        """The first worker started (a failure to load is raised here); the others load in
        the background and take requests once ready, so a call waits for one model load,
        not all of them (two loads side by side on a busy machine took over 5 s)."""
        with self._start_lock:
            if self._started:
                return
            first, *others = self.workers
            first.ensure_started()
            self._add(first)
            for worker in others:
                threading.Thread(
                    target=self._start_later, args=(worker,), name="final-pass-load", daemon=True
                ).start()
            self._started = True

    def _start_later(self, worker: _Worker) -> None:
        try:
            worker.ensure_started()
        except Exception as error:  # the pool serves on with the workers it has
            logger.warning("a final-pass worker did not start (%s); serving without it", error)
            return
        self._add(worker)

    def _add(self, worker: _Worker) -> None:
        with self._changed:
            self._idle.append(worker)
            self._ready += 1
            self._changed.notify_all()

    def wait_ready(self, timeout: float) -> bool:
        """Whether every worker has started within `timeout` seconds (tests, benchmarks)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._ready == len(self.workers), timeout)

    def request(self, request: PassRequest, skip: Callable[[], bool]) -> tuple[Any, ...] | None:
        with self._changed:
            self._changed.wait_for(lambda: bool(self._idle))
            worker = self._idle.pop(0)
        try:
            return worker.request(request, skip)
        finally:
            with self._changed:
                self._idle.append(worker)
                self._changed.notify()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


_pools: dict[str, _Pool] = {}
_pools_lock = threading.Lock()


def pool_size() -> int:
    """Workers per model: one per core, at most `MAX_WORKERS`."""
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def shared_pool(model: str = DEFAULT_MODEL) -> _Pool:
    """The process's workers for `model`, started (their models loaded) on return."""
    with _pools_lock:
        pool = _pools.get(model)
        if pool is None:
            pool = _pools[model] = _Pool(model, pool_size())
    pool.ensure_started()
    return pool


@atexit.register
def _stop_workers() -> None:
    for pool in list(_pools.values()):
        pool.stop()


class ProcessFinalPass:
    """`WhisperFinalPass`'s interface, computed by the shared worker processes."""

    def __init__(self, vocabulary: Sequence[str] = (), *, model: str = DEFAULT_MODEL) -> None:
        self.name = f"whisper {model}"
        self.vocabulary = tuple(str(term) for term in vocabulary)
        self._pool = shared_pool(model)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> bool:
        """Whether every worker has loaded within `timeout` s: a face about to take live
        calls waits here while it is still loading, so no model loads beside a call."""
        return self._pool.wait_ready(timeout)

    def transcribe(
        self,
        pcm16k: np.ndarray,
        *,
        word_times: bool = False,
        skip: Callable[[], bool] | None = None,
        context: str = "",
    ) -> Transcript | None:
        """The utterance's transcript (`context`: what the agent just said); None when
        `skip()` says, as its turn comes, that it is no longer wanted."""
        pcm = np.ascontiguousarray(pcm16k, dtype=np.int16).tobytes()
        request = PassRequest(self.vocabulary, pcm, word_times, context)
        answer = self._pool.request(request, skip or (lambda: False))
        if answer is None:
            return None
        if answer[0] != "ok":
            raise RuntimeError(f"the final pass failed in its worker: {answer[1]}")
        _, text, words, confidence = answer
        return Transcript(text, tuple(Word(w, s, e) for w, s, e in words), confidence)


if __name__ == "__main__":  # the worker: python -m workbench.speech.final_pass_process R W C MODEL
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
        Connection(int(sys.argv[3]), writable=False),
        sys.argv[4],
    )
