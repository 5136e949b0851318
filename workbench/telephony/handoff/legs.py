"""Human handoff and supervision: queues, the human leg of a call, and agent clients.

When the AI session ends with a handoff, `start_handoff` opens a *human leg* on the same media
socket: a new call id (linked to the AI leg as VoiceCall links legs, previous/next), a
`HandoffTicket` with everything the human needs, a place in a queue chosen by priority (VIP
callers from the CRM lookup go to the agent's VIP queue) and skills (the topic), and hold audio
for the caller until someone takes the call.

Agent clients speak JSON over the `/agent` WebSocket (the `workbench desk` terminal is one):

    → {"event": "hello", "role": "agent"|"supervisor", "name": "...", "skills": ["billing"]}
    ← {"event": "welcome", "queue": [...]}          ← {"event": "queue", "calls": [...]}
    → {"event": "list"}
    → {"event": "take", "callSid": "CA…"}            (omit callSid: the best call for my skills)
    ← {"event": "context", "callSid": …, "legId": …, "context": {...}}   (always first)
    ← {"event": "connected", "callSid": …}
    ← {"event": "media", "track": "caller"|"agent"|"supervisor", "media": {"payload": b64}}
    → {"event": "media", "media": {"payload": b64}}  (20 ms μ-law frames, paced by the client)
    → {"event": "say", "text": "..."}                 (spoken into the call in a TTS voice)
    → {"event": "hangup"} | {"event": "transfer", "queue": "Billing"}
    → {"event": "monitor", "callSid": …, "mode": "listen"|"whisper"|"barge"}   (supervisors)
    → {"event": "mode", "mode": …} | {"event": "leave"}
    ← {"event": "ended", "callSid": …, "reason": …} | {"event": "error", "message": …}

Audio: the caller hears the agent mixed with a barging supervisor, paced at 20 ms by the leg's
mixer; the agent hears the caller and any whispering or barging supervisor (separate tracks);
a listening supervisor hears caller and agent and is heard by no one; a whisper reaches only the
agent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from aiohttp import WSMsgType, web

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.audio.frames import iter_frames
from workbench.telephony.sounds import hold_frames

if TYPE_CHECKING:
    from workbench.telephony.server.call_bridge import MediaCall
    from workbench.telephony.server.media_server import MediaStreamServer

log = logging.getLogger(__name__)

FRAME_S = 0.02
PRIORITY_HIGH = 0
PRIORITY_NORMAL = 1
MODES = ("listen", "whisper", "barge")
MAX_AGENT_BUFFER_FRAMES = 3000  # 60 s of queued agent speech
AGENT_MAX_BACKLOG = 1500  # messages waiting for an agent client (~30 s of audio)


def new_leg_id() -> str:
    return "CA" + uuid.uuid4().hex


def skills_allow(desk_skills: frozenset[str], call_skills: frozenset[str]) -> bool:
    """May a desk with these skills take a call needing those? (no skills on either side: yes)"""
    return (
        not call_skills or not desk_skills or "*" in desk_skills or bool(call_skills & desk_skills)
    )


class BadDeskMessage(ValueError):
    """A desk sent something that is not a JSON object in a text frame (said back to it)."""


def read_desk_message(message: Any) -> dict[str, Any]:
    """A desk's WebSocket message as a JSON object, or `BadDeskMessage` saying what is wrong."""
    if message.type != WSMsgType.TEXT:
        raise BadDeskMessage("JSON text frames only")
    try:
        data = json.loads(message.data)
    except ValueError as error:
        raise BadDeskMessage(f"bad message: {error}") from None
    if not isinstance(data, dict):
        raise BadDeskMessage("bad message: not an object")
    return data


