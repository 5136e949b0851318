"""The desks' wire protocol: JSON over the `/agent` WebSocket (`workbench desk` is one client).

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

A desk's messages with fields are read into typed messages (`Hello`, `Take`, `Audio`, `Say`,
`QueueRequest`, `Monitor`, `ModeChange`) at the moment the connection acts on one: a field
that is missing or of the wrong kind raises (`KeyError`, `TypeError`, `ValueError`,
`binascii.Error`) and is said back to the desk as a bad message. Apart from the connection that
serves it because the desk router reads the same messages on their way to the workers.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType

MODES = ("listen", "whisper", "barge")  # how a supervisor joins a call


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


@dataclass(frozen=True)
class Hello:
    """`hello`: who the desk is (`role` "agent" or "supervisor") and the skills it serves."""

    role: str
    name: str
    skills: frozenset[str]

    @classmethod
    def read(cls, data: dict[str, Any]) -> Hello | None:
        """The hello, or None when `data` is not a hello with a role."""
        if data.get("event") != "hello" or data.get("role") not in ("agent", "supervisor"):
            return None
        role = str(data["role"])
        skills = frozenset(str(s).lower() for s in data.get("skills", []) or [])
        return cls(role, str(data.get("name") or role), skills)


@dataclass(frozen=True)
class Take:
    """`take`: the named call (`callSid` or `legId`), or with None the best one for my skills."""

    call_sid: str | None

    @classmethod
    def read(cls, data: dict[str, Any]) -> Take:
        call_sid = data.get("callSid")
        return cls(None if call_sid is None else str(call_sid))


@dataclass(frozen=True)
class Audio:
    """`media`: μ-law audio from the desk (20 ms frames, paced by the client)."""

    payload: bytes

    @classmethod
    def read(cls, data: dict[str, Any]) -> Audio:
        return cls(base64.b64decode(data["media"]["payload"], validate=True))


@dataclass(frozen=True)
class Say:
    """`say`: typed words, spoken into the call in the server's human voice."""

    text: str

    @classmethod
    def read(cls, data: dict[str, Any]) -> Say:
        return cls(str(data["text"]).strip())


@dataclass(frozen=True)
class QueueRequest:
    """`transfer` or `consult`: the queue to hand the caller on to, or to ask a colleague in."""

    queue: str

    @classmethod
    def read(cls, data: dict[str, Any]) -> QueueRequest:
        return cls(str(data["queue"]))


@dataclass(frozen=True)
class Monitor:
    """`monitor` (supervisors): join an active call in a mode (`MODES`, checked by the server)."""

    call_sid: str
    mode: object

    @classmethod
    def read(cls, data: dict[str, Any]) -> Monitor:
        return cls(str(data.get("callSid", "")), data.get("mode", "listen"))


@dataclass(frozen=True)
class ModeChange:
    """`mode` (supervisors): switch how I am on the call."""

    mode: object

    @classmethod
    def read(cls, data: dict[str, Any]) -> ModeChange:
        return cls(data.get("mode"))
