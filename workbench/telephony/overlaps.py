"""What became of each overlap, judged at the caller's ear: the one place both callers use.

`workbench call` (`client.MediaStreamClient`) and the Locust harness (`loadtests/media_call.py`)
feed an `OverlapTracker` the same three things — every 20 ms of agent audio as it plays, the
caller's voice onsets (with the caller's intent when it knows it), and every `clear` — and it
finds, for each onset over audible agent audio:

- whether and when the agent's audio stopped (a `clear`, or `STOP_GAP_MS` of quiet), and the
  last agent audio heard before that (stop latency);
- whether agent audio came back, when (resume gap), and what it was, by comparing its samples
  with what the caller already heard (`returned_as`):
  - `"reply start"`: its first 200 ms are the reply's first 200 ms — the reply restarted;
  - `"cut word"`: it begins with audio heard just before the stop — the reply went on from
    the start of the word it was cut in (re-sent from where it was cut, nothing lost);
  - `"new audio"`: neither. After an acknowledgement this is counted as the reply going on
    (a resume from a word boundary sounds like this); after an interruption it is the answer.
    A caller cannot tell a reply resumed at a word boundary from a new reply by its audio.

The outcome itself comes from `workbench.engine.outcomes.classify` (the one vocabulary), and
the report gives `summarise` plus the policy the caller observed ("pauses and resumes",
"clears on every onset, never resumes", "never stops", …).

Cheap per frame (Locust feeds it at 50 frames a second per call): a deque append and a few
comparisons; the sample comparisons run once per returned reply.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.audio.codec import ulaw_decode
from workbench.audio.heard import REPLY_GAP_MS  # after this much quiet: a new reply
from workbench.engine.outcomes import Intent, OverlapOutcome, classify, summarise

FRAME_MS = 20.0
BARGE_WINDOW_MS = 100.0  # agent audio this recent at the caller's onset: an overlap
STOP_GAP_MS = 400.0  # agent audio quiet this long after an onset (without a clear): stopped
TALK_OVER_MS = 2000.0  # agent audio still heard this long after an onset: it talked over
RESUME_WINDOW_MS = 5000.0  # audio later than this after the stop is not the paused reply
COMPARE_MS = 200.0  # how much of the returned audio is compared with the reply's start
HEAD_MS = 400.0  # how much of each reply's start is kept
HEARD_KEEP_MS = 1500.0  # how much of the audio heard before a stop is kept
CUT_NEEDLE_MS = 40.0  # the returned audio's first 40 ms, looked for in what was heard
MIN_COMPARE_MS = 40.0  # a return shorter than this is too short to compare
RESTART_MATCH = 0.9  # normalised correlation: the same audio as the reply's start
CUT_MATCH = 0.95  # ... as audio just heard (a short needle: a stricter match)
RESTART_LAG_SAMPLES = 160  # the two starts may differ by up to a frame

Resolve = Callable[[float], Intent | None]


@dataclass
class OverlapRecord:
    """One caller onset over audible agent audio, as the caller heard it (ms, call clock)."""

    onset_ms: float
    intent: Intent | None
    phase: str = "playing"  # playing | stopped | returned | closed
    last_heard_ms: float | None = None  # end of the last agent audio heard after the onset
    clear_ms: float | None = None  # the first `clear` after the onset
    stopped_by: str = ""  # "clear" | "quiet" (no clear)
    heard_again_ms: float | None = None
    returned_as: str | None = None  # "reply start" | "cut word" | "new audio"
    _returned: bytearray | None = None
    _heard_before: bytes = b""
    _reply_head: bytes = b""

    def as_dict(self) -> dict[str, Any]:
        return {
            "onset_ms": self.onset_ms,
            "intent": self.intent,
            "clear_ms": self.clear_ms,
            "stopped_by": self.stopped_by or None,
            "heard_again_ms": self.heard_again_ms,
            "returned_as": self.returned_as,
        }


class OverlapTracker:
    """Feed it what the caller heard and did; ask it for outcomes (see the module docstring)."""

    def __init__(self) -> None:
        self.records: list[OverlapRecord] = []
        self.unattributed_clears = 0  # clears that followed no onset the caller made
        self._last_audible: float | None = None
        self._head = bytearray()  # the current reply's start (from its first audible sample)
        self._heard: deque[bytes] = deque(maxlen=int(HEARD_KEEP_MS // FRAME_MS))
        self._open: OverlapRecord | None = None

    @property
    def awaiting_return(self) -> bool:
        """The agent's audio stopped for the caller's latest overlap and has not come back."""
        return self._open is not None and self._open.phase == "stopped"

    # ------------------------------------------------------------------ inputs

    def agent_frame(self, t_ms: float, ulaw: bytes, span: tuple[int, int] | None) -> None:
        """The agent audio the caller played in [t_ms, t_ms + 20) (`ulaw`; b"" for nothing)
        and its audible span (first, last + 1 sample) or None when quiet."""
        record = self._open
        if span is None:
            if self._last_audible is not None and t_ms - self._last_audible < REPLY_GAP_MS:
                self._heard.append(ulaw)
            if record is not None:
                self._quiet(record, t_ms + FRAME_MS)
            return
        first = t_ms + span[0] / 8.0
        last = t_ms + span[1] / 8.0
        if record is not None and record.phase == "stopped":
            assert record.last_heard_ms is not None
            if first - record.last_heard_ms > RESUME_WINDOW_MS:
                self._close(record)  # too late to be the paused reply
                record = None
            else:
                record.phase = "returned"
                record.heard_again_ms = first
                record._returned = bytearray(ulaw[span[0] :])
                self._last_audible = last
                self._heard.append(ulaw)
                return
        if record is not None and record.phase == "returned":
            assert record._returned is not None
            record._returned += ulaw
            if len(record._returned) >= COMPARE_MS * 8:
                self._judge_return(record)
        elif record is not None and record.phase == "playing":
            record.last_heard_ms = last
            if last - record.onset_ms > TALK_OVER_MS:
                record.last_heard_ms = None  # it talked on: a later end is the reply's own
                self._close(record)
        if record is None and (
            self._last_audible is None or first - self._last_audible >= REPLY_GAP_MS
        ):
            self._head = bytearray(ulaw[span[0] :])  # a new reply begins
            self._heard.clear()
        elif len(self._head) < HEAD_MS * 8:
            self._head += ulaw
        self._heard.append(ulaw)
        self._last_audible = last

    def caller_onset(self, t_ms: float, intent: Intent | None = None) -> None:
        """The caller's voice began at `t_ms`; `intent` when the caller knows what it meant."""
        record = self._open
        if record is not None:
            if record.phase == "stopped" and intent in ("acknowledgement", "noise"):
                return  # another sound while the agent waits: the same pause
            if record.phase == "returned":
                self._judge_return(record)
            elif record.phase == "playing":
                record.last_heard_ms = None  # it never stopped before this next onset
            self._close(record)
        audible = self._last_audible is not None and t_ms - self._last_audible <= BARGE_WINDOW_MS
        if audible:
            self._open = OverlapRecord(t_ms, intent)
            self.records.append(self._open)

    def clear(self, t_ms: float) -> None:
        """The agent sent `clear`: the caller's playout was emptied at `t_ms`."""
        record = self._open
        if record is None or record.phase != "playing":
            self.unattributed_clears += 1
            return
        record.clear_ms = t_ms
        self._stop(record, "clear")

    def finish(self, t_ms: float) -> None:
        """The call ended: settle what is still open."""
        record = self._open
        if record is None:
            return
        if record.phase == "playing":
            self._quiet(record, t_ms)
            if record.phase == "playing":
                record.last_heard_ms = None  # the agent was still talking when the call ended
        if record.phase == "returned":
            self._judge_return(record)
        self._close(record)

    # ------------------------------------------------------------------ results

    def outcomes(self, resolve: Resolve | None = None) -> list[OverlapOutcome]:
        """Each overlap classified; an intent the caller did not give comes from `resolve`
        (its onset → intent), else it counts as an interruption (the caller took the turn)."""
        out = []
        for record in self.records:
            intent = record.intent or (resolve(record.onset_ms) if resolve else None)
            intent = intent or "interruption"
            returned = record.returned_as
            if intent == "interruption":
                # What comes back after an interruption is the answer, unless it is the cut reply.
                again = record.heard_again_ms if returned == "cut word" else None
            else:
                again = record.heard_again_ms
            last = record.last_heard_ms
            if last is not None:
                last = max(last, record.onset_ms)
            out.append(
                classify(
                    intent=intent,
                    onset_ms=record.onset_ms,
                    last_heard_before_ms=last if record.stopped_by else None,
                    heard_again_ms=again,
                    reply_went_on=returned in ("cut word", "new audio"),
                )
            )
        return out

    def report(self, resolve: Resolve | None = None) -> dict[str, Any]:
        """`overlaps` (each outcome with what the caller saw), `summary`, `policy`."""
        outcomes = self.outcomes(resolve)
        items = [
            {**o.as_dict(), **{k: v for k, v in r.as_dict().items() if k not in o.as_dict()}}
            for o, r in zip(outcomes, self.records, strict=True)
        ]
        return {
            "overlaps": items,
            "summary": summarise(outcomes),
            "policy": observed_policy(outcomes, [r.clear_ms is not None for r in self.records]),
            "unattributed_clears": self.unattributed_clears,
        }

    # ------------------------------------------------------------------ internals

    def _quiet(self, record: OverlapRecord, now_ms: float) -> None:
        if record.phase == "playing":
            since = max(record.last_heard_ms or record.onset_ms, record.onset_ms)
            if now_ms - since >= STOP_GAP_MS:
                self._stop(record, "quiet")
        elif record.phase == "returned" and self._last_audible is not None:
            if now_ms - self._last_audible >= STOP_GAP_MS:
                self._judge_return(record)  # a short return: judged on what there is

    def _stop(self, record: OverlapRecord, how: str) -> None:
        record.phase = "stopped"
        record.stopped_by = how
        if record.last_heard_ms is None:
            record.last_heard_ms = record.onset_ms  # nothing more was heard after the onset
        record._heard_before = b"".join(self._heard)
        record._reply_head = bytes(self._head)

    def _judge_return(self, record: OverlapRecord) -> None:
        returned = bytes(record._returned or b"")
        record._returned = None
        record.returned_as = compare_return(returned, record._reply_head, record._heard_before)
        self._close(record)

    def _close(self, record: OverlapRecord) -> None:
        if record.phase != "returned":
            record._returned = None
        record.phase = "closed"
        record._heard_before = record._reply_head = b""
        if self._open is record:
            self._open = None


