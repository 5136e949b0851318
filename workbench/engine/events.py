"""The event catalogue: everything a call session tells the world, in one place.

Every event is a frozen dataclass with the call it belongs to (`call_id`) and the time it
happened (`t_ms`, milliseconds on the call's clock: virtual in a scripted run, wall-clock
since call start in real time). The CLI, the Qt bridge, the media-stream server, the scenario
runner and the tests all consume these same objects; nothing else crosses the engine's edge.

Times are where the event happened: caller-side events (`AgentAudioHeard`, `TurnCompleted`'s
waterfall) are stamped at the caller, agent-side ones at the agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Base of every engine event."""

    call_id: str
    t_ms: float


@dataclass(frozen=True)
class CallStarted(Event):
    """A call was connected to the agent.

    Parameters: `caller` (the caller's number), `agent` (agent name), `settings` (the run's
    endpointing mode, latency model and network conditions, as plain data).
    """

    caller: str = ""
    agent: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallerSpeechStarted(Event):
    """The VAD heard the caller start speaking (`t_ms` is the first speech frame's start)."""


@dataclass(frozen=True)
class CallerSpeechEnded(Event):
    """The VAD heard the caller stop (`t_ms` is the end of the last speech frame)."""


@dataclass(frozen=True)
class PartialTranscript(Event):
    """The recogniser's current hypothesis for the utterance in progress."""

    text: str = ""


@dataclass(frozen=True)
class FinalTranscript(Event):
    """The words the agent understands for a caller utterance.

    Parameters: `text`, `confidence` (0..1), `words` (tuples of word, start_ms, end_ms; the
    accurate ear's words carry no times: 0, 0), `ear` ("fast" or "accurate"),
    `streaming_text` (the streaming recogniser's last hypothesis; with the accurate ear it
    shows what the fast ear alone would have heard).
    """

    text: str = ""
    confidence: float = 0.0
    words: tuple[tuple[str, float, float], ...] = ()
    ear: str = "fast"
    streaming_text: str = ""


@dataclass(frozen=True)
class FinalPassDiscarded(Event):
    """The accurate ear dropped a final pass it had started early in a pause: `reason`
    (the caller went on, so its words would have missed the rest). Another pass follows."""

    reason: str = ""


@dataclass(frozen=True)
class EndpointDecided(Event):
    """The session decided the caller's turn is over.

    Parameters: `mode` ("silence" or "semantic"), `setting` (e.g. "silence 500 ms"),
    `silence_ms` (how long the caller had been silent), `reason` (why now).
    """

    mode: str = ""
    setting: str = ""
    silence_ms: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class TopicDecided(Event):
    """Understanding finished: topic with confidence, the runner-up, and the entities."""

    turn: int = 0
    topic: str = ""
    confidence: float = 0.0
    runner_up: str = ""
    runner_up_confidence: float = 0.0
    entities: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class KnowledgeRetrieved(Event):
    """Retrieval finished: the chunks found, each as {source, heading, text, score}."""

    turn: int = 0
    chunks: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ResponseStarted(Event):
    """The agent decided what to say.

    Parameters: `turn`, `sentences` (the full planned reply), `plan` (why), `routing`
    ("ai_resolved" | "human" | "workflow" | None), `actions` (what the agent did).
    """

    turn: int = 0
    sentences: tuple[str, ...] = ()
    plan: str = ""
    routing: str | None = None
    actions: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class FillerStarted(Event):
    """A filler ("one moment…") was played because the reply would come late."""

    turn: int = 0
    text: str = ""
    expected_wait_ms: float = 0.0


@dataclass(frozen=True)
class AgentAudioStarted(Event):
    """The agent began sending audio for a reply (at the agent, before the network leg)."""

    turn: int = 0
    text: str = ""


@dataclass(frozen=True)
class AgentAudioStopped(Event):
    """The agent stopped sending audio: `reason` is "finished" or "interrupted"."""

    turn: int = 0
    reason: str = "finished"
    text_heard: str = ""


@dataclass(frozen=True)
class AgentAudioHeard(Event):
    """The first audible sample of a reply reached the caller's ear (after leg and buffer)."""

    turn: int = 0


@dataclass(frozen=True)
class Interruption(Event):
    """Caller speech during agent speech was judged.

    Parameters: `kind` ("barge_in" or "backchannel"), `text` (what the caller said so far),
    `stopped_agent` (the agent stopped speaking), `false_interruption` (stopped for a
    backchannel).
    """

    kind: str = ""
    text: str = ""
    stopped_agent: bool = False
    false_interruption: bool = False


@dataclass(frozen=True)
class AgentPaused(Event):
    """The agent went quiet at once because the caller's voice started over its reply
    ("pause" interruption mode), keeping the reply; `AgentResumed` or an `AgentAudioStopped`
    (yielded) follows. Over Twilio the server sends `clear` now and keeps the unplayed audio.

    Parameters: `turn` (the reply paused), `onset_ms` (when the caller's speech began, at
    the agent).
    """

    turn: int = 0
    onset_ms: float = 0.0


@dataclass(frozen=True)
class AgentResumed(Event):
    """The agent, paused for caller speech that was only an acknowledgement or noise, goes on.

    Parameters: `turn` (the reply resumed), `paused_ms` (how long it was quiet),
    `rewound_ms` (audio played again: back to the start of the word the pause cut; 0 when the
    pause fell between sentences), `text` (the sentence it resumes in), `rephrased` (it
    resumes with "As I was saying, " and the rest of the cut sentence, after a long pause),
    `sentence_index` (the reply's sentence the rephrasing replaces; -1 when not rephrased).
    """

    turn: int = 0
    paused_ms: float = 0.0
    rewound_ms: float = 0.0
    text: str = ""
    rephrased: bool = False
    sentence_index: int = -1


@dataclass(frozen=True)
class DtmfReceived(Event):
    """A keypad digit; `digit` is "*" when captured securely (never the real digit)."""

    digit: str = ""
    secure: bool = False


@dataclass(frozen=True)
class HandoffRequested(Event):
    """The call is to go to a human: `queue`, `reason` and the context summary."""

    queue: str = ""
    reason: str = ""
    summary: str = ""


@dataclass(frozen=True)
class CrmWriteIntended(Event):
    """The call produced a record for the CRM: `object` and its `fields` (before mapping)."""

    object: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnCompleted(Event):
    """A turn's latency is known at the caller; `timeline` is its `TurnTimeline`.

    `t_ms` is when the caller heard the first audible agent sample.
    """

    turn: int = 0
    timeline: Any = None


@dataclass(frozen=True)
class StageFailed(Event):
    """A stage raised; the session carried on with a fallback. `stage`, `error` (one line)."""

    stage: str = ""
    error: str = ""


@dataclass(frozen=True)
class CallEnded(Event):
    """The call is over: `reason` ("caller_hung_up", "agent_ended", "handoff", "error")."""

    reason: str = ""
    disposition: str = ""


ALL_EVENTS: tuple[type[Event], ...] = (
    CallStarted,
    CallerSpeechStarted,
    CallerSpeechEnded,
    PartialTranscript,
    FinalTranscript,
    FinalPassDiscarded,
    EndpointDecided,
    TopicDecided,
    KnowledgeRetrieved,
    ResponseStarted,
    FillerStarted,
    AgentAudioStarted,
    AgentAudioStopped,
    AgentAudioHeard,
    Interruption,
    AgentPaused,
    AgentResumed,
    DtmfReceived,
    HandoffRequested,
    CrmWriteIntended,
    TurnCompleted,
    StageFailed,
    CallEnded,
)
