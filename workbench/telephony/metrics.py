"""Server metrics in the Prometheus text exposition format (version 0.0.4), written by hand.

prometheus_client is not a dependency; the handful of counters, gauges and histograms the
media-stream server keeps do not need it. Everything is guarded by one lock because calls
report from the asyncio loop and from driver threads alike.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

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

    def render(self) -> str:
        lines: list[str] = []
        gauges = (
            ("workbench_active_calls", "Media-stream calls connected now.", self.active_calls),
            ("workbench_queued_calls", "Calls waiting for a human agent.", self.queued_calls),
            ("workbench_human_calls", "Calls connected to a human agent.", self.human_calls),
        )
        for name, help_text, value in gauges:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
        with self._lock:
            counters = dict(self._counters)
            histograms = {
                k: (list(h.counts), h.total, h.count, h.buckets)
                for k, h in self._histograms.items()
            }
        for name in sorted({key[0] for key in counters}):
            lines += [f"# HELP {name} {_COUNTER_HELP.get(name, name)}", f"# TYPE {name} counter"]
            for (metric, labels), value in sorted(counters.items()):
                if metric == name:
                    lines.append(f"{name}{_labels(dict(labels))} {_number(value)}")
        for name in sorted(histograms):
            counts, total, count, buckets = histograms[name]
            lines += [
                f"# HELP {name} {_HISTOGRAM_HELP.get(name, name)}",
                f"# TYPE {name} histogram",
            ]
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
    "workbench_errors_total": "Calls ended by a fault, by cause.",
    "workbench_handoffs_total": "Calls handed to a human agent.",
    "workbench_crm_writes_total": "Call legs written to the CRM.",
}
_HISTOGRAM_HELP = {
    "workbench_turn_latency_seconds": (
        "Server-side turn latency: caller speech end to first agent audio heard (mark echo)."
    ),
}
