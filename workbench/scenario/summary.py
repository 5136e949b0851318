"""Suite-level numbers and the JSON form of scenario results (shared by every report)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

from workbench.engine.outcomes import OverlapOutcome, summarise
from workbench.engine.report import call_to_dict
from workbench.engine.scorecard import suite_scorecard
from workbench.errors import InputFileError
from workbench.scenario.runner import ScenarioResult
from workbench.scenario.turn_taking import barge_in_stop_times, premature_endpoints
from workbench.scenario.turn_taking import false_interruptions as judge_false
from workbench.stats import latency_summary
from workbench.yamlfile import read_yaml


def false_interruptions(results: Sequence[ScenarioResult]) -> int:
    """Replies an acknowledgement or noise cost (abandoned; see `assertions.false_interruptions`)."""
    return sum(len(judge_false(r.call, r.caller)[0]) for r in results if r.call is not None)


def overlap_line(outcome: OverlapOutcome) -> str:
    """One caller sound over the agent and what became of it, in the outcome vocabulary."""
    text = (
        f"{outcome.intent} at {outcome.onset_ms / 1000:.2f} s: {outcome.outcome.replace('_', ' ')}"
    )
    if outcome.stop_latency_ms is not None:
        text += f", stop {outcome.stop_latency_ms:.0f} ms"
    if outcome.resume_gap_ms is not None:
        text += f", resume gap {outcome.resume_gap_ms:.0f} ms"
    return text


def outcomes_line(summary: dict[str, Any]) -> str:
    """The suite's overlaps in one line (from `outcomes.summarise`)."""
    counts = summary["counts"]
    gap = summary["resume_gap_ms"]
    line = (
        f"{summary['overlaps']} caller sounds over the agent: {counts['yielded']} yielded, "
        f"{counts['resumed']} resumed, {counts['abandoned_reply']} abandoned replies, "
        f"{counts['talked_over']} talked over"
    )
    if gap["n"]:
        line += f"; resume gap p50 {gap['p50']:.0f} ms, p95 {gap['p95']:.0f} ms"
    return line


def suite_summary(results: Sequence[ScenarioResult], wall_s: float) -> dict[str, Any]:
    timelines = [t for r in results if r.call for t in r.call.timelines if t.turn > 0]
    stops = barge_in_stop_times(r.caller for r in results)
    barge: dict[str, Any] = latency_summary(stops, suffix="_ms", count="count")
    return {
        "scenarios": len(results),
        "passed": sum(1 for r in results if r.passed),
        "failed": sum(1 for r in results if not r.passed),
        "wall_s": round(wall_s, 2),
        "call_time_s": round(sum(r.call.duration_ms for r in results if r.call) / 1000.0, 1),
        "turn_latency_ms": latency_summary(
            [t.total_ms for t in timelines], suffix="_ms", mean=True
        ),
        "barge_in_stop_ms": barge,
        "false_interruptions": false_interruptions(results),
        "overlaps": summarise(o for r in results if r.call for o in r.call.overlaps),
        "premature_endpoints": premature_summary(results),
        "scorecard": suite_scorecard([r.scorecard for r in results if r.scorecard is not None]),
    }


def premature_summary(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    """Premature endpoints (the agent's audio reached the caller before its sentence ended)
    and the overlap they caused; endpoints decided early but taken back before any audio was
    heard (a reply withdrawn as the caller went on) are counted apart: they cost nothing."""
    found = [p for r in results if r.call for p in premature_endpoints(r.call, r.caller)]
    return {
        "count": sum(p.overlap_ms > 0 for p in found),
        "overlap_ms": round(sum(p.overlap_ms for p in found), 1),
        "taken_back": sum(p.overlap_ms == 0 for p in found),
    }


@cache
def agent_fingerprint(directory: str) -> dict[str, str]:
    """The agent a run called: its name, directory and a hash of every file in it (the
    definition, lexicon, knowledge), so `compare` can tell two agent versions apart."""
    root = Path(directory)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    name = ""
    try:
        data = read_yaml(root / "agent.yaml", "agent definition", tree=False)[0]
        name = str((data or {}).get("name", ""))
    except (InputFileError, AttributeError):  # the report names the agent if it can
        pass
    return {"name": name, "path": str(root), "hash": digest.hexdigest()[:16]}


def result_to_dict(result: ScenarioResult) -> dict[str, Any]:
    scenario = result.scenario
    data: dict[str, Any] = {
        "name": scenario.name,
        "file": str(scenario.source),
        "description": scenario.description,
        "tags": list(scenario.tags),
        "passed": result.passed,
        "error": result.error,
        "wall_s": round(result.wall_s, 3),
        "endpointing": result.endpointing,
        "latency_profile": result.latency_profile,
        "ear": result.ear,
        "seed": scenario.seed,
        "agent": agent_fingerprint(str(scenario.agent_path())),
        "expectations": [asdict(o) for o in result.outcomes],
        "caller": {
            "actions": [asdict(a) for a in result.caller.actions],
            "interjections": [
                asdict(i) | {"offset_ms": i.offset_ms} for i in result.caller.interjections
            ],
            "problems": list(result.caller.problems),
        },
    }
    if result.call is not None:
        data["call"] = call_to_dict(result.call)
        data["call"] |= {
            "overlaps": [o.as_dict() | {"correct": o.correct} for o in result.call.overlaps],
            "premature_endpoints": [
                asdict(p) for p in premature_endpoints(result.call, result.caller)
            ],
            "routing": result.call.routing,
            "reprompts": result.call.reprompts,
            "captured_slots": sorted(result.call.captured),  # names only: values may be PII
        }
        data["turn_latencies_ms"] = [
            {"turn": t.turn, "caller_text": t.caller_text, "total_ms": round(t.total_ms, 1)}
            for t in result.call.timelines
            if t.turn > 0
        ]
    if result.scorecard is not None:
        data["scorecard"] = result.scorecard.to_dict()
    if result.call is not None:
        data["voice_call"] = result.voice_call
    return data


def results_to_dict(results: Sequence[ScenarioResult], wall_s: float) -> dict[str, Any]:
    return {
        "format": "workbench-run/1",
        "summary": suite_summary(results, wall_s),
        "scenarios": [result_to_dict(r) for r in results],
    }
