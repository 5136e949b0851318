"""The one Levenshtein alignment of two word lists, as an edit script.

Word error rates (`wer.align`), the per-sentence WER of the caller's ear
(`telephony/caller_ear_bench`) and the reconciling of the accurate ear's two passes
(`ears.reconcile`, which maps digit runs onto digit runs) all need the same thing: which word
of one list became which word of the other. Apart from `wer.py` so the ears can use it without
the normalisation rules.

Deletion and insertion cost 1; a substitution costs `substitution_cost(ref_word, hyp_word)`
(1 by default, 0 for equal words). Of the alignments that cost least, the one returned is found
walking back from the ends, preferring at each step a match or substitution, then an
insertion, then a deletion — so the result is the same on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

Op = Literal["ok", "sub", "del", "ins"]


@dataclass(frozen=True)
class Edit:
    """One step of the script: `ref`/`hyp` are indexes into the two lists (None where the
    step has no word on that side: a deletion has no `hyp`, an insertion no `ref`)."""

    op: Op
    ref: int | None
    hyp: int | None


def unit_substitution(ref_word: str, hyp_word: str) -> float:
    return 0.0 if ref_word == hyp_word else 1.0


def edit_script(
    reference: Sequence[str],
    hypothesis: Sequence[str],
    substitution_cost: Callable[[str, str], float] = unit_substitution,
) -> list[Edit]:
    """The cheapest edit script turning `reference` into `hypothesis`, in order."""
    n, m = len(reference), len(hypothesis)
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = float(i)
    for j in range(m + 1):
        cost[0][j] = float(j)
    for i in range(1, n + 1):
        row, above = cost[i], cost[i - 1]
        for j in range(1, m + 1):
            substitution = substitution_cost(reference[i - 1], hypothesis[j - 1])
            row[j] = min(above[j - 1] + substitution, above[j] + 1, row[j - 1] + 1)
    script: list[Edit] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            substitution = substitution_cost(reference[i - 1], hypothesis[j - 1])
            if cost[i][j] == cost[i - 1][j - 1] + substitution:
                same = reference[i - 1] == hypothesis[j - 1]
                script.append(Edit("ok" if same else "sub", i - 1, j - 1))
                i, j = i - 1, j - 1
                continue
        if j > 0 and (i == 0 or cost[i][j] == cost[i][j - 1] + 1):
            script.append(Edit("ins", None, j - 1))
            j -= 1
        else:
            script.append(Edit("del", i - 1, None))
            i -= 1
    return script[::-1]
