"""What a finished call leaves behind on the server: its scorecard, counted on `/metrics`, a
line in the call log, (with `OTEL_EXPORTER_OTLP_ENDPOINT`) an OTLP trace, and the AI leg's
record for the CRM.

Apart from the server because it runs once per call after the socket closed, off the routes,
with its own worker thread for the export (which may wait on the network).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench.telephony.metrics import ServerMetrics

log = logging.getLogger(__name__)


def call_log_path() -> Path:
    """Where `serve` appends one JSON line per finished call (its scorecard): the call log."""
    from workbench.paths import workbench_home

    directory = workbench_home() / "serve"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / "calls.jsonl"


class AfterCall:
    """Scores finished calls (`engine.scorecard`, the definition every face uses) and keeps
    the last `keep` scorecards by call SID."""

    def __init__(self, metrics: ServerMetrics, *, agent_name: str, keep: int) -> None:
        self.metrics = metrics
        self.agent_name = agent_name
        self.keep = keep
        self.scorecards: dict[str, Any] = {}  # call SID → its scorecard, the last few calls
        self.call_log_path = call_log_path()
        # After-call work that may wait on the network (an OTLP export), off the event loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="after-call")

    def score(self, call_sid: str, result: Any, started_at: datetime) -> Any:
        """The call's scorecard from its `CallResult`: counted, logged, traced."""
        from workbench.engine.otel import CallTrace, otlp_enabled
        from workbench.engine.scorecard import call_log_line, scorecard_for

        card = scorecard_for(result)
        self.scorecards[call_sid] = card
        while len(self.scorecards) > self.keep:
            self.scorecards.pop(next(iter(self.scorecards)))
        main_topic = card.topics[-1].topic if card.topics else "none"
        self.metrics.inc(
            "workbench_call_resolutions_total", resolution=card.resolution, topic=main_topic
        )
        for topic in card.topics:
            self.metrics.inc(
                "workbench_topic_tasks_total",
                topic=topic.topic,
                success="true" if topic.success else "false",
            )
        line = call_log_line(card, result, agent=self.agent_name, started_at=started_at.isoformat())
        try:
            with self.call_log_path.open("a", encoding="utf-8") as log_file:
                log_file.write(json.dumps(line, default=str) + "\n")
        except OSError as error:
            log.warning("call log %s: %s", self.call_log_path, error)
        if otlp_enabled():
            trace = CallTrace.of(result, agent=line["agent"], resolution=card.resolution)
            trace.start_ns = int(started_at.timestamp() * 1e9)
            self._executor.submit(_export_trace, trace)
        return card

    def shutdown(self) -> None:
        """Wait for traces still being sent (each bounded by the exporter's timeout)."""
        self._executor.shutdown()


def _export_trace(trace: Any) -> None:
    from workbench.engine.otel import export_calls

    problem = export_calls([trace])
    if problem:
        log.warning("call %s: %s", trace.call_id, problem)


def ai_leg_record(
    session: Any,
    *,
    call_id: str,
    events: list[Any],
    caller_number: str,
    started_at: datetime,
    fault: bool,
    consent: bool,
    next_call_id: str | None,
    tasks: list[str],
) -> Any:
    """The AI leg's `CallRecord` from its session and events: a call that ended by a fault is
    "failed" and routed nowhere."""
    from dataclasses import replace

    from workbench.crm.from_call import call_record

    conversation = session.conversation
    record = call_record(
        call_id=call_id,
        events=events,
        transcript=list(session.transcript),
        caller_number=caller_number,
        started_at=started_at,
        captured=dict(getattr(conversation, "captured", {}) or {}),
        intended_actions=list(getattr(conversation, "intended_crm_actions", []) or []),
        routing=None if fault else session.routing,
        consent=consent,
        next_call_id=next_call_id,
        topics=list(getattr(conversation, "topics_seen", []) or []),
        topics_done=list(getattr(conversation, "topics_done", []) or []),
        tasks=tasks,
    )
    return replace(record, disposition="failed") if fault else record