def compare_return(returned: bytes, reply_head: bytes, heard_before: bytes) -> str:
    """What the agent audio that came back is: "reply start", "cut word" or "new audio"."""
    if len(returned) < MIN_COMPARE_MS * 8:
        return "new audio"
    ret = ulaw_decode(returned[: int(COMPARE_MS * 8)]).astype(np.float64)
    head = ulaw_decode(reply_head).astype(np.float64)
    if len(head) >= len(ret):
        window = head[: len(ret) + RESTART_LAG_SAMPLES]
        if best_match(ret, window) >= RESTART_MATCH:
            return "reply start"
    heard = ulaw_decode(heard_before).astype(np.float64)
    needle = ret[: int(CUT_NEEDLE_MS * 8)]
    if len(heard) >= len(needle) and best_match(needle, heard) >= CUT_MATCH:
        return "cut word"
    return "new audio"


def best_match(needle: np.ndarray, haystack: np.ndarray) -> float:
    """The highest normalised correlation of `needle` with any same-length window of
    `haystack` (1.0: the same samples, up to a gain)."""
    n = len(needle)
    if n == 0 or len(haystack) < n:
        return 0.0
    dots = np.correlate(haystack, needle, mode="valid")
    energy = np.concatenate([[0.0], np.cumsum(haystack * haystack)])
    windows = energy[n:] - energy[:-n]
    norm = np.sqrt(np.maximum(windows, 0.0) * float(needle @ needle))
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(norm > 1e-9, dots / norm, 0.0)
    return float(scores.max()) if scores.size else 0.0


