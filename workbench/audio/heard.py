"""What counts as *heard*: the one definition of an audible sample, used by every face that
measures "the caller's last speech to the agent's first audible audio" (the engine's observer,
the server's call bridge, the Twilio-faithful client, the scenario callers, the Locust caller).

A sample louder than `AUDIBLE_THRESHOLD` (about −40 dBFS of 16-bit audio) is audible: quiet
enough that the leading hiss of a TTS voice or a µ-law codec's idle noise is not, loud enough
that the first syllable of speech is.
"""

from __future__ import annotations

import numpy as np

from workbench.audio.codec import ulaw_decode

AUDIBLE_THRESHOLD = 300
# A caller takes the agent's reply as over after this much quiet at the ear (the agent's own
# pauses between sentences are shorter); every caller — scripted, scenario, Twilio-side,
# Locust — waits this long before it answers, and a tracker of overlaps starts a new reply
# after it.
REPLY_GAP_MS = 600.0


def audible_span(pcm: np.ndarray, threshold: int = AUDIBLE_THRESHOLD) -> tuple[int, int] | None:
    """(first, last) audible sample indices of 16-bit `pcm`, or None if nothing is audible."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > threshold)
    return (int(loud[0]), int(loud[-1])) if loud.size else None


def first_audible_index(pcm: np.ndarray, threshold: int = AUDIBLE_THRESHOLD) -> int | None:
    """The index of the first audible sample of `pcm`, or None if none is."""
    span = audible_span(pcm, threshold)
    return None if span is None else span[0]


def last_audible_index(pcm: np.ndarray, threshold: int = AUDIBLE_THRESHOLD) -> int | None:
    """The index of the last audible sample of `pcm`, or None if none is."""
    span = audible_span(pcm, threshold)
    return None if span is None else span[1]


# For callers that look at µ-law bytes without decoding them (the Locust caller at hundreds of
# calls): byte -> 1 if it decodes to an audible sample, for `bytes.translate`.
AUDIBLE_ULAW_TABLE = bytes(
    1 if abs(int(ulaw_decode(bytes([b]))[0])) > AUDIBLE_THRESHOLD else 0 for b in range(256)
)


def ulaw_audible_span(payload: bytes) -> tuple[int, int] | None:
    """(first, last + 1) audible sample of µ-law bytes (end exclusive, as a slice), or None
    when all is quiet."""
    marks = payload.translate(AUDIBLE_ULAW_TABLE)
    first = marks.find(1)
    if first < 0:
        return None
    return first, marks.rfind(1) + 1


def ulaw_is_audible(payload: bytes) -> bool:
    """Whether any byte of µ-law `payload` decodes to an audible sample."""
    return 1 in payload.translate(AUDIBLE_ULAW_TABLE)
