"""The scripted caller's timing, against a fake agent line in virtual time (no engine).

The fake line plays "agent speech" (a loud tone) during given intervals; a subclass stops it
a fixed time after the caller's barge-in onset, like an agent that honours barge-in.
"""

from __future__ import annotations

import numpy as np
import pytest

from workbench.audio.codec import ulaw_decode
from workbench.engine import events as ev
from workbench.scenario import schema as sc
from workbench.scenario.caller import ScriptedCaller

LEAD_MS = 40  # every fake utterance starts with this much silence


def fake_render(text: str) -> np.ndarray:
    """Silence, then a tone 50 ms per character."""
    n = len(text) * 400
    tone = (3000 * np.cos(np.arange(n) * 2 * np.pi * 440 / 8000)).astype(np.int16)
    return np.concatenate([np.zeros(LEAD_MS * 8, np.int16), tone])


class FakeAgentLine:
    """Agent speech (a loud tone) during `intervals` (ms)."""

    def __init__(self, intervals: list[tuple[float, float]]):
        self.intervals = list(intervals)
        self.frames: list[tuple[float, object]] = []

    def audio(self, t: float) -> np.ndarray:
        times = t + np.arange(160) / 8.0
        on = np.zeros(160, bool)
        for start, end in self.intervals:
            on |= (times >= start) & (times < end)
        return np.where(on, 3000, 0).astype(np.int16)

    def run(self, caller: ScriptedCaller, until_ms: float, events=()) -> None:
        pending = sorted(events, key=lambda e: e.t_ms)
        t = 0.0
        while t < until_ms and not caller.done:
            while pending and pending[0].t_ms <= t:
                caller.on_event(pending.pop(0))
            frame = caller.frame(t)
            self.frames.append((t, frame))
            caller.hear(t, self.audio(t))
            t += 20.0


def steps(*items: dict) -> list:
    return list(sc.Scenario.model_validate({"name": "t", "steps": list(items)}).steps)


def test_a_say_waits_until_the_agent_has_finished_its_reply():
    caller = ScriptedCaller(steps({"say": "hello"}), fake_render, reply_gap_ms=600.0)
    line = FakeAgentLine([(0.0, 2000.0)])
    line.run(caller, 6000.0)
    action = caller.log.actions[0]
    assert action.started_ms == pytest.approx(2600.0, abs=20.0)
    assert action.onset_ms == pytest.approx(action.started_ms + LEAD_MS)
    assert action.speech_end_ms == pytest.approx(action.onset_ms + 5 * 50.0)


def test_a_say_with_now_does_not_wait():
    caller = ScriptedCaller(steps({"say": "hello", "now": True}), fake_render)
    FakeAgentLine([(0.0, 2000.0)]).run(caller, 3000.0)
    assert caller.log.actions[0].started_ms == 0.0


@pytest.mark.parametrize("agent_onset", [3000.0, 3013.0, 3071.5])
@pytest.mark.parametrize("at_ms", [200.0, 800.0, 1200.0])
def test_a_barge_in_starts_at_ms_into_the_agents_speech(agent_onset, at_ms):
    script = steps({"say": "question", "now": True}, {"barge_in": "stop", "at_ms": at_ms})
    caller = ScriptedCaller(script, fake_render)
    FakeAgentLine([(agent_onset, agent_onset + 6000.0)]).run(caller, 12000.0)
    item = caller.log.interjections[0]
    assert item.agent_onset_ms == pytest.approx(agent_onset, abs=0.2)
    assert item.offset_ms == pytest.approx(at_ms, abs=10.0)  # the frame grid is 20 ms
    assert item.agent_audible_at_onset


def test_a_barge_in_timed_sooner_than_the_caller_can_react_is_late_and_says_so():
    """The caller only knows the agent started once it hears it: at_ms 0 cannot be met."""
    script = steps({"say": "question", "now": True}, {"barge_in": "stop", "at_ms": 0})
    caller = ScriptedCaller(script, fake_render)
    FakeAgentLine([(3000.0, 9000.0)]).run(caller, 12000.0)
    item = caller.log.interjections[0]
    assert 0.0 < item.offset_ms <= 2 * 20.0 + LEAD_MS  # reported as it really happened


