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

Apart from the connection that serves it because the desk router reads the same messages on
their way to the workers.
"""

from __future__ import annotations

import json
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
