"""`workbench report FILES|DIR --html OUT`: aggregates over every call, with charts.

Reads run files (`workbench run --json`) and call logs (`serve`'s `calls.jsonl`, one JSON line
per call) and adds up their scorecards: containment (the AI-resolved share) overall and by
main topic, task success by topic, the turn-latency distribution, the average waterfall by
lane (run files carry lanes), and the top failure reasons (failed expectations, and calls
that were not AI-resolved, by resolution and topic).
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.engine.scorecard import RESOLUTIONS
from workbench.errors import InputFileError
from workbench.stats import latency_summary

LATENCY_BINS_MS = (200, 300, 400, 500, 600, 800, 1000, 1500, 2000, 3000)


@dataclass
class CallRow:
    """One call as the report sees it."""

    source: str
    scorecard: dict[str, Any]
    turn_latencies_ms: list[float]
    lanes: list[tuple[str, str, float]] = field(default_factory=list)  # (name, owner, ms)
    failures: list[str] = field(default_factory=list)  # failed expectations (run files)

    @property
    def main_topic(self) -> str:
        topics = self.scorecard.get("topics") or []
        return topics[-1]["topic"] if topics else "none"


def load_calls(paths: Sequence[Path]) -> list[CallRow]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl"))
        elif path.is_file():
            files.append(path)
        else:
            raise InputFileError(f"{path}: no such file or directory")
    rows: list[CallRow] = []
    for file in files:
        rows += _load_file(file)
    if not rows:
        raise InputFileError(
            "no scored calls in " + ", ".join(map(str, paths)) + " (give `workbench run --json` "
            "files or serve's calls.jsonl)"
        )
    return rows


def _load_file(path: Path) -> list[CallRow]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"{path}: cannot read ({error})") from None
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputFileError(f"{path}:{number}: not JSON ({error.msg})") from None
            if not isinstance(item, dict) or "scorecard" not in item:
                raise InputFileError(f"{path}:{number}: not a call log line (no scorecard)")
            rows.append(
                CallRow(
                    str(path),
                    item["scorecard"],
                    [t["total_ms"] for t in item.get("turn_latencies_ms", [])],
                )
            )
        return rows
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
        return []  # some other JSON in a directory (a compare result, a bench): not calls
    rows = []
    for item in data["scenarios"]:
        if not item.get("scorecard"):
            continue
        turns = (item.get("call") or {}).get("turns", [])
        lanes = [
            (lane["name"], lane["owner_kind"], lane["duration_ms"])
            for turn in turns
            if turn.get("turn", 0) > 0
            for lane in turn.get("lanes", [])
        ]
        rows.append(
            CallRow(
                f"{path}: {item['name']}",
                item["scorecard"],
                [t["total_ms"] for t in item.get("turn_latencies_ms", [])],
                lanes,
                [
                    f"{o['expectation']} ({o['where']})"
                    for o in item.get("expectations", [])
                    if o.get("status") == "fail"
                ]
                + ([f"error: {item['error']}"] if item.get("error") else []),
            )
        )
    return rows


def aggregate(rows: Sequence[CallRow]) -> dict[str, Any]:
    n = len(rows)
    resolutions = Counter(r.scorecard["resolution"] for r in rows)
    by_topic: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        by_topic[row.main_topic][row.scorecard["resolution"]] += 1
    tasks: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        for topic in row.scorecard.get("topics") or []:
            tasks[topic["topic"]][0] += int(bool(topic.get("success")))
            tasks[topic["topic"]][1] += 1
    latencies = [v for r in rows for v in r.turn_latencies_ms]
    lane_totals: dict[tuple[str, str], float] = defaultdict(float)
    lane_turns = sum(len(r.turn_latencies_ms) for r in rows if r.lanes)  # turns with lanes
    for row in rows:
        for name, owner, ms in row.lanes:
            lane_totals[(_lane_family(name), owner)] += ms
    reasons: Counter = Counter()
    for row in rows:
        reasons.update(row.failures)
        if row.scorecard["resolution"] != "ai_resolved":
            reasons[f"{row.scorecard['resolution']}: {row.main_topic}"] += 1
    return {
        "calls": n,
        "resolutions": {r: resolutions.get(r, 0) for r in RESOLUTIONS},
        "containment": round(resolutions.get("ai_resolved", 0) / n, 3) if n else None,
        "containment_by_topic": {
            topic: {
                "calls": sum(counts.values()),
                "containment": round(counts.get("ai_resolved", 0) / sum(counts.values()), 3),
                **{r: counts.get(r, 0) for r in RESOLUTIONS},
            }
            for topic, counts in sorted(by_topic.items())
        },
        "task_success_by_topic": {
            topic: {"succeeded": ok, "calls": total} for topic, (ok, total) in sorted(tasks.items())
        },
        "turn_latency_ms": {**latency_summary(latencies), "histogram": _histogram(latencies)},
        "average_waterfall_ms": [
            {"lane": name, "owner": owner, "mean_ms": round(total / lane_turns, 1)}
            for (name, owner), total in lane_totals.items()
        ]
        if lane_turns
        else [],
        "top_failure_reasons": reasons.most_common(10),
    }


def _lane_family(name: str) -> str:
    """Lanes named with their setting ("endpointing wait [semantic: complete → 160 ms]") are
    averaged as one lane ("endpointing wait")."""
    return name.split(" [", 1)[0]


def _histogram(values: Sequence[float]) -> list[dict[str, Any]]:
    bounds = [*LATENCY_BINS_MS, float("inf")]
    counts = [0] * len(bounds)
    for value in values:
        counts[next(i for i, bound in enumerate(bounds) if value <= bound)] += 1
    out, low = [], 0.0
    for bound, count in zip(bounds, counts, strict=True):
        label = f"{low:.0f}–{bound:.0f}" if bound != float("inf") else f"> {low:.0f}"
        out.append({"ms": label, "turns": count})
        low = bound
    return out


# ---------------------------------------------------------------- HTML

_RESOLUTION_COLOURS = {
    "ai_resolved": "#1a7f37",
    "workflow": "#5b8e7d",
    "handed_off": "#f4a259",
    "abandoned": "#cf222e",
}
_OWNER_COLOURS = {
    "network": "#8e9aaf",
    "setting": "#f4a259",
    "stage": "#5b8e7d",
    "playout": "#bc4b51",
    "voice": "#8cb369",
}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _stacked_bars(rows: list[tuple[str, list[tuple[str, float, str]]]], width: int = 640) -> str:
    """Horizontal stacked bars: (label, [(part, value, colour)]) per row, scaled to the row."""
    label_w, bar_w, row_h = 180, width - 180 - 50, 20
    height = row_h * len(rows) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    for index, (label, pieces) in enumerate(rows):
        y = index * row_h + 2
        total = sum(v for _, v, _ in pieces) or 1.0
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{_e(label)}</text>')
        x = float(label_w)
        for part, value, colour in pieces:
            w = bar_w * value / total
            if w <= 0:
                continue
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 4}" fill="{colour}">'
                f"<title>{_e(label)}: {_e(part)} {value:g}</title></rect>"
            )
            x += w
        parts.append(
            f'<text x="{label_w + bar_w + 4}" y="{y + 14}" font-size="11">{total:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _columns(items: list[tuple[str, float]], width: int = 640, height: int = 160) -> str:
    """A column chart (the latency histogram)."""
    top = max((v for _, v in items), default=0) or 1
    slot = width / max(len(items), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}">']
    for index, (label, value) in enumerate(items):
        h = (height - 14) * value / top
        x = index * slot + 4
        parts.append(
            f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{slot - 8:.1f}" height="{h:.1f}" '
            f'fill="#5b8e7d"><title>{_e(label)} ms: {value:g} turns</title></rect>'
            f'<text x="{x:.1f}" y="{height - h - 2:.1f}" font-size="10">{value:g}</text>'
            f'<text x="{x:.1f}" y="{height + 14}" font-size="9">{_e(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def html_report(data: dict[str, Any], sources: Sequence[str]) -> str:
    css = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;"
        "padding:3px 8px;font-size:.9em;text-align:left}th{background:#f6f8fa}"
        "h2{font-size:1.15em;margin-top:1.6em}.key span{padding:0 6px;margin-right:8px;color:#fff}"
    )
    containment = data["containment"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Calls report</title>',
        f"<style>{css}</style></head><body><h1>Calls report</h1>",
        f"<p>{data['calls']} calls from {len(sources)} file(s). Containment (AI-resolved): "
        f"<b>{containment:.0%}</b>.</p>",
        "<p class='key'>"
        + "".join(
            f"<span style='background:{c}'>{_e(r)} {data['resolutions'][r]}</span>"
            for r, c in _RESOLUTION_COLOURS.items()
        )
        + "</p>",
        "<h2>Containment by topic</h2>",
        _stacked_bars(
            [
                (
                    f"{topic} ({row['containment']:.0%})",
                    [(r, row[r], _RESOLUTION_COLOURS[r]) for r in RESOLUTIONS],
                )
                for topic, row in data["containment_by_topic"].items()
            ]
        ),
        "<h2>Task success by topic</h2>",
        _stacked_bars(
            [
                (
                    f"{topic} ({row['succeeded']}/{row['calls']})",
                    [
                        ("succeeded", row["succeeded"], "#1a7f37"),
                        ("not done", row["calls"] - row["succeeded"], "#cf222e"),
                    ],
                )
                for topic, row in data["task_success_by_topic"].items()
            ]
        ),
    ]
    latency = data["turn_latency_ms"]
    parts.append("<h2>Turn latency at the caller</h2>")
    if latency["turns"]:
        parts.append(
            f"<p>p50 {latency['p50']} ms, p95 {latency['p95']} ms, max {latency['max']} ms over "
            f"{latency['turns']} turns.</p>"
        )
        parts.append(_columns([(b["ms"], b["turns"]) for b in latency["histogram"]]))
    if data["average_waterfall_ms"]:
        lanes = data["average_waterfall_ms"]
        parts.append("<h2>Average waterfall by lane</h2>")
        parts.append(
            _stacked_bars(
                [
                    (
                        f"mean turn ({sum(lane['mean_ms'] for lane in lanes):.0f} ms)",
                        [
                            (
                                lane["lane"],
                                lane["mean_ms"],
                                _OWNER_COLOURS.get(lane["owner"], "#999"),
                            )
                            for lane in lanes
                        ],
                    )
                ]
            )
        )
        parts.append(
            "<table><tr><th>lane</th><th>owner</th><th>mean ms</th></tr>"
            + "".join(
                f"<tr><td>{_e(lane['lane'])}</td><td>{_e(lane['owner'])}</td>"
                f"<td>{lane['mean_ms']}</td></tr>"
                for lane in lanes
            )
            + "</table>"
        )
    parts.append("<h2>Top failure reasons</h2>")
    if data["top_failure_reasons"]:
        parts.append(
            "<table><tr><th>reason</th><th>calls</th></tr>"
            + "".join(
                f"<tr><td>{_e(reason)}</td><td>{count}</td></tr>"
                for reason, count in data["top_failure_reasons"]
            )
            + "</table>"
        )
    else:
        parts.append("<p>none</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
