"""Stage work: what the call session asks drivers to run, and the ledger of what is pending.

Apart from the session because every room of it (the accurate ear, playout, barge-in handling)
asks for work and cancels it, and drivers read `StageWork` without needing the session. The
stage names are a `Literal`, so the session's dispatch table (a mapping from each stage to its
handler) is checked by pyright: a stage without a handler, or a misspelt one, is an error.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from workbench.engine import events as ev

Stage = Literal[
    "stt_final",  # the fast ear: the streaming recogniser closes the utterance, its words
    "stt_close",  # the accurate ear: the streaming recogniser closes the utterance
    "stt_pass",  # the accurate ear's final pass over the utterance's audio
    "classify",  # understanding: topic and entities
    "retrieve",  # understanding: knowledge chunks
    "respond",  # the reply (or greeting, no-input prompt, keypad reply)
    "respond_more",  # the next sentence of a streamed reply
    "tts_sentence",  # one piece of the reply, synthesised
    "tts_rephrase",  # "As I was saying, …" after a long pause
]


@dataclass(frozen=True)
class StageWork:
    """Work the session wants done: `run()` is called by the driver, its result delivered back."""

    work_id: int
    stage: Stage
    turn: int
    run: Callable[[], Any]
    tokens: int = 0  # words in a reply, for latency profiles with a token rate


Output = ev.Event | StageWork


def _none() -> None:
    return None


def settled(stage: Stage, turn: int) -> StageWork:
    """A stand-in for work that was not asked for (its result came another way), so a handler
    that takes work can be called with the turn it is for."""
    return StageWork(0, stage, turn, _none)


class WorkLedger:
    """The session's outstanding stage work, and the work whose results are no longer wanted."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.pending: dict[int, StageWork] = {}
        self.cancelled: set[int] = set()

    def new(self, stage: Stage, turn: int, run: Callable[[], Any], tokens: int = 0) -> StageWork:
        work = StageWork(next(self._ids), stage, turn, run, tokens)
        self.pending[work.work_id] = work
        return work

    def take(self, work_id: int) -> StageWork | None:
        """The work a result belongs to (None if unknown), no longer pending."""
        return self.pending.pop(work_id, None)

    def cancel_where(self, wanted: Callable[[StageWork], bool]) -> None:
        """Drop the results of the pending work `wanted` picks out, when they come."""
        self.cancelled.update(w for w, work in self.pending.items() if wanted(work))
