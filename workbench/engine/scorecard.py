"""The scorecard of one call: one definition for every face (scenario runs, served calls, GUI).

A `Scorecard` says how the call ended and how well it went, from what the call produced
(its events, turn timelines and the conversation's facts), never from a scenario's
expectations, so a call from any face gets the same card:

- **resolution**: `ai_resolved` | `workflow` | `handed_off` | `abandoned` (the call's
  disposition in plain words; a call that failed or timed out counts as abandoned);
- **topics**: per topic the call took up, in order: the slots the agent declares for it,
  those captured, its action and whether that action ran to its end. A topic **succeeded**
  when every declared slot was captured and its action was done (`task_success`);
- **turns** (agent replies after the greeting), **re-prompts** (no input, no match, an answer
  not understood) and **no-matches** (the subset that were a no-match);
- **premature endpoints**: turns the agent ended while the caller was not done: the caller's
  voice came back within `PREMATURE_WINDOW_MS` of the endpoint decision (the reply, if any,
  barely begun: a barge-in lands later, well into a reply);
- **latency** at the caller: p50 / p95 / max of the caller-perceived turn latency;
- **interruptions**: `engine.outcomes.summarise` over the call's overlaps (the one vocabulary:
  yielded, resumed with its gap, abandoned replies, talked over);
- **crm**: the records the call asks the CRM for (the VoiceCall and the conversation's own),
  by object.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.engine import events as ev
from workbench.engine.outcomes import OverlapOutcome, summarise
from workbench.stats import latency_summary

if TYPE_CHECKING:
    from workbench.engine.virtual import CallResult

RESOLUTIONS = ("ai_resolved", "workflow", "handed_off", "abandoned")

# A caller who speaks again this soon after the agent decided their turn was over was still in
# the middle of it (a thinking pause, not an end): with replies heard 0.1-0.9 s after the
# endpoint they have heard a word or two at most, where an interruption comes later.
PREMATURE_WINDOW_MS = 1000.0

_RESOLUTION_OF_DISPOSITION = {
    "ai_resolved": "ai_resolved",
    "workflow": "workflow",
    "escalated_to_human": "handed_off",
    "human": "handed_off",
    "abandoned": "abandoned",
    "failed": "abandoned",
}


@dataclass(frozen=True)
class TopicScore:
    """One topic the call took up: what it needed, what it got."""

    topic: str
    slots_required: tuple[str, ...]
    slots_captured: tuple[str, ...]
    action: str
    action_done: bool

    @property
    def success(self) -> bool:
        return self.action_done and set(self.slots_required) <= set(self.slots_captured)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"success": self.success}


@dataclass(frozen=True)
class Scorecard:
    call_id: str
    resolution: str  # one of RESOLUTIONS
    end_reason: str
    topics: tuple[TopicScore, ...]
    turns: int
    reprompts: int
    no_matches: int
    latency_ms: dict[str, float | int]  # turns, p50, p95, max (caller-perceived)
    interruptions: dict[str, Any]  # outcomes.summarise
    crm: dict[str, Any] = field(default_factory=dict)  # records: n, by_object
    premature_endpoints: int = 0

    @property
    def task_success(self) -> bool | None:
        """Every topic taken up succeeded (None when the call took up no topic)."""
        return all(t.success for t in self.topics) if self.topics else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "resolution": self.resolution,
            "end_reason": self.end_reason,
            "task_success": self.task_success,
            "topics": [t.to_dict() for t in self.topics],
            "turns": self.turns,
            "reprompts": self.reprompts,
            "no_matches": self.no_matches,
            "premature_endpoints": self.premature_endpoints,
            "latency_ms": dict(self.latency_ms),
            "interruptions": self.interruptions,
            "crm": self.crm,
        }


_DISPOSITION_BY_ROUTING = {
    "human": "escalated_to_human",
    "workflow": "workflow",
    "ai_resolved": "ai_resolved",
}


def call_disposition(routing: str | None, ended: ev.CallEnded | None) -> str:
    """The call's business outcome (`crm.call_record.DISPOSITIONS`), the one rule the CRM
    record and the scorecard share: the agent's last routing decision; else the session's
    disposition at the end; a caller who hung up before any routing decision abandoned."""
    disposition = _DISPOSITION_BY_ROUTING.get(routing or "", "")
    if not disposition and ended is not None:
        disposition = ended.disposition or "ai_resolved"
    if ended is not None and ended.reason == "caller_hung_up" and routing is None:
        disposition = "abandoned"
    return disposition or "ai_resolved"


def resolution_of(disposition: str) -> str:
    """The scorecard's word for a disposition."""
    return _RESOLUTION_OF_DISPOSITION.get(disposition, "abandoned")


def call_facts(session: Any) -> dict[str, Any]:
    """What a finished session's conversation knows that the scorecard needs (`CallResult`
    fields: topics, topics_done, no_matches, agent_topics)."""
    conv = getattr(session, "conversation", None)
    definition = getattr(getattr(session, "agent", None), "definition", None)
    agent_topics = {
        spec.name: {"slots": [slot.name for slot in spec.slots], "action": spec.action}
        for spec in getattr(definition, "topics", []) or []
    }
    return {
        "topics": list(getattr(conv, "topics_seen", []) or []),
        "topics_done": list(getattr(conv, "topics_done", []) or []),
        "no_matches": int(getattr(conv, "no_matches", 0) or 0),
        "agent_topics": agent_topics,
    }


def overlaps_in(events: Iterable[ev.Event]) -> list[OverlapOutcome] | None:
    """Overlap outcomes the engine recorded on its events (any event carrying an
    `OverlapOutcome` as `outcome` or `overlap`); None when the run recorded none."""
    found = [
        value
        for event in events
        for value in (getattr(event, "outcome", None), getattr(event, "overlap", None))
        if isinstance(value, OverlapOutcome)
    ]
    return found or None


