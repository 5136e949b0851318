"""What a Locust call sends and records: caller speech pre-encoded once per process, the
measures of a barge-in or backchannel, and the state the pacer and receiver write.

Apart from `media_call.py` (the call's protocol and timing) because these are plain records,
shared with the call script (`call_script.py`) that prepares the speech and reads the measures.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np
from greenlet_pacer import FRAME_S

from workbench.audio.codec import ulaw_encode
from workbench.audio.frames import FRAME_BYTES, FRAME_SAMPLES
from workbench.audio.heard import ulaw_audible_span
from workbench.engine.caller import interruption_onset_index


@dataclass(frozen=True)
class EncodedUtterance:
    """Caller speech pre-encoded for sending: base64 frames and where the speech lies in them."""

    text: str
    frames: tuple[str, ...]
    onset_ms: float  # first audible sample, from the utterance's start
    end_ms: float  # end of the last audible sample
    # Where an interruption proper begins ("Yeah, | but…": after the acknowledgement's pause),
    # from the utterance's start; a barge-in's stop latency counts from here, as in scenarios.
    interruption_onset_ms: float | None = None

    @classmethod
    def from_pcm(cls, text: str, pcm8k: np.ndarray) -> EncodedUtterance:
        pcm = np.asarray(pcm8k, dtype=np.int16)
        pcm = np.concatenate([pcm, np.zeros((-len(pcm)) % FRAME_SAMPLES, np.int16)])
        ulaw = ulaw_encode(pcm)
        span = ulaw_audible_span(ulaw) or (0, len(ulaw))
        frames = tuple(
            base64.b64encode(ulaw[i : i + FRAME_BYTES]).decode("ascii")
            for i in range(0, len(ulaw), FRAME_BYTES)
        )
        proper = interruption_onset_index(pcm, text)
        interruption_onset = None if proper is None else max(proper / 8.0, span[0] / 8.0)
        return cls(text, frames, span[0] / 8.0, span[1] / 8.0, interruption_onset)

    @property
    def duration_ms(self) -> float:
        return len(self.frames) * FRAME_S * 1000.0


@dataclass
class InterjectionMeasure:
    """A barge-in or backchannel as the caller measured it (times on the call's schedule)."""

    kind: str
    onset_ms: float | None = None  # barge-ins: the interruption proper's onset
    sound_onset_ms: float | None = None  # the utterance's first audible sample
    last_agent_ms: float | None = None
    clear_ms: float | None = None
    stop_ms: float | None = None  # onset → end of the last agent audio heard after it
    # Why the measure does not apply (the agent was silent at the onset: nothing to stop or
    # to interrupt falsely); set instead of `stop_ms`, never as a 0 ms stop.
    not_applicable: str = ""


@dataclass
class CallState:
    """What happened on the call (written by the pacer and the receiver, read by the script)."""

    first_agent_audio_ms: float | None = None  # first audible agent sample played
    last_audible_end_ms: float | None = None
    run_onset_ms: float | None = None  # start of the agent's current speech run
    speech_end_ms: float | None = None  # end of the caller's latest utterance / key press
    reply_ms: float | None = None  # first audible agent sample after `speech_end_ms`
    awaiting_reply: bool = False
    # The agent was still talking when the caller stopped: its next sample continues that
    # speech, so the turn has no response latency (counted as not applicable, not timed).
    reply_not_applicable: str = ""
    clears_ms: list[float] = field(default_factory=list)
    interjection: InterjectionMeasure | None = None
    protocol_errors: list[str] = field(default_factory=list)
    closed_reason: str = ""
    closed_by_agent: bool = False
    media_received: int = 0
    marks_echoed: int = 0