def summary_text(summary: dict[str, Any]) -> str:
    """`summarise`'s figures in one line (`workbench call`, `workbench load`)."""

    def ms(value: object) -> str:
        return "-" if value is None else f"{float(value):.0f} ms"  # type: ignore[arg-type]

    stop, gap = summary["stop_latency_ms"], summary["resume_gap_ms"]
    return (
        f"overlaps {summary['overlaps']}: yielded {summary['yielded']} of "
        f"{summary['interruptions']} interruptions (stop p50 {ms(stop['p50'])}, p95 "
        f"{ms(stop['p95'])}), resumed {summary['counts']['resumed']} (gap p50 {ms(gap['p50'])}, "
        f"p95 {ms(gap['p95'])}), abandoned replies {summary['abandoned_replies']}, talked over "
        f"{summary['counts']['talked_over']}"
    )


def observed_policy(outcomes: list[OverlapOutcome], cleared: list[bool]) -> str:
    """The agent's turn-taking policy as the caller saw it, in a few words (`cleared[i]`: the
    agent sent `clear` for overlap i)."""
    if not outcomes:
        return "no overlaps (the caller never spoke over agent audio)"
    stopped = [o for o in outcomes if o.outcome != "talked_over"]
    others = [o for o in outcomes if o.intent != "interruption"]
    resumed = [o for o in others if o.outcome == "resumed"]
    clears = [c for o, c in zip(outcomes, cleared, strict=True) if o.outcome != "talked_over"]
    verb = "clears" if all(clears) else "stops"
    if not stopped:
        return "never stops"
    if len(stopped) == len(outcomes):
        if not others:
            return f"{verb} on every onset (no acknowledgement heard: resuming not tested)"
        if len(resumed) == len(others):
            return "pauses and resumes"
        if not resumed:
            return f"{verb} on every onset, never resumes"
        return f"{verb} on every onset, resumes {len(resumed)} of {len(others)} acknowledgements"
    interruptions = [o for o in outcomes if o.intent == "interruption"]
    if all(o.outcome == "talked_over" for o in others) and all(
        o.outcome != "talked_over" for o in interruptions
    ):
        return "talks through acknowledgements, stops for interruptions"
    return (
        f"mixed: stops for {len(stopped)} of {len(outcomes)} onsets, resumes {len(resumed)} of "
        f"{len(others)} acknowledgements"
    )
