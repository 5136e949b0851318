"""The OpenAI-compatible streaming client and the LLM responder, against a local test server."""

from __future__ import annotations

from datetime import datetime
from http.server import ThreadingHTTPServer

import pytest
from support.llm_server import ANSWER, FakeLlmServer

from workbench.agent import Agent, load_agent
from workbench.agent.llm import LlmClient, LlmError, LlmResponder
from workbench.errors import ConfigError
from workbench.paths import DEMO_AGENT_DIR

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def agent() -> Agent:
    return load_agent(DEMO_AGENT_DIR)


def client(server: str, mode: str, **kwargs: float) -> LlmClient:
    return LlmClient(f"{server}/{mode}/v1", model="test-model", api_key="sk-test", **kwargs)


MESSAGES = [{"role": "user", "content": "when are you open"}]


def test_tokens_stream_in_order_and_the_request_is_openai_shaped(server: str) -> None:
    assert list(client(server, "ok").stream_tokens(MESSAGES)) == [""] + ANSWER
    seen = FakeLlmServer.requests_seen[-1]
    assert seen["path"] == "/ok/v1/chat/completions"
    assert seen["body"]["stream"] is True and seen["body"]["model"] == "test-model"
    assert seen["body"]["messages"] == MESSAGES
    assert seen["auth"] == "Bearer sk-test"


def test_tokens_are_regrouped_into_sentences(server: str) -> None:
    sentences = list(client(server, "ok").stream_sentences(MESSAGES))
    assert sentences == ["We are open Monday to Friday.", "Call us any time!", "Bye"]


def test_a_stalled_stream_raises_llm_error(server: str) -> None:
    with pytest.raises(LlmError, match="stalled|broken"):
        list(client(server, "stall", read_timeout=0.3).stream_sentences(MESSAGES))


def test_garbage_raises_llm_error(server: str) -> None:
    with pytest.raises(LlmError, match="not an event stream"):
        list(client(server, "garbage").stream_tokens(MESSAGES))


def test_bad_json_raises_llm_error(server: str) -> None:
    with pytest.raises(LlmError, match="not JSON"):
        list(client(server, "badjson").stream_tokens(MESSAGES))


def test_an_http_error_carries_the_servers_message(server: str) -> None:
    with pytest.raises(LlmError, match="HTTP 500: model overloaded"):
        list(client(server, "error").stream_tokens(MESSAGES))


def test_a_refused_connection_raises_llm_error() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), FakeLlmServer) as closed:
        port = closed.server_address[1]
    with pytest.raises(LlmError, match="cannot connect"):
        list(LlmClient(f"http://127.0.0.1:{port}/v1", connect_timeout=0.5).stream_tokens(MESSAGES))


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("WORKBENCH_LLM_MODEL", "tiny")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    c = LlmClient()
    assert (c.url, c.model, c.api_key) == ("http://127.0.0.1:9/v1/chat/completions", "tiny", "k")
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(ConfigError, match="OPENAI_BASE_URL"):
        LlmClient()


def test_the_llm_responder_phrases_knowledge_answers(server: str, agent: Agent) -> None:
    responder = LlmResponder(agent, client(server, "ok"))
    conv = agent.new_conversation(reference=datetime(2026, 11, 22, 10))
    text = "what are your opening hours"
    reply = responder.reply(conv, text, agent.understand(text), agent.retrieve(text))
    assert reply.sentences == ("We are open Monday to Friday.",)  # the rest is still streaming
    rest = list(reply.more)
    assert rest[-1] == agent.definition.anything_else
    assert "phrased by LLM test-model" in reply.plan
    system = FakeLlmServer.requests_seen[-1]["body"]["messages"][0]["content"]
    assert "8 AM to 6 PM" in system  # the retrieved chunk is given to the model


def test_the_llm_responder_falls_back_to_the_flow_answer(server: str, agent: Agent) -> None:
    responder = LlmResponder(agent, client(server, "garbage"))
    conv = agent.new_conversation(reference=datetime(2026, 11, 22, 10))
    text = "what are your opening hours"
    reply = responder.reply(conv, text, agent.understand(text), agent.retrieve(text))
    assert "8 AM to 6 PM" in " ".join(reply.sentences)
    assert "LLM failed" in reply.plan


def test_slot_filling_stays_with_the_flow_responder(server: str, agent: Agent) -> None:
    responder = LlmResponder(agent, client(server, "ok"))
    conv = agent.new_conversation()
    count = len(FakeLlmServer.requests_seen)
    reply = responder.reply(conv, "book a demo", agent.understand("book a demo"), [])
    assert "full name" in " ".join(reply.sentences)
    assert len(FakeLlmServer.requests_seen) == count  # the model was not asked
