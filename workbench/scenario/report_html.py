"""One self-contained HTML page for a scenario run (no scripts, no external files).

Per scenario: the verdict, expectations with evidence, the conversation in time order (what
the caller did — with barge-in, backchannel and keypad markers — what the agent heard, what
it said, where it was cut off), a waterfall per turn as inline SVG, and latency percentiles.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from workbench.engine import events as ev
from workbench.engine.trace import TurnTimeline
from workbench.scenario.runner import ScenarioResult
from workbench.scenario.summary import outcomes_line, overlap_line, suite_summary
from workbench.speech.numbers import display_text
from workbench.stats import latency_summary

_COLOURS = {
    "network": "#8e9aaf",
    "setting": "#f4a259",
    "stage": "#5b8e7d",
    "playout": "#bc4b51",
    "voice": "#8cb369",
}

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-top:1px solid #ccc;padding-top:1em}
.pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}
.skip{color:#9a6700;font-weight:bold}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top;font-size:.9em}th{background:#f6f8fa}
.t{color:#666;font-family:monospace;white-space:nowrap}.caller{color:#0550ae}
.agent{color:#116329}.mark{font-weight:bold;padding:0 4px;border-radius:3px}
.barge{background:#ffd8b5}.back{background:#d8f0ff}.false{background:#ffc1c0}
.key{background:#eee}.note{color:#666;font-style:italic}svg{display:block;margin:.3em 0}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def html_report(results: Sequence[ScenarioResult], wall_s: float, title: str = "") -> str:
    summary = suite_summary(results, wall_s)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title or 'Scenario run')}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title or 'Scenario run')}</h1>",
        _summary_table(summary),
        "<table><tr><th>scenario</th><th>verdict</th><th>call</th><th>turn p50/p95 (ms)</th>"
        "<th>failures</th></tr>",
    ]
    for result in results:
        latency = _latency(result)
        verdict = "pass" if result.passed else "fail"
        call = (
            f"{result.call.duration_ms / 1000:.1f} s, {_e(result.call.end_reason)}"
            if result.call
            else "—"
        )
        anchor = _anchor(result)
        parts.append(
            f'<tr><td><a href="#{anchor}">{_e(result.scenario.name)}</a></td>'
            f'<td class="{verdict}">{verdict.upper()}</td><td>{call}</td>'
            f"<td>{latency.get('p50_ms', '—')} / {latency.get('p95_ms', '—')}</td>"
            f"<td>{len(result.failures) + (1 if result.error else 0)}</td></tr>"
        )
    parts.append("</table>")
    for result in results:
        parts.append(_scenario_section(result))
    parts.append("</body></html>")
    return "\n".join(parts)


def _anchor(result: ScenarioResult) -> str:
    return "s-" + "".join(c if c.isalnum() else "-" for c in result.scenario.name)


def _latency(result: ScenarioResult) -> dict:
    if result.call is None:
        return {}
    totals = [t.total_ms for t in result.call.timelines if t.turn > 0]
    return latency_summary(totals, suffix="_ms", mean=True)


def _summary_table(summary: dict) -> str:
    latency = summary["turn_latency_ms"]
    barge = summary["barge_in_stop_ms"]
    rows = [
        ("scenarios", f"{summary['passed']} passed, {summary['failed']} failed"),
        ("run time", f"{summary['wall_s']} s (virtual call time {summary['call_time_s']} s)"),
        (
            "turn latency at the caller",
            f"p50 {latency.get('p50_ms', '—')} ms, p95 {latency.get('p95_ms', '—')} ms, "
            f"max {latency.get('max_ms', '—')} ms over {latency.get('turns', 0)} turns",
        ),
        (
            "barge-in stop at the caller",
            f"p50 {barge.get('p50_ms', '—')} ms, p95 {barge.get('p95_ms', '—')} ms over "
            f"{barge.get('count', 0)} barge-ins",
        ),
        ("caller sounds over the agent", outcomes_line(summary["overlaps"])),
        ("abandoned replies (false interruptions)", str(summary["false_interruptions"])),
    ]
    card = summary.get("scorecard") or {}
    if card.get("calls"):
        rows.append(
            (
                "containment (AI-resolved)",
                f"{card['containment']:.0%} of {card['calls']} calls — "
                + ", ".join(f"{r} {n}" for r, n in card["resolutions"].items()),
            )
        )
        for topic, row in card["task_success_by_topic"].items():
            rows.append((f"task success: {topic}", f"{row['succeeded']} of {row['calls']}"))
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _scenario_section(result: ScenarioResult) -> str:
    scenario = result.scenario
    verdict = "pass" if result.passed else "fail"
    parts = [
        f'<h2 id="{_anchor(result)}">{_e(scenario.name)} '
        f'<span class="{verdict}">{verdict.upper()}</span></h2>',
        f"<p>{_e(scenario.description)}<br><span class='note'>{_e(scenario.source)}"
        f"{' · tags: ' + _e(', '.join(scenario.tags)) if scenario.tags else ''}</span></p>",
    ]
    network = (
        scenario.network
        if isinstance(scenario.network, str)
        else "custom "
        + ", ".join(f"{k} {v}" for k, v in scenario.network.model_dump().items() if v)
    )
    noise = (
        f"{scenario.noise.sound} at {scenario.noise.snr_db:g} dB SNR" if scenario.noise else "none"
    )
    parts.append(
        f"<p class='note'>network {_e(network)} · noise {_e(noise)} · endpointing "
        f"{_e(result.endpointing or scenario.endpointing)} · latency "
        f"{_e(result.latency_profile or scenario.latency_profile)} · seed "
        f"{scenario.seed}</p>"
    )
    if result.error:
        parts.append(f'<p class="fail">error: {_e(result.error)}</p>')
    if result.scorecard is not None:
        from workbench.scenario.report_text import scorecard_line

        parts.append(f"<p><b>Scorecard</b>: {_e(scorecard_line(result.scorecard))}</p>")
    voice_call = result.voice_call
    if voice_call is not None:
        parts.append(
            f"<p><b>The call</b> ({_e(voice_call['intent'])}): {_e(voice_call['summary'])}</p>"
        )
    if result.outcomes:
        parts.append(
            "<h3>Expectations</h3><table><tr><th>where</th><th>expectation</th><th>expected</th>"
            "<th>verdict</th><th>evidence</th></tr>"
        )
        for o in result.outcomes:
            parts.append(
                f"<tr><td>{_e(o.where)}</td><td>{_e(o.expectation)}</td><td>{_e(o.expected)}</td>"
                f'<td class="{o.status}">{o.status}</td><td>{_e(o.evidence)}</td></tr>'
            )
        parts.append("</table>")
    if result.call is not None and result.call.overlaps:
        items = "".join(
            f'<li class="{"pass" if o.correct else "fail"}">{_e(overlap_line(o))}</li>'
            for o in result.call.overlaps
        )
        parts.append(f"<h3>Caller sounds over the agent</h3><ul>{items}</ul>")
    if result.call is not None:
        parts.append("<h3>Conversation</h3>" + _conversation(result))
        latency = _latency(result)
        if latency.get("turns"):
            parts.append(
                f"<p>Turn latency at the caller: p50 {latency['p50_ms']} ms, "
                f"p95 {latency['p95_ms']} ms, mean {latency['mean_ms']} ms, "
                f"max {latency['max_ms']} ms over {latency['turns']} turns.</p>"
            )
        parts.append("<h3>Waterfalls</h3>")
        for timeline in result.call.timelines:
            parts.append(_waterfall(timeline))
    return "\n".join(parts)


def _conversation(result: ScenarioResult) -> str:
    call = result.call
    assert call is not None
    rows: list[tuple[float, int, str, str]] = []
    interjections = {i.step: i for i in result.caller.interjections}
    for action in result.caller.actions:
        who, text = "caller", _e(action.label)
        if action.kind in ("say", "say_wav"):
            text = f"says “{_e(action.text)}”"
        elif action.kind == "barge_in":
            item = interjections.get(action.step)
            detail = ""
            if item is not None and item.offset_ms is not None:
                detail = f" {item.offset_ms:.0f} ms into the agent's speech"
                if item.stop_ms is not None:
                    detail += f"; agent audio stopped {item.stop_ms:.0f} ms later"
            text = f'<span class="mark barge">barge-in</span> “{_e(action.text)}”{_e(detail)}'
        elif action.kind == "backchannel":
            item = interjections.get(action.step)
            detail = (
                f" {item.offset_ms:.0f} ms into the agent's speech"
                if item is not None and item.offset_ms is not None
                else ""
            )
            text = f'<span class="mark back">backchannel</span> “{_e(action.text)}”{_e(detail)}'
        elif action.kind == "dtmf":
            text = f'<span class="mark key">keypad</span> {_e(action.label)}'
        rows.append((action.started_ms, 0, who, text))
    for event in call.events:
        if isinstance(event, ev.FinalTranscript):
            rows.append(
                (event.t_ms, 1, "agent", f"<span class='note'>heard “{_e(event.text)}”</span>")
            )
        elif isinstance(event, ev.TopicDecided):
            rows.append(
                (
                    event.t_ms,
                    1,
                    "agent",
                    f"<span class='note'>topic {_e(event.topic)} ({event.confidence:.2f})</span>",
                )
            )
        elif isinstance(event, ev.ResponseStarted) and event.sentences:
            said = " ".join(display_text(s) for s in event.sentences)
            rows.append((event.t_ms, 2, "agent", f"says “{_e(said)}”"))
        elif isinstance(event, ev.FillerStarted):
            rows.append((event.t_ms, 2, "agent", f"filler “{_e(event.text)}”"))
        elif isinstance(event, ev.AgentAudioStopped) and event.reason == "interrupted":
            rows.append(
                (
                    event.t_ms,
                    2,
                    "agent",
                    f'<span class="mark barge">stopped</span> after “{_e(display_text(event.text_heard))}”',
                )
            )
        elif isinstance(event, ev.AgentPaused):
            rows.append((event.t_ms, 2, "agent", '<span class="mark back">paused</span>'))
        elif isinstance(event, ev.AgentResumed):
            how = "rephrased" if event.rephrased else "resumed"
            rows.append(
                (
                    event.t_ms,
                    2,
                    "agent",
                    f'<span class="mark back">{how}</span> after {event.paused_ms:.0f} ms '
                    f"in “{_e(event.text)}”",
                )
            )
        elif isinstance(event, ev.Interruption):
            css = "barge" if event.kind == "barge_in" else "back"
            # (a pause for an acknowledgement: judged by the overlap's outcome above)
            label = f"{event.kind} (paused for it)" if event.false_interruption else event.kind
            rows.append(
                (
                    event.t_ms,
                    2,
                    "agent",
                    f'<span class="mark {css}">{_e(label)}</span> “{_e(event.text)}”'
                    f"{' (agent stopped)' if event.stopped_agent else ''}",
                )
            )
        elif isinstance(event, ev.DtmfReceived):
            rows.append(
                (event.t_ms, 2, "agent", f'<span class="mark key">key {_e(event.digit)}</span>')
            )
        elif isinstance(event, ev.HandoffRequested):
            rows.append((event.t_ms, 2, "agent", f"hand-off to {_e(event.queue)}"))
        elif isinstance(event, ev.CallEnded):
            rows.append(
                (event.t_ms, 3, "call", f"ended: {_e(event.reason)} ({_e(event.disposition)})")
            )
    rows.sort(key=lambda row: (row[0], row[1]))
    body = "".join(
        f'<tr><td class="t">{t / 1000:7.2f} s</td><td class="{who}">{who}</td><td>{text}</td></tr>'
        for t, _, who, text in rows
    )
    return f"<table>{body}</table>"


def _waterfall(timeline: TurnTimeline, width: int = 640) -> str:
    label_w, bar_w, row_h = 260, width - 260 - 60, 16
    total = max(timeline.total_ms, 1.0)
    height = row_h * (len(timeline.lanes) + 1) + 4
    scale = bar_w / total
    title = f"turn {timeline.turn}: {timeline.total_ms:.0f} ms caller-perceived"
    if timeline.caller_text:
        title += f" — heard “{timeline.caller_text}”"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}">',
        f'<text x="0" y="12" font-size="12" font-weight="bold">{_e(title)}</text>',
    ]
    for row, lane in enumerate(timeline.lanes, start=1):
        y = row * row_h + 2
        x = label_w + lane.start_ms * scale
        w = max(lane.duration_ms * scale, 1.0)
        colour = _COLOURS.get(lane.owner_kind, "#999")
        parts.append(f'<text x="0" y="{y + 11}" font-size="11">{_e(lane.name)}</text>')
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 3}" fill="{colour}">'
            f"<title>{_e(lane.name)}: {lane.duration_ms:.1f} ms ({_e(lane.owner_kind)})</title></rect>"
        )
        parts.append(
            f'<text x="{x + w + 3:.1f}" y="{y + 11}" font-size="10">{lane.duration_ms:.0f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def write_html(path: str | Path, results: Sequence[ScenarioResult], wall_s: float) -> Path:
    path = Path(path)
    path.write_text(html_report(results, wall_s, title="Scenario run"), encoding="utf-8")
    return path
