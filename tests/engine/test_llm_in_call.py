"""An LLM writes the agent's answers: its sentences reach the caller's ear as they stream in,
and a broken LLM server leaves the call going with the flow's own answer."""

from __future__ import annotations

import pytest

from workbench.agent.llm import LlmClient, LlmResponder
from workbench.engine import events as ev
from workbench.engine.calls import run_call, say_lines_caller
from workbench.engine.latency import FixedLatency

pytestmark = [pytest.mark.slow, pytest.mark.network]


def call_with_llm(runtime, server: str, mode: str):
    agent = runtime.agent()
    client = LlmClient(f"{server}/{mode}/v1", model="test-model", api_key="sk-test", read_timeout=2)
    return run_call(
        runtime,
        say_lines_caller(["What are your opening hours?"]),
        latency=FixedLatency(),
        responder=LlmResponder(agent, client),
    )


def test_the_llms_sentences_are_spoken_as_they_stream_in(runtime, server):
    result = call_with_llm(runtime, server, "ok")
    agent_lines = [text for speaker, text in result.transcript if speaker == "agent"]
    assert "We are open Monday to Friday." in agent_lines
    assert "Call us any time!" in agent_lines  # came after the first sentence was already playing
    turn = result.timelines[1]
    stages = [span.stage for span in turn.spans]
    assert "respond_more" in stages and stages.index("respond") < stages.index("respond_more")
    (response,) = [e for e in result.events if isinstance(e, ev.ResponseStarted) and e.turn == 1]
    assert response.sentences == ("We are open Monday to Friday.",) and "streamed" in response.plan


def test_a_garbage_llm_server_leaves_the_call_with_the_flow_answer(runtime, server):
    result = call_with_llm(runtime, server, "garbage")
    agent_lines = " ".join(text for speaker, text in result.transcript if speaker == "agent")
    assert "8 AM to 6 PM" in agent_lines
    (response,) = [e for e in result.events if isinstance(e, ev.ResponseStarted) and e.turn == 1]
    assert "LLM failed" in response.plan
