"""The session's stage dispatch: each stage's result reaches the handler for that stage.

The stage names are a `Literal` (engine/stages.py) and the dispatch a mapping from them, so
pyright rejects a misspelt stage; this test rejects a stage left without a handler.
"""

from __future__ import annotations

from typing import get_args

from support.fakes import FakeAgent, FakeSpeechStack

from workbench.engine.session import CallSession, SessionSettings
from workbench.engine.stages import Stage


def test_every_stage_the_session_can_ask_for_has_a_handler_for_its_result():
    for ear in ("fast", "accurate"):
        session = CallSession("CA-test", FakeAgent(), FakeSpeechStack(), SessionSettings(ear=ear))
        assert set(session._on_done) == set(get_args(Stage))