@dataclass
class HandoffTicket:
    """A call waiting for (or with) a human, and the context the human gets before speaking."""

    call_sid: str  # the original call (the AI leg's callSid)
    leg_id: str  # this human leg's call id
    queue: str
    priority: int
    skills: frozenset[str]
    reason: str
    summary: str
    transcript: list[tuple[str, str]]
    captured: dict[str, Any]
    crm: dict[str, Any] | None
    caller_number: str
    topic: str
    previous_call_id: str
    enqueued_at: float = field(default_factory=time.monotonic)
    sequence: int = 0

    def describe(self) -> dict[str, Any]:
        """The queue entry an agent sees in a listing."""
        return {
            "callSid": self.call_sid,
            "legId": self.leg_id,
            "queue": self.queue,
            "priority": "high" if self.priority == PRIORITY_HIGH else "normal",
            "skills": sorted(self.skills),
            "caller": self.caller_number,
            "topic": self.topic,
            "reason": self.reason,
            "waitingSeconds": round(time.monotonic() - self.enqueued_at, 1),
        }

    def context(self) -> dict[str, Any]:
        """Everything the human needs before speaking."""
        return {
            **self.describe(),
            "summary": self.summary,
            "transcript": [{"speaker": s, "text": t} for s, t in self.transcript],
            "captured": dict(self.captured),
            "crm": self.crm,
            "previousCallId": self.previous_call_id,
        }


def _crm_dict(info: Any) -> dict[str, Any] | None:
    if info is None:
        return None
    return {
        "recordType": info.record_type,
        "recordId": info.record_id,
        "name": info.name,
        "account": info.account_name,
        "vip": bool(info.vip),
        "openCases": list(info.open_cases),
    }


def start_handoff(call: MediaCall) -> None:
    """The AI session ended with a handoff: queue the call and play hold audio."""
    server = call.server
    session = call.session
    conversation = getattr(session, "conversation", None)
    escalation = call.escalation
    handoff = next(
        (e for e in reversed(call.summary.events) if type(e).__name__ == "HandoffRequested"), None
    )
    definition = getattr(server.agent, "definition", None)
    esc_spec = getattr(definition, "escalation", None)
    vip = bool(call.caller_info is not None and call.caller_info.vip) or (
        escalation.get("priority") == "high"
    )
    queue = escalation.get("queue") or (
        (esc_spec.vip_queue if vip else esc_spec.queue) if esc_spec is not None else "support"
    )
    topic = call.last_topic or getattr(conversation, "topic", None) or ""
    ticket = HandoffTicket(
        call_sid=call.call_sid,
        leg_id=new_leg_id(),
        queue=queue,
        priority=PRIORITY_HIGH if vip else PRIORITY_NORMAL,
        skills=frozenset({topic.lower()}) if topic and topic != "SpeakToHuman" else frozenset(),
        reason=escalation.get("reason") or (handoff.reason if handoff else "handoff"),
        summary=(handoff.summary if handoff and handoff.summary else "")
        or escalation.get("summary", ""),
        transcript=list(getattr(session, "transcript", [])),
        captured=dict(getattr(conversation, "captured", {}) or {}),
        crm=_crm_dict(call.caller_info),
        caller_number=call.caller_number,
        topic=topic,
        previous_call_id=call.call_sid,
    )
    leg = HumanLeg(call, ticket)
    call.human = leg
    call.summary.human_leg_ids.append(ticket.leg_id)
    call.state = "queued"
    server.write_ai_leg(call)
    server.metrics.inc("workbench_handoffs_total", queue=ticket.queue)
    server.switchboard.enqueue(leg)
    leg.start()
    log.info("call %s: queued for %s as leg %s", call.call_sid, ticket.queue, ticket.leg_id)


def mix(frames: list[bytes]) -> bytes:
    if len(frames) == 1:
        return frames[0]
    total = np.sum([ulaw_decode(f).astype(np.int32) for f in frames], axis=0)
    return ulaw_encode(np.clip(total, -32768, 32767).astype(np.int16))


