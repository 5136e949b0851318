"""A premature endpoint: the agent ended the caller's turn, and the caller's voice came back
within `PREMATURE_WINDOW_MS` of that decision (engine.scorecard)."""

from __future__ import annotations

from workbench.engine import events as ev
from workbench.engine.scorecard import PREMATURE_WINDOW_MS, premature_endpoints


def call(*events: ev.Event) -> list[ev.Event]:
    return list(events)


def test_the_caller_going_on_before_the_reply_contradicts_the_endpoint():
    events = call(
        ev.EndpointDecided("CA1", 1000.0, mode="silence"),
        ev.CallerSpeechStarted("CA1", 1700.0),
    )
    assert premature_endpoints(events) == 1


def test_going_on_over_the_first_word_of_the_reply_is_one():
    events = call(
        ev.EndpointDecided("CA1", 1000.0),
        ev.TurnCompleted("CA1", 1100.0, turn=1),
        ev.CallerSpeechStarted("CA1", 1800.0),
    )
    assert premature_endpoints(events) == 1


def test_a_barge_in_well_into_the_reply_is_not_one():
    events = call(
        ev.EndpointDecided("CA1", 1000.0),
        ev.TurnCompleted("CA1", 1400.0, turn=1),
        ev.CallerSpeechStarted("CA1", 2900.0),  # 1.5 s into the reply: judged as an overlap
    )
    assert premature_endpoints(events) == 0


def test_a_caller_who_speaks_only_after_the_window_is_not_one():
    events = call(
        ev.EndpointDecided("CA1", 1000.0),
        ev.CallerSpeechStarted("CA1", 1000.0 + PREMATURE_WINDOW_MS + 1.0),
    )
    assert premature_endpoints(events) == 0


def test_each_contradicted_endpoint_counts_once():
    events = call(
        ev.EndpointDecided("CA1", 1000.0),
        ev.CallerSpeechStarted("CA1", 1300.0),
        ev.CallerSpeechStarted("CA1", 1600.0),
        ev.EndpointDecided("CA1", 3000.0),
        ev.CallerSpeechStarted("CA1", 3200.0),
        ev.EndpointDecided("CA1", 5000.0),
        ev.AgentAudioHeard("CA1", 5300.0),
    )
    assert premature_endpoints(events) == 2
