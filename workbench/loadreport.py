"""Exact load-test statistics and the load report (CSV + JSON + one self-contained HTML page).

Pure helpers shared by the Locust harness (`loadtests/`, which runs in its own gevent process)
and `workbench load` (the application side, which must never import Locust or gevent).

Locust rounds response times to about two significant digits before its percentiles are
computed (load-testing reference §5), so the harness keeps every raw sample and computes its
own percentiles here: nearest-rank on the sorted samples (p = the value at rank ⌈p·n⌉;
`workbench.stats.percentile(..., method="nearest_rank")`), which is exact and always one of
the observed values.

Three kinds of outcome are kept apart: a measure (a number), a measure that did not apply
(`Sample.not_applicable`: no number, a reason — e.g. a barge-in that found the agent already
silent has no stop latency, and a 0 ms stop would flatter the percentiles), and a refused call
(`call_refused`: the agent at capacity turned the call away before any audio, which is the
server keeping its promise, not a failure). Percentiles are taken over measures only.

The generator's self-check also lives here: pacing lateness (actual − scheduled send time of
each 20 ms frame) kept as a 0.1 ms histogram, and CPU per process; a run whose generator was
the bottleneck is marked invalid, so its latencies are never blamed on the agent. The judged
window is the steady state (from shortly after all users were spawned until the test stops);
the ramp-up's lateness is reported beside it.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.loadreport_html import render_html
from workbench.stats import percentile

PERCENTILES = (50.0, 95.0, 99.0)
LATENESS_BIN_MS = 0.1  # the pacing-lateness histogram's resolution
LATENESS_BINS = 10_000  # up to 1 s; later frames land in the last bin
DEFAULT_MAX_LATENESS_P99_MS = 10.0
DEFAULT_MAX_CPU_PERCENT = 90.0
SERIES_BUCKET_S = 10.0  # the charts' time step
REFUSED = "call_refused"  # a call the agent refused (value: time to the refusal, ms)
NOT_APPLICABLE = "not applicable: "  # the cause of a sample whose measure did not apply
OVERLAP = "overlap"  # one caller onset over agent audio: its outcome is in the cause


@dataclass(frozen=True)
class Sample:
    """One measurement at the caller: a turn's latency, a call's setup, a call's outcome."""

    t: float  # wall-clock time (Unix seconds) when it was measured
    # call_setup | ttfa | response_latency | barge_in_stop | false_interruption | call |
    # overlap (value: its stop latency, 0 when talked over; ok: the outcome was right; the
    # outcome itself in `cause`, see `overlap_sample_cause`)
    name: str
    value_ms: float
    ok: bool = True
    scenario: str = ""
    call_sid: str = ""
    cause: str = ""  # why it failed (failures), why it did not apply, why it was refused

    @classmethod
    def not_applicable(
        cls, t: float, name: str, reason: str, scenario: str = "", call_sid: str = ""
    ) -> Sample:
        """A measure that did not apply: no value (NaN, written empty), the reason as cause."""
        return cls(t, name, math.nan, True, scenario, call_sid, NOT_APPLICABLE + reason)

    @property
    def applies(self) -> bool:
        return not math.isnan(self.value_ms)

    @property
    def reason(self) -> str:
        """Why the measure did not apply (empty when it did)."""
        return "" if self.applies else self.cause.removeprefix(NOT_APPLICABLE)

    def as_row(self) -> list[Any]:
        return [
            f"{self.t:.3f}",
            self.name,
            f"{self.value_ms:.3f}" if self.applies else "",
            int(self.ok),
            self.scenario,
            self.call_sid,
            self.cause,
        ]


SAMPLE_FIELDS = ("t", "name", "value_ms", "ok", "scenario", "call_sid", "cause")


def sample_from_row(row: Sequence[Any]) -> Sample:
    t, name, value, ok, scenario, call_sid, cause = row
    number = float(value) if value != "" else math.nan  # (empty: did not apply)
    return Sample(float(t), str(name), number, bool(int(ok)), str(scenario), call_sid, cause)


