"""Deciding when the caller's turn is over.

Two modes, selectable per run:

- **silence**: the turn ends after N ms without speech (default 500 ms) — simple and slow.
- **semantic**: the wait depends on how complete the words so far are. A complete question
  ("what are your opening hours") ends after a short silence (default 160 ms); a short answer
  ("yes", "okay") waits a little longer (300 ms), since it often goes on ("yes, that's right");
  a sentence that is obviously unfinished ("I want to…") waits much longer (default 900 ms, the
  maximum wait); anything in between waits a middle amount (default 400 ms).

Both are fed one verdict per 20 ms frame (speech or not, from the VAD) and the recogniser's
latest partial hypothesis. The decision carries a human label naming the setting that owned the
wait, which the waterfall shows as the lane's owner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Completeness = Literal["complete", "short answer", "unsure", "incomplete"]

# A turn that stops on one of these words is almost certainly unfinished.
_DANGLING_WORDS = frozenset(
    """to and or but the a an my our your their his her its i i'm im is are was were am be of
    for with about because so if um uh er erm like want need would could can should will what
    when where how which who that at in on from this these those than then just also
    number is it's wait actually sorry so well hmm hold excuse hey""".split()
)
_QUESTION_STARTS = frozenset(
    "what when where how why who which can could do does did is are will would may should".split()
)
_SHORT_COMPLETE = frozenset(
    """yes yeah yep no nope okay ok sure thanks thank bye goodbye correct right exactly perfect
    great fine please hello hi""".split()
)
# Words that announce an infinitive whose object follows ("I'd like to book | a demo").
_WANTING = frozenset("want wants wanted like need needs trying try going".split())
_DIGIT_WORDS = frozenset("zero oh one two three four five six seven eight nine".split())


def judge_completeness(text: str) -> Completeness:
    """How finished do these words sound? Cheap, deterministic text rules."""
    words = re.findall(r"[a-z']+|\d+", text.lower())
    if not words:
        return "unsure"
    last = words[-1]
    if last in _DANGLING_WORDS:
        return "incomplete"
    if len(words) >= 3 and words[-2] == "to" and _WANTING.intersection(words[:-2]):
        # "I'd like to book", "I want to cancel": what is wanted comes next
        return "incomplete"
    if last in _DIGIT_WORDS or last.isdigit():
        return "unsure"  # people pause inside phone and card numbers
    if len(words) <= 2:
        # "Yes." is complete, but often the start of "Yes, that's right": wait a little longer.
        return "short answer" if all(w in _SHORT_COMPLETE for w in words) else "unsure"
    if words[0] in _QUESTION_STARTS or len(words) >= 4:
        return "complete"
    return "unsure"


@dataclass(frozen=True)
class EndpointDecision:
    silence_ms: float
    wait_ms: float
    label: str  # the owner shown in the waterfall, e.g. "endpointing wait [silence 500 ms]"
    reason: str


class SilenceEndpointer:
    mode = "silence"

    def __init__(self, silence_ms: float = 500.0) -> None:
        self.silence_ms = silence_ms
        self.setting = f"silence {silence_ms:.0f} ms"

    def wait_ms(self, partial_text: str) -> float:
        """The silence after which the turn would end, given the words so far."""
        return self.silence_ms

    def decide(self, silence_ms: float, partial_text: str) -> EndpointDecision | None:
        if silence_ms + 1e-9 < self.silence_ms:
            return None
        return EndpointDecision(
            silence_ms,
            self.silence_ms,
            f"endpointing wait [{self.setting}]",
            f"{silence_ms:.0f} ms of silence",
        )


class SemanticEndpointer:
    mode = "semantic"

    def __init__(
        self,
        complete_ms: float = 160.0,
        short_answer_ms: float = 300.0,
        unsure_ms: float = 400.0,
        max_wait_ms: float = 900.0,
    ) -> None:
        self.waits: dict[Completeness, float] = {
            "complete": complete_ms,
            "short answer": short_answer_ms,
            "unsure": unsure_ms,
            "incomplete": max_wait_ms,
        }
        self.setting = (
            f"semantic {complete_ms:.0f}/{short_answer_ms:.0f}/{unsure_ms:.0f}/{max_wait_ms:.0f} ms"
        )

    def wait_ms(self, partial_text: str) -> float:
        """The silence after which the turn would end, given the words so far."""
        return self.waits[judge_completeness(partial_text)]

    def decide(self, silence_ms: float, partial_text: str) -> EndpointDecision | None:
        verdict = judge_completeness(partial_text)
        wait = self.waits[verdict]
        if silence_ms + 1e-9 < wait:
            return None
        return EndpointDecision(
            silence_ms,
            wait,
            f"endpointing wait [semantic: {verdict} → {wait:.0f} ms]",
            f"words sound {verdict} ({partial_text!r}); {silence_ms:.0f} ms of silence",
        )


def make_endpointer(
    mode: str, silence_ms: float = 500.0, complete_ms: float = 160.0
) -> SilenceEndpointer | SemanticEndpointer:
    if mode == "silence":
        return SilenceEndpointer(silence_ms)
    if mode == "semantic":
        return SemanticEndpointer(complete_ms=complete_ms)
    from workbench.errors import ConfigError

    raise ConfigError(f"unknown endpointing mode {mode!r} (choose: silence, semantic)")
