"""One desk across several worker processes: `/agent` on a `workbench serve --workers N` server.

A call waiting for a human waits in the worker that took it (its media socket lives there),
and a desk's socket lands on whichever worker the kernel picks. So that worker relays the desk:
it opens an agent connection to every worker, itself included, over their private Unix sockets
(`WorkerSlot.socket_path`), and

- shows the desk one queue, the union of the workers' queues (`welcome`, `queue`), highest
  priority first, then longest waiting;
- sends a `take` to the worker holding the call (with no callSid: the first call of that union
  the desk's skills allow, as one worker would choose);
- sends everything said during a call (media, say, hangup, transfer, consult, mode, leave) to
  the worker holding it, and passes everything that worker sends back;
- asks every worker to `monitor` for a supervisor and keeps the one that has the call.

The desk speaks the protocol of `desk_protocol.py`, unchanged; the workers see an ordinary agent
client each. Errors answering a message sent to every worker come from this worker only (the
others would repeat it), except for `monitor`, which fails only when every worker says no.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Protocol

import aiohttp
from aiohttp import WSMsgType, web

from workbench.telephony.handoff.desk_protocol import BadDeskMessage, read_desk_message
from workbench.telephony.handoff.ticket import skills_allow

log = logging.getLogger(__name__)

BROADCAST = ("hello", "list", "monitor")
DESK_MAX_BACKLOG = 1500  # messages waiting for the desk (~30 s of call audio)
MAX_MESSAGE_BYTES = 1_000_000


def merged_queue(queues: dict[int, list[dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """Every worker's waiting calls as (worker, entry): high priority first, then longest wait."""
    entries = [(worker, entry) for worker, calls in queues.items() for entry in calls]
    return sorted(
        entries,
        key=lambda item: (
            item[1].get("priority") != "high",
            -float(item[1].get("waitingSeconds") or 0.0),
        ),
    )


def can_serve(skills: frozenset[str], entry: dict[str, Any]) -> bool:
    """`DeskConnection.can_serve` on a queue entry (a ticket as `describe()` lists it)."""
    return skills_allow(skills, frozenset(str(s).lower() for s in entry.get("skills") or []))


class WorkerSockets(Protocol):
    """Where this server's worker processes answer (`server.worker_slot.WorkerSlot`)."""

    @property
    def index(self) -> int: ...
    @property
    def count(self) -> int: ...
    def socket_path(self, index: int | None = None) -> str: ...


class RoutingHost(Protocol):
    """What the router needs from the server: which worker it is, among how many."""

    @property
    def worker(self) -> WorkerSockets | None: ...


