"""What the ear did in a call, for a failure message: what it heard, and what failed.
Shared by the GUI window test and the sound-card call (a script run as its own process)."""

from __future__ import annotations

from workbench.engine import events as ev

EAR_STORY = (
    ev.FinalTranscript,
    ev.FinalPassDiscarded,
    ev.StageFailed,
    ev.AgentPaused,
    ev.AgentResumed,
    ev.Interruption,
    ev.TurnCompleted,
)


def ear_story(events) -> list[str]:
    return [repr(e) for e in events if isinstance(e, EAR_STORY)]
