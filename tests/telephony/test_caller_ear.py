"""The caller's ear: the agent's audio as the caller heard it, cut into runs and turns.

Unit tests drive `CallerEar` frame by frame with tones and a named fake transcriber (it says
how long each run it was given lasted); the live test calls `workbench serve`'s server with
the real accurate ear.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.scenario.schema import load_scenario
from workbench.telephony.caller.ear import CallerEar, heard_matches, heard_outcomes
from workbench.telephony.caller_ear_bench import proven_played, sentence_wers
from workbench.telephony.server.call_summary import HeardRecord

LOUD = (3000 * np.cos(np.arange(160) * 0.3)).astype(np.int16)
QUIET = np.zeros(160, np.int16)


class RunLengthTranscriber:
    """A named fake: "run of N ms" for N ms of audio it was given."""

    def __call__(self, pcm: np.ndarray) -> str:
        return f"run of {len(pcm) // 8} ms"


def play(ear: CallerEar, frames: list[np.ndarray], start_ms: float, clears: int = 0) -> float:
    t = start_ms
    for frame in frames:
        ear.heard(t, frame, clears)
        t += 20.0
    return t


def test_quiet_between_sentences_keeps_one_run_and_a_long_pause_starts_another():
    ear = CallerEar(RunLengthTranscriber())
    t = play(ear, [LOUD] * 50 + [QUIET] * 10 + [LOUD] * 50, 0.0)  # a 200 ms breath
    t = play(ear, [QUIET] * 40 + [LOUD] * 25 + [QUIET] * 40, t)  # 800 ms of quiet, then more
    turns = ear.finish()
    assert len(turns) == 1, "no caller spoke: one agent turn"
    assert [r.onset_ms for r in turns[0].runs] == [0.0, 3000.0]
    # Each run keeps up to 200 ms of its trailing quiet (and its 100 ms lead, when there was one).
    assert turns[0].text == "run of 2400 ms run of 800 ms"


def test_caller_speech_ends_the_turn_and_the_next_turn_is_timed_from_its_last_sample():
    ear = CallerEar(RunLengthTranscriber())
    t = play(ear, [LOUD] * 25 + [QUIET] * 40, 0.0)  # the greeting
    for _ in range(50):  # the caller speaks for a second; its last sample at 2300 ms
        ear.caller_frame(t, t + 20.0)
        ear.heard(t, QUIET)
        t += 20.0
    ear.caller_frame(t, None)
    play(ear, [QUIET] * 35 + [LOUD] * 25 + [QUIET] * 40, t)  # the reply 700 ms later
    turns = ear.finish()
    assert [(turn.index, turn.latency_ms) for turn in turns] == [(0, None), (1, 700.0)]


def test_a_clear_cuts_the_turn_there_and_what_plays_after_it_is_a_new_turn():
    ear = CallerEar(RunLengthTranscriber())
    t = play(ear, [LOUD] * 30, 0.0)
    play(ear, [QUIET] * 5 + [LOUD] * 10 + [QUIET] * 40, t, clears=1)
    turns = ear.finish()
    assert [turn.cut_by for turn in turns] == ["clear", ""]
    assert turns[0].text == "run of 600 ms"


def test_each_transcribed_run_is_offered_as_it_ends():
    offered = []
    ear = CallerEar(RunLengthTranscriber(), on_run=offered.append)
    play(ear, [LOUD] * 10 + [QUIET] * 40, 0.0)
    ear.finish()
    assert [(run.turn, run.text) for run in offered] == [(0, "run of 400 ms")]


def test_patterns_match_transcribed_words_without_capitals_or_word_breaks():
    heard = "our office is open from 8 a m to 6 p m thanks for calling north wind software"
    assert heard_matches("/8 ?AM to 6 ?PM/", heard)
    assert heard_matches("Northwind Software", heard)
    assert not heard_matches("/9 ?AM/", heard)
    assert not heard_matches("opening hours", heard)


def test_agent_said_and_never_said_are_judged_on_the_heard_turns(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "name: t\nsteps:\n  - say: hi\n"
        "expect:\n  agent_said: [/open from/, closed on sundays]\n  agent_never_said: refund\n"
    )
    scenario = load_scenario(path)
    ear = CallerEar(lambda pcm: "we are open from nine")
    play(ear, [LOUD] * 10 + [QUIET] * 40, 0.0)
    verdicts = [
        (o["expectation"], o["expected"], o["status"])
        for o in heard_outcomes(scenario.expect, ear.finish(), "call")
    ]
    assert verdicts == [
        ("agent_said", "'/open from/'", "pass"),
        ("agent_said", "'closed on sundays'", "fail"),
        ("agent_never_said", "'refund'", "pass"),
    ]


def test_a_sentence_wer_counts_its_own_errors_in_one_alignment_of_the_call():
    sentences = ["Thank you for calling.", "We open at 8 AM.", "Goodbye!"]
    assert sentence_wers(sentences, "thank you for calling we open at 8 a m goodbye") == [0, 0, 0]
    wers = sentence_wers(sentences, "thank you for calling we opened at 8 am goodbye now")
    # "opened" for "open" (1 of 5 words); an inserted word counts for the sentence it follows.
    assert wers == [0.0, 0.2, 1.0]


def test_only_sentences_the_marks_prove_played_whole_test_the_ear():
    # Turn 1's reply was voiced in pieces (its first sentence clause by clause); its last
    # sentence was still queued when the caller hung up: no mark echo proves it was heard.
    said = {
        0: ["Thank you for calling Northwind.", "How can I help?"],
        1: ["One moment.", "We open at 8 AM, Monday to Friday.", "We close at 6 PM."],
    }
    marks = [
        HeardRecord(900.0, 0, 0, 1.0, "Thank you for calling Northwind."),
        HeardRecord(2100.0, 0, 1, 1.0, "How can I help?"),
        HeardRecord(5000.0, 1, -1, 1.0, "One moment."),
        HeardRecord(6000.0, 1, 0, 1.0, "We open at 8 AM,"),
        HeardRecord(7300.0, 1, 1, 1.0, "Monday to Friday."),
        HeardRecord(7900.0, 1, 2, 0.4, "We close at 6 PM."),
    ]
    assert proven_played(said, marks) == {"0:0", "0:1", "1:0", "1:1"}


SCENARIO = """\
name: heard-at-the-caller
caller: {number: "+14155550156", voice: "espeak:en-us"}
steps:
  - wait_for: agent_said
    pattern: /how can i help/
    timeout_ms: 20000
  - say: What are your opening hours?
    expect:
      agent_said: /8 ?AM to 6 ?PM/
expect:
  agent_said: Northwind Software
  agent_never_said: /refund/
  topic: OpeningHours
"""


@pytest.mark.network
@pytest.mark.slow
def test_call_hears_the_served_agent_and_judges_what_it_said(live_server, tmp_path):
    scenario = tmp_path / "heard.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "call.json"
    result = CliRunner().invoke(
        app, ["call", live_server.media_url, "--scenario", str(scenario), "--json", str(out)]
    )
    data = json.loads(out.read_text())
    assert result.exit_code == 0, result.output
    verdicts = sorted((o["where"], o["expectation"], o["status"]) for o in data["outcomes"])
    assert verdicts == [
        ("call", "agent_never_said", "pass"),
        ("call", "agent_said", "pass"),
        ("call", "topic", "skip"),
        ("step 2: say 'What are your opening hours?'", "agent_said", "pass"),
    ]
    agent_lines = [line for line in data["conversation"] if line["speaker"] == "agent"]
    assert "help you today" in agent_lines[0]["text"]
    assert agent_lines[1]["latency_ms"] > 0
    assert "as heard at the caller:" in result.output