def premature_endpoints(events: Sequence[ev.Event]) -> int:
    """Endpoint decisions the caller's own voice contradicted: it came back within
    `PREMATURE_WINDOW_MS` of the decision (each decision counts once)."""
    ordered = sorted(events, key=lambda e: e.t_ms)
    count = 0
    for i, event in enumerate(ordered):
        if not isinstance(event, ev.EndpointDecided):
            continue
        for later in ordered[i + 1 :]:
            if later.t_ms - event.t_ms > PREMATURE_WINDOW_MS or isinstance(
                later, ev.EndpointDecided
            ):
                break
            if isinstance(later, ev.CallerSpeechStarted):
                count += 1
                break
    return count


def scorecard_for(
    call: CallResult,
    overlaps: Sequence[OverlapOutcome] | None = None,
    premature: int | None = None,
) -> Scorecard:
    """The call's scorecard. `overlaps`: the call's overlap outcomes when a face knows them
    (a scripted caller knows its intent); else those recorded on the call. `premature`: the
    premature endpoints when a face knows where the caller's sentences ended (a scripted
    caller: `scenario.assertions.premature_endpoints`); else `premature_endpoints`' proxy."""
    if overlaps is None:
        overlaps = call.overlaps or overlaps_in(call.events) or []
    captured = set(call.captured)
    topics = []
    for name in call.topics:
        spec = call.agent_topics.get(name, {})
        required = tuple(spec.get("slots", ()))
        topics.append(
            TopicScore(
                topic=name,
                slots_required=required,
                slots_captured=tuple(s for s in required if s in captured),
                action=str(spec.get("action", "")),
                action_done=name in call.topics_done,
            )
        )
    ended = next((e for e in reversed(call.events) if isinstance(e, ev.CallEnded)), None)
    turns = {e.turn for e in call.events if isinstance(e, ev.ResponseStarted) and e.turn > 0}
    crm_objects = Counter(
        e.object for e in call.events if isinstance(e, ev.CrmWriteIntended) and e.object
    )
    crm_objects["VoiceCall"] += 1  # every finished call writes its VoiceCall
    return Scorecard(
        call_id=call.call_id,
        resolution=resolution_of(call_disposition(call.routing, ended)),
        end_reason=call.end_reason,
        topics=tuple(topics),
        turns=len(turns),
        reprompts=call.reprompts,
        no_matches=call.no_matches,
        latency_ms=latency_summary([t.total_ms for t in call.timelines if t.turn > 0]),
        interruptions=summarise(overlaps),
        crm={"records": sum(crm_objects.values()), "by_object": dict(sorted(crm_objects.items()))},
        premature_endpoints=(
            premature if premature is not None else premature_endpoints(call.events)
        ),
    )


def suite_scorecard(cards: Sequence[Scorecard]) -> dict[str, Any]:
    """Aggregates over many calls: containment (AI-resolved share), resolutions, task success
    by topic, and the turn-latency distribution of every call's turns."""
    n = len(cards)
    resolutions = Counter(c.resolution for c in cards)
    by_topic: dict[str, dict[str, int]] = {}
    for card in cards:
        for topic in card.topics:
            row = by_topic.setdefault(topic.topic, {"calls": 0, "succeeded": 0})
            row["calls"] += 1
            row["succeeded"] += int(topic.success)
    return {
        "calls": n,
        "resolutions": {r: resolutions.get(r, 0) for r in RESOLUTIONS},
        "containment": round(resolutions.get("ai_resolved", 0) / n, 3) if n else None,
        "task_success_by_topic": dict(sorted(by_topic.items())),
        "reprompts": sum(c.reprompts for c in cards),
        "no_matches": sum(c.no_matches for c in cards),
        "premature_endpoints": sum(c.premature_endpoints for c in cards),
    }


CALL_LOG_FORMAT = "workbench-call/1"
CALL_LOG_FIELDS = ("format", "started_at", "agent", "scorecard", "turn_latencies_ms")


def call_log_line(card: Scorecard, call: CallResult, *, agent: str, started_at: str) -> dict:
    """One finished call as a call log line (`serve`'s and the GUI's `calls.jsonl`, read by
    `workbench report`): its scorecard and its caller-perceived turn latencies."""
    return {
        "format": CALL_LOG_FORMAT,
        "started_at": started_at,
        "agent": agent,
        "scorecard": card.to_dict(),
        "turn_latencies_ms": [
            {"turn": t.turn, "caller_text": t.caller_text, "total_ms": round(t.total_ms, 1)}
            for t in call.timelines
            if t.turn > 0
        ],
    }


def session_call_result(
    session: Any, events: Sequence[ev.Event], *, end_reason: str, duration_ms: float = 0.0
) -> CallResult:
    """A finished real-time session (a served call) as the `CallResult` a scorecard reads:
    its turn timelines are those its `TurnCompleted` events carry."""
    from workbench.engine.virtual import CallResult

    conv = getattr(session, "conversation", None)
    timelines = [e.timeline for e in events if isinstance(e, ev.TurnCompleted) and e.timeline]
    ended = next((e for e in reversed(events) if isinstance(e, ev.CallEnded)), None)
    return CallResult(
        call_id=session.call_id,
        events=list(events),
        timelines=timelines,
        transcript=list(getattr(session, "transcript", [])),
        duration_ms=ended.t_ms if ended is not None else duration_ms,
        end_reason=end_reason,
        disposition=getattr(session, "disposition", "") or "",
        captured=dict(getattr(conv, "captured", {}) or {}),
        reprompts=int(getattr(conv, "reprompt_count", 0) or 0),
        routing=getattr(session, "routing", None),
        **call_facts(session),
    )
