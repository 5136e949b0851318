"""Messages the engine side posts to the GUI besides engine events (immutable, Qt-free).

Engine events (`workbench.engine.events`) and these messages travel the same queue to the
bridge, which turns each into a typed Qt signal on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The call states of Salesforce Voice's softphone, as shown on the phone panel.
IDLE = "idle"
RINGING = "ringing"
CONNECTED = "connected"
ON_HOLD = "on hold"
AFTER_CALL_WORK = "after-call work"
ENDED = "ended"


@dataclass(frozen=True)
class RuntimeReady:
    """The agent and its speech stack are loaded (or failed to: `error`)."""

    agent_name: str = ""
    agent_path: str = ""
    voices: tuple[str, ...] = ()  # the caller voices on offer
    error: str = ""
    ear: str = ""  # the agent's own `ear:` ("" when it leaves the choice to the face)


@dataclass(frozen=True)
class CallStateChanged:
    state: str
    detail: str = ""


@dataclass(frozen=True)
class CallFinished:
    """A call is over; `result` is the engine's `CallResult` (None when it failed: `error`),
    `scorecard` its `engine.scorecard.Scorecard`, `trace_path` its Chrome/Perfetto trace."""

    result: Any = None
    error: str = ""
    scorecard: Any = None
    trace_path: str = ""


@dataclass(frozen=True)
class CrmUpdate:
    """What the CRM side knows now: records this call wrote, platform events, outbox status."""

    target: str = ""
    call_id: str = ""
    records: tuple[dict[str, Any], ...] = ()
    platform_events: tuple[dict[str, Any], ...] = ()
    status: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    final: bool = False


@dataclass(frozen=True)
class ScenarioSuite:
    """The scenario files found: (path, name, tags, description, problem) per file."""

    entries: tuple[tuple[str, str, str, str, str], ...] = ()
    error: str = ""


@dataclass(frozen=True)
class ScenarioStarted:
    path: str


@dataclass(frozen=True)
class ScenarioFinished:
    """One scenario ran: `passed`, the failing expectation and its evidence, the call."""

    path: str
    name: str
    passed: bool
    failure: str = ""
    evidence: str = ""
    failing_turn: int | None = None
    call: Any = None
    error: str = ""


@dataclass(frozen=True)
class AgentReloaded:
    agent_name: str = ""
    error: str = ""


@dataclass(frozen=True)
class AgentValidated:
    """An edited agent definition was checked: `problems` are (line or None, message)."""

    path: str
    problems: tuple[tuple[int | None, str], ...] = ()


@dataclass(frozen=True)
class RemoteProgress:
    """A deployed-agent call reports no engine events: what the caller side saw, as a line."""

    text: str
    t_ms: float = 0.0


@dataclass(frozen=True)
class StatusNote:
    """A line for the status bar."""

    text: str


@dataclass(frozen=True)
class DeskMessage:
    """A message from the agent desk's connection (the `/agent` protocol, media excepted), or
    {"event": "failed", "message": ...} when it could not connect or send."""

    message: dict
