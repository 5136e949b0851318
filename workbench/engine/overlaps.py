"""Each caller sound over agent speech, judged from what the caller heard (`outcomes.classify`).

The local driver records every agent frame that reached the caller's ear (`HeardFrame`: when,
which reply and sentence, the end of its audible sound). A caller that knows its own intent (a
scripted caller, a labelled line) says when each of its sounds began and what it meant;
`overlap_outcomes` then finds, for each, the silence the agent fell into and whether the same
reply was heard again after it, and hands those caller-side times to `outcomes.classify`.

A silence counts as the agent's stop only when the agent really paused or stopped for the
caller (an `AgentPaused` or an interrupted `AgentAudioStopped` after the onset): a talk-over
policy's own quiet moments between sentences are not stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workbench.engine import events as ev
from workbench.engine.outcomes import Intent, OverlapOutcome, classify

# A gap in the agent frames the caller heard this long is a silence, not concealed loss.
GAP_MS = 100.0
# The agent's pause or stop belongs to a caller sound that ended at most this long before it
# (the endpoint and the final pass come after the caller's last word).
DECISION_WINDOW_MS = 3000.0


@dataclass(frozen=True)
class HeardFrame:
    """One agent frame as it reached the caller's ear."""

    t_ms: float  # when it began to play
    turn: int
    sentence_index: int
    text: str
    audible_end_ms: float | None  # end of its last audible sample (None: silent frame)


@dataclass(frozen=True)
class CallerSound:
    """A sound the caller made over the agent, with what it meant."""

    intent: Intent
    onset_ms: float  # where the stop latency counts from (an interruption proper's onset)
    speech_end_ms: float | None = None


def overlap_outcomes(
    heard: Sequence[HeardFrame], events: Sequence[ev.Event], sounds: Sequence[CallerSound]
) -> list[OverlapOutcome]:
    """One `OverlapOutcome` per caller sound (see the module docstring)."""
    return [_one(heard, events, sound) for sound in sounds]


def _one(
    heard: Sequence[HeardFrame], events: Sequence[ev.Event], sound: CallerSound
) -> OverlapOutcome:
    onset = sound.onset_ms
    until = (sound.speech_end_ms or onset) + DECISION_WINDOW_MS
    acted = next(
        (
            e
            for e in events
            if onset <= e.t_ms <= until
            and (
                isinstance(e, ev.AgentPaused)
                or (isinstance(e, ev.AgentAudioStopped) and e.reason == "interrupted")
            )
        ),
        None,
    )
    if acted is None:
        return classify(
            intent=sound.intent,
            onset_ms=onset,
            last_heard_before_ms=None,
            heard_again_ms=None,
            reply_went_on=False,
        )
    # The first silence in what the caller heard that ends after the agent acted: the audio
    # before it was sent before the pause (it was still on its way), the audio after it since.
    frames = sorted(heard, key=lambda f: f.t_ms)
    silence_at = len(frames)  # index of the first frame after the silence (none: never again)
    for i in range(1, len(frames)):
        if frames[i].t_ms > acted.t_ms and frames[i].t_ms - frames[i - 1].t_ms > GAP_MS:
            silence_at = i
            break
    last_before = max(
        (
            f.audible_end_ms
            for f in frames[:silence_at]
            if f.audible_end_ms is not None and f.audible_end_ms > onset
        ),
        default=onset,  # the agent was already quiet at the onset
    )
    heard_again = next((f for f in frames[silence_at:] if f.audible_end_ms is not None), None)
    went_on = heard_again is not None and _resumed_after(events, acted)
    return classify(
        intent=sound.intent,
        onset_ms=onset,
        last_heard_before_ms=last_before,
        heard_again_ms=heard_again.t_ms if heard_again is not None and went_on else None,
        reply_went_on=went_on,
    )


def _resumed_after(events: Sequence[ev.Event], acted: ev.Event) -> bool:
    """Did the agent go on with the reply it paused or stopped (before any other reply)?"""
    cut_reply = None
    for event in events:
        if event.t_ms < acted.t_ms:
            if isinstance(event, ev.ResponseStarted):
                cut_reply = event
            continue
        if isinstance(event, ev.AgentResumed):
            return True
        if isinstance(event, ev.ResponseStarted):
            # A stopped reply resumed speaks the rest of the cut reply as a reply of its own,
            # from the start of the piece it was cut in: cut in its first piece, it restarts.
            restarted = (
                cut_reply is not None
                and bool(event.sentences)
                and event.sentences[0] == cut_reply.sentences[0]
            )
            return event.plan.startswith("resume after") and not restarted
    return False
