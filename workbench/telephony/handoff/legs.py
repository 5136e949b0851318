"""The human side of a call: the human leg (hold, then agent ↔ caller audio, supervisors
around it) and the consult leg (agent ↔ colleague while the caller holds).

When the AI session ends with a handoff, `start_handoff` opens a *human leg* on the same media
socket: a new call id (linked to the AI leg as VoiceCall links legs, previous/next), a
`HandoffTicket` with everything the human needs, a place in a queue chosen by priority (VIP
callers from the CRM lookup go to the agent's VIP queue) and skills (the topic), and hold audio
for the caller until someone takes the call.

Audio: the caller hears the agent mixed with a barging supervisor, paced at 20 ms by the leg's
mixer; the agent hears the caller and any whispering or barging supervisor (separate tracks);
a listening supervisor hears caller and agent and is heard by no one; a whisper reaches only the
agent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.audio.frames import iter_frames
from workbench.telephony.handoff.ports import HeldCall, LegHost
from workbench.telephony.handoff.ticket import (
    PRIORITY_HIGH,
    HandoffTicket,
    handoff_ticket,
)
from workbench.telephony.sounds import hold_frames

log = logging.getLogger(__name__)

FRAME_S = 0.02
MAX_AGENT_BUFFER_FRAMES = 3000  # 60 s of queued agent speech


class Desk(Protocol):
    """A person's connection as the legs and the switchboard use it
    (`desk_connection.DeskConnection`)."""

    role: str  # "agent" | "supervisor"
    name: str
    call: HumanLeg | ConsultLeg | None  # the leg this person is on

    def send(self, message: dict[str, Any]) -> None: ...
    def send_media(self, track: str, payload: bytes) -> None: ...
    def can_serve(self, ticket: HandoffTicket) -> bool: ...
    async def close(self) -> None: ...


class Board(Protocol):
    """The switchboard as the legs use it: the server, and the queue (`switchboard.py`)."""

    @property
    def server(self) -> LegHost: ...
    def enqueue(self, leg: HumanLeg | ConsultLeg) -> None: ...
    def remove(self, leg: HumanLeg | ConsultLeg) -> None: ...


def start_handoff(call: HeldCall, board: Board, escalation_spec: Any) -> None:
    """The AI session ended with a handoff: queue the call and play hold audio (the server
    writes the AI leg's record next, linked to this leg)."""
    ticket = handoff_ticket(call, escalation_spec)
    leg = HumanLeg(call, ticket, board)
    call.human = leg
    call.summary.human_leg_ids.append(ticket.leg_id)
    call.state = "queued"
    board.server.metrics.inc("workbench_handoffs_total", queue=ticket.queue)
    board.enqueue(leg)
    leg.start()
    log.info("call %s: queued for %s as leg %s", call.call_sid, ticket.queue, ticket.leg_id)


def mix(frames: list[bytes]) -> bytes:
    if len(frames) == 1:
        return frames[0]
    total = np.sum([ulaw_decode(f).astype(np.int32) for f in frames], axis=0)
    return ulaw_encode(np.clip(total, -32768, 32767).astype(np.int16))


class HumanLeg:
    """The human part of a call: hold, then agent ↔ caller audio, supervisors around it."""

    def __init__(self, call: HeldCall, ticket: HandoffTicket, board: Board) -> None:
        self.call = call
        self.ticket = ticket
        self.board = board
        self.agent: Desk | None = None
        self.supervisors: dict[Desk, str] = {}
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

    def queue_supervisor_audio(self, supervisor: Desk, ulaw: bytes) -> None:
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

    def connect_agent(self, agent: Desk) -> None:
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
        self.board.server.metrics.human_calls += 1

    def add_supervisor(self, supervisor: Desk, mode: str) -> None:
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

    def remove_person(self, person: Desk) -> None:
        self.supervisors.pop(person, None)
        if person is self.agent:
            self.agent = None
            metrics = self.board.server.metrics
            metrics.human_calls = max(0, metrics.human_calls - 1)

    def transfer(self, queue: str) -> None:
        """The agent hands the caller on: this leg ends, a new one waits in `queue`."""
        self.end_consult("transferred")
        old = self.ticket
        new_ticket = old.next_leg(
            queue=queue,
            priority=old.priority,
            skills=old.skills,
            reason=f"transfer from {self.agent.name if self.agent else 'agent'}: {old.reason}",
        )
        self._finish("transferred", next_call_id=new_ticket.leg_id)
        leg = HumanLeg(self.call, new_ticket, self.board)
        self.call.human = leg
        self.call.summary.human_leg_ids.append(new_ticket.leg_id)
        self.call.state = "queued"
        self.board.enqueue(leg)
        leg.start()

    def hang_up_by(self, person: Desk) -> None:
        if person is self.agent:
            self.call.end("agent_hung_up")

    def start_consult(self, queue: str) -> None:
        """The agent asks a colleague: a separate consult leg; the caller hears hold audio."""
        if self.consult is not None or self.agent is None:
            return
        old = self.ticket
        ticket = old.next_leg(
            queue=queue,
            priority=PRIORITY_HIGH,  # a colleague is waiting, and the caller on hold
            skills=frozenset(),
            reason=f"consult requested by {self.agent.name}",
        )
        self.consult = ConsultLeg(self, ticket)
        self.agent.send({"event": "consulting", "legId": ticket.leg_id, "queue": queue})
        self.board.enqueue(self.consult)

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
        server = self.board.server
        self.board.remove(self)
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
        self.agent: Desk | None = None  # the consulted colleague
        self.started_at = datetime.now(UTC)
        self.taken_at: datetime | None = None
        self.ended = False

    @property
    def leg_id(self) -> str:
        return self.ticket.leg_id

    def connect_agent(self, agent: Desk) -> None:
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

    def remove_person(self, person: Desk) -> None:
        if person is self.agent:
            self.parent.end_consult("consultant_left")

    def hang_up_by(self, person: Desk) -> None:
        self.parent.end_consult("consultant_hung_up")

    def finish(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        server = self.parent.board.server
        self.parent.board.remove(self)
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
