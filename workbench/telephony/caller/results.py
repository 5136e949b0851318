"""What the caller measured on one call: `CallerResults`, filled by the client as it plays.

Apart from the client because the bench, the GUI, the scripted calls and the reports read
these figures (and the reasons a measure did not apply) without driving a call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NOT_APPLICABLE_SILENT = "barge_in_stop: agent silent at the caller's onset"
NOT_APPLICABLE_OVERLAP = "turn_latency: agent still speaking when the caller stopped"


@dataclass
class CallerResults:
    """What the caller measured (ms on the client's monotonic clock, from `start`)."""

    call_sid: str = ""
    stream_sid: str = ""
    first_agent_audio_ms: float | None = None  # start → first audible agent sample played
    turn_latencies_ms: list[float] = field(default_factory=list)
    first_media_after_speech_ms: list[float] = field(default_factory=list)  # TTFA (received)
    barge_in_stop_ms: list[float] = field(default_factory=list)
    media_received: int = 0
    marks_received: int = 0
    marks_echoed: int = 0
    clears_received: int = 0
    frames_sent: int = 0
    late_sends: int = 0  # ticks run more than a frame late (the generator's own health)
    worst_lateness_ms: float = 0.0
    protocol_errors: list[str] = field(default_factory=list)
    closed_by_server: bool = False
    close_reason: str = ""
    refused: bool = False  # the agent refused the upgrade (503 at capacity, 403…)
    refused_status: int | None = None
    # Measures that did not apply, by reason (never numbers in the lists above).
    not_applicable: dict[str, int] = field(default_factory=dict)
    # Each caller onset over agent audio and what became of it (`overlaps.OverlapTracker.
    # report`: overlaps, summary, policy), filled when the call ends.
    overlaps: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}
