"""Turning call results into JSON and terminal output."""

from __future__ import annotations

import dataclasses
from typing import Any

from workbench.engine import events as ev
from workbench.engine.trace import TurnTimeline, render_waterfall
from workbench.engine.virtual import CallResult
from workbench.stats import latency_summary


def event_to_dict(event: ev.Event) -> dict[str, Any]:
    data: dict[str, Any] = {"event": type(event).__name__}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if isinstance(value, TurnTimeline):
            value = value.to_dict()
        data[f.name] = value
    return data


def _plain(value: Any) -> Any:
    """numpy scalars and tuples to plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def _latency(result: CallResult) -> dict[str, float | int]:
    """Latency at the caller over the caller's turns (the greeting is not a reply)."""
    totals = [t.total_ms for t in result.timelines if t.turn > 0]
    return latency_summary(totals, suffix="_ms", mean=True)


def call_to_dict(result: CallResult, *, include_events: bool = True) -> dict[str, Any]:
    data = {
        "call_id": result.call_id,
        "duration_ms": result.duration_ms,
        "wall_s": round(result.wall_s, 3),
        "speedup": round(result.speedup, 2),
        "end_reason": result.end_reason,
        "disposition": result.disposition,
        "transcript": [{"speaker": s, "text": t} for s, t in result.transcript],
        "turns": [t.to_dict() for t in result.timelines],
        "latency": _latency(result),
        "network": result.network,
    }
    if include_events:
        data["events"] = [event_to_dict(e) for e in result.events]
    return _plain(data)


def print_call(console: Any, result: CallResult, title: str = "") -> None:
    from rich.rule import Rule

    console.print(Rule(title or result.call_id))
    for speaker, text in result.transcript:
        style = "bold cyan" if speaker == "caller" else "bold green"
        console.print(f"[{style}]{speaker:>6}[/] {text}")
    for timeline in result.timelines:
        console.print(render_waterfall(timeline))
        if timeline.caller_text:
            console.print(f"  [dim]heard: {timeline.caller_text!r}[/]")
    summary = _latency(result)
    if summary.get("turns"):
        console.print(
            f"turn latency at the caller: p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms "
            f"over {summary['turns']} turns; call {result.duration_ms / 1000:.1f} s in "
            f"{result.wall_s:.1f} s ({result.speedup:.1f}× real time); ended: {result.end_reason}"
        )
