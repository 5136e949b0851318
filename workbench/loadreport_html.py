"""The load report as one self-contained HTML page (inline SVG charts, no scripts).

Apart from `loadreport.py`, which computes the figures: the page only lays out the JSON report
that `loadreport.build_report` returns.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any


def _svg_chart(title: str, points: list[dict[str, float]], keys: Sequence[str]) -> str:
    """A small line chart (inline SVG) of `keys` over `t_s`."""
    width, height, pad = 560, 180, 36
    if not points:
        return ""
    xs = [p["t_s"] for p in points]
    top = max(max(p.get(k, 0.0) for k in keys) for p in points) or 1.0
    span = (max(xs) - min(xs)) or 1.0
    colours = ("#1f77b4", "#d62728", "#2ca02c")

    def x(t: float) -> float:
        return pad + (t - min(xs)) / span * (width - 2 * pad)

    def y(v: float) -> float:
        return height - pad - v / top * (height - 2 * pad)

    lines = []
    for colour, key in zip(colours, keys, strict=False):
        path = " ".join(f"{x(p['t_s']):.1f},{y(p.get(key, 0.0)):.1f}" for p in points)
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
    legend = " ".join(
        f'<tspan fill="{c}">■ {html.escape(k)}</tspan>' for c, k in zip(colours, keys, strict=False)
    )
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">'
        f'<text x="{pad}" y="16" font-size="13">{html.escape(title)} {legend}</text>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#999"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#999"/>'
        f'<text x="2" y="{pad + 4}" font-size="11">{top:.0f}</text>'
        f'<text x="{pad}" y="{height - 8}" font-size="11">0 s</text>'
        f'<text x="{width - pad - 30}" y="{height - 8}" font-size="11">{max(xs):.0f} s</text>'
        + "".join(lines)
        + "</svg>"
    )


def render_html(report: dict[str, Any]) -> str:
    """One self-contained page: verdict, exact percentiles, failures, charts over time."""
    esc = html.escape
    check = report["self_check"]
    verdict = (
        '<p class="ok">Generator healthy: the numbers describe the target.</p>'
        if check["valid"]
        else '<p class="bad">RUN INVALID — the generator was the bottleneck: '
        + esc("; ".join(check["reasons"]))
        + "</p>"
    )
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{m['count']}</td>"
        + "".join(
            f"<td>{m[k]:.0f}</td>" if k in m else "<td></td>"
            for k in ("mean", "p50", "p95", "p99", "max")
        )
        + "</tr>"
        for name, m in report["metrics_ms"].items()
    )
    failures = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(cause)}</td><td>{n}</td></tr>"
        for name, causes in report["failures"].items()
        for cause, n in causes.items()
    )
    not_applicable = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(reason)}</td><td>{n}</td></tr>"
        for name, reasons in report.get("not_applicable", {}).items()
        for reason, n in reasons.items()
    )
    refusals = "".join(
        f"<tr><td>{esc(cause)}</td><td>{n}</td></tr>"
        for cause, n in report.get("refusals", {}).items()
    )
    lateness = check["lateness_ms"]
    procs = "".join(
        f"<tr><td>{esc(p['process'])}</td><td>{p['lateness_ms']['p50']:.1f}</td>"
        f"<td>{p['lateness_ms']['p99']:.1f}</td><td>{p['lateness_ms']['max']:.1f}</td>"
        f"<td>{p['cpu_percent']['median']:.0f}</td><td>{p['messages_per_s']:.0f}</td>"
        f"<td>{p['max_calls']}</td><td>{p.get('ramp_lateness_ms', {}).get('p99', 0.0):.1f}</td></tr>"
        for p in check["processes"]
    )
    charts = "".join(
        _svg_chart(f"{name} (ms)", points, ("p50", "p95"))
        for name, points in report["series"]["metrics"].items()
    )
    charts += _svg_chart(
        "calls per bucket", report["series"].get("calls", []), ("completed", "failed", "refused")
    )
    overlaps = _overlaps_html(report.get("overlaps") or {})
    listened = _listened_html(report.get("listened"))
    recon = ""
    if "reconciliation" in report:
        r = report["reconciliation"]
        recon = "<h2>CRM reconciliation</h2><pre>" + esc(json.dumps(r, indent=2)) + "</pre>"
    calls = report["calls"]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Load report {esc(report.get("target", ""))}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;margin-bottom:1em}}td,th{{border:1px solid #ccc;padding:3px 8px;
text-align:right}}td:first-child{{text-align:left}}.ok{{color:#060}}.bad{{color:#b00;
font-weight:bold}}svg{{margin:4px;border:1px solid #eee}}</style></head><body>
<h1>Load report</h1><p>Target: {esc(report.get("target", ""))}</p>{verdict}
<p>Calls completed {calls["completed"]}, failed {calls["failed"]}, refused by the agent
{calls.get("refused", 0)}; false interruptions {report["false_interruptions"]}.</p>
<h2>Latency at the caller (exact, ms)</h2>
<table><tr><th>metric</th><th>n</th><th>mean</th><th>p50</th><th>p95</th><th>p99</th>
<th>max</th></tr>{rows}</table>
<h2>Failures by cause</h2><table><tr><th>what</th><th>cause</th><th>n</th></tr>{failures}</table>
<h2>Refused by the agent (at capacity: not failures)</h2>
<table><tr><th>answer</th><th>n</th></tr>{refusals}</table>
<h2>Measures that did not apply (not in the percentiles)</h2>
<table><tr><th>measure</th><th>why</th><th>n</th></tr>{not_applicable}</table>
{overlaps}{listened}<h2>Generator self-check</h2><p>Pacing lateness p50 {lateness["p50"]:.1f} ms, p99
{lateness["p99"]:.1f} ms, max {lateness["max"]:.1f} ms over {lateness["frames"]} frames.</p>
<table><tr><th>process</th><th>lateness p50</th><th>p99</th><th>max</th><th>CPU %</th>
<th>msgs/s</th><th>calls</th><th>ramp-up p99 (not judged)</th></tr>{procs}</table>
<p>Measured from shortly after all users were spawned (the ramp-up and its connect storm
are reported apart) until the test started stopping.</p>
<h2>Over time</h2>{charts}{recon}</body></html>
"""


