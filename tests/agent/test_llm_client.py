"""The OpenAI-compatible streaming client and the LLM responder, against a local test server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workbench.agent import Agent, load_agent
from workbench.agent.llm import LlmClient, LlmError, LlmResponder
from workbench.errors import ConfigError
from workbench.paths import DEMO_AGENT_DIR

pytestmark = pytest.mark.network

ANSWER = ["We", " are open", " Monday to Friday.", " Call", " us", " any", " time!", " Bye"]


class FakeLlmServer(BaseHTTPRequestHandler):
    """Answers /<mode>/v1/chat/completions the way a real or a broken server would."""

    release = threading.Event()  # set at teardown, so the stalling handler can finish
    requests_seen: list[dict] = []

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeLlmServer.requests_seen.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        mode = self.path.split("/")[1]
        if mode == "error":
            self._send(
                500,
                "application/json",
                json.dumps({"error": {"message": "model overloaded"}}).encode(),
            )
            return
        if mode == "garbage":
            self._send(200, "text/html", b"<html>this is not an event stream</html>\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if mode == "stall":
            self._event({"choices": [{"delta": {"content": "We are"}}]})
            FakeLlmServer.release.wait(10)  # never sends the rest in time
            return
        if mode == "badjson":
            self.wfile.write(b"data: {not json\n\n")
            return
        self.wfile.write(b": keep-alive comment\n\n")
        self._event({"choices": [{"delta": {"role": "assistant"}}]})
        for token in ANSWER:
            self._event({"choices": [{"delta": {"content": token}}]})
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, payload: dict) -> None:
        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeLlmServer)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    FakeLlmServer.release.set()
    httpd.shutdown()
    httpd.server_close()


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
    assert reply.sentences[0] == "We are open Monday to Friday."
    assert reply.sentences[-1] == agent.definition.anything_else
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