def overlap_sample_cause(outcome: Any, *, cleared: bool, returned_as: str | None) -> str:
    """An overlap's outcome (`engine.outcomes.OverlapOutcome`) as a sample's cause: the
    samples travel from Locust's workers as plain rows, and the report rebuilds the outcomes
    from them (`overlap_from_sample`) to summarise them with the one vocabulary."""

    def num(value: float | None) -> str:
        return "" if value is None else f"{value:.1f}"

    return (
        f"outcome={outcome.outcome};intent={outcome.intent};onset={outcome.onset_ms:.1f};"
        f"stop={num(outcome.stop_latency_ms)};gap={num(outcome.resume_gap_ms)};"
        f"cleared={int(cleared)};returned={returned_as or ''}"
    )


def overlap_from_sample(sample: Sample) -> tuple[Any, bool, str | None]:
    """(OverlapOutcome, cleared, returned_as) from an `overlap` sample."""
    from workbench.engine.outcomes import OverlapOutcome

    fields = dict(part.split("=", 1) for part in sample.cause.split(";") if "=" in part)

    def num(key: str) -> float | None:
        return float(fields[key]) if fields.get(key) else None

    outcome = OverlapOutcome(
        fields["intent"],  # type: ignore[arg-type]
        fields["outcome"],  # type: ignore[arg-type]
        float(fields["onset"]),
        num("stop"),
        num("gap"),
    )
    return outcome, fields.get("cleared") == "1", fields.get("returned") or None


def overlap_report(samples: Sequence[Sample]) -> dict[str, Any]:
    """The overlap outcomes of a run: in all and per scenario, `summarise`d, with the policy
    observed (the same report `workbench call` gives for one call)."""
    from workbench.engine.outcomes import summarise
    from workbench.telephony.caller.overlaps import observed_policy

    rows: dict[str, list[tuple[Any, bool, str | None]]] = defaultdict(list)
    for s in samples:
        if s.name == OVERLAP:
            rows[s.scenario or "?"].append(overlap_from_sample(s))

    def part(items: list[tuple[Any, bool, str | None]]) -> dict[str, Any]:
        outcomes = [o for o, _, _ in items]
        returned: dict[str, int] = defaultdict(int)
        for _, _, how in items:
            if how:
                returned[how] += 1
        return {
            "summary": summarise(outcomes),
            "policy": observed_policy(outcomes, [c for _, c, _ in items]),
            "returned_as": dict(sorted(returned.items())),
        }

    everything = [row for items in rows.values() for row in items]
    return {
        **part(everything),
        "scenarios": {name: part(items) for name, items in sorted(rows.items())},
    }


SLOWEST_TURNS = 10  # the listened section's slowest turns
LISTENED_CALLS_SHOWN = 20  # and the sampled calls' conversations it shows in full


def listened_report(
    listened: Sequence[dict[str, Any]],
    percent: float,
    *,
    slowest: int = SLOWEST_TURNS,
    calls_shown: int = LISTENED_CALLS_SHOWN,
) -> dict[str, Any]:
    """The report's "listened" section (`--listen PCT`): calls sampled and transcribed, the
    `agent_said` / `agent_never_said` verdicts, the slowest turns among the sampled calls with
    what the caller said and the agent's words as heard, and the first calls' conversations.

    `listened`: one entry per sampled call, `workbench.telephony.caller.listened.listened_call`
    or `{"scenario", "call_sid", "error"}`. A turn's latency is its `response_latency` sample's."""
    heard = [c for c in listened if "error" not in c]
    errors: dict[str, int] = defaultdict(int)
    for call in listened:
        if "error" in call:
            errors[call["error"]] += 1
    verdicts = [
        {"scenario": c["scenario"], "call_sid": c["call_sid"], **v}
        for c in heard
        for v in c.get("verdicts", ())
    ]
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in verdicts:
        counts[v["expectation"]][v["status"]] += 1
    turns = [
        {"scenario": c["scenario"], "call_sid": c["call_sid"], **turn}
        for c in heard
        for turn in c.get("turns", ())
    ]
    turns.sort(key=lambda t: t["latency_ms"], reverse=True)
    return {
        "percent": percent,
        "sampled": len(listened),
        "transcribed": len(heard),
        "not_transcribed": dict(sorted(errors.items())),
        # a call's end → its transcript back in the generator (queueing included)
        "heard_in_s": summarize([c["heard_in_s"] for c in heard if "heard_in_s" in c]),
        "expectations": {name: dict(c) for name, c in sorted(counts.items())},
        # failures first, so a capped list still shows them
        "verdicts": sorted(verdicts, key=lambda v: v["status"] != "fail")[:200],
        "slowest_turns": turns[:slowest],
        "calls": [
            {k: c[k] for k in ("scenario", "call_sid", "conversation")} for c in heard[:calls_shown]
        ],
    }