class DeskRouter:
    """One desk's `/agent` socket, relayed to every worker's own `/agent`."""

    def __init__(self, server: RoutingHost, ws: web.WebSocketResponse) -> None:
        worker = server.worker
        assert worker is not None
        self.server = server
        self.worker = worker
        self.ws = ws
        self.skills: frozenset[str] = frozenset()
        self.queues: dict[int, list[dict[str, Any]]] = {}
        self.holding: int | None = None  # the worker holding this desk's call
        self._taking = False
        self._welcomed = False
        self._monitor_pending: set[int] = set()
        self._monitor_refusal: dict[str, Any] | None = None
        self._list_pending: set[int] = set()
        self._links: dict[int, aiohttp.ClientWebSocketResponse] = {}
        self._out: asyncio.Queue[str | None] = asyncio.Queue()

    async def run(self) -> None:
        writer = asyncio.create_task(self._write_loop())
        pumps: list[asyncio.Task] = []
        async with contextlib.AsyncExitStack() as stack:
            try:
                for index in range(self.worker.count):
                    connector = aiohttp.UnixConnector(path=self.worker.socket_path(index))
                    session = await stack.enter_async_context(
                        aiohttp.ClientSession(connector=connector)
                    )
                    self._links[index] = await session.ws_connect(
                        "http://worker/agent", heartbeat=None, max_msg_size=MAX_MESSAGE_BYTES
                    )
            except (aiohttp.ClientError, OSError) as error:
                log.warning("desk router: a worker's desk endpoint is unreachable: %s", error)
                self.send({"event": "error", "message": "the server's workers are not all up"})
            else:
                pumps = [
                    asyncio.create_task(self._from_worker(index, link))
                    for index, link in self._links.items()
                ]
                await self._from_desk(pumps)
            finally:
                for link in self._links.values():
                    await link.close()
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        self._out.put_nowait(None)  # the writer closes the desk's socket
        await writer

    # ------------------------------------------------------------------ desk → workers

    async def _from_desk(self, pumps: list[asyncio.Task]) -> None:
        receiving = asyncio.ensure_future(self._receive_desk())
        # A worker going away (it stopped or drains) ends the desk's connection too.
        await asyncio.wait([receiving, *pumps], return_when=asyncio.FIRST_COMPLETED)
        receiving.cancel()
        # (a worker that went away mid-send ends the relay the same way)
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, aiohttp.ClientError):
            await receiving

    async def _receive_desk(self) -> None:
        async for message in self.ws:
            try:
                data = read_desk_message(message)
            except BadDeskMessage as error:
                self.send({"event": "error", "message": str(error)})
                continue
            await self._route(data, message.data)

    async def _route(self, data: dict[str, Any], text: str) -> None:
        event = data.get("event")
        if event == "hello":
            self.skills = frozenset(str(s).lower() for s in data.get("skills", []) or [])
        if event == "monitor":
            self._monitor_pending = set(self._links)
            self._monitor_refusal = None
        if event == "list":
            self._list_pending = set(self._links)
        if event in BROADCAST:
            for link in self._links.values():
                await link.send_str(text)
            return
        if event == "take" and self.holding is None:
            target = self._take_target(data.get("callSid"))
            if target is None:
                self.send({"event": "error", "message": "no such call waiting"})
                return
            self.holding, call_sid = target
            self._taking = True
            await self._links[self.holding].send_str(
                json.dumps({"event": "take", "callSid": call_sid})
            )
            return
        # During a call: to the worker holding it. Otherwise this worker answers (errors).
        target = self.holding if self.holding is not None else self.worker.index
        await self._links[target].send_str(text)

    def _take_target(self, call_sid: Any) -> tuple[int, str] | None:
        for worker, entry in merged_queue(self.queues):
            if call_sid is None:
                if can_serve(self.skills, entry):
                    return worker, entry["callSid"]
            elif call_sid in (entry.get("callSid"), entry.get("legId")):
                return worker, str(call_sid)
        return None

    # ------------------------------------------------------------------ workers → desk

    async def _from_worker(self, index: int, link: aiohttp.ClientWebSocketResponse) -> None:
        async for message in link:
            if message.type != WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            self._relay(index, data, message.data)

    def _relay(self, index: int, data: dict[str, Any], text: str) -> None:
        event = data.get("event")
        if event in ("welcome", "queue"):
            self.queues[index] = list(data.get("queue" if event == "welcome" else "calls") or [])
            merged = [entry for _, entry in merged_queue(self.queues)]
            if not self._welcomed:
                if len(self.queues) == len(self._links):  # one welcome, once all have answered
                    self._welcomed = True
                    self.send({"event": "welcome", "queue": merged})
            elif index in self._list_pending:  # one answer to a list, once all have answered
                self._list_pending.discard(index)
                if not self._list_pending:
                    self.send({"event": "queue", "calls": merged})
            elif self.holding is None and not self._list_pending:
                # A queue change, told to idle desks (as one worker tells only its idle agents).
                self.send({"event": "queue", "calls": merged})
            return
        if index in self._monitor_pending and event in ("monitoring", "error"):
            self._monitor_pending.discard(index)
            if event == "monitoring":
                self._monitor_pending = set()
                self.holding = index
            elif event == "error":
                self._monitor_refusal = self._monitor_refusal or data
                if not self._monitor_pending:
                    self.send(self._monitor_refusal)
                return
        if event == "error":
            self._list_pending.discard(index)  # (a list before hello: refused, not answered)
            if index != (self.holding if self.holding is not None else self.worker.index):
                return  # the same refusal from another worker
            if self._taking:  # the call was taken by someone else in the meantime
                self._taking = False
                self.holding = None
        elif event == "context":
            self._taking = False
        elif event == "ended" and index == self.holding:
            self.holding = None
        self._out_text(text)

    # ------------------------------------------------------------------ to the desk

    def send(self, message: dict[str, Any]) -> None:
        self._out_text(json.dumps(message, separators=(",", ":")))

    def _out_text(self, text: str) -> None:
        if self._out.qsize() > DESK_MAX_BACKLOG:
            log.warning("desk router: the desk stopped reading; disconnecting")
            self._out.put_nowait(None)
            return
        self._out.put_nowait(text)

    async def _write_loop(self) -> None:
        while True:
            text = await self._out.get()
            if text is None or self.ws.closed:
                if text is None:
                    await self.ws.close()
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
