"""A fake OpenAI-compatible streaming chat server on loopback, for LLM tests (named a fake)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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
    FakeLlmServer.release.clear()  # a previous module's teardown set it
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeLlmServer)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    FakeLlmServer.release.set()
    httpd.shutdown()
    httpd.server_close()