def summarize(values: Sequence[float]) -> dict[str, float | int]:
    """count, mean, p50, p95, p99, max (ms) of a list of samples (empty: count 0 only)."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    out: dict[str, float | int] = {"count": len(ordered), "mean": sum(ordered) / len(ordered)}
    for p in PERCENTILES:
        out[f"p{p:g}"] = percentile(ordered, p, method="nearest_rank")
    out["max"] = float(ordered[-1])
    return out


# ------------------------------------------------------------------ generator self-check


@dataclass
class LatenessHistogram:
    """Pacing lateness in 0.1 ms bins (cheap to add to 25 000 times a second, cheap to merge)."""

    counts: list[int] = field(default_factory=lambda: [0] * LATENESS_BINS)
    total: int = 0
    worst_ms: float = 0.0

    def add(self, lateness_ms: float) -> None:
        index = int(lateness_ms * 10.0) if lateness_ms > 0 else 0
        self.counts[index if index < LATENESS_BINS else LATENESS_BINS - 1] += 1
        self.total += 1
        if lateness_ms > self.worst_ms:
            self.worst_ms = lateness_ms

    def merge(self, other: LatenessHistogram) -> None:
        for i, n in enumerate(other.counts):
            if n:
                self.counts[i] += n
        self.total += other.total
        self.worst_ms = max(self.worst_ms, other.worst_ms)

    def percentile(self, p: float) -> float:
        """The upper edge of the bin holding rank ⌈p·n⌉ (so never optimistic by > 0.1 ms)."""
        if self.total == 0:
            return 0.0
        rank = max(1, math.ceil(p / 100.0 * self.total))
        seen = 0
        for i, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return min((i + 1) * LATENESS_BIN_MS, max(self.worst_ms, LATENESS_BIN_MS))
        return self.worst_ms

    def to_sparse(self) -> dict[str, Any]:
        """A compact form for messages and files: {bin: count} for non-empty bins."""
        bins = {str(i): n for i, n in enumerate(self.counts) if n}
        return {"bins": bins, "total": self.total, "worst_ms": self.worst_ms}

    @classmethod
    def from_sparse(cls, data: dict[str, Any]) -> LatenessHistogram:
        hist = cls()
        for key, n in data.get("bins", {}).items():
            hist.counts[int(key)] += int(n)
        hist.total = int(data.get("total", 0))
        hist.worst_ms = float(data.get("worst_ms", 0.0))
        return hist


@dataclass
class GeneratorHealth:
    """One generator process's own health: pacing lateness, CPU, messages per second."""

    process: str
    lateness: LatenessHistogram = field(default_factory=LatenessHistogram)
    cpu_percent: list[float] = field(default_factory=list)  # one per second (100 = one core)
    frames_sent: int = 0
    messages_received: int = 0
    seconds: float = 0.0
    max_calls: int = 0
    # Lateness before the measured window (ramp-up and settling): reported, not judged.
    ramp_lateness: LatenessHistogram = field(default_factory=LatenessHistogram)

    def to_dict(self) -> dict[str, Any]:
        return {
            "process": self.process,
            "lateness": self.lateness.to_sparse(),
            "ramp_lateness": self.ramp_lateness.to_sparse(),
            "cpu_percent": self.cpu_percent,
            "frames_sent": self.frames_sent,
            "messages_received": self.messages_received,
            "seconds": self.seconds,
            "max_calls": self.max_calls,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorHealth:
        return cls(
            process=str(data["process"]),
            lateness=LatenessHistogram.from_sparse(data.get("lateness", {})),
            cpu_percent=[float(c) for c in data.get("cpu_percent", [])],
            frames_sent=int(data.get("frames_sent", 0)),
            messages_received=int(data.get("messages_received", 0)),
            seconds=float(data.get("seconds", 0.0)),
            max_calls=int(data.get("max_calls", 0)),
            ramp_lateness=LatenessHistogram.from_sparse(data.get("ramp_lateness", {})),
        )


def self_check(
    health: Iterable[GeneratorHealth],
    *,
    max_lateness_p99_ms: float = DEFAULT_MAX_LATENESS_P99_MS,
    max_cpu_percent: float = DEFAULT_MAX_CPU_PERCENT,
) -> dict[str, Any]:
    """Was the generator, not the target, the bottleneck? Per process and overall.

    CPU is judged on the median of the per-second readings after the first (warm-up) second,
    so one busy second at start-up does not invalidate a run.
    """
    processes = []
    reasons: list[str] = []
    merged = LatenessHistogram()
    for item in health:
        merged.merge(item.lateness)
        steady = item.cpu_percent[1:] or item.cpu_percent
        cpu_median = percentile(steady, 50, method="nearest_rank") if steady else 0.0
        p99 = item.lateness.percentile(99)
        seconds = max(item.seconds, 1e-9)
        entry = {
            "process": item.process,
            "lateness_ms": _lateness_summary(item.lateness),
            "ramp_lateness_ms": _lateness_summary(item.ramp_lateness),
            "cpu_percent": {"median": cpu_median, "max": max(item.cpu_percent, default=0.0)},
            "messages_per_s": (item.frames_sent + item.messages_received) / seconds,
            "max_calls": item.max_calls,
        }
        processes.append(entry)
        if item.lateness.total and p99 > max_lateness_p99_ms:
            reasons.append(
                f"{item.process}: pacing lateness p99 {p99:.1f} ms > {max_lateness_p99_ms:g} ms"
            )
        if cpu_median > max_cpu_percent:
            reasons.append(f"{item.process}: CPU {cpu_median:.0f}% > {max_cpu_percent:g}%")
    return {
        "valid": not reasons,
        "reasons": reasons,
        "thresholds": {"lateness_p99_ms": max_lateness_p99_ms, "cpu_percent": max_cpu_percent},
        "lateness_ms": _lateness_summary(merged),
        "processes": processes,
    }


def _lateness_summary(lateness: LatenessHistogram) -> dict[str, float]:
    return {
        "p50": lateness.percentile(50),
        "p90": lateness.percentile(90),
        "p99": lateness.percentile(99),
        "p99.9": lateness.percentile(99.9),
        "max": lateness.worst_ms,
        "frames": lateness.total,
    }


# ------------------------------------------------------------------ the report


def build_report(
    samples: Sequence[Sample],
    health: Sequence[GeneratorHealth] = (),
    *,
    target: str = "",
    reconciliation: dict[str, Any] | None = None,
    max_lateness_p99_ms: float = DEFAULT_MAX_LATENESS_P99_MS,
    max_cpu_percent: float = DEFAULT_MAX_CPU_PERCENT,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report as one JSON-able dict: exact percentiles per metric, failures by cause,
    calls per scenario, series over time, the generator self-check and the reconciliation."""
    by_name: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    not_applicable: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    refusals: dict[str, int] = defaultdict(int)
    scenarios: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    overlaps = overlap_report(samples)
    for s in samples:
        if not s.applies:
            not_applicable[s.name][s.reason or "unknown"] += 1
            continue
        if s.name == OVERLAP:  # (summarised apart, with the outcome vocabulary)
            continue
        if s.ok and s.name != "false_interruption":
            by_name[s.name].append(s.value_ms)
        if not s.ok:
            failures[s.name][s.cause or "unknown"] += 1
        if s.name == "call":
            scenarios[s.scenario or "?"]["completed" if s.ok else "failed"] += 1
        elif s.name == REFUSED and s.ok:
            refusals[s.cause or "refused"] += 1
            scenarios[s.scenario or "?"]["refused"] += 1
    metrics = {name: summarize(values) for name, values in sorted(by_name.items())}
    calls_ok = sum(1 for s in samples if s.name == "call" and s.ok and s.applies)
    calls_failed = sum(1 for s in samples if s.name == "call" and not s.ok and s.applies)
    check = self_check(
        health, max_lateness_p99_ms=max_lateness_p99_ms, max_cpu_percent=max_cpu_percent
    )
    report: dict[str, Any] = {
        "target": target,
        "valid": check["valid"] and not (reconciliation or {}).get("problems"),
        "generator_valid": check["valid"],
        "calls": {"completed": calls_ok, "failed": calls_failed, "refused": sum(refusals.values())},
        "refusals": dict(sorted(refusals.items())),
        # A false interruption is now an abandoned reply (`overlaps`); runs recorded before
        # that have `false_interruption` samples.
        "false_interruptions": sum(1 for s in samples if s.name == "false_interruption")
        + overlaps["summary"]["abandoned_replies"],
        "overlaps": overlaps,
        "metrics_ms": metrics,
        "not_applicable": {name: dict(why) for name, why in sorted(not_applicable.items())},
        "failures": {name: dict(causes) for name, causes in sorted(failures.items())},
        "scenarios": {name: dict(counts) for name, counts in sorted(scenarios.items())},
        "self_check": check,
        "series": time_series(samples),
    }
    if reconciliation is not None:
        report["reconciliation"] = reconciliation
    if extra:
        report.update(extra)
    return report


def time_series(samples: Sequence[Sample], bucket_s: float = SERIES_BUCKET_S) -> dict[str, Any]:
    """Per metric, per `bucket_s` from the first sample: count, p50, p95 (exact, per bucket)."""
    if not samples:
        return {"bucket_s": bucket_s, "metrics": {}}
    t0 = min(s.t for s in samples)
    buckets: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        if s.ok and s.applies and s.name not in ("false_interruption", "call", OVERLAP):
            buckets[s.name][int((s.t - t0) // bucket_s)].append(s.value_ms)
    out: dict[str, list[dict[str, float]]] = {}
    for name, by_bucket in sorted(buckets.items()):
        out[name] = [
            {
                "t_s": index * bucket_s,
                "count": len(values),
                "p50": percentile(values, 50, method="nearest_rank"),
                "p95": percentile(values, 95, method="nearest_rank"),
            }
            for index, values in sorted(by_bucket.items())
        ]
    calls: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for s in samples:
        if not s.applies:
            continue
        if s.name == "call":
            calls[int((s.t - t0) // bucket_s)][0 if s.ok else 1] += 1
        elif s.name == REFUSED and s.ok:
            calls[int((s.t - t0) // bucket_s)][2] += 1
    return {
        "bucket_s": bucket_s,
        "metrics": out,
        "calls": [
            {"t_s": i * bucket_s, "completed": c[0], "failed": c[1], "refused": c[2]}
            for i, c in sorted(calls.items())
        ],
    }


def write_samples_csv(path: Path, samples: Iterable[Sample]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SAMPLE_FIELDS)
        for s in samples:
            writer.writerow(s.as_row())


def read_samples_csv(path: Path) -> list[Sample]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return [sample_from_row(row) for row in rows[1:]]


def write_report(prefix: Path, report: dict[str, Any], samples: Sequence[Sample]) -> list[Path]:
    """`<prefix>_samples.csv` (raw), `<prefix>_exact.csv` (percentiles), `<prefix>.json`,
    `<prefix>.html`; returns the paths written."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    raw = prefix.with_name(prefix.name + "_samples.csv")
    write_samples_csv(raw, samples)
    exact = prefix.with_name(prefix.name + "_exact.csv")
    with exact.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", "count", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"])
        for name, m in report["metrics_ms"].items():
            writer.writerow(
                [name, m["count"]]
                + [f"{m[k]:.1f}" if k in m else "" for k in ("mean", "p50", "p95", "p99", "max")]
            )
    as_json = prefix.with_name(prefix.name + ".json")
    as_json.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    page = prefix.with_name(prefix.name + ".html")
    page.write_text(render_html(report), encoding="utf-8")
    return [raw, exact, as_json, page]


def samples_from_dicts(items: Iterable[dict[str, Any]]) -> list[Sample]:
    """(JSON has no NaN: a measure that did not apply travels as null.)"""
    return [
        Sample(**{**item, "value_ms": math.nan if item["value_ms"] is None else item["value_ms"]})
        for item in items
    ]


def samples_to_dicts(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    return [{**asdict(s), "value_ms": s.value_ms if s.applies else None} for s in samples]
