"""The transcript marks what the agent did when the caller spoke over it: paused, resumed
(or rephrased), yielded — from engine events alone."""

from __future__ import annotations

import pytest

from workbench.engine import events as ev

pytestmark = pytest.mark.gui


def test_the_transcript_marks_pauses_resumes_and_yields(qtbot):
    from workbench.ui.bridge import EngineBridge
    from workbench.ui.views.transcript import TranscriptView

    view = TranscriptView(EngineBridge())
    qtbot.addWidget(view)
    view.load_events(
        [
            ev.AgentPaused("CA1", 1000.0, turn=1, onset_ms=950.0),
            ev.Interruption(
                "CA1",
                1600.0,
                kind="backchannel",
                text="mm-hmm",
                stopped_agent=True,
                false_interruption=True,
            ),  # fmt: skip
            ev.AgentResumed("CA1", 1600.0, turn=1, paused_ms=600.0, text="We open at nine."),
            ev.AgentPaused("CA1", 4000.0, turn=1, onset_ms=3950.0),
            ev.AgentResumed("CA1", 6000.0, turn=1, paused_ms=2000.0, rephrased=True),
            ev.AgentPaused("CA1", 8000.0, turn=1, onset_ms=7950.0),
            ev.Interruption("CA1", 8100.0, kind="barge_in", text="wait", stopped_agent=True),
        ]
    )
    markers = [entry.text for entry in view.entries if entry.kind == "marker"]
    assert markers == [
        "paused: the caller's voice over the agent",
        "backchannel: the agent paused for it ('mm-hmm')",
        "resumed after a 600 ms pause",
        "paused: the caller's voice over the agent",
        "rephrased after a 2000 ms pause",
        "paused: the caller's voice over the agent",
        "yielded: the agent stopped ('wait')",
    ]
    assert "rephrased after a 2000 ms pause" in view.html()
