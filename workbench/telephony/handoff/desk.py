"""The human side of a handoff: an agent-client library and the `workbench desk` terminal.

`DeskClient` speaks the server's `/agent` protocol (`desk_protocol.py`) synchronously with
websocket-client: agents list the queue, take a call (the context arrives before any audio),
speak by typing (`say`, rendered in a TTS voice by the server) or by sending audio, transfer
and hang up; supervisors monitor a call in listen, whisper or barge mode.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import websocket

from workbench.audio.frames import FRAME_BYTES
from workbench.errors import WorkbenchError

log = logging.getLogger(__name__)


class DeskError(WorkbenchError):
    """The agent server refused a request or did not answer."""


class DeskClient:
    """A human agent's (or supervisor's) connection to the server's `/agent` endpoint."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        role: str = "agent",
        name: str = "agent",
        skills: tuple[str, ...] = (),
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.role = role
        self.name = name
        self.skills = skills
        self.on_message = on_message
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.history: list[dict[str, Any]] = []  # every non-media message, in order
        self.audio: dict[str, bytearray] = defaultdict(bytearray)  # by track
        self.first_media_index: int | None = None  # position in `history` of the first media
        self.call_sid: str | None = None
        self._ws: websocket.WebSocket | None = None
        self._lock = threading.Lock()
        self._receiver: threading.Thread | None = None
        self.closed = threading.Event()
        self._changed = threading.Condition()

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until `predicate()` holds (checked whenever something arrives) or timeout."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout_s)

    def connect(self, timeout_s: float = 10.0) -> dict[str, Any]:
        header = [f"Authorization: Bearer {self.token}"] if self.token else []
        try:
            self._ws = websocket.create_connection(self.url, timeout=timeout_s, header=header)
        except (OSError, websocket.WebSocketException) as error:
            raise DeskError(f"{self.url}: cannot connect ({error})") from None
        self._ws.settimeout(None)
        self._receiver = threading.Thread(target=self._receive, name="desk-rx", daemon=True)
        self._receiver.start()
        self.send(
            {"event": "hello", "role": self.role, "name": self.name, "skills": list(self.skills)}
        )
        return self.wait_for("welcome", timeout_s)

    def send(self, message: dict[str, Any]) -> None:
        if self._ws is None:
            raise DeskError("not connected")
        with self._lock:
            self._ws.send(json.dumps(message))

    def _receive(self) -> None:
        assert self._ws is not None
        while True:
            try:
                text = self._ws.recv()
            except (OSError, websocket.WebSocketException):
                break
            if not text:
                break
            message = json.loads(text)
            with self._changed:
                if message.get("event") == "media":
                    self.audio[message.get("track", "")].extend(
                        base64.b64decode(message["media"]["payload"])
                    )
                    if self.first_media_index is None:
                        self.first_media_index = len(self.history)
                    self._changed.notify_all()
                    continue
                if message.get("event") == "ended":
                    self.call_sid = None
                self.history.append(message)
                self._changed.notify_all()
            self.messages.put(message)
            if self.on_message is not None:
                self.on_message(message)
        with self._changed:
            self.closed.set()
            self._changed.notify_all()
        self.messages.put({"event": "closed"})

    def wait_for(self, event: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The next message of kind `event` (earlier ones of other kinds are skipped)."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeskError(f"no {event!r} from the server within {timeout_s:g} s")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message.get("event") == event:
                return message
            if message.get("event") == "error":
                raise DeskError(f"server: {message.get('message')}")
            if message.get("event") == "closed":
                raise DeskError("the server closed the connection")

    # ---------------------------------------------------------------- agent actions

    def list_queue(self, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        self.send({"event": "list"})
        return self.wait_for("queue", timeout_s)["calls"]

    def take(self, call_sid: str | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
        """Take a waiting call; returns its context (delivered before any audio)."""
        message: dict[str, Any] = {"event": "take"}
        if call_sid:
            message["callSid"] = call_sid
        self.send(message)
        context = self.wait_for("context", timeout_s)
        self.call_sid = context["callSid"]
        self.wait_for("connected", timeout_s)
        return context

    def say(self, text: str) -> None:
        self.send({"event": "say", "text": text})

    def send_audio(self, ulaw: bytes) -> None:
        for i in range(0, len(ulaw), FRAME_BYTES):
            payload = base64.b64encode(ulaw[i : i + FRAME_BYTES]).decode("ascii")
            self.send({"event": "media", "media": {"payload": payload}})

    def hang_up(self) -> None:
        self.send({"event": "hangup"})

    def transfer(self, queue_name: str) -> None:
        self.send({"event": "transfer", "queue": queue_name})

    def consult(self, queue_name: str, timeout_s: float = 10.0) -> str:
        """Ask a colleague (the caller holds); returns the consult leg's id."""
        self.send({"event": "consult", "queue": queue_name})
        return self.wait_for("consulting", timeout_s)["legId"]

    def end_consult(self) -> None:
        self.send({"event": "consult_end"})

    # ---------------------------------------------------------------- supervisor actions

    def monitor(self, call_sid: str, mode: str = "listen", timeout_s: float = 10.0) -> dict:
        self.send({"event": "monitor", "callSid": call_sid, "mode": mode})
        context = self.wait_for("context", timeout_s)
        self.wait_for("monitoring", timeout_s)
        return context

    def set_mode(self, mode: str, timeout_s: float = 10.0) -> None:
        self.send({"event": "mode", "mode": mode})
        self.wait_for("monitoring", timeout_s)

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close(timeout=2)
            except (OSError, websocket.WebSocketException):
                pass
        if self._receiver is not None:
            self._receiver.join(5.0)


def format_context(context: dict[str, Any]) -> str:
    """The context block a human reads before speaking."""
    c = context.get("context", context)
    lines = [
        f"call {context.get('callSid')} (leg {context.get('legId')}) from {c.get('caller') or '?'}",
        f"queue {c.get('queue')} · priority {c.get('priority')} · topic {c.get('topic') or '-'}",
        f"reason: {c.get('reason')}",
        f"summary: {c.get('summary')}",
    ]
    crm = c.get("crm")
    if crm:
        lines.append(
            f"CRM: {crm.get('recordType')} {crm.get('name')} ({crm.get('account') or 'no account'})"
            + (" VIP" if crm.get("vip") else "")
            + (f"; open cases: {', '.join(crm['openCases'])}" if crm.get("openCases") else "")
        )
    if c.get("captured"):
        lines.append("captured: " + ", ".join(f"{k}={v}" for k, v in c["captured"].items()))
    lines.append("transcript:")
    lines += [f"  {t['speaker']:>6}: {t['text']}" for t in c.get("transcript", [])]
    return "\n".join(lines)


DESK_HELP = """commands: list · take [N|callSid] · (on a call) type to speak · /transfer QUEUE ·
/hangup · quit"""


def run_desk(url: str, *, token: str | None, name: str, skills: tuple[str, ...]) -> None:
    """The interactive terminal desk (`workbench desk`)."""

    latest: dict[str, list[dict[str, Any]]] = {"calls": []}

    def show(message: dict[str, Any]) -> None:
        kind = message.get("event")
        if kind == "queue":
            latest["calls"] = message["calls"]
            print(f"\n[queue] {len(message['calls'])} waiting")
            for i, call in enumerate(message["calls"], 1):
                print(
                    f"  {i}. {call['callSid']} {call['queue']} {call['priority']} "
                    f"{call['topic'] or '-'} waiting {call['waitingSeconds']} s"
                )
        elif kind == "ended":
            print(f"\n[call ended: {message.get('reason')}]")
        elif kind == "dtmf":
            print(f"\n[caller pressed {message.get('digit')}]")
        elif kind == "error":
            print(f"\n[server: {message.get('message')}]")

    client = DeskClient(url, token=token, role="agent", name=name, skills=skills, on_message=show)
    welcome = client.connect()
    show({"event": "queue", "calls": welcome["queue"]})
    print(DESK_HELP)
    try:
        while not client.closed.is_set():
            line = input("desk> " if client.call_sid is None else "you> ").strip()
            if not line:
                continue
            if line in ("quit", "exit"):
                break
            if client.call_sid is None:
                calls = latest["calls"]
                if line == "list":
                    client.list_queue()  # shown as it arrives
                elif line.startswith("take"):
                    arg = line[4:].strip()
                    if arg.isdigit() and 0 < int(arg) <= len(calls):
                        arg = calls[int(arg) - 1]["callSid"]
                    try:
                        print(format_context(client.take(arg or None)))
                        print("connected: type to speak, /hangup to end")
                    except DeskError as error:
                        if not str(error).startswith("server:"):  # (those are shown already)
                            print(error)
                else:
                    print(DESK_HELP)
            elif line == "/hangup":
                client.hang_up()
                client.call_sid = None
            elif line.startswith("/transfer "):
                client.transfer(line.split(maxsplit=1)[1])
                client.call_sid = None
            else:
                client.say(line)
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        client.close()
