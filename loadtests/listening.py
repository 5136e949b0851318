"""`--listen PCT`: the generator's side of listening (see workbench/telephony/caller/listened.py).

A sampled call keeps what it heard in a `CallRecording` (appends on the pacing loop, nothing
else). When it ends, the recording is handed to ONE listening process — a fresh interpreter,
at SCHED_IDLE, that replays it through the caller's ear and transcribes it (Whisper in its own worker
processes) — and the call's greenlet moves on. Nothing on the hub waits or computes: a native
thread of a one-thread `gevent.threadpool.ThreadPool` writes the recording down the pipe and
blocks on the answer (releasing the GIL), and a small greenlet per call picks the answer up
through the thread pool's cooperative result, judges the scenario's `agent_said` /
`agent_never_said` on the words (regular expressions over a few hundred characters) and hands
the listened call to `on_heard`.

Why not `multiprocessing.Pool` or `concurrent.futures`: under gevent's monkey-patching their
helper threads become greenlets of the hub, and a blocking pipe read there stalls every call's
clock. The process is started at test start, before the measured window (its fork is the one
moment a large process is copied).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import gevent
import gevent.threadpool

import workbench.scenario.persona  # noqa: F401  (judging a call imports it: not on the hub)
from workbench.telephony.caller.listened import (
    CallRecording,
    HeardExpectation,
    is_sampled,
    listened_call,
)

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 180.0  # the listening process loads pocketsphinx and Whisper before serving


class Listener:
    """Samples this process's calls and has the sampled ones heard, off the pacing loop."""

    def __init__(
        self,
        percent: float,
        vocabulary: tuple[str, ...] = (),
        on_heard: Callable[[dict[str, Any]], None] | None = None,
        *,
        hold: bool = False,
    ) -> None:
        """`hold`: keep the recordings until `release()` (the run's end) instead of having
        each heard when its call ends, so no transcription runs beside the pacing loop."""
        self.percent = percent
        self.vocabulary = vocabulary
        self.on_heard = on_heard or (lambda heard: None)
        self._salt = str(os.getpid())
        self._index = 0
        self._thread = gevent.threadpool.ThreadPool(1)  # sends, then waits, one call at a time
        self._pending: dict[gevent.Greenlet, CallRecording] = {}
        self._send: Connection | None = None
        self._answers: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = False
        self.closed = False  # the run is ending: no more calls are sampled
        self.hold = hold
        self._held: list[tuple[CallRecording, tuple[HeardExpectation, ...]]] = []

    # ------------------------------------------------------------ the hub

    def start(self) -> Listener:
        """Start the listening process (it loads its models while the run ramps up)."""
        if self._process is None:
            request_read, request_write = os.pipe()
            answer_read, answer_write = os.pipe()
            module = "workbench.telephony.caller.listened"
            self._process = subprocess.Popen(
                [
                    *(sys.executable, "-m", module, str(request_read), str(answer_write)),
                    json.dumps(list(self.vocabulary)),
                ],
                pass_fds=(request_read, answer_write),
                stdin=subprocess.DEVNULL,
            )
            os.close(request_read)
            os.close(answer_write)
            self._send = Connection(request_write, readable=False)
            self._answers = Connection(answer_read, writable=False)
            # Its models load before any call starts (test start waits here, cooperatively):
            # loading them took ~20 s of CPU, which had landed in the measured window.
            try:
                self._thread.spawn(self._await_ready).get()
            except RuntimeError as error:  # each sampled call will say why it was not heard
                log.warning("%s", error)
        return self

    def sample(self) -> CallRecording | None:
        """The next call's recording if it is one of those listened to, else None."""
        index, self._index = self._index, self._index + 1
        if self.closed or not is_sampled(index, self.percent, self._salt):
            return None
        return CallRecording("", "")

    def submit(self, recording: CallRecording, expectations: tuple[HeardExpectation, ...]) -> None:
        """The call is over: have it heard (returns at once)."""
        if self.hold:
            self._held.append((recording, expectations))
            return
        greenlet = gevent.spawn(self._hear, recording, expectations)
        self._pending[greenlet] = recording
        greenlet.link(lambda g: self._pending.pop(g, None))

    def release(self) -> None:
        """The measured window is over: have the held recordings heard."""
        self.hold = False
        held, self._held = self._held, []
        for recording, expectations in held:
            self.submit(recording, expectations)

    def wait(self, timeout_s: float) -> None:
        """At the end of the run: wait (cooperatively) up to `timeout_s` for the calls still
        being heard; those that are not are reported as such."""
        self.release()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # (again: calls may still be ending meanwhile)
            running = [g for g in self._pending if not g.dead]
            if not running:
                break
            gevent.joinall(running, timeout=max(0.0, deadline - time.monotonic()))
        for greenlet, recording in list(self._pending.items()):
            if not greenlet.dead:
                greenlet.kill(block=False)
                self.on_heard(_failed(recording, f"not transcribed within {timeout_s:g} s"))
        self._pending.clear()

    def stop(self) -> None:
        if self._send is not None:
            try:
                self._send.send(None)
            except OSError:
                pass
            self._send.close()
            self._send = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def _hear(self, recording: CallRecording, expectations: tuple[HeardExpectation, ...]) -> None:
        started = time.perf_counter()
        try:
            answer = self._thread.spawn(self._ask, recording).get()
        except Exception as error:  # a broken listening process is a finding, not a crash
            answer = ("error", f"{type(error).__name__}: {error}")
        if answer[0] != "ok":
            self.on_heard(_failed(recording, str(answer[1])))
            return
        heard = listened_call(recording, answer[1], expectations)
        heard["heard_in_s"] = round(time.perf_counter() - started, 2)
        self.on_heard(heard)

    # ------------------------------------------------------------ the native thread

    def _await_ready(self) -> None:
        answers = self._answers
        if answers is None:
            raise RuntimeError("the listening process is not running")
        if not answers.poll(READY_TIMEOUT_S):
            raise RuntimeError(f"the listening process did not start in {READY_TIMEOUT_S} s")
        try:
            status, detail = answers.recv()
        except EOFError:
            raise RuntimeError("the listening process ended while loading its models") from None
        if status != "ready":
            raise RuntimeError(f"the listening process failed to start: {detail}")
        self._ready = True

    def _ask(self, recording: CallRecording) -> tuple[Any, ...]:
        """The recording down the pipe — its audio as raw bytes, not pickled (a pickle of a
        minute's audio held the GIL, and so the pacing loop, for ~1 ms) — and the answer."""
        send, answers = self._send, self._answers
        if send is None or answers is None:
            raise RuntimeError("the listening process is not running")
        if not self._ready:
            self._await_ready()
        send.send(recording.timeline())
        send.send_bytes(memoryview(recording.ulaw))  # (written with the GIL released)
        return tuple(answers.recv())


def _failed(recording: CallRecording, why: str) -> dict[str, Any]:
    return {"scenario": recording.scenario, "call_sid": recording.call_sid, "error": why}
