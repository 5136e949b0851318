"""Server metrics in the Prometheus text exposition format (version 0.0.4), written by hand.

prometheus_client is not a dependency; the handful of counters, gauges and histograms the
media-stream server keeps do not need it. Everything is guarded by one lock because calls
report from the asyncio loop and from driver threads alike.

A server with several worker processes (`workbench serve --workers N`) keeps one
`ServerMetrics` per worker; `snapshot()` is a worker's state as plain JSON-able data and
`render_merged(snapshots)` the exposition of their sum (counters, gauges and histogram buckets
add up), so `GET /metrics` on any worker describes the whole server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

# Turn latency buckets (seconds): dense around the 0.5-1 s that decides whether a call feels live.
LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    body = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels.items()))
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return format(float(value), ".10g")  # no float noise (1.45, not 1.4500000000000002)


@dataclass
class Histogram:
    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1


class ServerMetrics:
    """The server's counters; `render()` is the body of `GET /metrics`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active_calls = 0
        self.queued_calls = 0
        self.human_calls = 0
        self.max_calls = 0  # admission limit of this process (`--max-calls`)
        self.loop_lag_ms = 0.0  # the event loop's worst lateness over the last second
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._histograms: dict[str, Histogram] = {}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0.0) + amount

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            self._histograms.setdefault(name, Histogram()).observe(seconds)

    def counter(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get((name, tuple(sorted(labels.items()))), 0.0)

    def histogram_count(self, name: str) -> int:
        with self._lock:
            histogram = self._histograms.get(name)
            return histogram.count if histogram else 0

    def snapshot(self) -> dict[str, Any]:
        """This process's metrics as JSON-able data (what a worker hands its siblings)."""
        with self._lock:
            return {
                "gauges": {
                    "workbench_active_calls": self.active_calls,
                    "workbench_queued_calls": self.queued_calls,
                    "workbench_human_calls": self.human_calls,
                    "workbench_max_calls": self.max_calls,
                    "workbench_event_loop_lag_ms": self.loop_lag_ms,
                },
                "counters": [
                    [name, [list(pair) for pair in labels], value]
                    for (name, labels), value in self._counters.items()
                ],
                "histograms": {
                    name: {
                        "buckets": list(h.buckets),
                        "counts": list(h.counts),
                        "total": h.total,
                        "count": h.count,
                    }
                    for name, h in self._histograms.items()
                },
            }

    def render(self) -> str:
        return render_merged([self.snapshot()])


GAUGE_HELP = {
    "workbench_active_calls": "Media-stream calls connected now.",
    "workbench_queued_calls": "Calls waiting for a human agent.",
    "workbench_human_calls": "Calls connected to a human agent.",
    "workbench_max_calls": "Calls the server takes at once (admission limit, all workers).",
    "workbench_event_loop_lag_ms": "Event-loop lateness, worst of the last second (summed).",
    "workbench_workers": "Worker processes serving calls.",
    "workbench_workers_reporting": "Worker processes whose metrics this answer includes.",
    "workbench_worker_active_calls": "Media-stream calls connected now, by worker process.",
}


def render_merged(
    snapshots: list[dict[str, Any]], extra_gauges: dict[str, float] | None = None
) -> str:
    """The exposition of the sum of `snapshots` (one per worker process)."""
    gauges: dict[str, float] = {}
    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    histograms: dict[str, tuple[list[int], float, int, tuple[float, ...]]] = {}
    for snap in snapshots:
        for name, value in snap["gauges"].items():
            gauges[name] = gauges.get(name, 0) + value
        for name, labels, value in snap["counters"]:
            key = (name, tuple((str(k), str(v)) for k, v in labels))
            counters[key] = counters.get(key, 0.0) + value
        for name, h in snap["histograms"].items():
            buckets = tuple(h["buckets"])
            if name not in histograms:
                histograms[name] = ([0] * len(buckets), 0.0, 0, buckets)
            counts, total, count, known = histograms[name]
            if known != buckets:  # (every worker runs the same code; never expected)
                continue
            merged = [a + b for a, b in zip(counts, h["counts"], strict=True)]
            histograms[name] = (merged, total + h["total"], count + h["count"], buckets)
    gauges.update(extra_gauges or {})
    lines: list[str] = []
    for name, value in gauges.items():
        help_text = GAUGE_HELP.get(name, name)
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {_number(value)}"]
    per_worker = sorted(
        (snap["worker"], snap["gauges"].get("workbench_active_calls", 0))
        for snap in snapshots
        if "worker" in snap
    )
    if per_worker:  # how the kernel has spread the calls
        name = "workbench_worker_active_calls"
        lines += [f"# HELP {name} {GAUGE_HELP[name]}", f"# TYPE {name} gauge"]
        lines += [f'{name}{{worker="{index}"}} {_number(value)}' for index, value in per_worker]
    for name in sorted({key[0] for key in counters}):
        lines += [f"# HELP {name} {_COUNTER_HELP.get(name, name)}", f"# TYPE {name} counter"]
        for (metric, labels), value in sorted(counters.items()):
            if metric == name:
                lines.append(f"{name}{_labels(dict(labels))} {_number(value)}")
    for name in sorted(histograms):
        counts, total, count, buckets = histograms[name]
        lines += [f"# HELP {name} {_HISTOGRAM_HELP.get(name, name)}", f"# TYPE {name} histogram"]
        for bound, bucket_count in zip(buckets, counts, strict=True):
            lines.append(f'{name}_bucket{{le="{_number(bound)}"}} {bucket_count}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {count}')
        lines.append(f"{name}_sum {_number(total)}")
        lines.append(f"{name}_count {count}")
    return "\n".join(lines) + "\n"


_COUNTER_HELP = {
    "workbench_calls_total": "Media-stream calls by how they ended.",
    "workbench_turns_total": "Agent turns heard by callers.",
    "workbench_barge_ins_total": "Barge-ins that stopped the agent (clear sent).",
    "workbench_pauses_total": "Replies paused for the caller's voice (clear sent, rest kept).",
    "workbench_errors_total": "Calls ended by a fault, by cause.",
    "workbench_handoffs_total": "Calls handed to a human agent.",
    "workbench_crm_writes_total": "Call legs written to the CRM.",
    "workbench_calls_refused_total": "Calls refused (busy TwiML or 503 upgrade), by route, reason.",
    "workbench_requests_refused_total": "Requests refused for a missing or wrong Twilio signature.",
    "workbench_tolerated_total": "Harmless departures from the protocol let pass (logged once).",
    "workbench_call_resolutions_total": (
        "Finished AI calls by resolution (ai_resolved, workflow, handed_off, abandoned) and "
        "main topic (the last topic taken up; none when none was)."
    ),
    "workbench_topic_tasks_total": "Topics taken up by AI calls, by topic and task success.",
}
_HISTOGRAM_HELP = {
    "workbench_turn_latency_seconds": (
        "Server-side turn latency: caller speech end to first agent audio heard (mark echo)."
    ),
}
