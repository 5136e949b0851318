"""The process's one pacer: every Locust call's 20 ms frame sent on absolute deadlines.

Apart from `media_call.py` (one call's protocol and measures) because the pacer is the
generator's own clock and health: it owns the timing of every call in the process, measures
its own lateness and CPU (`loadreport.GeneratorHealth`), and judges the steady state apart
from the ramp-up.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from typing import TYPE_CHECKING

import gevent

from workbench.loadreport import GeneratorHealth

if TYPE_CHECKING:
    from media_call import LocustCall

log = logging.getLogger(__name__)

FRAME_S = 0.020
SLOTS = 10  # phases per 20 ms tick
SLOT_S = FRAME_S / SLOTS
# libev's timers wake ~0.7 ms late on average (millisecond resolution). Waking early and
# yielding until the deadline cuts that to ~0.2 ms but costs ~8 % of a core at 500 slot
# wake-ups a second, which matters more at high call counts: off by default.
WAKE_EARLY_S = 0.0
# The measured window starts this long after all users are spawned: the last calls' connects
# and the greetings they all receive at once are the ramp-up, not the steady state.
SETTLE_S = 2.0


class GreenletPacer:
    """One greenlet per process: every call's frame each 20 ms, on absolute deadlines.

    Calls join the least-loaded of `SLOTS` 2 ms phases, so a tick's sends are spread over the
    20 ms instead of bursting at once. The pacer also samples the process's CPU once a second
    and (tests only) can burn CPU each tick to starve itself on purpose.
    """

    def __init__(self, *, burn_ms_per_tick: float = 0.0) -> None:
        self.slots: list[list[LocustCall]] = [[] for _ in range(SLOTS)]
        self.health = GeneratorHealth(process=f"pid {os.getpid()}")
        self.burn_ms_per_tick = burn_ms_per_tick
        self._greenlet: gevent.Greenlet | None = None
        self._t0 = 0.0
        self._n = 0
        self._calls = 0
        self._window_at: float | None = None
        self._reset_at_tick: int | None = None
        self.final: GeneratorHealth | None = None

    def reset_health(self) -> None:
        """Start the lateness/CPU record afresh (after the ramp-up's connect storm); the
        lateness so far is kept apart as the ramp-up's (reported, not judged)."""
        ramp = self.health.lateness
        ramp.merge(self.health.ramp_lateness)
        self.health = GeneratorHealth(
            process=self.health.process, max_calls=self._calls, ramp_lateness=ramp
        )

    def begin_window(self, settle_s: float = SETTLE_S) -> None:
        """The measured window starts `settle_s` from now (the first call only; later calls,
        e.g. each step of a shape, change nothing). At that point the pacer itself, between
        two ticks, freezes the process's long-lived objects (`settle_gc`), lets one tick pass
        to catch up, and starts the record afresh."""
        if self._window_at is None and self.final is None:
            self._window_at = time.perf_counter() + settle_s

    def end_window(self) -> None:
        """The test is stopping: keep the record as it is (`measured`), so the hang-up storm
        of every call at once is not judged as steady-state pacing."""
        if self.final is None:
            self.final = self.health
            self.health = GeneratorHealth(process=self.health.process)

    @property
    def measured(self) -> GeneratorHealth:
        """The record to report: the window's, once it has ended, else the running one."""
        return self.final or self.health

    def start(self) -> GreenletPacer:
        if self._greenlet is None:
            self._t0 = time.perf_counter()
            self._greenlet = gevent.spawn(self._run)
            self._cpu = gevent.spawn(self._sample_cpu)
        return self

    def add(self, call: LocustCall) -> None:
        self.start()
        slot = min(range(SLOTS), key=lambda i: len(self.slots[i]))
        call.slot = slot
        # Tick 0 of the call is the next occurrence of its slot, so its schedule is t0 + n·20 ms.
        n = self._n + 1
        call.t0 = self._t0 + n * FRAME_S + slot * SLOT_S
        call._tick_base = n  # type: ignore[attr-defined]
        self.slots[slot].append(call)
        self._calls += 1
        self.health.max_calls = max(self.health.max_calls, self._calls)

    def remove(self, call: LocustCall) -> None:
        calls = self.slots[call.slot]
        if call in calls:
            calls.remove(call)
            self._calls -= 1

    def _run(self) -> None:
        perf = time.perf_counter
        while True:
            base = self._t0 + self._n * FRAME_S
            for slot in range(SLOTS):
                due = base + slot * SLOT_S
                # (see WAKE_EARLY_S)
                delay = due - perf()
                if delay > WAKE_EARLY_S:
                    gevent.sleep(delay - WAKE_EARLY_S)
                while perf() < due:
                    gevent.sleep(0)
                for call in list(self.slots[slot]):
                    if call.closed:
                        self.remove(call)
                        continue
                    try:
                        call.tick(self._n - call._tick_base, due)  # type: ignore[attr-defined]
                    except Exception:  # one broken call must not stop the others' clocks
                        log.exception("call %s: tick failed", call.call_sid)
                        call._close("tick failed")
                self.health.frames_sent += len(self.slots[slot])
            if self.burn_ms_per_tick > 0:  # deliberate starvation (the self-check's test)
                end = perf() + self.burn_ms_per_tick / 1000.0
                while perf() < end:
                    pass
            self._n += 1
            if self._window_at is not None and perf() >= self._window_at:
                self._window_at = None
                settle_gc()
                self._reset_at_tick = self._n + 1
            elif self._reset_at_tick == self._n:
                self._reset_at_tick = None
                if self.final is None:
                    self.reset_health()
            behind = perf() - (self._t0 + self._n * FRAME_S)
            if behind > 0.2:  # far behind (machine stalled): skip ticks rather than burst
                skipped = int(behind / FRAME_S)  # every call's clock skips the same ticks
                # Frames never sent are not hidden: each is recorded as late as the pacer was.
                for _ in range(skipped * self._calls):
                    self.health.lateness.add(behind * 1000.0)
                self._n += skipped

    def _sample_cpu(self) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        while True:
            gevent.sleep(1.0)
            wall2, cpu2 = time.perf_counter(), time.process_time()
            self.health.cpu_percent.append(100.0 * (cpu2 - cpu) / max(wall2 - wall, 1e-6))
            self.health.seconds += wall2 - wall
            wall, cpu = wall2, cpu2


def settle_gc() -> None:
    """Collect once, then freeze everything alive (`gc.freeze`): Locust, gevent, the plans'
    audio, the calls set up so far. A full (generation 2) collection walks every tracked
    object; with the whole process in view it paused the pacer for 15–50 ms every ~10 s at 500
    calls (the p99.9 of pacing lateness). Frozen objects are never walked again (nor freed by
    the cycle collector — they are the process's long-lived state); objects made later are
    collected as usual."""
    gc.collect()
    gc.freeze()


_PACER: GreenletPacer | None = None


def process_pacer(burn_ms_per_tick: float = 0.0) -> GreenletPacer:
    """The process's one pacer (created on first use)."""
    global _PACER
    if _PACER is None:
        _PACER = GreenletPacer(burn_ms_per_tick=burn_ms_per_tick)
    return _PACER
