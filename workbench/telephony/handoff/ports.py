"""What the handoff needs from the rest of the server, named as protocols.

The server hosts the handoff (it makes the switchboard, routes `/agent`, starts a handoff when
a call's AI session ends with one) and a handed-off call lives on its media socket; but
`handoff/` imports neither: it works with any call and host that offer these. That keeps the
rooms one-way (server → handoff) and lets a test hand a leg a fake call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from workbench.telephony.metrics import ServerMetrics


class HeldSummary(Protocol):
    """The parts of a call's summary a handoff reads and adds to."""

    events: list[Any]  # the AI leg's events (the `HandoffRequested` among them)
    human_leg_ids: list[str]


class HeldCall(Protocol):
    """A call on its media socket, handed (or being handed) to people
    (`server.call_bridge.MediaCall`)."""

    call_sid: str
    caller_number: str
    caller_info: Any  # the CRM lookup (`CallerInfo`) or None
    session: Any  # the AI leg's session (transcript, conversation)
    escalation: dict[str, Any]  # the escalate action's parameters, if the agent took one
    last_topic: str
    state: str  # "queued" while waiting, "human" with an agent
    human: Any  # the call's current `HumanLeg`

    @property
    def summary(self) -> HeldSummary: ...
    def send_media(self, payload: bytes) -> None: ...
    def end(self, reason: str) -> None: ...


class LegHost(Protocol):
    """What the legs need from the server: its metrics and the CRM."""

    @property
    def metrics(self) -> ServerMetrics: ...
    def write_record(self, record: Any) -> None: ...


class HandoffHost(LegHost, Protocol):
    """What the switchboard and the desks need from the server."""

    @property
    def calls(self) -> Mapping[str, HeldCall]: ...
    def human_tts(self) -> Any: ...
