"""What a call leaves on the server once its socket closed, and the faults that end one.

`CallSummary` is what tests, the desk and reports read of a finished call: its events, the
turns and marks the caller heard, the pauses and the human legs. Apart from the call bridge
because the server keeps these after the bridge is gone, and the mark ledger fills some.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.engine import events as ev

FAULT_REASONS = {"protocol_error", "client_not_reading", "transport_error", "error", "unauthorized"}
SESSION_FAULTS = {"error", "transport_error", "timeout"}  # the session ended itself badly


class CallFault(Exception):
    """Ends one call: `cause` names the fault for logs and metrics."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.detail = detail


@dataclass
class PauseRecord:
    """One pause of a reply at the caller (`AgentPaused`), as the server saw it (frames of the
    turn's ledger; call clock, ms)."""

    t_ms: float
    turn: int
    sent_frames: int  # sent before the `clear`
    proven_frames: int  # proven played by mark echoes
    heard_frames: int  # played, by the measured depth of the caller's buffer
    resume_from: int  # the start of the word the unplayed remainder begins in
    outcome: str = ""  # "resumed" | "yielded" | "" (the call ended first)
    resent_frames: int = 0  # of the remainder, re-sent by the server (before the session's)


@dataclass
class HeardRecord:
    """A mark echo that proved agent audio reached the caller (call clock, ms)."""

    t_ms: float
    turn: int
    sentence_index: int
    progress: float
    text: str


@dataclass
class TurnHeard:
    """Server-side view of a turn at the caller, from mark echoes."""

    turn: int
    first_audible_ms: float
    caller_speech_end_ms: float | None
    latency_ms: float | None


@dataclass
class CallSummary:
    """What stays of a call after its socket closed (for tests, the desk and reports)."""

    call_sid: str
    end_reason: str
    events: list[ev.Event] = field(default_factory=list)
    turns: list[TurnHeard] = field(default_factory=list)
    heard: list[HeardRecord] = field(default_factory=list)
    human_leg_ids: list[str] = field(default_factory=list)
    clears_sent: int = 0
    pauses: list[PauseRecord] = field(default_factory=list)
