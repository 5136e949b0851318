"""One desk's `/agent` WebSocket on the server: a human agent or a supervisor.

It reads the desk's messages (`desk_protocol.py`), takes calls from the switchboard, joins
legs and carries the desk's audio and typed words into them. Apart from the legs because it
is the socket side (a queue of outbound messages, a writer, a desk that stops reading).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from typing import Any, Protocol

from aiohttp import web

from workbench.telephony.handoff.desk_protocol import (
    MODES,
    Audio,
    BadDeskMessage,
    Hello,
    ModeChange,
    Monitor,
    QueueRequest,
    Say,
    Take,
    read_desk_message,
)
from workbench.telephony.handoff.legs import ConsultLeg, HumanLeg
from workbench.telephony.handoff.switchboard import Switchboard
from workbench.telephony.handoff.ticket import HandoffTicket, skills_allow

log = logging.getLogger(__name__)

AGENT_MAX_BACKLOG = 1500  # messages waiting for an agent client (~30 s of audio)


class DeskHost(Protocol):
    """What a desk's connection needs from the server."""

    @property
    def switchboard(self) -> Switchboard: ...
    def human_tts(self) -> Any: ...


class DeskConnection:
    """One `/agent` WebSocket: a human agent or a supervisor."""

    def __init__(self, server: DeskHost, ws: web.WebSocketResponse) -> None:
        self.server = server
        self.ws = ws
        self.role = ""
        self.name = ""
        self.skills: frozenset[str] = frozenset()
        self.call: HumanLeg | ConsultLeg | None = None
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._close_task: asyncio.Future | None = None

    def can_serve(self, ticket: HandoffTicket) -> bool:
        return skills_allow(self.skills, ticket.skills)

    def send(self, message: dict[str, Any]) -> None:
        if self._out.qsize() > AGENT_MAX_BACKLOG:
            log.warning("agent client %s stopped reading; disconnecting", self.name)
            self._close_task = asyncio.ensure_future(self.close())
            return
        self._out.put_nowait(json.dumps(message, separators=(",", ":")))

    def send_media(self, track: str, payload: bytes) -> None:
        b64 = base64.b64encode(payload).decode("ascii")
        self.send({"event": "media", "track": track, "media": {"payload": b64}})

    async def close(self) -> None:
        self._out.put_nowait(None)
        await self.ws.close()

    async def run(self) -> None:
        writer = asyncio.create_task(self._write_loop())
        self.server.switchboard.people.add(self)
        try:
            async for message in self.ws:
                try:
                    await self._handle(read_desk_message(message))
                except BadDeskMessage as error:
                    self.send({"event": "error", "message": str(error)})
                except (ValueError, KeyError, TypeError, binascii.Error) as error:
                    self.send({"event": "error", "message": f"bad message: {error}"})
        finally:
            self.server.switchboard.people.discard(self)
            if self.call is not None:
                leg = self.call
                leg.remove_person(self)
                if leg.agent is None and self.role == "agent" and not leg.ended:
                    # The agent vanished mid-call: back to the front of the queue.
                    leg.call.state = "queued"
                    self.server.switchboard.enqueue(leg)
            self._out.put_nowait(None)
            await writer

    async def _write_loop(self) -> None:
        while True:
            text = await self._out.get()
            if text is None or self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _handle(self, data: dict[str, Any]) -> None:
        event = data.get("event")
        if not self.role:
            hello = Hello.read(data)
            if hello is None:
                self.send({"event": "error", "message": "say hello with a role first"})
                return
            self.role, self.name, self.skills = hello.role, hello.name, hello.skills
            self.send({"event": "welcome", "queue": self.server.switchboard.snapshot()})
            return
        # (Each message is read where it is acted on: one sent at the wrong time is refused as
        # unexpected before its fields are looked at.)
        match event:
            case "list":
                self.send({"event": "queue", "calls": self.server.switchboard.snapshot()})
            case "take" if self.role == "agent":
                if self.call is not None:
                    self.send({"event": "error", "message": "already on a call"})
                    return
                leg = self.server.switchboard.take(self, Take.read(data).call_sid)
                if leg is None:
                    self.send({"event": "error", "message": "no such call waiting"})
                    return
                leg.connect_agent(self)
            case "media":
                self._audio(Audio.read(data).payload)
            case "say":
                text = Say.read(data).text
                if text and self.call is not None:
                    loop = asyncio.get_running_loop()
                    ulaw = await loop.run_in_executor(None, self.server.human_tts().render, text)
                    self._audio(ulaw)
            case "hangup" if self.role == "agent" and self.call is not None:
                self.call.hang_up_by(self)
            case "transfer" if self.role == "agent" and isinstance(self.call, HumanLeg):
                self.call.transfer(QueueRequest.read(data).queue)
            case "consult" if self.role == "agent" and isinstance(self.call, HumanLeg):
                self.call.start_consult(QueueRequest.read(data).queue)
            case "consult_end" if self.role == "agent" and isinstance(self.call, HumanLeg):
                self.call.end_consult()
            case "monitor" if self.role == "supervisor":
                monitor = Monitor.read(data)
                leg = self.server.switchboard.find_active(monitor.call_sid)
                if monitor.mode not in MODES or leg is None:
                    self.send({"event": "error", "message": "no such active call or mode"})
                    return
                leg.add_supervisor(self, str(monitor.mode))
            case "mode" if self.role == "supervisor" and isinstance(self.call, HumanLeg):
                mode = ModeChange.read(data).mode
                if mode not in MODES:
                    self.send({"event": "error", "message": f"mode must be one of {MODES}"})
                    return
                self.call.supervisors[self] = str(mode)
                self.send({"event": "monitoring", "callSid": self.call.call.call_sid, "mode": mode})
            case "leave" if self.call is not None:
                self.call.remove_person(self)
                self.call = None
            case _:
                self.send({"event": "error", "message": f"unexpected {event!r} now"})

    def _audio(self, ulaw: bytes) -> None:
        if self.call is None or not ulaw:
            return
        if self.role == "agent" and self.call.agent is self:
            self.call.queue_agent_audio(ulaw)
        elif self.role == "supervisor" and isinstance(self.call, HumanLeg):
            self.call.queue_supervisor_audio(self, ulaw)
