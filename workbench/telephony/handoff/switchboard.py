"""The switchboard: the queue of calls waiting for a human and the desks connected.

Apart from the legs and the desk connection because it is the one place both meet: a leg
queues here, a desk takes from here, and the server reads its queue for health and metrics.
"""

from __future__ import annotations

import itertools
from typing import Any

from workbench.telephony.handoff.legs import ConsultLeg, Desk, HumanLeg
from workbench.telephony.handoff.ports import HandoffHost


class Switchboard:
    """The queues of waiting calls and the connected agent clients."""

    def __init__(self, server: HandoffHost) -> None:
        self.server = server
        self.queue: list[HumanLeg | ConsultLeg] = []  # (a consult waits for a colleague)
        self.people: set[Desk] = set()
        self._sequence = itertools.count()

    def enqueue(self, leg: HumanLeg | ConsultLeg) -> None:
        leg.ticket.sequence = next(self._sequence)
        self.queue.append(leg)
        self.queue.sort(key=lambda item: (item.ticket.priority, item.ticket.sequence))
        self.server.metrics.queued_calls = len(self.queue)
        self.broadcast_queue()

    def remove(self, leg: HumanLeg | ConsultLeg) -> None:
        if leg in self.queue:
            self.queue.remove(leg)
            self.server.metrics.queued_calls = len(self.queue)
            self.broadcast_queue()

    def take(self, agent: Desk, call_sid: str | None = None) -> HumanLeg | ConsultLeg | None:
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
        leg = call.human if call is not None else None
        return leg if isinstance(leg, HumanLeg) and not leg.ended else None

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
