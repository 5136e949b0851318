"""Percentiles and latency summaries: one definition for every figure the workbench reports.

Two methods, named wherever they are used, because a figure means nothing without its method:

- ``"linear"`` interpolates between the two nearest ranks (numpy's default,
  ``np.percentile(values, q, method="linear")``); benches and scorecards use it.
- ``"nearest_rank"`` is the smallest sample with at least q % of the samples at or below it
  (numpy's ``method="inverted_cdf"``): always one of the observed values, which the exact load
  report promises (Locust's own figures are rounded; ours are not).

Pure Python rather than ``np.percentile``: the lists are short and summaries are taken often
(a progress line a second, a bucket per metric), and ``np.percentile`` of 20 values cost ~75x
this (225 vs 3 µs, side by side on a loaded machine). It sits beside `errors.py`, below
every room, so the benches, the scorecards, the reports and the Locust process share it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

Method = Literal["linear", "nearest_rank"]


def percentile(values: Iterable[float], q: float, *, method: Method = "linear") -> float:
    """The q-th percentile (0 ≤ q ≤ 100) of `values` by `method`; no values is a ValueError."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q!r} is outside 0..100")
    # An array's Python floats sort ~10x faster than its numpy scalars.
    ordered = sorted(values.tolist() if isinstance(values, np.ndarray) else values)
    if not ordered:
        raise ValueError("percentile of no values")
    if method == "nearest_rank":
        rank = max(1, math.ceil(q / 100.0 * len(ordered)))
        return float(ordered[min(rank, len(ordered)) - 1])
    if method != "linear":
        raise ValueError(f"unknown percentile method {method!r} (linear, nearest_rank)")
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def rounded_percentile(
    values: Sequence[float], q: float, digits: int = 1, *, method: Method = "linear"
) -> float | None:
    """`percentile` rounded for a report, or None when there are no values (a bench's JSON)."""
    return round(percentile(values, q, method=method), digits) if len(values) else None


def latency_summary(
    values: Sequence[float],
    *,
    suffix: str = "",
    count: str = "turns",
    mean: bool = False,
) -> dict[str, float | int]:
    """Count, p50, p95 (linear), optionally the mean, and the max, rounded to 0.1 ms.

    The one summary of a set of latencies; the keys are `count`, then `p50{suffix}`,
    `p95{suffix}`, [`mean{suffix}`], `max{suffix}` (e.g. suffix "_ms" where the report's keys
    carry the unit). No values: only the count (0).
    """
    if not len(values):
        return {count: 0}
    out: dict[str, float | int] = {
        count: len(values),
        f"p50{suffix}": round(percentile(values, 50), 1),
        f"p95{suffix}": round(percentile(values, 95), 1),
    }
    if mean:
        out[f"mean{suffix}"] = round(statistics.fmean(values), 1)
    out[f"max{suffix}"] = round(max(values), 1)
    return out
