"""Turn-taking measures of a scripted call: abandoned replies, premature endpoints, barge-ins.

What the caller's log and the engine's events say about who held the turn, as facts (evidence
lines, endpoints, stop times) rather than verdicts: `assertions.py` turns them into pass/fail
outcomes, and the suite summary and the text report count them over many calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from workbench.audio.frames import FRAME_MS
from workbench.engine import events as ev
from workbench.engine.virtual import CallResult
from workbench.scenario.caller_log import CallerLog
from workbench.speech.numbers import display_text

NOISE_STOP_GRACE_MS = 1500.0  # a stop this long after caller speech ended is still its doing


def false_interruptions(result: CallResult, caller: CallerLog) -> tuple[list[str], list[str]]:
    """Every acknowledgement or noise that cost the agent its reply (evidence lines), and notes.

    In the outcome vocabulary (`engine/outcomes.py`) a false interruption is an *abandoned
    reply*: the reply dropped, or restarted from its beginning. A short pause that resumes from
    the cut is reported in the notes with its resume gap, not failed. A yield while the caller
    was not speaking at all (noise, a cough, the line) abandons the reply too.
    """
    problems: list[str] = []
    notes: list[str] = []
    for outcome in result.overlaps:
        if outcome.intent == "interruption":
            continue
        at = f"{outcome.intent} at {outcome.onset_ms / 1000:.2f} s"
        if outcome.outcome == "abandoned_reply":
            problems.append(
                f"abandoned reply: the {at} cost the agent its reply "
                f"(stopped {outcome.stop_latency_ms:.0f} ms after the onset, never resumed)"
            )
        elif outcome.outcome == "resumed":
            notes.append(
                f"{at}: paused {outcome.stop_latency_ms:.0f} ms after the onset, resumed "
                f"(resume gap {outcome.resume_gap_ms:.0f} ms)"
            )
        else:
            notes.append(f"{at}: talked over (kept talking)")
    stops = [
        e
        for e in result.events
        if isinstance(e, ev.AgentAudioStopped) and e.reason == "interrupted"
    ]
    speech = [
        (a.onset_ms, a.speech_end_ms)
        for a in caller.actions
        if a.onset_ms is not None and a.speech_end_ms is not None
    ]
    for stop in stops:
        if not any(
            start - 100.0 <= stop.t_ms <= end + NOISE_STOP_GRACE_MS for start, end in speech
        ):
            problems.append(
                f"abandoned reply: the agent stopped at {stop.t_ms / 1000:.2f} s while the "
                f"caller was not speaking (after {display_text(stop.text_heard)!r})"
            )
    return problems, notes


@dataclass(frozen=True)
class PrematureEndpoint:
    """The agent ended the caller's turn while its sentence went on: premature when the caller
    heard agent audio before it ended (`overlap_ms` > 0), else taken back unheard."""

    step: int
    endpoint_ms: float  # when the agent decided the turn was over
    speech_end_ms: float  # when the caller's sentence really ended
    overlap_ms: float  # agent audio the caller heard over the rest of its sentence


def premature_endpoints(result: CallResult, caller: CallerLog) -> list[PrematureEndpoint]:
    """Every endpoint decided inside a `say` step's speech (its onset → its last sound), with
    the agent audio the caller heard over the rest of that sentence (the overlap it caused)."""
    endpoints = [e.t_ms for e in result.events if isinstance(e, ev.EndpointDecided)]
    out = []
    for action in caller.actions:
        if action.kind not in ("say", "say_wav") or action.onset_ms is None:
            continue
        speech_end = action.speech_end_ms
        if speech_end is None:
            continue
        # (the agent decides on audio that reached it after the uplink: an endpoint stamped
        # before the caller's last sound is certainly early)
        early = [t for t in endpoints if action.onset_ms < t < speech_end - FRAME_MS]
        if not early:
            continue
        first = early[0]
        overlap = sum(
            max(0.0, min(end, speech_end) - max(start, first)) for start, end in caller.agent_heard
        )
        out.append(PrematureEndpoint(action.step, first, speech_end, overlap))
    return out


def barge_in_stop_times(logs: Iterable[CallerLog]) -> list[float]:
    """Every measured barge-in stop time (ms) in these calls, for suite percentiles."""
    return [
        i.stop_ms
        for caller in logs
        for i in caller.interjections
        if i.kind == "barge_in" and i.stop_ms is not None and i.agent_audible_at_onset
    ]
