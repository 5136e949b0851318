"""The window's call model (Qt-free): engine events folded into per-turn records."""

from __future__ import annotations

from types import SimpleNamespace

from workbench.engine import events as ev
from workbench.engine.trace import Lane, TurnTimeline
from workbench.ui.call_model import CallModel
from workbench.ui.engine_handle import split_problems
from workbench.ui.scenario_verdict import verdict

CALL = "CA1"


def timeline(turn: int, total: float) -> TurnTimeline:
    return TurnTimeline(turn, "hi", "hello", 0.0, (Lane("stt", "stage", 0.0, total),))


def test_a_turn_collects_what_was_heard_understood_retrieved_and_planned():
    model = CallModel()
    for event in (
        ev.CallStarted(CALL, 0.0, caller="+1", agent="Ava"),
        ev.EndpointDecided(CALL, 900.0, mode="semantic", setting="semantic", reason="complete"),
        ev.FinalTranscript(CALL, 950.0, text="what are your hours", confidence=0.8),
        ev.TopicDecided(
            CALL,
            960.0,
            turn=1,
            topic="OpeningHours",
            confidence=0.9,
            runner_up="Billing",
            runner_up_confidence=0.05,
        ),
        ev.KnowledgeRetrieved(CALL, 961.0, turn=1, chunks=({"source": "hours", "score": 4.2},)),
        ev.ResponseStarted(CALL, 962.0, turn=1, sentences=("We open at 8.",), plan="answer"),
        ev.TurnCompleted(CALL, 1200.0, turn=1, timeline=timeline(1, 300.0)),
    ):
        model.apply(event)
    record = model.turns[1]
    assert (record.heard, record.heard_confidence) == ("what are your hours", 0.8)
    assert record.endpoint is not None and record.endpoint.reason == "complete"
    assert (record.topic, record.runner_up) == ("OpeningHours", "Billing")
    assert record.chunks[0]["source"] == "hours"
    assert record.sentences == ("We open at 8.",) and record.plan == "answer"
    assert record.timeline is not None and record.timeline.total_ms == 300.0


def test_the_summary_leaves_out_the_greeting():
    model = CallModel()
    model.apply(ev.CallStarted(CALL, 0.0))
    model.apply(ev.TurnCompleted(CALL, 50.0, turn=0, timeline=timeline(0, 5000.0)))
    model.apply(ev.TurnCompleted(CALL, 900.0, turn=1, timeline=timeline(1, 400.0)))
    assert model.summary()["turns"] == 1 and model.summary()["p95_ms"] == 400.0


def test_validation_messages_split_into_lines_and_problems():
    message = "/a/agent.yaml:3: topics: required field is missing; /a/agent.yaml:57: x: unknown"
    assert split_problems(message) == ((3, "topics: required field is missing"), (57, "x: unknown"))
    assert split_problems("/a/agent.yaml: cannot read") == ((None, "/a/agent.yaml: cannot read"),)


def test_a_failed_scenario_names_its_first_failing_expectation_and_evidence():
    failing = SimpleNamespace(
        expectation="topic",
        where="call",
        expected="Billing",
        evidence="decided: Hours",
        failed=True,
    )
    result = SimpleNamespace(
        scenario=SimpleNamespace(name="billing"), call=None, error=None, failures=[failing]
    )
    shown = verdict("billing.yaml", result)
    assert not shown.passed
    assert shown.failure == "call: topic Billing" and shown.evidence == "decided: Hours"


def test_the_speaker_ring_plays_what_was_written_then_silence():
    import numpy as np

    from workbench.ui.audio_io import SampleRing, level_dbfs

    ring = SampleRing(8)
    ring.write(np.arange(1, 6, dtype=np.int16))
    out = np.full(4, -1, dtype=np.int16)
    assert ring.read_into(out) == 4 and out.tolist() == [1, 2, 3, 4]
    ring.write(np.arange(6, 12, dtype=np.int16))  # wraps around the end of the ring
    out = np.full(8, -1, dtype=np.int16)
    assert ring.read_into(out) == 7 and out.tolist() == [5, 6, 7, 8, 9, 10, 11, 0]
    assert ring.underruns == 1
    ring.write(np.arange(100, 120, dtype=np.int16))  # more than fits: the newest 8 survive
    out = np.zeros(8, dtype=np.int16)
    assert ring.read_into(out) == 8 and out.tolist() == list(range(112, 120))
    assert level_dbfs(np.zeros(160, np.int16)) == -90.0
    assert -6.1 < level_dbfs(np.full(160, 16384, np.int16)) < -5.9  # half scale