def _overlaps_html(overlaps: dict[str, Any]) -> str:
    """The overlap outcomes (`overlap_report`) as a table: in all, then per scenario."""
    esc = html.escape
    if not overlaps.get("summary", {}).get("overlaps"):
        return ""

    def ms(value: float | None) -> str:
        return "" if value is None else f"{value:.0f}"

    def row(name: str, part: dict[str, Any]) -> str:
        s = part["summary"]
        stop, gap = s["stop_latency_ms"], s["resume_gap_ms"]
        returned = ", ".join(f"{how} {n}" for how, n in part.get("returned_as", {}).items())
        cells = (
            s["overlaps"],
            f"{s['yielded']} of {s['interruptions']}",
            ms(stop["p50"]),
            ms(stop["p95"]),
            s["counts"]["resumed"],
            ms(gap["p50"]),
            ms(gap["p95"]),
            f"{s['abandoned_replies']} of {s['acknowledgements_and_noise']}",
            s["counts"]["talked_over"],
        )
        return (
            f"<tr><td>{esc(name)}</td>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + f"<td>{esc(returned)}</td><td>{esc(part['policy'])}</td></tr>"
        )

    rows = row("all", overlaps) + "".join(
        row(name, part) for name, part in overlaps.get("scenarios", {}).items()
    )
    return (
        "<h2>Overlaps at the caller (the caller's voice over agent audio)</h2>"
        "<table><tr><th>scenario</th><th>overlaps</th><th>yielded</th><th>stop p50</th>"
        "<th>stop p95</th><th>resumed</th><th>gap p50</th><th>gap p95</th>"
        "<th>abandoned replies</th><th>talked over</th><th>came back as</th>"
        f"<th>policy observed</th></tr>{rows}</table>"
    )


def _listened_html(listened: dict[str, Any] | None) -> str:
    """The listened section (`loadreport.listened_report`): verdicts, the slowest turns with
    both sides' words, and the sampled calls' conversations as heard."""
    if not listened:
        return ""
    esc = html.escape
    missing = "".join(f"<li>{esc(why)} ×{n}</li>" for why, n in listened["not_transcribed"].items())
    verdicts = "".join(
        f"<tr><td>{esc(v['scenario'])}</td><td>{esc(v['expectation'])}</td>"
        f"<td>{esc(v['where'])}</td><td>{esc(v['status'])}</td><td>{esc(v['expected'])}</td>"
        f"<td>{esc(v['evidence'])}</td></tr>"
        for v in listened["verdicts"]
    )
    slowest = "".join(
        f"<tr><td>{t['latency_ms']:.0f}</td><td>{esc(t['scenario'])}</td>"
        f"<td>{esc(t['caller'])}</td><td>{esc(t['agent'])}</td></tr>"
        for t in listened["slowest_turns"]
    )
    calls = "".join(
        f"<h3>{esc(c['scenario'])} <small>{esc(c['call_sid'])}</small></h3><table>"
        + "".join(
            f"<tr><td>{line['at_ms'] / 1000:.1f} s</td><td>{esc(line['speaker'])}</td>"
            f"<td>{esc(line['text'])}</td></tr>"
            for line in c["conversation"]
        )
        + "</table>"
        for c in listened["calls"]
    )
    return (
        f"<h2>Listened ({listened['percent']:g}% of calls, transcribed after each ended)</h2>"
        f"<p>Sampled {listened['sampled']}, transcribed {listened['transcribed']}.</p>"
        + (f"<p>Not transcribed:</p><ul>{missing}</ul>" if missing else "")
        + "<h3>agent_said / agent_never_said on the words heard</h3><table><tr><th>scenario"
        "</th><th>expectation</th><th>where</th><th>verdict</th><th>expected</th>"
        f"<th>evidence</th></tr>{verdicts}</table>"
        "<h3>Slowest turns among the sampled calls</h3><table><tr><th>response latency ms"
        "</th><th>scenario</th><th>the caller said</th><th>the agent said (as heard)</th>"
        f"</tr>{slowest}</table>{calls}"
    )
