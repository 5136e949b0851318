"""What became of each time the caller's voice started while the agent was speaking.

One vocabulary, measured at the caller, for every face (engine, scenario reports,
`workbench call`, the Locust harness, `bench judge`, the GUI's transcript markers):

- **stop latency**: the caller's voice onset → the last agent audio the caller heard
  (None when the agent never stopped);
- **yielded**: the agent gave the turn to the caller (a real interruption);
- **resumed**: the agent paused, then went on with the same reply from where it was cut;
  its **resume gap** is the agent silence the caller's sound caused (last audio heard before
  the pause → first audio heard after it);
- **abandoned reply**: the caller only acknowledged (or coughed, or it was noise) and it
  cost the agent its reply: dropped, or restarted from the beginning;
- **talked over**: the agent never stopped (right for an acknowledgement under a talk-over
  policy, wrong for an interruption).

Whether the caller's sound was an interruption or an acknowledgement is the caller's
intent (known to a scripted caller, a labelled line or a scenario), not the agent's
decision; `classify` takes it as an argument so every face judges the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from workbench.stats import percentile

Outcome = Literal["yielded", "resumed", "abandoned_reply", "talked_over"]
Intent = Literal["interruption", "acknowledgement", "noise"]

OUTCOMES: tuple[Outcome, ...] = ("yielded", "resumed", "abandoned_reply", "talked_over")


@dataclass(frozen=True)
class OverlapOutcome:
    """One caller sound over agent speech and what the agent did about it (times in ms)."""

    intent: Intent
    outcome: Outcome
    onset_ms: float
    stop_latency_ms: float | None = None
    resume_gap_ms: float | None = None

    @property
    def correct(self) -> bool:
        """An interruption must be yielded to; anything else must not cost the reply."""
        if self.intent == "interruption":
            return self.outcome == "yielded"
        return self.outcome in ("resumed", "talked_over")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def classify(
    *,
    intent: Intent,
    onset_ms: float,
    last_heard_before_ms: float | None,
    heard_again_ms: float | None,
    reply_went_on: bool,
) -> OverlapOutcome:
    """Judge one overlap from what the caller heard.

    `last_heard_before_ms`: the last agent audio heard after the onset before a silence
    (None when the agent's audio never stopped). `heard_again_ms`: when the same reply was
    heard again after that silence (None if it never was). `reply_went_on`: the audio heard
    again continued the reply from the cut (False when it restarted from the beginning).
    """
    if last_heard_before_ms is None:
        return OverlapOutcome(intent, "talked_over", onset_ms)
    stop = max(0.0, last_heard_before_ms - onset_ms)
    if heard_again_ms is not None and reply_went_on:
        gap = max(0.0, heard_again_ms - last_heard_before_ms)
        return OverlapOutcome(intent, "resumed", onset_ms, stop, gap)
    if intent == "interruption":
        return OverlapOutcome(intent, "yielded", onset_ms, stop)
    # An acknowledgement or noise silenced the reply for good, or made it start over.
    return OverlapOutcome(intent, "abandoned_reply", onset_ms, stop)


def _p(values: Sequence[float], q: float) -> float | None:
    """The linear percentile, unrounded; None for no values."""
    return percentile(values, q) if values else None


def summarise(outcomes: Iterable[OverlapOutcome]) -> dict[str, object]:
    """Counts per outcome and intent, stop latency of interruptions, resume gaps (p50/p95)."""
    items = list(outcomes)
    interruptions = [o for o in items if o.intent == "interruption"]
    others = [o for o in items if o.intent != "interruption"]
    stops = [o.stop_latency_ms for o in interruptions if o.stop_latency_ms is not None]
    gaps = [o.resume_gap_ms for o in items if o.resume_gap_ms is not None]
    return {
        "overlaps": len(items),
        "counts": {name: sum(o.outcome == name for o in items) for name in OUTCOMES},
        "interruptions": len(interruptions),
        "yielded": sum(o.outcome == "yielded" for o in interruptions),
        "acknowledgements_and_noise": len(others),
        "abandoned_replies": sum(o.outcome == "abandoned_reply" for o in others),
        "stop_latency_ms": {"p50": _p(stops, 50), "p95": _p(stops, 95), "n": len(stops)},
        "resume_gap_ms": {"p50": _p(gaps, 50), "p95": _p(gaps, 95), "n": len(gaps)},
    }
