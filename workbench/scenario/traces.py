"""A scenario run's calls as traces: Chrome/Perfetto files (`run --trace DIR`) and OTLP."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from workbench.engine.otel import CallTrace, export_calls
from workbench.engine.trace import write_chrome_trace
from workbench.errors import ConfigError
from workbench.scenario.runner import ScenarioResult


def trace_file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) + ".trace.json"


def write_chrome_traces(directory: Path, results: Sequence[ScenarioResult]) -> int:
    """One `<scenario>.trace.json` per call that ran; returns how many were written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"--trace {directory}: cannot create the directory ({error})") from None
    written = 0
    for result in results:
        if result.call is None:
            continue
        path = directory / trace_file_name(result.scenario.name)
        write_chrome_trace(path, result.call.timelines, result.call.call_id)
        written += 1
    return written


def call_traces(results: Sequence[ScenarioResult]) -> list[CallTrace]:
    traces = []
    for result in results:
        if result.call is None:
            continue
        card = result.scorecard
        traces.append(
            CallTrace.of(
                result.call,
                scenario=result.scenario.name,
                passed=result.passed,
                resolution=card.resolution if card else None,
                latency_profile=result.latency_profile,
                ear=result.ear,
            )
        )
    return traces


def export_otlp(results: Sequence[ScenarioResult], exporter=None) -> str | None:
    """Send every call as a trace over OTLP/HTTP; None when sent, else why not."""
    return export_calls(call_traces(results), exporter=exporter)
