"""`GoalCaller`: a `ScriptedCaller` that, once its steps have run, answers the agent by a goal's
rules (`persona.py` describes the format and the choice of rule)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from workbench.engine import events as ev
from workbench.scenario import schema as sc
from workbench.scenario.caller import ScriptedCaller
from workbench.scenario.persona import Goal, choose_rule

WORDS_WAIT_MS = 8000.0  # over the wire: how long to wait for the ear's words of a reply


class GoalCaller(ScriptedCaller):
    """Follows its steps, then answers each reply with the line of the rule that matched it.

    `words_pending()` (set by a transport whose words come from the caller's ear) says the
    ear is still transcribing what was heard: the caller waits for those words, up to
    `WORDS_WAIT_MS`, before it chooses its answer. `answers` records each choice."""

    def __init__(
        self, steps: Any, render: Callable[[str], np.ndarray], goal: Goal, **options: Any
    ) -> None:
        super().__init__(steps, render, **options)
        self.goal = goal
        self._goal_audio = {line: np.asarray(render(line), np.int16) for line in goal.lines()}
        self._goal_turns = 0
        self._hang_up_next = False
        self._waiting_since: float | None = None
        self.words_pending: Callable[[], bool] = lambda: False
        self.answers: list[dict[str, str]] = []

    def _current(self, t_ms: float) -> Any:
        if not self._done and self._activity is None and self._index >= len(self.steps):
            self._next_goal_step(t_ms)
            if self._index >= len(self.steps):
                # No answer chosen yet (the reply goes on, or the ear's words are still to
                # come): keep listening — the base caller would take the script as over.
                return None
        return super()._current(t_ms)

    def _next_goal_step(self, t_ms: float) -> None:
        if not self._reply_finished(t_ms):
            self._waiting_since = None
            return
        reply = self._reply_text()
        waiting = self.words_pending() or (not reply and self._heard_since(self._listen_from))
        if waiting:
            if self._waiting_since is None:
                self._waiting_since = t_ms
            if t_ms - self._waiting_since < WORDS_WAIT_MS:
                return
        self._waiting_since = None
        if self._hang_up_next or self._goal_turns >= self.goal.max_turns:
            self.steps.append(sc.HangUpStep(hang_up=True))
            return
        rule = choose_rule(self.goal.rules, reply)
        line = rule.answer(reply) if rule is not None else self.goal.otherwise
        self.answers.append(
            {"agent": reply, "rule": rule.when if rule else "otherwise", "said": line}
        )
        self._hang_up_next = bool(rule and rule.hang_up)
        self._goal_turns += 1
        self._audio[len(self.steps)] = self._goal_audio[line]
        self.steps.append(sc.SayStep(say=line))

    def _reply_text(self) -> str:
        """What the agent said since the caller's last action: its reply sentences (engine
        events, in process), else the caller's ear's words (over the wire)."""
        since = self._last_action_start
        recent = [e for e in self._events if e.t_ms >= since]
        sentences = [s for e in recent if isinstance(e, ev.ResponseStarted) for s in e.sentences]
        if not sentences:
            sentences = [e.text for e in recent if isinstance(e, ev.AgentAudioStarted)]
        return " ".join(s for s in sentences if s)
