"""The interruption judge: is the caller talking over the agent, or just saying "uh-huh"?

Callers acknowledge while they listen ("yeah", "right", "mm-hmm"); stopping the agent for
those is a *false interruption* and makes the conversation stutter. Callers also interrupt for
real ("wait, what about…", "yeah, but…"), and then the agent must stop at once. A bare word
list cannot tell these apart — "yeah" starts both — so the judge weighs three things as the
caller's speech unfolds:

- **the words** of the recogniser's partial hypothesis: acknowledgement tokens, stop words
  ("wait", "but", "actually"…) that mean an interruption at once, and content words;
- **their duration**: an acknowledgement is short; speech that goes on past `max_backchannel_ms`
  is an interruption whatever it says;
- **their timing**: how far into the agent's speech the caller started, reported with the verdict.

It is asked every frame while the caller speaks over the agent (`judge`), and once more with the
final transcript when the caller stops (`judge_final`), which settles anything left undecided
and reveals, after the fact, a stop that was caused by an acknowledgement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["barge_in", "backchannel", "noise"]

BACKCHANNEL_TOKENS = frozenset(
    """uh huh uh-huh mm hmm mm-hmm mhm hm um yeah yes yep yup ya right okay ok sure alright
    got it i see cool great nice ah oh aha exactly true totally gotcha understood perfect fine
    good thanks thank you""".split()
)
STOP_WORDS = frozenset(
    """wait stop hold hang sorry excuse actually but no nope pardon what why how sorry hey
    however although""".split()
)


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z']+(?:-[a-z']+)?", text.lower())


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict | None  # None: not yet decided
    reason: str


class InterruptionJudge:
    def __init__(
        self,
        *,
        min_speech_ms: float = 120.0,
        content_word_ms: float = 200.0,
        max_backchannel_ms: float = 900.0,
    ) -> None:
        self.min_speech_ms = min_speech_ms
        self.content_word_ms = content_word_ms
        self.max_backchannel_ms = max_backchannel_ms

    def judge(self, partial: str, speech_ms: float) -> Judgement:
        """A verdict while the caller is still speaking (None until the evidence suffices)."""
        if speech_ms < self.min_speech_ms:
            return Judgement(None, "too short to judge")
        words = words_of(partial)
        stops = [w for w in words if w in STOP_WORDS]
        if stops:
            return Judgement("barge_in", f"stop word {stops[0]!r}")
        if speech_ms >= self.max_backchannel_ms:
            return Judgement(
                "barge_in", f"{speech_ms:.0f} ms of speech: too long to be an acknowledgement"
            )
        content = [w for w in words if w not in BACKCHANNEL_TOKENS]
        if len(content) >= 2:
            return Judgement("barge_in", f"content words {content[:3]}")
        if content and speech_ms >= self.content_word_ms:
            return Judgement("barge_in", f"content word {content[0]!r} after {speech_ms:.0f} ms")
        if words:
            return Judgement(None, f"acknowledgement so far ({' '.join(words)!r})")
        return Judgement(None, "no words yet")

    def judge_final(self, text: str, speech_ms: float) -> Judgement:
        """The verdict once the caller has stopped, from the final transcript."""
        words = words_of(text)
        if not words:
            return Judgement("noise", f"{speech_ms:.0f} ms of sound with no words (a cough, noise)")
        live = self.judge(text, max(speech_ms, self.min_speech_ms))
        if live.verdict == "barge_in":
            return live
        return Judgement("backchannel", f"only acknowledgement words ({' '.join(words)!r})")