class HumanLeg:
    """The human part of a call: hold, then agent ↔ caller audio, supervisors around it."""

    def __init__(self, call: MediaCall, ticket: HandoffTicket) -> None:
        self.call = call
        self.ticket = ticket
        self.agent: AgentConnection | None = None
        self.supervisors: dict[AgentConnection, str] = {}
        self.agent_audio: deque[bytes] = deque()
        self.supervisor_audio: deque[bytes] = deque()  # barge: heard by caller and agent
        self.whisper_audio: deque[bytes] = deque()  # whisper: heard by the agent only
        self.started_at = datetime.now(UTC)
        self.taken_at: datetime | None = None
        self.ended = False
        self._hold = itertools.cycle(hold_frames())
        self._mixer: asyncio.Task | None = None
        self.consult: ConsultLeg | None = None

    @property
    def leg_id(self) -> str:
        return self.ticket.leg_id

    def start(self) -> None:
        self._mixer = asyncio.ensure_future(self._mix_loop())

    # ---------------------------------------------------------------- audio paths

    def on_caller_frame(self, frame: bytes) -> None:
        payload = {"track": "caller", "payload": frame}
        if self.agent is not None:
            self.agent.send_media(**payload)
        for supervisor in self.supervisors:
            supervisor.send_media(**payload)

    def on_caller_dtmf(self, digit: str) -> None:
        if self.agent is not None:
            self.agent.send({"event": "dtmf", "callSid": self.call.call_sid, "digit": digit})

    def queue_agent_audio(self, ulaw: bytes) -> None:
        if self.consult is not None:  # the caller is on hold: the agent talks to the consultant
            self.consult.from_agent(ulaw)
            return
        for frame in iter_frames(ulaw):
            if len(self.agent_audio) < MAX_AGENT_BUFFER_FRAMES:
                self.agent_audio.append(frame)

    def queue_supervisor_audio(self, supervisor: AgentConnection, ulaw: bytes) -> None:
        mode = self.supervisors.get(supervisor)
        if mode == "whisper":
            # The agent alone hears a whisper; it never enters the caller's mix.
            for frame in iter_frames(ulaw):
                if len(self.whisper_audio) < MAX_AGENT_BUFFER_FRAMES:
                    self.whisper_audio.append(frame)
        elif mode == "barge":
            for frame in iter_frames(ulaw):
                if len(self.supervisor_audio) < MAX_AGENT_BUFFER_FRAMES:
                    self.supervisor_audio.append(frame)

    async def _mix_loop(self) -> None:
        """Every 20 ms on an absolute deadline: one frame for the caller (hold or the mix)."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while not self.ended and self.call.state in ("queued", "human"):
            if self.agent is None or self.consult is not None:
                self.call.send_media(next(self._hold))  # waiting, or on hold for a consult
            else:
                parts: list[bytes] = []
                agent_frame = self.agent_audio.popleft() if self.agent_audio else None
                barge_frame = self.supervisor_audio.popleft() if self.supervisor_audio else None
                if agent_frame is not None:
                    parts.append(agent_frame)
                if barge_frame is not None:
                    parts.append(barge_frame)
                    self.agent.send_media("supervisor", barge_frame)
                if self.whisper_audio:
                    self.agent.send_media("supervisor", self.whisper_audio.popleft())
                if parts:
                    heard = mix(parts)
                    self.call.send_media(heard)
                    for supervisor in self.supervisors:
                        if agent_frame is not None:
                            supervisor.send_media("agent", agent_frame)
            next_tick += FRAME_S
            delay = next_tick - loop.time()
            if delay < -0.2:  # the loop stalled: resynchronise rather than burst
                next_tick = loop.time()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    # ---------------------------------------------------------------- people

    def connect_agent(self, agent: AgentConnection) -> None:
        """The agent took the call: context first, then audio."""
        self.agent = agent
        self.taken_at = datetime.now(UTC)
        self.call.state = "human"
        self.agent_audio.clear()
        agent.call = self
        agent.send(
            {
                "event": "context",
                "callSid": self.call.call_sid,
                "legId": self.leg_id,
                "context": self.ticket.context(),
            }
        )
        agent.send({"event": "connected", "callSid": self.call.call_sid, "legId": self.leg_id})
        self.call.server.metrics.human_calls += 1

    def add_supervisor(self, supervisor: AgentConnection, mode: str) -> None:
        self.supervisors[supervisor] = mode
        supervisor.call = self
        supervisor.send(
            {
                "event": "context",
                "callSid": self.call.call_sid,
                "legId": self.leg_id,
                "context": self.ticket.context(),
                "mode": mode,
            }
        )
        supervisor.send({"event": "monitoring", "callSid": self.call.call_sid, "mode": mode})

    def remove_person(self, person: AgentConnection) -> None:
        self.supervisors.pop(person, None)
        if person is self.agent:
            self.agent = None
            metrics = self.call.server.metrics
            metrics.human_calls = max(0, metrics.human_calls - 1)

    def transfer(self, queue: str) -> None:
        """The agent hands the caller on: this leg ends, a new one waits in `queue`."""
        self.end_consult("transferred")
        old = self.ticket
        new_ticket = HandoffTicket(
            call_sid=old.call_sid,
            leg_id=new_leg_id(),
            queue=queue,
            priority=old.priority,
            skills=old.skills,
            reason=f"transfer from {self.agent.name if self.agent else 'agent'}: {old.reason}",
            summary=old.summary,
            transcript=old.transcript,
            captured=old.captured,
            crm=old.crm,
            caller_number=old.caller_number,
            topic=old.topic,
            previous_call_id=old.leg_id,
        )
        self._finish("transferred", next_call_id=new_ticket.leg_id)
        leg = HumanLeg(self.call, new_ticket)
        self.call.human = leg
        self.call.summary.human_leg_ids.append(new_ticket.leg_id)
        self.call.state = "queued"
        self.call.server.switchboard.enqueue(leg)
        leg.start()

    def hang_up_by(self, person: AgentConnection) -> None:
        if person is self.agent:
            self.call.end("agent_hung_up")

    def start_consult(self, queue: str) -> None:
        """The agent asks a colleague: a separate consult leg; the caller hears hold audio."""
        if self.consult is not None or self.agent is None:
            return
        old = self.ticket
        ticket = HandoffTicket(
            call_sid=old.call_sid,
            leg_id=new_leg_id(),
            queue=queue,
            priority=PRIORITY_HIGH,  # a colleague is waiting, and the caller on hold
            skills=frozenset(),
            reason=f"consult requested by {self.agent.name}",
            summary=old.summary,
            transcript=old.transcript,
            captured=old.captured,
            crm=old.crm,
            caller_number=old.caller_number,
            topic=old.topic,
            previous_call_id=old.leg_id,
        )
        self.consult = ConsultLeg(self, ticket)
        self.agent.send({"event": "consulting", "legId": ticket.leg_id, "queue": queue})
        self.call.server.switchboard.enqueue(self.consult)

    def end_consult(self, reason: str = "consult_ended") -> None:
        if self.consult is not None:
            consult, self.consult = self.consult, None
            consult.finish(reason)

    def end(self, reason: str) -> None:
        """The call is over (caller hung up, agent hung up, server shutdown)."""
        if self.ended:
            return
        self.end_consult("call_ended")
        self._finish(reason)

    def _finish(self, reason: str, next_call_id: str | None = None) -> None:
        self.ended = True
        server = self.call.server
        server.switchboard.remove(self)
        if self._mixer is not None:
            self._mixer.cancel()
        if self.agent is not None:
            server.metrics.human_calls = max(0, server.metrics.human_calls - 1)
        for person in [self.agent, *self.supervisors]:
            if person is not None:
                person.send({"event": "ended", "callSid": self.call.call_sid, "reason": reason})
                person.call = None
        server.write_record(self.record(reason, next_call_id))

    def record(self, reason: str, next_call_id: str | None) -> Any:
        from workbench.crm.call_record import CallRecord
        from workbench.crm.from_call import AGENT_LINE

        ended = datetime.now(UTC)
        start = self.taken_at or self.started_at
        if self.taken_at is None:
            disposition = "abandoned"
        elif reason == "transferred":
            disposition = "transferred"
        else:
            disposition = "human_resolved"
        return CallRecord(
            call_id=self.leg_id,
            from_number=self.ticket.caller_number or "+10000000000",
            to_number=AGENT_LINE,
            started_at=self.started_at,
            ended_at=ended,
            duration_s=round((ended - start).total_seconds(), 2),
            intent=self.ticket.topic,
            disposition=disposition,
            routed_to=(self.agent.name if self.agent else self.ticket.queue),
            summary=f"Human leg ({reason}). {self.ticket.summary}"[:1000],
            captured=dict(self.ticket.captured),
            previous_call_id=self.ticket.previous_call_id,
            next_call_id=next_call_id,
        )


class ConsultLeg:
    """Agent ↔ colleague while the caller holds: its own call leg, linked to the human leg."""

    def __init__(self, parent: HumanLeg, ticket: HandoffTicket) -> None:
        self.parent = parent
        self.call = parent.call
        self.ticket = ticket
        self.agent: AgentConnection | None = None  # the consulted colleague
        self.started_at = datetime.now(UTC)
        self.taken_at: datetime | None = None
        self.ended = False

    @property
    def leg_id(self) -> str:
        return self.ticket.leg_id

    def connect_agent(self, agent: AgentConnection) -> None:
        self.agent = agent
        self.taken_at = datetime.now(UTC)
        agent.call = self
        context = {**self.ticket.context(), "consult": True}
        agent.send(
            {
                "event": "context",
                "callSid": self.call.call_sid,
                "legId": self.leg_id,
                "context": context,
            }
        )
        agent.send({"event": "connected", "callSid": self.call.call_sid, "legId": self.leg_id})
        if self.parent.agent is not None:
            self.parent.agent.send(
                {"event": "consult_connected", "legId": self.leg_id, "name": agent.name}
            )

    def from_agent(self, ulaw: bytes) -> None:
        if self.agent is not None:
            for frame in iter_frames(ulaw):
                self.agent.send_media("agent", frame)

    def queue_agent_audio(self, ulaw: bytes) -> None:
        """The colleague speaks: only the consulting agent hears it."""
        if self.parent.agent is not None:
            for frame in iter_frames(ulaw):
                self.parent.agent.send_media("consultant", frame)

    def remove_person(self, person: AgentConnection) -> None:
        if person is self.agent:
            self.parent.end_consult("consultant_left")

    def hang_up_by(self, person: AgentConnection) -> None:
        self.parent.end_consult("consultant_hung_up")

    def finish(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        server = self.call.server
        server.switchboard.remove(self)
        for person in (self.agent, self.parent.agent):
            if person is not None:
                person.send({"event": "consult_ended", "legId": self.leg_id, "reason": reason})
        if self.agent is not None:
            self.agent.call = None
        server.write_record(self.record(reason))

    def record(self, reason: str) -> Any:
        from workbench.crm.call_record import CallRecord
        from workbench.crm.from_call import AGENT_LINE

        ended = datetime.now(UTC)
        return CallRecord(
            call_id=self.leg_id,
            from_number=self.ticket.caller_number or "+10000000000",
            to_number=AGENT_LINE,
            started_at=self.started_at,
            ended_at=ended,
            duration_s=round((ended - (self.taken_at or self.started_at)).total_seconds(), 2),
            intent=self.ticket.topic,
            disposition="consult" if self.taken_at else "abandoned",
            routed_to=self.agent.name if self.agent else self.ticket.queue,
            summary=f"Consult leg ({reason}). {self.ticket.summary}"[:1000],
            previous_call_id=self.ticket.previous_call_id,
        )


class Switchboard:
    """The queues of waiting calls and the connected agent clients."""

    def __init__(self, server: MediaStreamServer) -> None:
        self.server = server
        self.queue: list[HumanLeg] = []
        self.people: set[AgentConnection] = set()
        self._sequence = itertools.count()

    def enqueue(self, leg: HumanLeg) -> None:
        leg.ticket.sequence = next(self._sequence)
        self.queue.append(leg)
        self.queue.sort(key=lambda item: (item.ticket.priority, item.ticket.sequence))
        self.server.metrics.queued_calls = len(self.queue)
        self.broadcast_queue()

    def remove(self, leg: HumanLeg) -> None:
        if leg in self.queue:
            self.queue.remove(leg)
            self.server.metrics.queued_calls = len(self.queue)
            self.broadcast_queue()

    def take(self, agent: AgentConnection, call_sid: str | None = None) -> HumanLeg | None:
        """The named call, or the first one (priority, then arrival) this agent can serve."""
        for leg in self.queue:
            if call_sid is not None and call_sid not in (leg.ticket.call_sid, leg.ticket.leg_id):
                continue
            if call_sid is None and not agent.can_serve(leg.ticket):
                continue
            self.remove(leg)
            return leg
        return None

    def find_active(self, call_sid: str) -> HumanLeg | None:
        call = self.server.calls.get(call_sid)
        if call is not None and call.human is not None and not call.human.ended:
            return call.human
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        return [leg.ticket.describe() for leg in self.queue]

    def broadcast_queue(self) -> None:
        message = {"event": "queue", "calls": self.snapshot()}
        for person in self.people:
            if person.role == "agent" and person.call is None:
                person.send(message)

    async def close(self) -> None:
        for person in list(self.people):
            await person.close()


class AgentConnection:
    """One `/agent` WebSocket: a human agent or a supervisor."""

    def __init__(self, server: MediaStreamServer, ws: web.WebSocketResponse) -> None:
        self.server = server
        self.ws = ws
        self.role = ""
        self.name = ""
        self.skills: frozenset[str] = frozenset()
        self.call: HumanLeg | None = None
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
            if event != "hello" or data.get("role") not in ("agent", "supervisor"):
                self.send({"event": "error", "message": "say hello with a role first"})
                return
            self.role = data["role"]
            self.name = str(data.get("name") or self.role)
            self.skills = frozenset(str(s).lower() for s in data.get("skills", []) or [])
            self.send({"event": "welcome", "queue": self.server.switchboard.snapshot()})
            return
        match event:
            case "list":
                self.send({"event": "queue", "calls": self.server.switchboard.snapshot()})
            case "take" if self.role == "agent":
                if self.call is not None:
                    self.send({"event": "error", "message": "already on a call"})
                    return
                leg = self.server.switchboard.take(self, data.get("callSid"))
                if leg is None:
                    self.send({"event": "error", "message": "no such call waiting"})
                    return
                leg.connect_agent(self)
            case "media":
                payload = base64.b64decode(data["media"]["payload"], validate=True)
                self._audio(payload)
            case "say":
                text = str(data["text"]).strip()
                if text and self.call is not None:
                    loop = asyncio.get_running_loop()
                    ulaw = await loop.run_in_executor(None, self.server.human_tts().render, text)
                    self._audio(ulaw)
            case "hangup" if self.role == "agent" and self.call is not None:
                self.call.hang_up_by(self)
            case "transfer" if self.role == "agent" and isinstance(self.call, HumanLeg):
                self.call.transfer(str(data["queue"]))
            case "consult" if self.role == "agent" and isinstance(self.call, HumanLeg):
                self.call.start_consult(str(data["queue"]))
            case "consult_end" if self.role == "agent" and isinstance(self.call, HumanLeg):
                self.call.end_consult()
            case "monitor" if self.role == "supervisor":
                mode = data.get("mode", "listen")
                leg = self.server.switchboard.find_active(str(data.get("callSid", "")))
                if mode not in MODES or leg is None:
                    self.send({"event": "error", "message": "no such active call or mode"})
                    return
                leg.add_supervisor(self, mode)
            case "mode" if self.role == "supervisor" and self.call is not None:
                mode = data.get("mode")
                if mode not in MODES:
                    self.send({"event": "error", "message": f"mode must be one of {MODES}"})
                    return
                self.call.supervisors[self] = mode
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
        elif self.role == "supervisor":
            self.call.queue_supervisor_audio(self, ulaw)
