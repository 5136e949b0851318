"""Admission control: whether this process takes one more call now, and the calls it refused.

Apart from the server because it is one policy with its own state (calls holding a slot, the
lateness probes, the recent turns, the refusal log) that the routes only ask: full? overloaded?
refuse it how? Readiness itself stays with the server, which also knows it is draining and
whether its sibling workers are up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from workbench.telephony.metrics import ServerMetrics
from workbench.telephony.server.config import ServerConfig

log = logging.getLogger(__name__)

BUSY_MESSAGE = "All our lines are busy right now. Please call again in a few minutes."
REFUSAL_LOG_EVERY_S = 10.0
# Overload guard: every LAG_PROBE_S the event loop's lateness and the calls' clock thread's
# (how far its ticks are behind the 20 ms grid) are probed; while either ran more than
# `max_loop_lag_ms` late in the last LAG_WINDOW probes, new calls are refused ("overloaded").
# A fixed --max-calls is calibrated on a quiet machine; when other work takes the cores, the
# calls it admits can outgrow the CPU the process gets, and every call slows (2026-12-07: 56
# calls admitted at load average 5 gave greetings after a minute). The loop's lag is the
# first sign of it.
LAG_PROBE_S = 0.05
LAG_WINDOW = 20  # probes: one second
# ... and while the replies themselves are slow: the server-side turn latency (the caller's end
# of speech to the first mark echo) of the turns heard in the last TURN_WINDOW_S has a p90
# above `max_turn_latency_ms` (with at least TURN_MIN_SAMPLES of them). The clock thread can be
# punctual while the calls' stage work (recognition, replies) starves: this catches that.
TURN_WINDOW_S = 10.0
TURN_MIN_SAMPLES = 5


class Admission:
    """Capacity (`--max-calls`), the overload guard and the refusals of one server process."""

    def __init__(self, config: ServerConfig, metrics: ServerMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.max_calls = config.calls_per_process
        metrics.max_calls = self.max_calls
        self.admitted = 0  # `/media` connections holding a slot (taken before the upgrade)
        self.loop_lag_ms = 0.0  # the event loop's worst lateness over the last second
        self._recent_turns: deque[tuple[float, float]] = deque(maxlen=200)  # (monotonic, ms)
        self._refusals_unlogged = 0
        self._refusal_logged_at: float | None = None

    @property
    def full(self) -> bool:
        return self.admitted >= self.max_calls

    @property
    def overloaded(self) -> bool:
        limit = self.config.max_loop_lag_ms
        if limit and self.loop_lag_ms > limit:
            return True
        limit = self.config.max_turn_latency_ms
        return bool(limit) and (self.recent_turn_latency_p90() or 0.0) > limit

    def note_turn_latency(self, latency_ms: float) -> None:
        """A turn heard by its caller (server-side latency), for the overload guard."""
        self._recent_turns.append((time.monotonic(), latency_ms))

    def recent_turn_latency_p90(self) -> float | None:
        """p90 of the turns heard in the last `TURN_WINDOW_S` (None: too few to judge)."""
        since = time.monotonic() - TURN_WINDOW_S
        values = sorted(ms for t, ms in self._recent_turns if t >= since)
        if len(values) < TURN_MIN_SAMPLES:
            return None
        return values[min(len(values) - 1, int(0.9 * len(values)))]

    async def watch_loop_lag(self, clock_late_ms: Callable[[], float]) -> None:
        """Probe how late the process runs (`loop_lag_ms`: the worst of the last second): the
        event loop's own lateness, and `clock_late_ms()`, how far the calls' clock thread is
        behind its grid."""
        loop = asyncio.get_running_loop()
        recent: deque[float] = deque(maxlen=LAG_WINDOW)
        while True:
            started = loop.time()
            await asyncio.sleep(LAG_PROBE_S)
            loop_late = max(0.0, loop.time() - started - LAG_PROBE_S) * 1000.0
            recent.append(max(loop_late, clock_late_ms()))
            self.loop_lag_ms = max(recent)
            self.metrics.loop_lag_ms = self.loop_lag_ms

    def refuse(self, route: str, reason: str) -> None:
        """Count and log a call refused at `route` (logs: the first at once, then a line per
        `REFUSAL_LOG_EVERY_S`, so an overload does not flood them)."""
        self.metrics.inc("workbench_calls_refused_total", route=route, reason=reason)
        self._refusals_unlogged += 1
        now = time.monotonic()
        if self._refusal_logged_at is None or now - self._refusal_logged_at >= REFUSAL_LOG_EVERY_S:
            log.warning(
                "refused %d call(s) (%s at %s): %d/%d calls active",
                self._refusals_unlogged,
                reason,
                route,
                self.admitted,
                self.max_calls,
            )
            self._refusals_unlogged = 0
            self._refusal_logged_at = now

    def full_twiml(self) -> str:
        """What `/twiml` answers beyond capacity (`--when-full`)."""
        if self.config.when_full == "message":
            verb = f"<Say>{BUSY_MESSAGE}</Say><Hangup/>"
        else:
            reason = "busy" if self.config.when_full == "busy" else "rejected"
            verb = f'<Reject reason="{reason}"/>'
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<Response>{verb}</Response>\n'
