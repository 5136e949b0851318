"""An optional LLM responder: a streaming client for any OpenAI-compatible chat-completions server.

`LlmClient.stream_tokens` posts `{"stream": true}` and reads the server-sent events (`data: {...}`
lines, ending with `data: [DONE]`) as they arrive; `stream_sentences` regroups the tokens into
sentences so the TTS can start speaking the first sentence while the model writes the second.
Every failure — refused connection, connect timeout, a server that stalls longer than
`read_timeout` between bytes, an HTTP error, a body that is not the expected event stream —
becomes one `LlmError` whose message says what went wrong and where.

`LlmResponder` keeps the dialogue deterministic: the flow responder still runs every turn (slot
filling, confirmations, actions, escalation); only knowledge answers are phrased by the model,
from the retrieved chunks. If the model fails, the flow responder's own answer is used.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import requests

from workbench.agent.flow.reply import Reply
from workbench.agent.knowledge import KnowledgeChunk
from workbench.agent.speakable import redact_cards
from workbench.agent.understanding import Understanding
from workbench.errors import ConfigError, WorkbenchError

if TYPE_CHECKING:
    from workbench.agent.agent import Agent
    from workbench.agent.conversation import Conversation

log = logging.getLogger(__name__)

_SENTENCE = re.compile(r"(.+?[.!?])(?:\s+|$)", re.DOTALL)


class LlmError(WorkbenchError):
    """The language model server could not be reached or did not answer as expected."""


class LlmClient:
    """Streaming chat completions; settings default to OPENAI_BASE_URL, OPENAI_API_KEY and
    WORKBENCH_LLM_MODEL."""

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        temperature: float = 0.3,
        max_tokens: int = 200,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ConfigError(
                "no LLM server: pass base_url or set OPENAI_BASE_URL (e.g. http://127.0.0.1:8000/v1)"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model or os.environ.get("WORKBENCH_LLM_MODEL") or "default"
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or ""
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.temperature = temperature
        self.max_tokens = max_tokens

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def stream_tokens(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """The answer's text pieces as the server sends them; raises `LlmError` on any failure."""
        body = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            response = requests.post(
                self.url,
                json=body,
                headers=headers,
                stream=True,
                # The read timeout bounds every wait for the next bytes: a stalled stream fails.
                timeout=(self.connect_timeout, self.read_timeout),
            )
        except requests.Timeout:
            raise LlmError(
                f"LLM server {self.url}: no connection within {self.connect_timeout:g} s"
            ) from None
        except requests.RequestException as error:
            raise LlmError(
                f"LLM server {self.url}: cannot connect ({type(error).__name__})"
            ) from None
        with response:
            if response.status_code != 200:
                raise LlmError(
                    f"LLM server {self.url}: HTTP {response.status_code}: {_error_text(response)}"
                )
            yield from self._events(response)

    def _events(self, response: requests.Response) -> Iterator[str]:
        done = False
        try:
            for raw in response.iter_lines(decode_unicode=False):
                line = raw.decode("utf-8", errors="replace").strip()
                if not line or line.startswith(":"):  # keep-alive blank lines and SSE comments
                    continue
                if not line.startswith("data:"):
                    raise LlmError(
                        f"LLM server {self.url}: not an event stream (got {line[:60]!r})"
                    )
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                yield _delta_text(self.url, data)
        except requests.RequestException as error:
            if (
                isinstance(error, requests.ConnectionError | requests.Timeout)
                and "timed out" in str(error).lower()
            ):
                raise LlmError(
                    f"LLM server {self.url}: stream stalled for more than {self.read_timeout:g} s"
                ) from None
            raise LlmError(
                f"LLM server {self.url}: stream broken ({type(error).__name__})"
            ) from None
        if not done:
            raise LlmError(f"LLM server {self.url}: stream ended without [DONE]")

    def stream_sentences(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Whole sentences, each yielded as soon as its last token has arrived."""
        buffer = ""
        for token in self.stream_tokens(messages):
            buffer += token
            while True:
                m = _SENTENCE.match(buffer)
                if not m or m.end() == len(buffer) and not buffer[-1].isspace():
                    break  # a sentence is complete only once something follows its full stop
                sentence = m.group(1).strip()
                buffer = buffer[m.end() :]
                if sentence:
                    yield sentence
        if buffer.strip():
            yield buffer.strip()


@dataclass(frozen=True)
class StreamedReply(Reply):
    """A reply whose first sentences are known and whose `more` sentences are still coming
    (the engine synthesises each as it arrives)."""

    more: Iterator[str] | None = field(default=None, compare=False)


def _delta_text(url: str, data: str) -> str:
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise LlmError(f"LLM server {url}: event is not JSON ({data[:60]!r})") from None
    if not isinstance(event, dict):
        raise LlmError(f"LLM server {url}: unexpected event {data[:60]!r}")
    if "error" in event:
        raise LlmError(f"LLM server {url}: {_message(event['error'])}")
    try:
        choice = event["choices"][0] if event["choices"] else {}
        return choice.get("delta", {}).get("content") or ""
    except (KeyError, TypeError, AttributeError, IndexError):
        raise LlmError(f"LLM server {url}: unexpected event {data[:60]!r}") from None


def _message(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _error_text(response: requests.Response) -> str:
    try:
        return _message(response.json().get("error", response.text))[:200]
    except (ValueError, AttributeError):
        return response.text[:200].strip() or response.reason


class LlmResponder:
    """Flow responder for the dialogue, LLM for phrasing knowledge answers; falls back on failure."""

    def __init__(self, agent: Agent, client: LlmClient, history_turns: int = 6) -> None:
        self.agent = agent
        self.client = client
        self.history_turns = history_turns

    def messages(
        self, conv: Conversation, text: str, chunks: list[KnowledgeChunk]
    ) -> list[dict[str, str]]:
        d = self.agent.definition
        knowledge = (
            "\n".join(f"- [{c.source} / {c.heading}] {c.text}" for c in chunks) or "- (none)"
        )
        system = (
            f"You are {d.name} at {d.company} on a phone call. {d.persona.strip()}\n"
            "Answer in at most three short, speakable sentences, using only the facts below. "
            f"If they do not answer the question, say you will check with a colleague. Only discuss {d.company} "
            "business; politely refuse anything else. Never repeat a card number.\n"
            f"Facts:\n{knowledge}"
        )
        messages = [{"role": "system", "content": system}]
        for who, said in conv.history[-self.history_turns - 1 : -1]:
            messages.append({"role": "user" if who == "caller" else "assistant", "content": said})
        messages.append({"role": "user", "content": redact_cards(text)})
        return messages

    def reply(
        self,
        conv: Conversation,
        text: str,
        understanding: Understanding,
        chunks: list[KnowledgeChunk],
    ) -> Reply:
        """Same contract as `Agent.reply`."""
        flow = self.agent.reply(conv, text, understanding, chunks)
        if not any(a.kind == "answer" for a in flow.actions) or conv.last_reply_questions:
            # Slot filling, actions and escalation stay deterministic, and so do multi-question
            # replies (their sentences are mapped to the sub-questions they answer).
            return flow
        stream = self.client.stream_sentences(self.messages(conv, text, chunks))
        try:
            first = redact_cards(next(stream))
        except (LlmError, StopIteration) as error:
            reason = (
                error
                if isinstance(error, LlmError)
                else f"LLM server {self.client.url}: empty answer"
            )
            log.warning("LLM answer failed, using the flow answer: %s", reason)
            return replace(flow, plan=f"{flow.plan}; LLM failed ({reason}); flow answer used")
        spoken = [first]
        closing = self.agent.definition.anything_else

        def rest() -> Iterator[str]:
            """The remaining sentences as the model produces them, then the closing question.
            A stream that breaks off ends the answer where it broke."""
            try:
                for sentence in stream:
                    spoken.append(redact_cards(sentence))
                    yield spoken[-1]
            except LlmError as error:
                log.warning("LLM stream broke off after %d sentences: %s", len(spoken), error)
            spoken.append(closing)
            if conv.history and conv.history[-1][0] == "agent":
                conv.history[-1] = ("agent", " ".join(spoken))
            yield closing

        # The first sentence goes to the voice now; the rest follow as the tokens arrive.
        return StreamedReply(
            sentences=(first,),
            routing=flow.routing,
            actions=flow.actions,
            plan=f"{flow.plan}; phrased by LLM {self.client.model} (streamed)",
            end_call=flow.end_call,
            topic=flow.topic,
            more=rest(),
        )
