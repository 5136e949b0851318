"""Each call as an OpenTelemetry trace, exported over OTLP/HTTP (the OpenTelemetry SDK).

One trace per call:

    call <callSid>                       the whole call (attributes: callSid, agent, resolution…)
      turn <n>                           caller's last speech sample → first agent audio heard
        <lane>  (workbench.span_kind=lane)   the turn's lanes: contiguous, they add up to the
                                             turn span (endpointing wait, STT final pass,
                                             understanding ∥ retrieval, response, TTS first
                                             audio, output clock, network legs, voice)
        <stage> (workbench.span_kind=stage)  every stage's own work, parallel ones included

Turn spans carry `callSid`, `turn`, `topic`, `confidence`, `words_heard` (what the agent
heard), `agent_said` and `latency_ms`. Times are the call clock anchored at the call's start
on the wall clock (virtual-time calls: the moment they were exported, minus their length).

Export is on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
is set, the OpenTelemetry convention; the exporter reads its other `OTEL_EXPORTER_OTLP_*`
settings (headers, timeout, compression) itself, and `OTEL_SERVICE_NAME` names the service
(default "workbench").
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.engine import events as ev
from workbench.engine.trace import TurnTimeline

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def otlp_enabled() -> bool:
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def otlp_endpoint() -> str:
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    return base.rstrip("/") + "/v1/traces" if base else ""


@dataclass
class CallTrace:
    """What a trace is made from: a finished call's id, events and turn timelines."""

    call_id: str
    events: Sequence[ev.Event]
    timelines: Sequence[TurnTimeline]
    duration_ms: float
    start_ns: int | None = None  # the call's start on the wall clock (epoch ns)
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, result: Any, **attributes: Any) -> CallTrace:
        """From an `engine.virtual.CallResult` (or anything with the same fields)."""
        return cls(
            result.call_id,
            result.events,
            result.timelines,
            result.duration_ms,
            attributes={
                "end_reason": result.end_reason,
                "disposition": result.disposition,
                **attributes,
            },
        )


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None and v != ""}


def build_spans(calls: Iterable[CallTrace], *, service_name: str | None = None) -> list[Any]:
    """The finished SDK spans (`ReadableSpan`) of every call, one trace per call."""
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "workbench"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("workbench.engine.otel")
    for call in calls:
        _trace_call(tracer, otel_trace, call)
    provider.shutdown()
    return list(memory.get_finished_spans())


def _trace_call(tracer: Any, otel_trace: Any, call: CallTrace) -> None:
    zero = (
        call.start_ns if call.start_ns is not None else time.time_ns() - int(call.duration_ms * 1e6)
    )

    def ns(t_ms: float) -> int:
        return zero + int(round(t_ms * 1e6))

    topics = {e.turn: e for e in call.events if isinstance(e, ev.TopicDecided)}
    root = tracer.start_span(
        f"call {call.call_id}",
        context=otel_trace.set_span_in_context(otel_trace.INVALID_SPAN),  # a new trace
        start_time=ns(0.0),
        attributes=_clean({"callSid": call.call_id, **call.attributes}),
    )
    root_context = otel_trace.set_span_in_context(root)
    for timeline in call.timelines:
        decided = topics.get(timeline.turn)
        turn = tracer.start_span(
            f"turn {timeline.turn}",
            context=root_context,
            start_time=ns(timeline.origin_ms),
            attributes=_clean(
                {
                    "callSid": call.call_id,
                    "turn": timeline.turn,
                    "topic": decided.topic if decided else None,
                    "confidence": decided.confidence if decided else None,
                    "words_heard": timeline.caller_text,
                    "agent_said": timeline.agent_text,
                    "latency_ms": round(timeline.total_ms, 3),
                }
            ),
        )
        turn_context = otel_trace.set_span_in_context(turn)
        for lane in timeline.lanes:
            start = timeline.origin_ms + lane.start_ms
            span = tracer.start_span(
                lane.name,
                context=turn_context,
                start_time=ns(start),
                attributes={
                    "callSid": call.call_id,
                    "turn": timeline.turn,
                    "workbench.span_kind": "lane",
                    "workbench.owner": lane.owner_kind,
                    "duration_ms": round(lane.duration_ms, 3),
                },
            )
            span.end(end_time=ns(start + lane.duration_ms))
        for stage in timeline.spans:
            span = tracer.start_span(
                stage.stage,
                context=turn_context,
                start_time=ns(stage.start_ms),
                attributes=_clean(
                    {
                        "callSid": call.call_id,
                        "turn": timeline.turn,
                        "workbench.span_kind": "stage",
                        "detail": stage.detail,
                        "duration_ms": round(stage.duration_ms, 3),
                    }
                ),
            )
            span.end(end_time=ns(stage.end_ms))
        turn.end(end_time=ns(timeline.heard_at_ms))
    root.end(end_time=ns(max(call.duration_ms, 0.0)))


def export_calls(calls: Iterable[CallTrace], *, exporter: Any = None) -> str | None:
    """Send the calls' traces over OTLP/HTTP; returns None when sent, else why not (one line).
    `exporter`: an SDK `SpanExporter` (default: the OTLP/HTTP exporter from the environment)."""
    spans = build_spans(calls)
    if not spans:
        return None
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    from opentelemetry.sdk.trace.export import SpanExportResult

    try:
        result = exporter.export(spans)
    finally:
        exporter.shutdown()
    if result is not SpanExportResult.SUCCESS:
        return f"the OTLP receiver at {otlp_endpoint() or 'the endpoint'} did not take the traces"
    return None
