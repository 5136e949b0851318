"""Turn records: the agent-side checkpoints of each turn's critical path.

Apart from the session because they outlive it: drivers, the observer and the trace read them
after the call to build the caller-perceived `TurnTimeline`, and none of them needs the state
machine that wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.engine.trace import Span


@dataclass
class TurnRecord:
    """Agent-side checkpoints of one turn's critical path (absolute call-clock times)."""

    turn: int
    caller_text: str = ""
    endpoint_at: float | None = None
    endpoint_label: str = ""
    checkpoints: list[tuple[str, str, float]] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    first_frame_sent_at: float | None = None
    first_frame_kind: str = ""
    agent_sentences: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    understanding: Any = None
    chunks: tuple[Any, ...] = ()
    reply: Any = None

    def checkpoint(self, lane: str, t_ms: float) -> None:
        """A stage of the critical path finished at `t_ms` (its waterfall lane)."""
        self.checkpoints.append((lane, "stage", t_ms))
