"""What the responder hands back for a turn (`Reply`, `Action`) and the draft it fills.

Apart from the responder because every room writes into the same `ReplyDraft`, and the engine,
the LLM responder and the UI read `Reply` without caring how it was decided.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from workbench.agent.conversation import Conversation
from workbench.agent.definition import UNKNOWN_TOPIC
from workbench.agent.speakable import redact_cards, split_sentences

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Action:
    """Something the agent did (or asked a back-office system to do) during a turn."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """What the agent says and does in answer to one turn.

    `sentences` are spoken in order (the TTS streams them one by one); `routing` is decided only
    on the last reply of a call ("ai_resolved", "human" or "workflow"; None while it goes on).
    """

    sentences: tuple[str, ...]
    routing: str | None = None
    actions: tuple[Action, ...] = ()
    plan: str = ""
    end_call: bool = False
    topic: str = UNKNOWN_TOPIC


@dataclass
class ReplyDraft:
    """The reply being built during a turn: what to say, what was done, and why (`notes`)."""

    topic: str
    sentences: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    routing: str | None = None
    end_call: bool = False

    def say(self, *texts: str) -> None:
        for text in texts:
            self.sentences.extend(split_sentences(text))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def finish(self, conv: Conversation) -> Reply:
        """The finished `Reply`; the conversation remembers it (history, "say that again")."""
        sentences = tuple(redact_cards(s) for s in self.sentences)
        if sentences and not any(n.startswith(("repeat", "hold on")) for n in self.notes):
            conv.last_reply = sentences
        conv.history.append(("agent", " ".join(sentences)))
        log.debug("reply [%s]: %s", self.topic, "; ".join(self.notes))
        return Reply(
            sentences,
            self.routing,
            tuple(self.actions),
            "; ".join(self.notes),
            self.end_call,
            self.topic,
        )
