"""The real-time driver for calls whose caller is outside: a media-stream socket, a softphone.

Every call of the process is ticked by one `CallClock` thread, every 20 ms on a shared
wall-clock grid: a call's 20 ms step (play one caller frame into the session from a small
buffer, pull one agent frame and hand it to `send_frame`) runs on that thread, one call after
another. Caller frames are pushed in from any thread (`push_caller_frame`). Stage work runs on
the call's own small thread pool, off the audio path, and its result is delivered by the clock
thread the moment it finishes (the thread waits on one queue of commands between ticks).
A session is only ever touched by the clock thread.

Why one thread and not one per call: the per-frame work of a call (VAD, resampling, feeding
the recogniser) holds the GIL, so calls never tick in parallel anyway; with a thread per call,
N threads each woke 50 times a second and queued for the GIL behind each other and behind the
event loop (a convoy that made ticks, stage results and the loop late by hundreds of ms when
many callers talked at once). One clock thread wakes once per 20 ms for all calls.
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
from workbench.engine.playout import AgentFrame
from workbench.engine.session import CallSession
from workbench.engine.stages import StageWork
from workbench.engine.trace import Span

log = logging.getLogger(__name__)

MAX_BACKLOG_FRAMES = 10  # beyond this, the caller's frames are arriving faster than 20 ms
SKIP_AFTER_MS = 200.0  # a clock this far behind its grid (machine stalled) skips, not bursts


class CallClock:
    """One thread that ticks every registered call on a shared 20 ms grid and delivers their
    commands (stage results, hang-ups, `call`s) between ticks. Started on first use; it
    blocks without waking while no call is running."""

    def __init__(self, name: str = "call-clock") -> None:
        self.name = name
        self._origin = time.perf_counter()
        self._commands: queue.SimpleQueue[tuple[RealTimeDriver, tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self._drivers: list[RealTimeDriver] = []
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self._drivers)

    def next_tick_s(self, now_s: float) -> float:
        """The first grid time (perf_counter seconds) at or after `now_s`."""
        period = FRAME_MS / 1000.0
        n = -(-(now_s - self._origin) // period)  # ceil
        return self._origin + n * period

    def submit(self, driver: RealTimeDriver, command: tuple[Any, ...]) -> None:
        self._commands.put((driver, command))
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        period = FRAME_MS / 1000.0
        due = self.next_tick_s(time.perf_counter())
        while True:
            if not self._drivers:  # idle: sleep until a call starts
                self._deliver(*self._commands.get())
                due = self.next_tick_s(time.perf_counter())
            self._deliver_until(due)
            for driver in list(self._drivers):
                try:
                    driver._run_due_ticks()
                except Exception:  # (drivers handle their own failures; never stop the clock)
                    log.exception("call clock: ticking %s failed", driver.session.call_id)
                    self._unregister(driver)
            due += period
            behind_ms = (time.perf_counter() - due) * 1000.0
            if behind_ms > SKIP_AFTER_MS:  # each call catches up on its own ticks
                due = self.next_tick_s(time.perf_counter())

    def _deliver_until(self, due: float) -> None:
        while True:
            remaining = due - time.perf_counter()
            try:
                item = (
                    self._commands.get(timeout=remaining)
                    if remaining > 0
                    else self._commands.get_nowait()
                )
            except queue.Empty:
                return
            self._deliver(*item)

    def _deliver(self, driver: RealTimeDriver, command: tuple[Any, ...]) -> None:
        try:
            driver._command(command)
        except Exception:  # (drivers handle their own failures; never stop the clock)
            log.exception("call clock: a command for %s failed", driver.session.call_id)

    def _register(self, driver: RealTimeDriver) -> None:
        self._drivers.append(driver)

    def _unregister(self, driver: RealTimeDriver) -> None:
        if driver in self._drivers:
            self._drivers.remove(driver)


_shared_clock: CallClock | None = None
_shared_lock = threading.Lock()


def shared_clock() -> CallClock:
    """The process's call clock (every driver uses it unless given another)."""
    global _shared_clock
    with _shared_lock:
        if _shared_clock is None:
            _shared_clock = CallClock()
        return _shared_clock


