"""`bench judge --noisy`: the labelled lines over a noisy line, noise alone over the agent."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.audio.codec import ulaw_decode
from workbench.engine.caller import TalkOverGreetingCaller
from workbench.engine.judge_bench import NoisyLineCaller, judge_noisy_line, noisy_line_specs
from workbench.errors import ConfigError
from workbench.speech.labelled_lines import Condition


def test_the_noisy_halves_share_no_line_and_both_have_noise_alone():
    tune = noisy_line_specs("tune")
    heldout = noisy_line_specs("heldout")
    assert {s[1] for s in tune if s[1]} & {s[1] for s in heldout if s[1]} == set()
    for specs in (tune, heldout):
        labels = {s[0] for s in specs}
        assert labels == {"backchannel", "interruption", "noise"}
        assert {s[4].background for s in specs} == {"clean", "babble", "line"}
    assert {s[5] for s in tune}.isdisjoint({s[5] for s in heldout})


def _fake_render(text: str) -> np.ndarray:
    """A named fake voice: one second of a loud 300 Hz tone."""
    t = np.arange(8000) / 8000
    return (6000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)


def test_the_line_carries_its_background_from_the_first_frame_and_the_cough_before_the_words():
    inner = TalkOverGreetingCaller("Wait.", _fake_render, into_ms=500.0)
    caller = NoisyLineCaller(inner, Condition("line", 10.0, "cough"), 2500.0, seed=1)
    first = ulaw_decode(caller.frame(0.0).payload).astype(float)
    assert np.sqrt(np.mean(first**2)) == pytest.approx(2500 / 10**0.5, rel=0.5)
    # The agent's greeting starts at 100 ms: the words will come at 600 ms, the cough
    # before them, ending at least 250 ms earlier.
    sent = []
    for step in range(1, 40):
        t = step * 20.0
        if t == 100.0:
            caller.hear(t, np.full(160, 5000, dtype=np.int16))
        sent.append(ulaw_decode(caller.frame(t).payload).astype(float))
    levels = np.array([np.abs(frame).max() for frame in sent])
    loud_frame_starts = (np.flatnonzero(levels > 4000) + 1) * 20.0  # sent[0] began at 20 ms
    assert inner.speech_onset == pytest.approx(600.0, abs=1)
    before_words = loud_frame_starts[loud_frame_starts < 600]
    assert before_words.size, "the cough is on the line before the words"
    assert before_words.max() < 600 - 250  # it has ended 250 ms before the words


@pytest.mark.slow
def test_a_cough_alone_over_the_agent_does_not_stop_it(runtime):
    spec = ("noise", "", None, None, Condition(transient="cough"), 11)
    line = judge_noisy_line(runtime, spec)
    assert line.label == "noise" and line.condition == "clean+cough"
    assert not line.stopped and line.correct


def test_an_unknown_noisy_split_is_a_config_error():
    from workbench.engine.judge_bench import run_judge_bench

    with pytest.raises(ConfigError, match="tune or heldout"):
        run_judge_bench(noisy="train")
