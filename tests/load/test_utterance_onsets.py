"""The synthetic caller times a barge-in's stop from where the interruption proper begins: for
"Yeah, but…" the words after the acknowledgement's pause, as scenarios do.

Run in a child process: media_call imports gevent (kept out of the test process)."""

from __future__ import annotations

from support.child import run_script

SCRIPT = r"""
import json, sys
import numpy as np
sys.path.insert(0, "loadtests")
import call_records, greenlet_pacer, media_call

def tone(ms):
    t = np.arange(int(ms * 8)) / 8000.0
    return (8000 * np.cos(2 * np.pi * 300 * t)).astype(np.int16)

def quiet(ms):
    return np.zeros(int(ms * 8), np.int16)

pcm = np.concatenate([quiet(40), tone(260), quiet(240), tone(700)])
out = {}
for text in ("Yeah, but how much is it?", "Sorry, how much is it?"):
    u = call_records.EncodedUtterance.from_pcm(text, pcm)
    out[text] = [u.onset_ms, u.interruption_onset_ms]
print(json.dumps(out))
"""


def test_a_barge_in_that_opens_with_an_acknowledgement_is_timed_from_the_words_after_it():
    onsets = run_script(SCRIPT)
    onset, proper = onsets["Yeah, but how much is it?"]
    assert onset == 40.0
    assert proper == 40.0 + 260.0 + 240.0  # "but" begins after the pause
    onset, proper = onsets["Sorry, how much is it?"]
    assert proper == onset == 40.0  # no acknowledgement: the first audible sample
