"""Per-turn latency as the caller hears it: lanes that add up, spans that may overlap.

A `TurnTimeline` runs from the caller's last speech sample (at the caller's mouth) to the
first audible agent sample at the caller's ear. It is built from checkpoints along that
critical path, so its `lanes` are contiguous and sum exactly to `total_ms`; each lane names
its owner — a stage ("STT finalisation"), a setting ("endpointing wait [silence 500 ms]") or
the network. `spans` are every stage's own start and duration, including work that ran in
parallel with the critical path (topic classification beside retrieval), for the detailed
trace. A checkpoint earlier than its predecessor is a bug in whoever recorded it, and is
refused rather than drawn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OWNER_KINDS = ("network", "setting", "stage", "playout", "voice")


@dataclass(frozen=True)
class Lane:
    """One contiguous piece of a turn's latency and who owns it."""

    name: str
    owner_kind: str  # one of OWNER_KINDS
    start_ms: float  # relative to the caller's last speech sample
    duration_ms: float


@dataclass(frozen=True)
class Span:
    """A stage's work: absolute start (call clock) and duration; spans may overlap."""

    stage: str
    start_ms: float
    duration_ms: float
    detail: str = ""

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True)
class TurnTimeline:
    """A turn's caller-perceived latency, its lanes and its stage spans."""

    turn: int
    caller_text: str
    agent_text: str
    origin_ms: float  # the caller's last speech sample, call clock
    lanes: tuple[Lane, ...]
    spans: tuple[Span, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def total_ms(self) -> float:
        return sum(lane.duration_ms for lane in self.lanes)

    @property
    def heard_at_ms(self) -> float:
        return self.origin_ms + self.total_ms

    def lane(self, name_prefix: str) -> Lane | None:
        return next((lane for lane in self.lanes if lane.name.startswith(name_prefix)), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_ms"] = self.total_ms
        return data


class TimelineError(ValueError):
    """Checkpoints out of order: the trace would have a gap or an overlap nobody owns."""


@dataclass
class TimelineBuilder:
    """Collects the checkpoints of one turn's critical path, in order.

    `origin_ms` is the caller's last speech sample. Each `reach(name, owner_kind, t_ms)` closes
    the lane that ends at `t_ms`. Lanes of zero length are kept (they document the path).
    """

    turn: int
    origin_ms: float
    caller_text: str = ""
    agent_text: str = ""
    _checkpoints: list[tuple[str, str, float]] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reach(self, name: str, owner_kind: str, t_ms: float) -> None:
        if owner_kind not in OWNER_KINDS:
            raise ValueError(f"unknown owner kind {owner_kind!r}")
        previous = self._checkpoints[-1][2] if self._checkpoints else self.origin_ms
        if t_ms < previous - 1e-9:
            raise TimelineError(
                f"turn {self.turn}: lane {name!r} ends at {t_ms:.3f} ms, before the previous "
                f"checkpoint at {previous:.3f} ms"
            )
        self._checkpoints.append((name, owner_kind, t_ms))

    def build(self) -> TurnTimeline:
        lanes = []
        previous = self.origin_ms
        for name, owner_kind, t_ms in self._checkpoints:
            lanes.append(Lane(name, owner_kind, previous - self.origin_ms, t_ms - previous))
            previous = t_ms
        return TurnTimeline(
            turn=self.turn,
            caller_text=self.caller_text,
            agent_text=self.agent_text,
            origin_ms=self.origin_ms,
            lanes=tuple(lanes),
            spans=tuple(self.spans),
            notes=tuple(self.notes),
        )


def chrome_trace(timelines: Iterable[TurnTimeline], call_id: str = "call") -> dict[str, Any]:
    """Chrome trace-event JSON (opens in Perfetto / chrome://tracing): lanes and spans."""
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": f"call {call_id}"}},
        {
            "ph": "M",
            "pid": 1,
            "tid": 1,
            "name": "thread_name",
            "args": {"name": "caller-perceived"},
        },
        {"ph": "M", "pid": 1, "tid": 2, "name": "thread_name", "args": {"name": "stages"}},
    ]
    for timeline in timelines:
        for lane in timeline.lanes:
            events.append(
                {
                    "ph": "X",
                    "pid": 1,
                    "tid": 1,
                    "name": lane.name,
                    "cat": lane.owner_kind,
                    "ts": round((timeline.origin_ms + lane.start_ms) * 1000.0, 3),
                    "dur": round(lane.duration_ms * 1000.0, 3),
                    "args": {"turn": timeline.turn},
                }
            )
        for span in timeline.spans:
            events.append(
                {
                    "ph": "X",
                    "pid": 1,
                    "tid": 2,
                    "name": span.stage,
                    "cat": "stage",
                    "ts": round(span.start_ms * 1000.0, 3),
                    "dur": round(span.duration_ms * 1000.0, 3),
                    "args": {"turn": timeline.turn, "detail": span.detail},
                }
            )
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def write_chrome_trace(path: str | Path, timelines: Iterable[TurnTimeline], call_id: str) -> None:
    Path(path).write_text(json.dumps(chrome_trace(timelines, call_id)))


LANE_STYLES = {
    "network": "cyan",
    "setting": "yellow",
    "stage": "green",
    "playout": "magenta",
    "voice": "blue",
}


def render_waterfall(timeline: TurnTimeline, width: int = 30):
    """A rich Table drawing one turn's lanes as bars on a shared scale."""
    from rich.table import Table
    from rich.text import Text

    total = max(timeline.total_ms, 1e-9)
    table = Table(
        title=f"turn {timeline.turn}: {timeline.total_ms:.0f} ms caller-perceived",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("lane", overflow="fold", min_width=24)
    table.add_column("ms", justify="right")
    table.add_column("", no_wrap=True, min_width=width)
    for lane in timeline.lanes:
        start = int(round(lane.start_ms / total * width))
        length = max(1 if lane.duration_ms > 0 else 0, int(round(lane.duration_ms / total * width)))
        bar = Text(" " * start)
        bar.append("█" * length, style=LANE_STYLES.get(lane.owner_kind, "white"))
        table.add_row(lane.name, f"{lane.duration_ms:.1f}", bar)
    return table
