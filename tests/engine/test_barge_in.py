"""Talking over the agent: real interruptions stop it at once, acknowledgements do not.

The caller speaks over the agent's greeting (about six seconds of speech) through the real
audio pipeline, in virtual time with fixed stage costs.
"""

from __future__ import annotations

import pytest

from workbench.engine import events as ev
from workbench.engine.judge_bench import talk_over

pytestmark = pytest.mark.slow


def kinds(result, cls):
    return [e for e in result.events if isinstance(e, cls)]


def test_a_real_interruption_stops_the_agent_quickly_and_gets_an_answer(runtime):
    result, caller = talk_over(runtime, "Wait, what are your opening hours?")
    stopped = [e for e in kinds(result, ev.AgentAudioStopped) if e.reason == "interrupted"]
    assert len(stopped) == 1 and stopped[0].turn == 0
    (interruption,) = kinds(result, ev.Interruption)
    assert interruption.kind == "barge_in" and interruption.stopped_agent
    # What was heard is kept, cut where the agent stopped.
    assert stopped[0].text_heard.startswith("Thank you for calling")
    assert any(text.endswith("—") for speaker, text in result.transcript if speaker == "agent")
    # Stop latency at the caller: its speech onset to the last agent audio it heard. Judging
    # by the words waits for the recogniser's first hypotheses (about 200 ms of speech).
    assert caller.last_agent_audio - caller.speech_onset <= 450.0
    topics = [e.topic for e in kinds(result, ev.TopicDecided)]
    assert "OpeningHours" in topics


def test_an_acknowledgement_does_not_stop_the_agent(runtime):
    result, _ = talk_over(runtime, "Okay.")
    assert not [e for e in kinds(result, ev.AgentAudioStopped) if e.reason == "interrupted"]
    interruptions = kinds(result, ev.Interruption)
    assert interruptions and all(
        i.kind == "backchannel" and not i.stopped_agent for i in interruptions
    )
    assert "How can I help you today?" in [
        text for speaker, text in result.transcript if speaker == "agent"
    ]


def test_yeah_but_is_an_interruption(runtime):
    result, _ = talk_over(runtime, "Yeah, but how much does it cost?")
    assert [e for e in kinds(result, ev.AgentAudioStopped) if e.reason == "interrupted"]


def test_pause_mode_goes_quiet_fast_and_resumes_after_an_acknowledgement(runtime):
    result, caller = talk_over(runtime, "Wait, what are your opening hours?", mode="pause")
    assert caller.last_agent_audio - caller.speech_onset <= 250.0
    acknowledged, _ = talk_over(runtime, "Okay.", mode="pause")
    (false_stop,) = [e for e in kinds(acknowledged, ev.Interruption) if e.false_interruption]
    assert false_stop.kind == "backchannel" and false_stop.stopped_agent
    agent_lines = [text for speaker, text in acknowledged.transcript if speaker == "agent"]
    assert "How can I help you today?" in agent_lines  # it carried on where it paused
    # ... from the start of the word the pause cut, or at the next sentence: nothing lost
    (resumed,) = kinds(acknowledged, ev.AgentResumed)
    assert resumed.turn == 0 and resumed.paused_ms > 0 and resumed.rewound_ms < 1000


def test_a_cut_between_sentences_does_not_repeat_the_sentence_heard_in_full(runtime):
    # "Right, … right" stops the agent (speech right after an acknowledgement) just as its
    # first sentence ends; the second "right" then shows it was a false interruption.
    result, _ = talk_over(runtime, "Right, right.")
    assert [e for e in kinds(result, ev.AgentAudioStopped) if e.reason == "interrupted"]
    agent_lines = [text for speaker, text in result.transcript if speaker == "agent"]
    assert agent_lines.count("Thank you for calling Northwind Software.") == 1
    assert not [line for line in agent_lines if line.startswith("Thank you") and "—" in line]
