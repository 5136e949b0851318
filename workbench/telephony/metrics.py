"""Server metrics for `GET /metrics`, kept and exposed by prometheus_client.

One `ServerMetrics` per server process; calls report from the asyncio loop and from driver
threads alike (prometheus_client's values are thread-safe). Every metric is declared here,
with its help text and label names, so the exposition is the same whether or not a metric
has been counted yet.

A server with several worker processes (`workbench serve --workers N`) uses prometheus_client's
multiprocess mode: the supervisor gives the workers one `PROMETHEUS_MULTIPROC_DIR` per run
(`workers.py`, before they start: the mode is chosen when prometheus_client is imported),
each worker writes its values to its own files there, and whichever worker answers
`GET /metrics` renders all of them merged (counters and histograms summed, gauges summed
over the workers), so it describes the whole server.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

# No `*_created` series: nothing reads them, and the merged exposition has none either.
disable_created_metrics()

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Turn latency buckets (seconds): dense around the 0.5-1 s that decides whether a call feels live.
LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)

# name: (help, label names); label names sorted, as they appear in the exposition.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "workbench_calls_total": ("Media-stream calls by how they ended.", ("reason",)),
    "workbench_turns_total": ("Agent turns heard by callers.", ()),
    "workbench_barge_ins_total": ("Barge-ins that stopped the agent (clear sent).", ()),
    "workbench_pauses_total": (
        "Replies paused for the caller's voice (clear sent, rest kept).",
        (),
    ),
    "workbench_errors_total": ("Calls ended by a fault, by cause.", ("cause",)),
    "workbench_handoffs_total": ("Calls handed to a human agent.", ("queue",)),
    "workbench_crm_writes_total": ("Call legs written to the CRM.", ()),
    "workbench_calls_refused_total": (
        "Calls refused (busy TwiML or 503 upgrade), by route, reason.",
        ("reason", "route"),
    ),
    "workbench_requests_refused_total": (
        "Requests refused for a missing or wrong Twilio signature.",
        ("reason", "route"),
    ),
    "workbench_tolerated_total": (
        "Harmless departures from the protocol let pass (logged once).",
        (),
    ),
    "workbench_call_resolutions_total": (
        "Finished AI calls by resolution (ai_resolved, workflow, handed_off, abandoned) and "
        "main topic (the last topic taken up; none when none was).",
        ("resolution", "topic"),
    ),
    "workbench_topic_tasks_total": (
        "Topics taken up by AI calls, by topic and task success.",
        ("success", "topic"),
    ),
}
HISTOGRAMS: dict[str, str] = {
    "workbench_turn_latency_seconds": (
        "Server-side turn latency: caller speech end to first agent audio heard (mark echo)."
    ),
}
# attribute of `ServerMetrics`: (gauge, help). With workers each is summed over them.
GAUGES: dict[str, tuple[str, str]] = {
    "active_calls": ("workbench_active_calls", "Media-stream calls connected now."),
    "queued_calls": ("workbench_queued_calls", "Calls waiting for a human agent."),
    "human_calls": ("workbench_human_calls", "Calls connected to a human agent."),
    "max_calls": (
        "workbench_max_calls",
        "Calls the server takes at once (admission limit, all workers).",
    ),
    "loop_lag_ms": (
        "workbench_event_loop_lag_ms",
        "Event-loop lateness, worst of the last second (summed).",
    ),
}


class _GaugeAttribute:
    """An attribute of `ServerMetrics` that the server sets and reads, mirrored in a gauge."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, metrics: ServerMetrics | None, owner: type) -> float:
        assert metrics is not None
        return metrics._values[self.name]

    def __set__(self, metrics: ServerMetrics, value: float) -> None:
        metrics._values[self.name] = value
        metrics._gauges[self.name].set(value)
        if self.name == "active_calls" and metrics._worker_active_calls is not None:
            metrics._worker_active_calls.set(value)


class ServerMetrics:
    """The server's metrics; `render()` is the body of `GET /metrics`.

    `worker`: (index, count) of this process among the server's workers, which must then run
    in prometheus_client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR` set before start).
    """

    active_calls = _GaugeAttribute()
    queued_calls = _GaugeAttribute()
    human_calls = _GaugeAttribute()
    max_calls = _GaugeAttribute()  # admission limit of this process (`--max-calls`)
    loop_lag_ms = _GaugeAttribute()  # the event loop's worst lateness over the last second

    def __init__(self, worker: tuple[int, int] | None = None) -> None:
        self._directory: str | None = None
        if worker is not None:
            self._directory = os.environ.get(MULTIPROC_DIR_ENV)
            if not self._directory or not os.path.isdir(self._directory):
                raise RuntimeError(
                    f"a worker's metrics need {MULTIPROC_DIR_ENV} (a directory) set before start"
                )
        # Our own registry: several servers may share a process (the tests do).
        self.registry = CollectorRegistry(auto_describe=True)
        summed = "sum"  # with workers: over all of them (a worker that dies stops the server)
        self._counters = {
            name: Counter(name, text, labels, registry=self.registry)
            for name, (text, labels) in COUNTERS.items()
        }
        self._histograms = {
            name: Histogram(name, text, buckets=LATENCY_BUCKETS, registry=self.registry)
            for name, text in HISTOGRAMS.items()
        }
        self._gauges = {
            attribute: Gauge(name, text, registry=self.registry, multiprocess_mode=summed)
            for attribute, (name, text) in GAUGES.items()
        }
        self._values: dict[str, float] = dict.fromkeys(GAUGES, 0)
        self._worker_active_calls: Gauge | None = None
        if worker is not None:
            index, count = worker
            workers = Gauge(
                "workbench_workers",
                "Worker processes serving calls.",
                registry=self.registry,
                multiprocess_mode="max",
            )
            workers.set(count)
            reporting = Gauge(
                "workbench_workers_reporting",
                "Worker processes whose metrics this answer includes.",
                registry=self.registry,
                multiprocess_mode=summed,
            )
            reporting.set(1)  # one per worker, summed
            self._worker_active_calls = Gauge(
                "workbench_worker_active_calls",
                "Media-stream calls connected now, by worker process.",
                ["worker"],
                registry=self.registry,
                multiprocess_mode=summed,
            ).labels(worker=str(index))
            self._worker_active_calls.set(0)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        counter = self._counters[name]
        (counter.labels(**labels) if labels else counter).inc(amount)

    def observe(self, name: str, seconds: float) -> None:
        self._histograms[name].observe(seconds)

    def counter(self, name: str, **labels: str) -> float:
        """This process's count (0 before the first)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def histogram_count(self, name: str) -> int:
        return int(self.registry.get_sample_value(f"{name}_count") or 0)

    def render(self) -> str:
        """The exposition (text format 0.0.4): this process's, or with workers all of theirs."""
        if self._directory is not None:
            return render_workers(self._directory)
        return generate_latest(self.registry).decode("utf-8")


def render_workers(directory: str) -> str:
    """The exposition of every worker's metrics in a multiprocess `directory`, merged."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    return generate_latest(registry).decode("utf-8")
