"""`workbench bench scorecard`: what judging a call costs, against what the call itself costs.

Issue 19 asks for a scorecard on 100 % of served calls with no loss of capacity. `serve` scores
a call when its socket closes (`TelephonyServer.score_call`): the scorecard, the call-log line
and, with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the trace's spans. This bench makes real calls
(bundled scenarios, whole pipeline), then times that work on each finished call in CPU time,
many times over, and sets it beside the CPU the call's own run took: a ratio that holds on a
busy machine, where a capacity re-measure does not.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from workbench.engine.otel import CallTrace, build_spans
from workbench.engine.scorecard import scorecard_for
from workbench.paths import REPO_ROOT

SCENARIOS = ("opening-hours", "change-address", "barge-in-long-answer", "speak-to-human")


def _score_and_log(call: Any, log_path: Path) -> None:
    """What `serve` does for a finished call, but for the trace export (a network send)."""
    card = scorecard_for(call)
    line = {
        "format": "workbench-call/1",
        "scorecard": card.to_dict(),
        "turn_latencies_ms": [
            {"turn": t.turn, "caller_text": t.caller_text, "total_ms": round(t.total_ms, 1)}
            for t in call.timelines
            if t.turn > 0
        ],
    }
    with log_path.open("a", encoding="utf-8") as log_file:
        log_file.write(json.dumps(line, default=str) + "\n")


def _cpu_ms(work: Any, repeats: int) -> float:
    """Median CPU milliseconds of one `work()` over `repeats` runs."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        times.append((time.process_time() - started) * 1000.0)
    return statistics.median(times)


def run_scorecard_bench(*, repeats: int = 50) -> dict[str, Any]:
    from workbench.scenario.runner import RunOptions, run_suite
    from workbench.scenario.schema import load_scenario

    scenarios = [load_scenario(REPO_ROOT / "scenarios" / f"{name}.yaml") for name in SCENARIOS]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "calls.jsonl"
        for scenario in scenarios:
            started = time.process_time()
            (result,) = run_suite([scenario], options=RunOptions(check_crm=False))
            call_cpu_ms = (time.process_time() - started) * 1000.0
            call = result.call
            assert call is not None, f"{scenario.name}: {result.error}"
            score_ms = _cpu_ms(lambda call=call: _score_and_log(call, log_path), repeats)
            trace_ms = _cpu_ms(lambda call=call: build_spans([CallTrace.of(call)]), repeats)
            rows.append(
                {
                    "scenario": scenario.name,
                    "call_s": round(call.duration_ms / 1000.0, 1),
                    "events": len(call.events),
                    "turns": sum(1 for t in call.timelines if t.turn > 0),
                    "call_cpu_ms": round(call_cpu_ms, 1),
                    "scorecard_and_log_cpu_ms": round(score_ms, 3),
                    "trace_spans_cpu_ms": round(trace_ms, 3),
                    "share_of_call_cpu": round((score_ms + trace_ms) / call_cpu_ms, 5),
                }
            )
    return {
        "what": "CPU to score a finished call (scorecard + call-log line) and build its trace "
        "spans, beside the CPU of the call's own run (virtual clock, whole pipeline)",
        "repeats": repeats,
        "calls": rows,
        "worst_share_of_call_cpu": max(r["share_of_call_cpu"] for r in rows),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
