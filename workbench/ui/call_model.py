"""What the window knows about one call, built from engine events (no Qt here).

The views share this model: the transcript, the waterfall and the decision inspector all read
`CallModel.turns`, each turn gathering what was heard, what was understood, what was retrieved,
what the agent planned and where the turn's latency went. Turn 0 is the greeting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.engine import events as ev
from workbench.engine.trace import TurnTimeline
from workbench.stats import latency_summary


@dataclass
class TurnDetails:
    """Everything the inspector shows for one turn."""

    turn: int
    heard: str = ""
    heard_confidence: float | None = None
    endpoint: ev.EndpointDecided | None = None
    topic: str = ""
    confidence: float = 0.0
    runner_up: str = ""
    runner_up_confidence: float = 0.0
    entities: tuple[dict[str, Any], ...] = ()
    chunks: tuple[dict[str, Any], ...] = ()
    sentences: tuple[str, ...] = ()
    plan: str = ""
    routing: str | None = None
    actions: tuple[dict[str, Any], ...] = ()
    filler: str = ""
    handoff: ev.HandoffRequested | None = None
    interruptions: list[ev.Interruption] = field(default_factory=list)
    timeline: TurnTimeline | None = None
    failures: list[str] = field(default_factory=list)


class CallModel:
    """Folds a call's events into per-turn records; `apply` returns the turn it touched."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.call_id = ""
        self.turns: dict[int, TurnDetails] = {}
        self.events: list[ev.Event] = []
        self.ended: ev.CallEnded | None = None
        self._last_final: ev.FinalTranscript | None = None
        self._last_endpoint: ev.EndpointDecided | None = None
        self._current_turn = 0

    def turn(self, number: int) -> TurnDetails:
        if number not in self.turns:
            self.turns[number] = TurnDetails(number)
        return self.turns[number]

    @property
    def timelines(self) -> list[TurnTimeline]:
        return [r.timeline for _, r in sorted(self.turns.items()) if r.timeline is not None]

    def summary(self) -> dict[str, float]:
        """p50/p95 of caller-perceived latency over the caller's turns (not the greeting)."""
        totals = [t.total_ms for t in self.timelines if t.turn > 0]
        return latency_summary(totals, suffix="_ms", mean=True)

    def apply(self, event: ev.Event) -> int | None:
        self.events.append(event)
        if isinstance(event, ev.CallStarted):
            self.call_id = event.call_id
            self.turn(0)
            return 0
        if isinstance(event, ev.EndpointDecided):
            self._last_endpoint = event
        elif isinstance(event, ev.FinalTranscript):
            self._last_final = event
        elif isinstance(event, ev.TopicDecided):
            record = self._start_turn(event.turn)
            record.topic = event.topic
            record.confidence = event.confidence
            record.runner_up = event.runner_up
            record.runner_up_confidence = event.runner_up_confidence
            record.entities = tuple(event.entities)
            return event.turn
        elif isinstance(event, ev.KnowledgeRetrieved):
            self._start_turn(event.turn).chunks = tuple(event.chunks)
            return event.turn
        elif isinstance(event, ev.ResponseStarted):
            record = self._start_turn(event.turn)
            record.sentences = tuple(event.sentences)
            record.plan = event.plan
            record.routing = event.routing
            record.actions = tuple(event.actions)
            return event.turn
        elif isinstance(event, ev.FillerStarted):
            self.turn(event.turn).filler = event.text
            return event.turn
        elif isinstance(event, ev.HandoffRequested):
            self.turn(self._current_turn).handoff = event
            return self._current_turn
        elif isinstance(event, ev.Interruption):
            self.turn(self._current_turn).interruptions.append(event)
            return self._current_turn
        elif isinstance(event, ev.StageFailed):
            self.turn(self._current_turn).failures.append(f"{event.stage}: {event.error}")
            return self._current_turn
        elif isinstance(event, ev.TurnCompleted):
            if event.timeline is not None:
                self.turn(event.turn).timeline = event.timeline
            return event.turn
        elif isinstance(event, ev.CallEnded):
            self.ended = event
        return None

    def _start_turn(self, number: int) -> TurnDetails:
        """The first decision of a turn claims the caller's last final transcript."""
        record = self.turn(number)
        if number > 0 and number != self._current_turn:
            self._current_turn = number
            if self._last_final is not None:
                record.heard = self._last_final.text
                record.heard_confidence = self._last_final.confidence
                self._last_final = None
            record.endpoint, self._last_endpoint = self._last_endpoint, None
        return record


def call_finished_text(finished: Any) -> str:
    """The status line for a finished call (`messages.CallFinished`): its scorecard in a line
    and where its trace is."""
    if finished.error:
        return f"call failed: {finished.error}"
    result, card = finished.result, finished.scorecard
    parts = [f"call ended ({getattr(result, 'end_reason', '?')})"]
    if card is not None:
        topics = ", ".join(f"{t.topic} {'done' if t.success else 'not done'}" for t in card.topics)
        parts.append(f"{card.resolution.replace('_', ' ')}: {topics or 'no topic'}")
        parts.append(f"{card.turns} turns, {card.reprompts} re-prompts")
        latency = card.latency_ms
        if latency.get("turns"):
            parts.append(f"p50 {latency['p50']:.0f} / p95 {latency['p95']:.0f} ms")
    if finished.trace_path:
        parts.append(f"trace {finished.trace_path}")
    return "; ".join(parts)
