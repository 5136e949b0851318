"""Load shapes for the synthetic-call harness, as plain classes (no Locust import).

Each shape has `tick() -> (users, spawn_rate) | None` reading `get_run_time()`, the
`LoadTestShape` contract; the locustfile mixes the chosen one into `LoadTestShape`
(`LOAD_SHAPE=name`), and tests drive them with a fake clock. Locust models concurrent users,
so a "user" here is a phone line that places calls one after another.

- `ramp`: ramp to `peak` users over `ramp_s`, hold for `hold_s`;
- `spike`: `base` users, a sudden jump to `peak` for `spike_s`, back to `base` (recovery);
- `soak`: `users` for a long `duration_s` after a gentle ramp;
- `replay`: a recorded call-arrival profile (calls per minute by time of day) compressed into
  `duration_s` and replayed at `fraction` (10–20 %) of its level; users follow Little's law
  (concurrent calls = arrivals per second × mean call length);
- `arrival`: SIPp's open model — new calls per second (`rate`, optionally raised by
  `rate_increase` every `period_s` up to `rate_max`) with a concurrency cap (`max_calls`
  lines); lines wait for an `ArrivalGate` before each call.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Tick = tuple[int, float] | None


class Shape:
    """Shared clock plumbing; `tick()` is the shape."""

    name = ""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.start_time = clock()

    def get_run_time(self) -> float:
        return self._clock() - self.start_time

    def reset_time(self) -> None:
        self.start_time = self._clock()

    def tick(self) -> Tick:  # pragma: no cover - overridden
        raise NotImplementedError


class RampHold(Shape):
    name = "ramp"

    def __init__(self, peak: int = 50, ramp_s: float = 60.0, hold_s: float = 300.0, **kw):
        super().__init__(**kw)
        self.peak, self.ramp_s, self.hold_s = peak, ramp_s, hold_s

    def tick(self) -> Tick:
        t = self.get_run_time()
        rate = self.peak / self.ramp_s if self.ramp_s > 0 else float(self.peak)
        if t < self.ramp_s:
            return max(1, math.ceil(self.peak * t / self.ramp_s)), max(rate, 1.0)
        if t < self.ramp_s + self.hold_s:
            return self.peak, max(rate, 1.0)
        return None


class Spike(Shape):
    name = "spike"

    def __init__(
        self,
        base: int = 10,
        peak: int = 60,
        warm_s: float = 60.0,
        spike_s: float = 60.0,
        recover_s: float = 120.0,
        **kw,
    ):
        super().__init__(**kw)
        self.base, self.peak = base, peak
        self.warm_s, self.spike_s, self.recover_s = warm_s, spike_s, recover_s

    def tick(self) -> Tick:
        t = self.get_run_time()
        if t < self.warm_s:
            return self.base, max(1.0, self.base / 10.0)
        if t < self.warm_s + self.spike_s:
            return self.peak, float(max(self.peak - self.base, 1))  # all at once
        if t < self.warm_s + self.spike_s + self.recover_s:
            return self.base, float(max(self.peak - self.base, 1))
        return None


class Soak(Shape):
    name = "soak"

    def __init__(
        self, users: int = 30, duration_s: float = 4 * 3600.0, ramp_s: float = 120.0, **kw
    ):
        super().__init__(**kw)
        self.users, self.duration_s, self.ramp_s = users, duration_s, ramp_s

    def tick(self) -> Tick:
        t = self.get_run_time()
        if t >= self.duration_s:
            return None
        return self.users, max(1.0, self.users / max(self.ramp_s, 1.0))


def load_arrival_profile(path: Path) -> list[tuple[float, float]]:
    """`time,calls_per_minute` rows (HH:MM, # comments allowed) → [(minute of day, cpm)]."""
    points = []
    with path.open(encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip() and not line.lstrip().startswith("#")]
    for row in csv.DictReader(lines):
        hours, minutes = row["time"].strip().split(":")
        points.append((int(hours) * 60 + int(minutes), float(row["calls_per_minute"])))
    if len(points) < 2:
        raise ValueError(f"{path}: a profile needs at least two rows")
    return sorted(points)


class Replay(Shape):
    name = "replay"

    def __init__(
        self,
        profile: list[tuple[float, float]],
        fraction: float = 0.15,
        duration_s: float = 600.0,
        mean_call_s: float = 60.0,
        **kw,
    ):
        super().__init__(**kw)
        self.profile, self.fraction = profile, fraction
        self.duration_s, self.mean_call_s = duration_s, mean_call_s

    @property
    def recorded_peak_cpm(self) -> float:
        return max(cpm for _, cpm in self.profile)

    def calls_per_minute_at(self, t: float) -> float:
        """The profile's rate at run time `t` (the day compressed into the run), scaled."""
        first, last = self.profile[0][0], self.profile[-1][0]
        minute = first + (last - first) * min(max(t / self.duration_s, 0.0), 1.0)
        for (m0, c0), (m1, c1) in zip(self.profile, self.profile[1:], strict=False):
            if m0 <= minute <= m1:
                cpm = c0 + (c1 - c0) * ((minute - m0) / (m1 - m0) if m1 > m0 else 0.0)
                return cpm * self.fraction
        return self.profile[-1][1] * self.fraction

    def tick(self) -> Tick:
        t = self.get_run_time()
        if t >= self.duration_s:
            return None
        users = math.ceil(self.calls_per_minute_at(t) / 60.0 * self.mean_call_s)
        return max(1, users), max(1.0, users / 10.0)


class ArrivalRate(Shape):
    name = "arrival"

    def __init__(
        self,
        rate: float = 1.0,
        max_calls: int = 100,
        duration_s: float = 300.0,
        rate_increase: float = 0.0,
        period_s: float = 10.0,
        rate_max: float | None = None,
        **kw,
    ):
        super().__init__(**kw)
        self.rate, self.max_calls, self.duration_s = rate, max_calls, duration_s
        self.rate_increase, self.period_s = rate_increase, period_s
        self.rate_max = rate_max

    def rate_at(self, t: float) -> float:
        """New calls per second at run time `t` (SIPp -r / -rate_increase / -rate_max)."""
        rate = self.rate + self.rate_increase * math.floor(max(t, 0.0) / self.period_s)
        return min(rate, self.rate_max) if self.rate_max is not None else rate

    def tick(self) -> Tick:
        # The lines (users) are all opened at once; the gate, not the user count, sets the
        # arrival rate, and the number of lines is the concurrency cap.
        t = self.get_run_time()
        if t >= self.duration_s:
            return None
        return self.max_calls, float(self.max_calls)


@dataclass
class ArrivalGate:
    """Hands out call start times at a rate (one per `1/rate` s) to whichever line asks.

    Per process; in a distributed run each process takes its share of the rate (its lines ÷
    all lines). `late` counts arrivals that started more than a second after their slot
    because every line was busy: the concurrency cap was reached.
    """

    next_start: float = 0.0
    late: int = 0
    issued: int = 0

    def reserve(self, now: float, rate_per_s: float) -> float:
        """The time this line's next call starts (≥ now)."""
        if rate_per_s <= 0:
            return now + 1.0
        slot = self.next_start if self.issued else now
        if slot < now - 1.0:  # every line was busy for over a second: the cap held calls back
            self.late += 1
            slot = now
        self.next_start = slot + 1.0 / rate_per_s
        self.issued += 1
        return max(slot, now)


SHAPES = {cls.name: cls for cls in (RampHold, Spike, Soak, Replay, ArrivalRate)}