class RealTimeDriver:
    def __init__(
        self,
        session: CallSession,
        *,
        send_frame: Callable[[AgentFrame], None],
        on_event: Callable[[ev.Event], None] | None = None,
        max_duration_ms: float = 3_600_000.0,
        workers: int = 2,
        clock: CallClock | None = None,
    ) -> None:
        self.session = session
        self._send_frame = send_frame
        self._on_event = on_event
        self.max_duration_ms = max_duration_ms
        self._clock = clock or shared_clock()
        self._inbox: deque[bytes] = deque()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stage")
        self._started = False
        self._finished = threading.Event()
        self._zero = 0.0
        self._next_t = 0.0
        self.underruns = 0  # ticks with no caller frame to play
        self.late_ticks = 0  # ticks processed more than a frame late
        self.worst_lateness_ms = 0.0
        self.events: list[ev.Event] = []

    # -------------------------------------------------------------- any thread

    def push_caller_frame(self, ulaw: bytes) -> None:
        self._inbox.append(ulaw)

    def hang_up(self, reason: str = "caller_hung_up") -> None:
        self._clock.submit(self, ("hang_up", reason))

    def call(self, fn: Callable[[CallSession, float], list[Any]]) -> None:
        """Run `fn(session, t_ms)` on the clock thread at the next opportunity (e.g. DTMF)."""
        self._clock.submit(self, ("call", fn))

    def start(self) -> None:
        """Start the call: its first tick is the clock's next grid point."""
        self._zero = self._clock.next_tick_s(time.perf_counter())
        self._started = True
        self._clock.submit(self, ("start",))

    def join(self, timeout: float | None = None) -> None:
        if self._started:
            self._finished.wait(timeout)

    @property
    def running(self) -> bool:
        return self._started and not self._finished.is_set()

    def now_ms(self) -> float:
        return (time.perf_counter() - self._zero) * 1000.0

    @property
    def behind_ms(self) -> float:
        """How late this call's next tick is now (0 when on time or not running): a server's
        sign that the clock thread lacks the CPU its calls need (any thread may read it)."""
        if not self.running:
            return 0.0
        return max(0.0, self.now_ms() - self._next_t - FRAME_MS)

    # -------------------------------------------------------------- clock thread

    def _command(self, command: tuple[Any, ...]) -> None:
        if self._finished.is_set():
            return
        kind = command[0]
        now = self.now_ms()
        try:
            if kind == "start":
                self._clock._register(self)
                self._handle(self.session.start(0.0), 0.0)
            elif kind == "done":
                _, started, done, work, result, error = command
                self._complete(started, done, work, result, error)
            elif kind == "hang_up":
                self._handle(self.session.hang_up(now, reason=command[1]), now)
            elif kind == "call":
                self._handle(command[1](self.session, now), now)
        except Exception:
            self._fail()
            return
        if self.session.ended:
            self._finish()

    def _run_due_ticks(self) -> None:
        """Every tick of this call that is due by now (more than one if it fell behind)."""
        try:
            while not self.session.ended and self._next_t <= self.max_duration_ms:
                t = self._next_t
                lateness = self.now_ms() - t
                if lateness < 0:
                    return
                self.worst_lateness_ms = max(self.worst_lateness_ms, lateness)
                if lateness > FRAME_MS:
                    self.late_ticks += 1
                self._tick(t)
                self._next_t += FRAME_MS
            if not self.session.ended:
                self._handle(self.session.hang_up(self._next_t, reason="timeout"), self._next_t)
        except Exception:
            self._fail()
            return
        self._finish()

    def _fail(self) -> None:
        log.exception("call %s: driver failed", self.session.call_id)
        try:
            if not self.session.ended:
                self._handle(self.session.hang_up(self.now_ms(), reason="error"), self.now_ms())
        except Exception:
            log.exception("call %s: hang-up after a failure failed", self.session.call_id)
        self._finish()

    def _finish(self) -> None:
        if self._finished.is_set():
            return
        self._clock._unregister(self)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._finished.set()

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

    def _handle(self, outputs: list[Any], t_ms: float) -> None:
        for output in outputs:
            if isinstance(output, StageWork):
                try:
                    self._executor.submit(self._run_work, output, self.now_ms())
                except RuntimeError:  # the call has finished: its pool is shut down
                    log.debug("call %s: %s after the end", self.session.call_id, output.stage)
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
        self._clock.submit(self, ("done", started_ms, self.now_ms(), work, result, error))

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
