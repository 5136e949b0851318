"""Live progress lines of a load run: one JSON object per line on stdout, every 2 seconds.

    {"progress": true, "t_s": 12.0, "users": 20, "calls_completed": 31,
     "p50_ms": 640.0, "p95_ms": 1210.0, "failures": 2, "calls_refused": 0}

`users` is the runner's current user count (phone lines), `calls_completed` the calls that
ended well, `p50_ms`/`p95_ms` the exact (nearest-rank, as in the final report) percentiles of
every turn response latency so far — null while there are none; turns whose latency did not
apply are left out, as in the report — `failures` Locust's count of failed requests, and
`calls_refused` the calls the agent refused at capacity (not failures). `workbench load` passes the lines through; the desktop Load panel charts
them. Locust's own output goes to stderr, so stdout carries only these lines.

No Locust or gevent here (the locustfile drives it), so it can be unit-tested anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from workbench.loadreport import REFUSED, Sample
from workbench.stats import percentile

PROGRESS_EVERY_S = 2.0
LATENCY = "response_latency"  # the report's turn response latency


class ProgressTracker:
    """Reads an append-only sample list incrementally: each sample is looked at once, and the
    latencies stay sorted (new ones are appended, then timsort merges the sorted run), so a
    line costs little even hours into a run, next to the pacer in the same process."""

    def __init__(self) -> None:
        self._seen = 0
        self._latencies: list[float] = []
        self._calls_completed = 0
        self._calls_refused = 0

    def update(self, samples: Sequence[Sample]) -> None:
        fresh = samples[self._seen :]
        self._seen = len(samples)
        added = False
        for s in fresh:
            if not s.ok or not s.applies:
                continue
            if s.name == REFUSED:
                self._calls_refused += 1
            elif s.name == LATENCY:
                self._latencies.append(s.value_ms)
                added = True
            elif s.name == "call":
                self._calls_completed += 1
        if added:
            self._latencies.sort()

    def record(self, t_s: float, users: int, failures: int) -> dict[str, Any]:
        latencies = self._latencies
        return {
            "progress": True,
            "t_s": round(t_s, 1),
            "users": users,
            "calls_completed": self._calls_completed,
            "p50_ms": percentile(latencies, 50, method="nearest_rank") if latencies else None,
            "p95_ms": percentile(latencies, 95, method="nearest_rank") if latencies else None,
            "failures": failures,
            "calls_refused": self._calls_refused,
        }

    def line(self, samples: Sequence[Sample], *, t_s: float, users: int, failures: int) -> str:
        """Take in the new samples and return the progress line (JSON, no newline)."""
        self.update(samples)
        return json.dumps(self.record(t_s, users, failures))
