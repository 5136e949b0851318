"""`workbench run` sends each call as an OpenTelemetry trace over OTLP/HTTP, and writes Chrome traces.

The receiver is a real HTTP server on a free loopback port that decodes what it is sent with
the OpenTelemetry protobuf package (`ExportTraceServiceRequest`), as a collector would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from support.otlp_receiver import attributes as attrs
from support.otlp_receiver import otlp_receiver

BUNDLED = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.fixture(scope="module")
def receiver():
    with otlp_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def traced_run(receiver, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("otel")
    env = os.environ.copy()
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
    env["OTEL_SERVICE_NAME"] = "workbench-test"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "run",
            str(BUNDLED / "opening-hours.yaml"),
            str(BUNDLED / "barge-in-long-answer.yaml"),
            "--no-crm",
            "--json",
            str(tmp_path / "run.json"),
            "--trace",
            str(tmp_path / "traces"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "sent the call traces to http://127.0.0.1:" in done.stdout, done.stdout
    spans = []
    for resource, span in receiver.spans():
        assert resource["service.name"] == "workbench-test"
        spans.append(span)
    return json.loads((tmp_path / "run.json").read_text()), spans, tmp_path / "traces"


def test_each_call_is_one_trace_whose_turn_lanes_add_up_to_the_caller_perceived_latency(
    traced_run,
):
    run, spans, _ = traced_run
    by_trace = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    calls = {s["call"]["call_id"]: s for s in run["scenarios"]}
    assert len(by_trace) == len(calls) == 2  # one trace per call
    for trace_spans in by_trace.values():
        (root,) = [s for s in trace_spans if not s.parent_span_id]
        call_id = attrs(root)["callSid"]
        scenario = calls[call_id]
        assert attrs(root)["scenario"] == scenario["name"]
        expected = {t["turn"]: t["total_ms"] for t in scenario["call"]["turns"]}
        turns = [s for s in trace_spans if s.parent_span_id == root.span_id]
        assert sorted(attrs(t)["turn"] for t in turns) == sorted(expected)
        for turn in turns:
            a = attrs(turn)
            assert a["callSid"] == call_id
            lanes = [
                s
                for s in trace_spans
                if s.parent_span_id == turn.span_id and attrs(s)["workbench.span_kind"] == "lane"
            ]
            assert lanes, f"turn {a['turn']} has no lanes"
            lane_ns = sum(s.end_time_unix_nano - s.start_time_unix_nano for s in lanes)
            turn_ns = turn.end_time_unix_nano - turn.start_time_unix_nano
            assert abs(lane_ns - turn_ns) <= 1_000  # to the microsecond
            assert abs(turn_ns / 1e6 - expected[a["turn"]]) < 0.01
            # The lanes tile the turn: each starts where the one before it ended.
            ordered = sorted(lanes, key=lambda s: s.start_time_unix_nano)
            assert ordered[0].start_time_unix_nano == turn.start_time_unix_nano
            for before, after in zip(ordered, ordered[1:], strict=False):
                assert abs(after.start_time_unix_nano - before.end_time_unix_nano) <= 1
            if a["turn"] > 0:
                assert a["words_heard"] and a["topic"] and 0.0 <= a["confidence"] <= 1.0


def test_the_turn_spans_name_the_topic_and_the_words_heard(traced_run):
    _, spans, _ = traced_run
    turn_one = [s for s in spans if s.name == "turn 1" and attrs(s)["topic"] == "OpeningHours"]
    assert turn_one, "the opening-hours call's first turn"
    assert attrs(turn_one[0])["words_heard"] == "what are your opening hours"
    lanes = {s.name for s in spans if s.parent_span_id == turn_one[0].span_id}
    assert any(name.startswith("endpointing wait") for name in lanes)
    assert "caller leg: network + jitter buffer" in lanes


def test_run_trace_writes_a_chrome_trace_per_call(traced_run):
    run, _, directory = traced_run
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["barge-in-long-answer.trace.json", "opening-hours.trace.json"]
    trace = json.loads((directory / "opening-hours.trace.json").read_text())
    lanes = [e for e in trace["traceEvents"] if e.get("ph") == "X" and e["tid"] == 1]
    turns = run["scenarios"][0]["call"]["turns"]
    assert len(lanes) == sum(len(t["lanes"]) for t in turns)
