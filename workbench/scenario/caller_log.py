"""What the scripted caller did and measured on one call (`CallerLog`), the input of judging.

Apart from `caller.py` (the caller that plays the steps) because the assertions, scorecards,
summaries and reports read the log without needing the caller that wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CallerAction:
    """One step the caller carried out."""

    step: int
    kind: str
    label: str
    started_ms: float
    text: str = ""
    onset_ms: float | None = None  # first audible sample sent (speech steps)
    speech_end_ms: float | None = None  # last audible sample sent
    ended_ms: float | None = None


@dataclass
class Interjection:
    """A barge-in or backchannel, timed against the agent's speech, as the caller measured it."""

    step: int
    kind: str  # "barge_in" | "backchannel" | "sound"
    text: str
    at_ms: float  # planned: speech onset this far into the agent's current speech
    agent_onset_ms: float | None = None  # the agent speech run it was timed against
    onset_ms: float | None = None  # the caller's first audible sample
    speech_end_ms: float | None = None
    agent_audible_at_onset: bool = False
    last_agent_audio_ms: float | None = None  # end of the last agent audio before the quiet
    stop_ms: float | None = None  # (interruption) onset → last agent audio heard, once measured
    # Where the interruption proper began: after the pause that follows a leading
    # acknowledgement ("Yeah, | but…"), else the onset. Stop latency counts from here, since a
    # judge that lets "yeah" pass (as it must) cannot know sooner.
    interruption_onset_ms: float | None = None

    @property
    def measured_from_ms(self) -> float | None:
        return (
            self.interruption_onset_ms if self.interruption_onset_ms is not None else self.onset_ms
        )

    @property
    def offset_ms(self) -> float | None:
        """Where the onset really fell in the agent's speech (frame-quantised)."""
        if self.onset_ms is None or self.agent_onset_ms is None:
            return None
        return self.onset_ms - self.agent_onset_ms


@dataclass
class CallerLog:
    """Everything one scripted caller did and measured (see `ScriptedCaller`)."""

    actions: list[CallerAction] = field(default_factory=list)
    interjections: list[Interjection] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the script could not run as written
    steps_reached: int = 0
    # After each thing it said (its speech end), when it next heard the agent (None: never)
    waits: list[tuple[float, float | None]] = field(default_factory=list)
    # The agent audio it heard, as (start, end) runs (gaps under a frame and a half joined)
    agent_heard: list[tuple[float, float]] = field(default_factory=list)
