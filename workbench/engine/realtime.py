"""The real-time driver for calls whose caller is outside: a media-stream socket, a softphone.

It runs one call session on its own thread, ticking every 20 ms on the wall clock. Caller
frames are pushed in from any thread (`push_caller_frame`) and played into the session one per
tick from a small buffer; agent frames leave through `send_frame` as the output clock pulls them.
Stage work runs on a thread pool, off the audio path, and is delivered the moment it finishes.
The session itself is only ever touched by the driver's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workbench.audio.frames import FRAME_MS, SILENCE_FRAME
from workbench.engine import events as ev
from workbench.engine.session import AgentFrame, CallSession, StageWork
from workbench.engine.trace import Span

log = logging.getLogger(__name__)

MAX_BACKLOG_FRAMES = 10  # beyond this, the caller's frames are arriving faster than 20 ms


class RealTimeDriver:
    def __init__(
        self,
        session: CallSession,
        *,
        send_frame: Callable[[AgentFrame], None],
        on_event: Callable[[ev.Event], None] | None = None,
        max_duration_ms: float = 3_600_000.0,
        workers: int = 2,
    ) -> None:
        self.session = session
        self._send_frame = send_frame
        self._on_event = on_event
        self.max_duration_ms = max_duration_ms
        self._inbox: deque[bytes] = deque()
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stage")
        self._thread: threading.Thread | None = None
        self._zero = 0.0
        self.underruns = 0  # ticks with no caller frame to play
        self.late_ticks = 0  # ticks processed more than a frame late
        self.worst_lateness_ms = 0.0
        self.events: list[ev.Event] = []

    # -------------------------------------------------------------- any thread

    def push_caller_frame(self, ulaw: bytes) -> None:
        self._inbox.append(ulaw)

    def hang_up(self, reason: str = "caller_hung_up") -> None:
        self._commands.put(("hang_up", reason))

    def call(self, fn: Callable[[CallSession, float], list[Any]]) -> None:
        """Run `fn(session, t_ms)` on the driver thread at the next opportunity (e.g. DTMF)."""
        self._commands.put(("call", fn))

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(
            target=self.run, name=f"call-{self.session.call_id}", daemon=True
        )
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -------------------------------------------------------------- driver thread

    def now_ms(self) -> float:
        return (time.perf_counter() - self._zero) * 1000.0

    def run(self) -> None:
        self._zero = time.perf_counter()
        try:
            self._handle(self.session.start(0.0), 0.0)
            t = 0.0
            while not self.session.ended and t <= self.max_duration_ms:
                self._wait_until(t)
                lateness = self.now_ms() - t
                self.worst_lateness_ms = max(self.worst_lateness_ms, lateness)
                if lateness > FRAME_MS:
                    self.late_ticks += 1
                self._tick(t)
                t += FRAME_MS
            if not self.session.ended:
                self._handle(self.session.hang_up(t, reason="timeout"), t)
        except Exception:
            log.exception("call %s: driver failed", self.session.call_id)
            if not self.session.ended:
                self._handle(self.session.hang_up(self.now_ms(), reason="error"), self.now_ms())
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _tick(self, t: float) -> None:
        if len(self._inbox) > MAX_BACKLOG_FRAMES:  # catch up rather than lag ever more
            while len(self._inbox) > 2:
                self._handle(self.session.on_caller_frame(t, self._inbox.popleft()), t)
        if self._inbox:
            frame = self._inbox.popleft()
        else:
            frame = SILENCE_FRAME
            self.underruns += 1
        self._handle(self.session.on_caller_frame(t, frame), t)
        agent_frame, outputs = self.session.pull_agent_frame(t)
        self._handle(outputs, t)
        if agent_frame is not None:
            try:
                self._send_frame(agent_frame)
            except Exception as error:  # the transport is gone: end the call cleanly
                log.warning("call %s: sending failed: %s", self.session.call_id, error)
                self._handle(self.session.hang_up(t, reason="transport_error"), t)

    def _wait_until(self, t_ms: float) -> None:
        """Deliver finished work and commands as they come until the tick is due."""
        while True:
            remaining = (t_ms - self.now_ms()) / 1000.0
            try:
                item = (
                    self._commands.get(timeout=remaining)
                    if remaining > 0
                    else self._commands.get_nowait()
                )
            except queue.Empty:
                return
            kind = item[0]
            now = self.now_ms()
            if kind == "done":
                _, started, done, work, result, error = item
                self._complete(started, done, work, result, error)
            elif kind == "hang_up":
                self._handle(self.session.hang_up(now, reason=item[1]), now)
            elif kind == "call":
                self._handle(item[1](self.session, now), now)

    def _handle(self, outputs: list[Any], t_ms: float) -> None:
        for output in outputs:
            if isinstance(output, StageWork):
                self._executor.submit(self._run_work, output, self.now_ms())
            else:
                self.events.append(output)
                if self._on_event is not None:
                    try:
                        self._on_event(output)
                    except Exception:
                        log.exception("event subscriber failed on %s", type(output).__name__)

    def _run_work(self, work: StageWork, started_ms: float) -> None:
        try:
            result, error = work.run(), None
        except Exception as exc:  # a failing stage must not end the call
            result, error = None, exc
        self._commands.put(("done", started_ms, self.now_ms(), work, result, error))

    def _complete(
        self, started: float, done: float, work: StageWork, result: Any, error: Any
    ) -> None:
        record = self.session.turns.get(work.turn)
        if record is not None:
            record.spans.append(Span(work.stage, started, done - started, "wall clock"))
        if error is None:
            outputs = self.session.on_stage_done(done, work.work_id, result)
        else:
            outputs = self.session.on_stage_failed(done, work.work_id, error)
        self._handle(outputs, done)
