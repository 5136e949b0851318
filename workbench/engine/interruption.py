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
STOP_WORDS = frozenset("wait stop hold hang sorry excuse actually but pardon hey however".split())
# Short function words: what the recogniser makes of a mumbled "mm-hmm" or "I see" ("n i'm",
# "i'd be", "and the"). They say nothing about intent, so they are not counted as content.
WEAK_WORDS = frozenset(
    """a an the and or of to in at be am are is was i i'm i'd i'll you you'll it it's
    that this n m all""".split()
)


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z']+(?:-[a-z']+)?", text.lower())


def content_words(words: list[str]) -> list[str]:
    """The words that say what the caller wants: not acknowledgements, not function words."""
    return [w for w in words if w not in BACKCHANNEL_TOKENS and w not in WEAK_WORDS]


_OPENING_CLAUSE = re.compile(r"^\s*([^,;.!?\u2014\u2013]+)[,;.!?\u2014\u2013]+\s*(.*)$", re.S)


def leading_acknowledgement(text: str) -> str | None:
    """The acknowledgement an interruption opens with ("Yeah, but…" → "Yeah"), or None.

    The interruption proper begins after it: a judge that must let "yeah" pass (callers
    acknowledge all the time) cannot know before the next words that this one takes the turn.
    """
    match = _OPENING_CLAUSE.match(text)
    if match is None:
        return None
    head, rest = match.group(1).strip(), match.group(2)
    head_words = words_of(head)
    rest_words = words_of(rest)
    acknowledged = head_words and all(w in BACKCHANNEL_TOKENS for w in head_words)
    if acknowledged and any(w not in BACKCHANNEL_TOKENS for w in rest_words):
        return head
    return None


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict | None  # None: not yet decided
    reason: str


class InterruptionJudge:
    """Call `judge` with every new partial hypothesis of one overlapping utterance (and
    `reset` before the next one): a streaming recogniser's first guess at a short word is often
    wrong ("okay" first heard as "book"), so a lone content word counts only once it has
    survived `stable_updates` hypotheses."""

    def __init__(
        self,
        *,
        min_speech_ms: float = 120.0,
        content_word_ms: float = 500.0,
        max_backchannel_ms: float = 800.0,
        stable_updates: int = 2,
        short_word_ms: float = 600.0,
        unsure_confidence: float = 0.6,
    ) -> None:
        self.short_word_ms = short_word_ms
        self.unsure_confidence = unsure_confidence
        self.min_speech_ms = min_speech_ms
        self.content_word_ms = content_word_ms
        self.max_backchannel_ms = max_backchannel_ms
        self.stable_updates = stable_updates
        self.reset()

    def reset(self) -> None:
        self._last_partial = ""
        self._seen: dict[str, int] = {}  # word -> hypotheses it has appeared in

    def judge(
        self, partial: str, speech_ms: float, *, after_acknowledgement_ms: float | None = None
    ) -> Judgement:
        """A verdict while the caller is still speaking (None until the evidence suffices).

        `after_acknowledgement_ms`: this speech began that soon after an acknowledgement the
        caller made over the agent. "Yeah, … but" is how callers take the turn, and the words
        after the pause are the ones the recogniser hears worst ("but" as "oh"): the timing
        decides, as soon as it is speech.
        """
        words = words_of(partial)
        if partial != self._last_partial:
            self._last_partial = partial
            for word in set(words):
                self._seen[word] = self._seen.get(word, 0) + 1
        if speech_ms < self.min_speech_ms:
            return Judgement(None, "too short to judge")
        if after_acknowledgement_ms is not None:
            return Judgement(
                "barge_in",
                f"went on {after_acknowledgement_ms:.0f} ms after an acknowledgement",
            )
        stops = [w for w in words if w in STOP_WORDS]
        if stops:
            return Judgement("barge_in", f"stop word {stops[0]!r}")
        if speech_ms >= self.max_backchannel_ms:
            return Judgement(
                "barge_in", f"{speech_ms:.0f} ms of speech: too long to be an acknowledgement"
            )
        content = content_words(words)
        if len(content) >= 2:
            return Judgement("barge_in", f"content words {content[:3]}")
        stable = [w for w in content if self._seen.get(w, 0) >= self.stable_updates]
        if stable and speech_ms >= self.content_word_ms:
            return Judgement("barge_in", f"content word {stable[0]!r} held for {speech_ms:.0f} ms")
        if words:
            return Judgement(None, f"not yet clear ({' '.join(words)!r})")
        return Judgement(None, "no words yet")

    def judge_final(self, text: str, speech_ms: float, confidence: float = 1.0) -> Judgement:
        """The verdict once the caller has stopped, from the final transcript.

        A single short word the recogniser is unsure of is most likely an acknowledgement it
        misheard ("uh-huh" heard as "app"): callers do not interrupt with one mumbled word.
        """
        words = words_of(text)
        if not words:
            return Judgement("noise", f"{speech_ms:.0f} ms of sound with no words (a cough, noise)")
        if (
            len(words) == 1
            and speech_ms <= self.short_word_ms
            and confidence < self.unsure_confidence
            and words[0] not in STOP_WORDS
        ):
            return Judgement(
                "backchannel",
                f"one short word heard with low confidence ({words[0]!r}, {confidence:.2f})",
            )
        stops = [w for w in words if w in STOP_WORDS]
        if stops:
            return Judgement("barge_in", f"stop word {stops[0]!r}")
        content = content_words(words)
        if content:
            return Judgement("barge_in", f"content words {content[:3]}")
        return Judgement("backchannel", f"only acknowledgement words ({' '.join(words)!r})")
