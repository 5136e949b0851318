"""`bench endpoints`: sentences with a pause in the middle; does the agent talk over them?"""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.endpoint_bench import SENTENCES, measure_line, paused_render, summarise
from workbench.engine.endpointing import judge_completeness


def test_the_halves_share_no_sentence_and_pause_300_to_600_ms():
    tune, heldout = SENTENCES["tune"], SENTENCES["heldout"]
    assert {first for first, _, _ in tune}.isdisjoint({first for first, _, _ in heldout})
    for half in (tune, heldout):
        assert all(300 <= pause <= 600 for _, pause, _ in half)
        # both kinds: a first part that sounds complete on its own (only the pause tells) and
        # one whose words say it goes on
        verdicts = {judge_completeness(first) for first, _, _ in half}
        assert {"complete", "incomplete"} <= verdicts


@pytest.mark.parametrize(
    "words, verdict",
    [
        ("I'd like to book", "incomplete"),
        ("I want to cancel", "incomplete"),
        ("I'd like to book a demo", "complete"),
        ("are you open on Saturday and", "incomplete"),
        ("I went to Paris", "complete"),  # "to" alone is no wish
    ],
)
def test_a_wish_whose_object_has_not_come_yet_sounds_unfinished(words, verdict):
    assert judge_completeness(words) == verdict


def test_the_pause_is_exactly_the_asked_silence_between_the_two_parts():
    def voice(text: str) -> np.ndarray:  # a named fake: 100 ms of silence around 0.5 s of tone
        tone = (3000 * np.sin(np.arange(4000) / 3)).astype(np.int16)
        pad = np.zeros(800, dtype=np.int16)
        return np.concatenate([pad, tone, pad])

    pcm = paused_render(voice, 450)("first part | second part")
    loud = np.flatnonzero(np.abs(pcm) > 100)
    gaps = np.diff(loud)
    assert gaps.max() == pytest.approx(450 * 8, abs=8)


@pytest.mark.slow
def test_a_complete_sounding_clause_then_a_pause_is_talked_over_and_a_wish_is_not(runtime):
    talked_over = measure_line(
        runtime, "Are you open on Saturday", 450, "and do you take Delta Dental?"
    )
    # the agent began in the pause (semantic: the words sounded complete after 160 ms) ...
    assert talked_over.premature and talked_over.overlap_ms > 0
    # ... went quiet when the caller went on and answered the whole sentence
    assert talked_over.answered_whole
    waited = measure_line(runtime, "I want to cancel", 400, "my subscription please.")
    assert not waited.premature and waited.overlap_ms == 0
    report = summarise([talked_over, waited])
    assert report["premature_endpoints"] == 1 and report["answered_whole_sentence"] == 2