@pytest.mark.parametrize("stop_after", [120.0, 180.0, 420.0])
def test_the_caller_measures_when_the_agent_audio_stopped(stop_after):
    script = steps({"say": "question", "now": True}, {"barge_in": "wait a moment", "at_ms": 1000})
    caller = ScriptedCaller(script, fake_render)

    class StopOnBargeIn(FakeAgentLine):
        def audio(self, t):
            pcm = super().audio(t)
            item = caller.log.interjections[0] if caller.log.interjections else None
            if item is not None and item.onset_ms is not None:
                times = t + np.arange(160) / 8.0
                pcm = np.where(times < item.onset_ms + stop_after, pcm, 0).astype(np.int16)
            return pcm

    StopOnBargeIn([(2000.0, 9000.0)]).run(caller, 12000.0)
    item = caller.log.interjections[0]
    assert item.stop_ms == pytest.approx(stop_after, abs=0.2)


def test_an_agent_that_talks_on_is_measured_until_it_ends():
    script = steps({"say": "question", "now": True}, {"backchannel": "uh-huh", "at_ms": 1000})
    caller = ScriptedCaller(script, fake_render)
    FakeAgentLine([(2000.0, 7000.0)]).run(caller, 12000.0)
    item = caller.log.interjections[0]
    assert item.kind == "backchannel"
    assert item.onset_ms == pytest.approx(3000.0, abs=10.0)
    assert item.onset_ms + item.stop_ms == pytest.approx(7000.0, abs=0.2)


def test_dtmf_digits_go_one_per_frame_at_the_interval():
    caller = ScriptedCaller(
        steps({"dtmf": "12#", "interval_ms": 200, "now": True}, {"hang_up": True, "now": True}),
        fake_render,
    )
    line = FakeAgentLine([])
    line.run(caller, 5000.0)
    pressed = [(t, f.dtmf) for t, f in line.frames if f.dtmf]
    assert pressed == [(0.0, "1"), (200.0, "2"), (400.0, "#")]
    assert caller.done
    assert caller.log.actions[0].label == "dtmf (3 digits)"  # the digits are never logged


def test_a_network_step_changes_the_leg_from_that_frame():
    caller = ScriptedCaller(
        steps({"pause_ms": 100}, {"network": "poor"}, {"hang_up": True, "now": True}), fake_render
    )
    line = FakeAgentLine([])
    line.run(caller, 1000.0)
    changed = [(t, f.network) for t, f in line.frames if f.network is not None]
    assert len(changed) == 1 and changed[0][0] == 100.0
    assert changed[0][1].expected_loss_rate > 0


def test_wait_for_a_topic_uses_engine_events_and_times_out_with_a_reason():
    topic = ev.TopicDecided("c", 1500.0, turn=1, topic="OpeningHours")
    caller = ScriptedCaller(
        steps(
            {"wait_for": "topic", "topic": "OpeningHours"},
            {"wait_for": "handoff", "timeout_ms": 1000},
            {"hang_up": True, "now": True},
        ),
        fake_render,
    )
    FakeAgentLine([]).run(caller, 10000.0, events=[topic])
    waits = caller.log.actions
    assert waits[1].started_ms == pytest.approx(1500.0, abs=20.0)
    assert caller.log.problems == ["step 2 (wait_for handoff): timed out after 1000 ms (at 2.5 s)"]


def test_noise_is_mixed_under_everything_but_the_speech_truth_stays_clean():
    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    caller = ScriptedCaller(
        steps({"say": "hello", "now": True}), fake_render, noise=noise, snr_db=10.0
    )
    line = FakeAgentLine([])
    line.run(caller, 2000.0)
    quiet = ulaw_decode(line.frames[-1][1].payload)
    assert np.abs(quiet.astype(int)).max() > 0  # noise while not speaking
    action = caller.log.actions[0]
    assert action.onset_ms == LEAD_MS  # truth comes from the clean speech, not the noisy mix
