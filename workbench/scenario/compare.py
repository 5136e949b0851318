"""`workbench compare BASE NEW`: is the new run worse than the base?

Both sides are `workbench run --json` files, or directories of them (repeats of the same
suite: then each turn has several measurements and its delta gets a 95 % interval). The
comparison lists

- verdict changes per scenario (pass → fail and fail → pass; scenarios only on one side);
- turn latency at the caller: the suite's p50/p95 on each side, the p95's relative change
  with a bootstrap 95 % interval, per scenario p50/p95 and per turn (matched by scenario and
  turn number) the median on each side and the delta (with an interval where both sides hold
  at least two repeats);
- scorecard deltas: containment, task success by topic, resolution changes per scenario;
- what differs in how the runs were made (agent hash, latency profile, ear, seed).

A **regression** (exit 1) is a scenario that passed in BASE and fails (or is missing) in NEW,
or a suite p95 turn latency more than `max_latency_regression_pct` above BASE's. A turn is
named as regressed when its latency grew by more than that percentage and by more than
`TURN_FLOOR_MS` (and, with repeats, the interval's low end is above zero).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import InputFileError
from workbench.stats import latency_summary, percentile

TURN_FLOOR_MS = 20.0  # smaller changes are the model's own jitter, not a regression
BOOTSTRAP_ROUNDS = 2000


@dataclass
class RunSide:
    """One side of a comparison: one or more run JSON files of the same suite."""

    label: str
    runs: list[dict[str, Any]]

    def scenarios(self) -> dict[str, list[dict[str, Any]]]:
        """Scenario name → its results, one per repeat."""
        out: dict[str, list[dict[str, Any]]] = {}
        for run in self.runs:
            for item in run["scenarios"]:
                out.setdefault(item["name"], []).append(item)
        return out

    def turn_latencies(self) -> list[float]:
        return [
            t["total_ms"] for run in self.runs for item in run["scenarios"] for t in _turns(item)
        ]


def _turns(item: dict[str, Any]) -> list[dict[str, Any]]:
    if "turn_latencies_ms" in item:
        return item["turn_latencies_ms"]
    # Older run files: the call's timelines.
    turns = (item.get("call") or {}).get("turns", [])
    return [
        {"turn": t["turn"], "caller_text": t.get("caller_text", ""), "total_ms": t["total_ms"]}
        for t in turns
        if t.get("turn", 0) > 0
    ]


def load_side(path: Path) -> RunSide:
    """A run JSON file, or a directory of them (repeats)."""
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise InputFileError(f"{path}: no run JSON files (*.json) in this directory")
    elif path.is_file():
        files = [path]
    else:
        raise InputFileError(f"{path}: no such file or directory")
    return RunSide(str(path), [_load_run(f) for f in files])


def _load_run(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"{path}: cannot read ({error})") from None
    except json.JSONDecodeError as error:
        raise InputFileError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("scenarios"), list)
        or not all(isinstance(s, dict) and "name" in s and "passed" in s for s in data["scenarios"])
    ):
        raise InputFileError(
            f"{path}: not a run report (write one with `workbench run ... --json FILE`)"
        )
    return data


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"low": round(self.low, 1), "high": round(self.high, 1)}


def bootstrap(
    base: Sequence[float], new: Sequence[float], statistic: Any, *, seed: int = 0
) -> Interval | None:
    """95 % percentile-bootstrap interval of statistic(new) - statistic(base)."""
    if len(base) < 2 or len(new) < 2:
        return None
    rng = np.random.default_rng(seed)
    a, b = np.asarray(base, float), np.asarray(new, float)
    diffs = [
        statistic(rng.choice(b, b.size)) - statistic(rng.choice(a, a.size))
        for _ in range(BOOTSTRAP_ROUNDS)
    ]
    return Interval(percentile(diffs, 2.5), percentile(diffs, 97.5))


def _p95(values: Any) -> float:
    return percentile(values, 95)


@dataclass
class TurnDelta:
    scenario: str
    turn: int
    caller_text: str
    base_ms: float  # median over repeats
    new_ms: float
    interval: Interval | None = None  # of the mean difference, with repeats on both sides
    regressed: bool = False

    @property
    def delta_ms(self) -> float:
        return self.new_ms - self.base_ms

    @property
    def delta_pct(self) -> float:
        return 100.0 * self.delta_ms / self.base_ms if self.base_ms > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "turn": self.turn,
            "caller_text": self.caller_text,
            "base_ms": round(self.base_ms, 1),
            "new_ms": round(self.new_ms, 1),
            "delta_ms": round(self.delta_ms, 1),
            "delta_pct": round(self.delta_pct, 1),
            "interval_ms": self.interval.to_dict() if self.interval else None,
            "regressed": self.regressed,
        }


@dataclass
class Comparison:
    base: str
    new: str
    max_latency_regression_pct: float
    verdict_changes: list[dict[str, Any]] = field(default_factory=list)
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    turns: list[TurnDelta] = field(default_factory=list)
    latency: dict[str, Any] = field(default_factory=dict)
    scorecard: dict[str, Any] = field(default_factory=dict)
    setup_changes: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why it regressed (empty: it did not)

    @property
    def regressed(self) -> bool:
        return bool(self.reasons)

    @property
    def regressed_turns(self) -> list[TurnDelta]:
        return [t for t in self.turns if t.regressed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "workbench-compare/1",
            "base": self.base,
            "new": self.new,
            "max_latency_regression_pct": self.max_latency_regression_pct,
            "regressed": self.regressed,
            "reasons": self.reasons,
            "verdict_changes": self.verdict_changes,
            "latency": self.latency,
            "scenarios": self.scenarios,
            "turns": [t.to_dict() for t in self.turns],
            "scorecard": self.scorecard,
            "setup_changes": self.setup_changes,
        }


def compare(base: RunSide, new: RunSide, *, max_latency_regression_pct: float = 10.0) -> Comparison:
    limit = max_latency_regression_pct
    out = Comparison(base.label, new.label, limit)
    old_by_name, new_by_name = base.scenarios(), new.scenarios()
    for name in [*old_by_name, *(n for n in new_by_name if n not in old_by_name)]:
        before, after = old_by_name.get(name, []), new_by_name.get(name, [])
        was = _verdict(before)
        now = _verdict(after)
        if was != now:
            out.verdict_changes.append({"scenario": name, "base": was, "new": now})
            if was == "pass":
                out.reasons.append(f"{name}: {was} → {now}")
        out.scenarios.append(_scenario_row(name, before, after))
        out.turns.extend(_turn_deltas(name, before, after, limit))
        out.setup_changes.extend(_setup_changes(name, before, after))
    a, b = base.turn_latencies(), new.turn_latencies()
    out.latency = {"base": _summary(a), "new": _summary(b)}
    if a and b:
        p95_a, p95_b = percentile(a, 95), percentile(b, 95)
        change = 100.0 * (p95_b - p95_a) / p95_a if p95_a > 0 else 0.0
        interval = bootstrap(a, b, _p95)
        out.latency["p95_change_pct"] = round(change, 1)
        out.latency["p95_delta_interval_ms"] = interval.to_dict() if interval else None
        if change > limit:
            named = ", ".join(f"{t.scenario} turn {t.turn}" for t in out.regressed_turns)
            out.reasons.append(
                f"p95 turn latency {p95_a:.0f} → {p95_b:.0f} ms (+{change:.1f} %, limit "
                f"{limit:g} %)" + (f"; turns: {named}" if named else "")
            )
    out.scorecard = _scorecard_deltas(base, new, old_by_name, new_by_name)
    return out


def _verdict(items: list[dict[str, Any]]) -> str:
    if not items:
        return "missing"
    passed = sum(bool(i["passed"]) for i in items)
    if passed == len(items):
        return "pass"
    return "fail" if passed == 0 else f"flaky ({passed}/{len(items)} passed)"


def _summary(values: Sequence[float]) -> dict[str, Any]:
    return latency_summary(values, suffix="_ms")


def _scenario_row(name: str, before: list[dict], after: list[dict]) -> dict[str, Any]:
    a = [t["total_ms"] for item in before for t in _turns(item)]
    b = [t["total_ms"] for item in after for t in _turns(item)]
    row: dict[str, Any] = {
        "scenario": name,
        "base": _summary(a),
        "new": _summary(b),
        "repeats": {"base": len(before), "new": len(after)},
    }
    if a and b:
        row["p95_delta_ms"] = round(percentile(b, 95) - percentile(a, 95), 1)
    return row


def _turn_deltas(name: str, before: list[dict], after: list[dict], limit: float) -> list[TurnDelta]:
    def by_turn(items: list[dict]) -> dict[int, list[dict]]:
        table: dict[int, list[dict]] = {}
        for item in items:
            for t in _turns(item):
                table.setdefault(int(t["turn"]), []).append(t)
        return table

    old, new = by_turn(before), by_turn(after)
    out = []
    for turn in sorted(set(old) & set(new)):
        a = [t["total_ms"] for t in old[turn]]
        b = [t["total_ms"] for t in new[turn]]
        interval = bootstrap(a, b, np.mean)
        delta = TurnDelta(
            name,
            turn,
            new[turn][0].get("caller_text") or old[turn][0].get("caller_text", ""),
            statistics.median(a),
            statistics.median(b),
            interval,
        )
        delta.regressed = (
            delta.delta_ms > TURN_FLOOR_MS
            and delta.delta_pct > limit
            and (interval is None or interval.low > 0)
        )
        out.append(delta)
    return out


def _setup_changes(name: str, before: list[dict], after: list[dict]) -> list[str]:
    if not before or not after:
        return []
    changes = []
    a, b = before[0], after[0]
    for key in ("latency_profile", "ear", "seed", "endpointing"):
        if key in a and key in b and a[key] != b[key]:
            changes.append(f"{name}: {key} {a[key]} → {b[key]}")
    ha, hb = (a.get("agent") or {}).get("hash"), (b.get("agent") or {}).get("hash")
    if ha and hb and ha != hb:
        changes.append(f"{name}: agent {ha} → {hb}")
    return changes


def _cards(items: list[dict]) -> list[dict]:
    return [i["scorecard"] for i in items if i.get("scorecard")]


def _containment(cards: list[dict]) -> float | None:
    if not cards:
        return None
    return sum(c["resolution"] == "ai_resolved" for c in cards) / len(cards)


def _scorecard_deltas(
    base: RunSide, new: RunSide, old_by_name: dict, new_by_name: dict
) -> dict[str, Any]:
    old_cards = [c for items in old_by_name.values() for c in _cards(items)]
    new_cards = [c for items in new_by_name.values() for c in _cards(items)]
    ca, cb = _containment(old_cards), _containment(new_cards)
    topics: dict[str, dict[str, Any]] = {}
    for side, cards in (("base", old_cards), ("new", new_cards)):
        for card in cards:
            for topic in card.get("topics", []):
                row = topics.setdefault(topic["topic"], {"base": [0, 0], "new": [0, 0]})
                row[side][0] += int(bool(topic.get("success")))
                row[side][1] += 1
    resolution_changes = []
    for name in old_by_name:
        a, b = _cards(old_by_name[name]), _cards(new_by_name.get(name, []))
        if a and b and a[0]["resolution"] != b[0]["resolution"]:
            resolution_changes.append(
                {"scenario": name, "base": a[0]["resolution"], "new": b[0]["resolution"]}
            )
    return {
        "containment": {
            "base": None if ca is None else round(ca, 3),
            "new": None if cb is None else round(cb, 3),
        },
        "task_success_by_topic": {
            name: {side: f"{row[side][0]}/{row[side][1]}" for side in ("base", "new")}
            for name, row in sorted(topics.items())
        },
        "resolution_changes": resolution_changes,
        "reprompts": {
            "base": sum(c.get("reprompts", 0) for c in old_cards),
            "new": sum(c.get("reprompts", 0) for c in new_cards),
        },
    }


# ---------------------------------------------------------------- output


def text_report(result: Comparison) -> list[str]:
    lines = [f"compare {result.base} → {result.new}"]
    for change in result.setup_changes:
        lines.append(f"  setup: {change}")
    for change in result.verdict_changes:
        lines.append(f"  verdict: {change['scenario']}: {change['base']} → {change['new']}")
    lat = result.latency
    a, b = lat.get("base", {}), lat.get("new", {})
    if a.get("turns") and b.get("turns"):
        interval = lat.get("p95_delta_interval_ms")
        lines.append(
            f"  turn latency at the caller: p50 {a['p50_ms']} → {b['p50_ms']} ms, "
            f"p95 {a['p95_ms']} → {b['p95_ms']} ms ({lat['p95_change_pct']:+.1f} %"
            + (
                f"; 95 % interval of the p95 delta {interval['low']:+.0f} … {interval['high']:+.0f} ms"
                if interval
                else ""
            )
            + ")"
        )
    for t in result.turns:
        if t.regressed or abs(t.delta_ms) > TURN_FLOOR_MS:
            mark = "REGRESSED" if t.regressed else "changed"
            interval = (
                f" [95 % {t.interval.low:+.0f} … {t.interval.high:+.0f} ms]" if t.interval else ""
            )
            lines.append(
                f"  {mark}: {t.scenario} turn {t.turn} “{t.caller_text}”: {t.base_ms:.0f} → "
                f"{t.new_ms:.0f} ms ({t.delta_ms:+.0f} ms, {t.delta_pct:+.0f} %){interval}"
            )
    card = result.scorecard
    containment = card.get("containment", {})
    if containment.get("base") is not None or containment.get("new") is not None:
        lines.append(
            f"  containment (AI-resolved): {_pct(containment.get('base'))} → "
            f"{_pct(containment.get('new'))}"
        )
    for name, row in card.get("task_success_by_topic", {}).items():
        if row["base"] != row["new"]:
            lines.append(f"  task success {name}: {row['base']} → {row['new']}")
    for change in card.get("resolution_changes", []):
        lines.append(f"  resolution: {change['scenario']}: {change['base']} → {change['new']}")
    if result.regressed:
        lines.append("REGRESSED: " + "; ".join(result.reasons))
    else:
        lines.append(
            f"no regression (no pass → fail; p95 within +{result.max_latency_regression_pct:g} %)"
        )
    return lines


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def html_report(result: Comparison) -> str:
    from html import escape

    def e(value: object) -> str:
        return escape(str(value), quote=True)

    verdict = "REGRESSED" if result.regressed else "no regression"
    css = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;"
        "padding:3px 8px;font-size:.9em;text-align:left}th{background:#f6f8fa}"
        ".bad{color:#cf222e;font-weight:bold}.good{color:#1a7f37;font-weight:bold}"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Run comparison</title>',
        f"<style>{css}</style></head><body><h1>Run comparison</h1>",
        f"<p>{e(result.base)} → {e(result.new)}: "
        f"<span class='{'bad' if result.regressed else 'good'}'>{verdict}</span></p>",
    ]
    if result.reasons:
        parts.append("<ul>" + "".join(f"<li>{e(r)}</li>" for r in result.reasons) + "</ul>")
    parts.append("<h2>Verdict changes</h2>")
    if result.verdict_changes:
        parts.append("<table><tr><th>scenario</th><th>base</th><th>new</th></tr>")
        parts += [
            f"<tr><td>{e(c['scenario'])}</td><td>{e(c['base'])}</td><td>{e(c['new'])}</td></tr>"
            for c in result.verdict_changes
        ]
        parts.append("</table>")
    else:
        parts.append("<p>none</p>")
    parts.append(
        "<h2>Turn latency per turn</h2><table><tr><th>scenario</th><th>turn</th><th>heard</th>"
        "<th>base ms</th><th>new ms</th><th>delta</th><th>95 % interval</th><th></th></tr>"
    )
    for t in result.turns:
        interval = f"{t.interval.low:+.0f} … {t.interval.high:+.0f}" if t.interval else "—"
        parts.append(
            f"<tr><td>{e(t.scenario)}</td><td>{t.turn}</td><td>{e(t.caller_text)}</td>"
            f"<td>{t.base_ms:.0f}</td><td>{t.new_ms:.0f}</td>"
            f"<td>{t.delta_ms:+.0f} ms ({t.delta_pct:+.0f} %)</td><td>{interval}</td>"
            f"<td class='bad'>{'regressed' if t.regressed else ''}</td></tr>"
        )
    parts.append("</table><h2>Scorecards</h2><pre>")
    parts.append(e(json.dumps(result.scorecard, indent=1)))
    parts.append("</pre>")
    if result.setup_changes:
        parts.append(
            "<h2>Setup changes</h2><ul>"
            + "".join(f"<li>{e(c)}</li>" for c in result.setup_changes)
            + "</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
