"""The media-stream server: the agent reachable over Twilio Media Streams (`workbench serve`).

Routes:

- `POST /twiml`: TwiML `<Connect><Stream>` pointing at this server's `/media`, with the caller's
  number (form field `From`) and the token as custom parameters;
- `GET /media` (WebSocket): one call per connection, Twilio Media Streams exactly
  (`call_bridge.MediaCall`);
- `GET /agent` (WebSocket): human agents and supervisors (`handoff/desk_connection.py`);
- `GET /healthz`, `GET /metrics` (Prometheus text).

Security (`auth.py`): the server binds 127.0.0.1 by default; any other address requires a shared-secret
token, and a token given is enforced on every address. With a token, `/twiml`, `/agent` and
`/metrics` need it (`?token=` or `Authorization: Bearer`); `/media` takes it on the upgrade or —
since Twilio cannot add headers or query strings to a stream URL — in
`start.customParameters.token`. A wrong token on any request is refused with 403, a missing one
on HTTP routes with 401. The TwiML carries the token only to a request that presented it.

Twilio's signatures (`telephony/signature.py`): given the account's auth token (`--twilio-auth-token` or
TWILIO_AUTH_TOKEN), `/twiml` and the `/media` upgrade must carry a valid `X-Twilio-Signature`
(HMAC-SHA1 of the URL Twilio requested and the sorted POST parameters) — or, for peers that are
not Twilio, the shared token when one is configured. A wrong signature is refused with 403, and
so is a request with neither. The URL checked is the public one (`--public-url`: `wss://` for
`/media`, the same host over `https://` for `/twiml`), else the one this request reached
(`Host`, `X-Forwarded-Proto`).

Admission control (`admission.py`; `--max-calls`, per process): a call beyond capacity is refused before it
costs anything — `/twiml` answers TwiML that gives the caller a busy signal (`--when-full busy`,
the default), rejects the call (`reject`) or says the line is busy and hangs up (`message`); a
`/media` upgrade is answered 503 before any audio. Refusals are counted
(`workbench_calls_refused_total`) and logged (the first at once, then one line per 10 s).
`GET /healthz/live` answers 200 while the process serves; `GET /healthz/ready` answers 200 only
while it can take a call (not draining, every worker up, a free slot, not overloaded) and 503
otherwise, so a load balancer stops sending. `GET /healthz` reports both. "Overloaded": the
event loop, or the clock thread that ticks the calls, ran more than `--max-loop-lag-ms` late
within the last second, or the turns heard in the last 10 s took more than
`--max-turn-latency-ms` (p90, server-side) — the process is not getting the CPU its calls need
(other work on the machine), whatever `--max-calls` says.

One `CallRuntime` (agent and speech stack) serves every call; each call borrows its own
recogniser from the stack's pool.

Worker processes (`workbench serve --workers N`, `workers.py`): N processes each run a
`MediaStreamServer` bound to the same port with SO_REUSEPORT, so the kernel spreads
connections over them and each call lives in one process, under that process's GIL. Per-call
speech work (VAD, resampling, the streaming recogniser) holds the GIL, so one process saturates
a single core when many callers talk at once; workers use the others. Each worker also answers
on a private Unix socket; `GET /metrics` on any worker sums the metrics of all of them (they
share one prometheus_client multiprocess directory; `workbench_workers_reporting` says how
many wrote there) and `/healthz` reports the worker that answered. A call waiting for a human waits in the worker that took it; a desk (`/agent`) that
lands on any worker is relayed to every worker's queue (`handoff/desk_router.py`), so it sees
and takes all waiting calls as with one process.

This module is the application and the state its calls share; the settings are `config.py`,
a finished call's scorecard and records `after_call.py`, running it `serving.py` and `run.py`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import quoteattr

from aiohttp import web

from workbench.engine import events as ev
from workbench.speech.ears import resolve_ear
from workbench.telephony.handoff.desk_connection import DeskConnection
from workbench.telephony.handoff.desk_router import DeskRouter
from workbench.telephony.handoff.switchboard import Switchboard
from workbench.telephony.metrics import ServerMetrics
from workbench.telephony.protocol import MAX_MESSAGE_CHARS
from workbench.telephony.server.admission import Admission
from workbench.telephony.server.after_call import AfterCall
from workbench.telephony.server.auth import (
    AUTHORIZED,
    TOKEN_PRESENTED,
    auth_middleware,
    token_matches,
)
from workbench.telephony.server.call_bridge import MediaCall
from workbench.telephony.server.call_summary import CallSummary
from workbench.telephony.server.config import ServerConfig, check_config
from workbench.telephony.server.worker_slot import WorkerSlot

log = logging.getLogger(__name__)

DEFAULT_EAR = "fast"  # a server is sized for capacity; `--ear accurate` for fidelity
# Stage threads per call. The accurate ear's final pass (150-350 ms, more under load) gets
# a thread of its own so it never queues understanding, replies or TTS behind it.
STAGE_WORKERS = {"fast": 2, "accurate": 3}


class MediaStreamServer:
    """The aiohttp application and the state shared by its calls (on one asyncio loop)."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        runtime: Any = None,
        crm_sink: Any = None,
        on_event: Callable[[MediaCall, ev.Event], None] | None = None,
        worker: WorkerSlot | None = None,
    ) -> None:
        """`worker`: this process's slot when it is one of several workers."""
        check_config(config)
        from workbench.engine.calls import CallRuntime

        self.config = config
        self.runtime = runtime or CallRuntime()
        self.agent = self.runtime.agent(config.agent_path)
        self.stack = self.runtime.stack(self.agent)
        self.ear = resolve_ear(
            config.ear, getattr(self.agent.definition, "ear", None), default=DEFAULT_EAR
        )
        if self.ear == "accurate":
            self.stack.final_pass()  # load Whisper now, not on the event loop in the first call
        self.crm = crm_sink
        self.on_event = on_event
        self.metrics = ServerMetrics(None if worker is None else (worker.index, worker.count))
        self.after_call = AfterCall(
            self.metrics, agent_name=getattr(self.agent, "name", ""), keep=config.keep_finished
        )
        self.scorecards = self.after_call.scorecards  # call SID → its scorecard, the last few
        self.call_log_path = self.after_call.call_log_path
        self.admission = Admission(config, self.metrics)
        self._lag_task: asyncio.Task | None = None
        self.switchboard = Switchboard(self)
        self.calls: dict[str, MediaCall] = {}  # by callSid, while connected
        self.connections: set[MediaCall] = set()
        self.finished: dict[str, CallSummary] = {}
        self.finished_changed = threading.Condition()  # notified as calls finish (any thread)
        self._finished_order: deque[str] = deque()
        self.draining = False
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._human_tts: Any = None
        self.worker = worker
        self._internal_runner: web.AppRunner | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------------ application

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[auth_middleware(self.config, self.metrics)])
        app.router.add_post("/twiml", self._twiml)
        app.router.add_get("/media", self._media)
        app.router.add_get("/agent", self._agent)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/healthz/live", self._live)
        app.router.add_get("/healthz/ready", self._ready)
        app.router.add_get("/metrics", self._metrics)
        return app

    def token_matches(self, offered: str | None) -> bool:
        return token_matches(self.config, offered)

    # ------------------------------------------------------------------ admission

    def note_turn_latency(self, latency_ms: float) -> None:
        """A turn heard by its caller (server-side latency), for the overload guard."""
        self.admission.note_turn_latency(latency_ms)

    def readiness(self) -> tuple[bool, str]:
        """Can this process take a call now? (and why not)"""
        if self.draining:
            return False, "draining"
        if self.worker is not None and self.worker.ready_count() < self.worker.count:
            return False, "starting"
        if self.admission.full:
            return False, "full"
        if self.admission.overloaded:
            return False, "overloaded"
        return True, ""

    def clock_late_ms(self) -> float:
        """How far the calls' clock thread is behind its 20 ms grid (the worst call)."""
        return max(
            (c.driver.behind_ms for c in self.connections if c.driver is not None), default=0.0
        )

    # ------------------------------------------------------------------ routes

    async def _twiml(self, request: web.Request) -> web.Response:
        form = await request.post()
        ready, reason = self.readiness()
        if not ready and reason != "starting":
            self.admission.refuse("twiml", reason)
            return web.Response(text=self.admission.full_twiml(), content_type="text/xml")
        caller = str(form.get("From", ""))
        url = self.stream_url(request)
        parameters = {"caller": caller, "to": str(form.get("To", ""))}
        if self.config.token and request.get(TOKEN_PRESENTED, False):
            parameters["token"] = self.config.token  # (it presented the token: no secret leaks)
        params = "".join(
            f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items()
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Connect><Stream url={quoteattr(url)}>{params}</Stream></Connect>"
            "</Response>\n"
        )
        return web.Response(text=body, content_type="text/xml")

    def stream_url(self, request: web.Request) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/") + "/media"
        proto = request.headers.get("X-Forwarded-Proto", request.scheme)
        scheme = "wss" if proto in ("https", "wss") else "ws"
        return f"{scheme}://{request.host}/media"

    async def _media(self, request: web.Request) -> web.StreamResponse:
        if self.draining:
            self.admission.refuse("media", "draining")
            return web.Response(status=503, text="draining\n", headers={"Retry-After": "5"})
        admission = self.admission
        if admission.full or admission.overloaded:  # refused before the upgrade: no session
            admission.refuse("media", "full" if admission.full else "overloaded")
            return web.Response(status=503, text="at capacity\n", headers={"Retry-After": "1"})
        admission.admitted += 1  # the slot is taken before the first await
        try:
            return await self._serve_media(request)
        finally:
            admission.admitted -= 1

    async def _serve_media(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=2 * MAX_MESSAGE_CHARS, heartbeat=None)
        await ws.prepare(request)
        transport = request.transport
        if self.config.send_buffer_bytes and transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.send_buffer_bytes)
            transport.set_write_buffer_limits(high=self.config.send_buffer_bytes)
        call = MediaCall(self, ws, authorized=request.get(AUTHORIZED, True))
        call.transport = transport
        self.connections.add(call)
        self.metrics.active_calls = len(self.connections)
        try:
            await call.run()
        finally:
            self.connections.discard(call)
            self.metrics.active_calls = len(self.connections)
        return ws

    async def _agent(self, request: web.Request) -> web.StreamResponse:
        """A desk: served here, or with several workers relayed to all of them (one queue)."""
        return await self._desk(request, relay=self.worker is not None and self.worker.count > 1)

    async def _worker_agent(self, request: web.Request) -> web.StreamResponse:
        """A desk relayed by a sibling's (or this worker's own) `DeskRouter`."""
        return await self._desk(request, relay=False)

    async def _desk(self, request: web.Request, *, relay: bool) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=1_000_000, heartbeat=None)
        await ws.prepare(request)
        await (DeskRouter(self, ws) if relay else DeskConnection(self, ws)).run()
        return ws

    async def _healthz(self, request: web.Request) -> web.Response:
        ready, reason = self.readiness()
        body: dict[str, Any] = {
            "status": "draining" if self.draining else "ok",
            "live": True,
            "ready": ready,
            "agent": self.agent.name,
            "ear": self.ear,
            "active_calls": len(self.connections),
            "max_calls": self.admission.max_calls,
            "loop_lag_ms": round(self.admission.loop_lag_ms, 1),
            "recent_turn_latency_p90_ms": self.admission.recent_turn_latency_p90(),
            "queued_calls": len(self.switchboard.queue),
        }
        if reason:
            body["not_ready"] = reason
        if self.worker is None:
            return web.json_response(body)
        ready_workers = self.worker.ready_count()
        body.update(
            worker=self.worker.index, workers=self.worker.count, workers_ready=ready_workers
        )
        if ready_workers < self.worker.count and not self.draining:
            body["status"] = "starting"  # not every worker is listening yet
            return web.json_response(body, status=503)
        return web.json_response(body)

    async def _live(self, request: web.Request) -> web.Response:
        """Liveness: the process serves requests (restart it if this fails)."""
        return web.json_response({"live": True})

    async def _ready(self, request: web.Request) -> web.Response:
        """Readiness: this process can take a call now (send calls elsewhere if not)."""
        ready, reason = self.readiness()
        body: dict[str, Any] = {
            "ready": ready,
            "active_calls": self.admission.admitted,
            "max_calls": self.admission.max_calls,
        }
        if reason:
            body["reason"] = reason
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        self.metrics.queued_calls = len(self.switchboard.queue)
        return web.Response(
            body=self.metrics.render().encode("utf-8"),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    # ------------------------------------------------------------------ calls

    def wait_finished(self, call_sid: str, timeout_s: float) -> CallSummary | None:
        """Block (another thread) until the call's socket has closed; its summary or None."""
        with self.finished_changed:
            self.finished_changed.wait_for(lambda: call_sid in self.finished, timeout_s)
            return self.finished.get(call_sid)

    def register_call(self, call: MediaCall) -> None:
        self.calls[call.call_sid] = call

    def unregister_call(self, call: MediaCall) -> None:
        if self.calls.get(call.call_sid) is call:
            del self.calls[call.call_sid]
        # Scored before the call counts as finished, so whoever waits for it finds its card.
        if call.session is not None and call.call_sid:
            try:
                self.score_call(call)
            except Exception:  # a scorecard must never take a call's cleanup down
                log.exception("call %s: no scorecard", call.call_sid)
        if call.call_sid:
            with self.finished_changed:
                self.finished[call.call_sid] = call.summary
                self._finished_order.append(call.call_sid)
                while len(self._finished_order) > self.config.keep_finished:
                    self.finished.pop(self._finished_order.popleft(), None)
                self.finished_changed.notify_all()
        self.metrics.inc("workbench_calls_total", reason=call.end_reason or "unknown")

    def score_call(self, call: MediaCall) -> Any:
        """The finished call's scorecard: counted on `/metrics`, appended to the call log,
        sent as an OTLP trace when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`after_call.py`)."""
        return self.after_call.score(call.call_sid, call.call_result(), call.started_at)

    def new_session(self, call: MediaCall) -> tuple[Any, Any]:
        from workbench.engine.calls import ear_settings, turn_taking_settings
        from workbench.engine.latency import MeasuredLatency
        from workbench.engine.realtime import RealTimeDriver
        from workbench.engine.session import CallSession, SessionSettings

        # The agent's `turn_taking:` (pause cap, resume policy), as in a local call; the
        # `--interruption` flag overrides its mode.
        settings = turn_taking_settings(
            SessionSettings(endpointing=self.config.endpointing),
            self.agent.definition,
            self.config.interruption,
        )
        session = CallSession(
            call.call_sid,
            self.agent,
            self.stack,
            ear_settings(settings, self.ear, MeasuredLatency()),
            caller=caller_context(call.caller_number, call.caller_info),
            caller_number=call.caller_number,
        )
        driver = RealTimeDriver(
            session,
            send_frame=call.frame_from_driver,
            on_event=call.event_from_driver,
            max_duration_ms=self.config.max_call_s * 1000.0,
            workers=STAGE_WORKERS[self.ear],
        )
        return session, driver

    def publish_event(self, call: MediaCall, event: ev.Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(call, event)
            except Exception:
                log.exception("event subscriber failed")

    async def lookup_caller(self, number: str) -> Any:
        if self.crm is None or not number:
            return None
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(None, self.crm.lookup_caller, number), 3.0
            )
        except TimeoutError:
            log.warning("caller lookup for %s timed out", number)
            return None

    def write_ai_leg(self, call: MediaCall) -> None:
        """The AI leg's CallRecord (linked to the human leg after a handoff), once per call."""
        if not call.claim_ai_leg() or self.crm is None:
            return
        tasks = [t.name for t in self.agent.definition.topics if t.action != "answer"]
        self.write_record(call.ai_leg_record(tasks))

    def start_handoff(self, call: MediaCall) -> None:
        """The call's AI session ended with a handoff: queue it for a human (`handoff/`)."""
        from workbench.telephony.handoff.legs import start_handoff

        escalation = getattr(getattr(self.agent, "definition", None), "escalation", None)
        start_handoff(call, self.switchboard, escalation)
        self.write_ai_leg(call)  # (linked to the human leg it just opened)

    def write_record(self, record: Any) -> None:
        if self.crm is None:
            return
        try:
            self.crm.write_call(record)
            self.metrics.inc("workbench_crm_writes_total")
        except Exception:
            log.exception("call %s: CRM write failed", record.call_id)
            self.metrics.inc("workbench_errors_total", cause="crm_write")

    def human_tts(self) -> Any:
        """The voice typed replies are spoken in (loaded on first use)."""
        if self._human_tts is None:
            self._human_tts = self.stack.caller_tts(self.config.human_voice)
        return self._human_tts

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> int:
        """Bind and serve; returns the bound port (useful with port 0)."""
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        self._site = web.TCPSite(
            self._runner,
            self.config.host,
            self.config.port,
            reuse_port=self.worker is not None or None,
        )
        await self._site.start()
        server = self._site._server
        sockets = getattr(server, "sockets", None) or []
        port: int = sockets[0].getsockname()[1] if sockets else self.config.port
        self.port = port
        self._lag_task = asyncio.ensure_future(self.admission.watch_loop_lag(self.clock_late_ms))
        if self.worker is not None:  # desks that land on a sibling are relayed here
            internal = web.Application()
            internal.router.add_get("/agent", self._worker_agent)  # desks relayed by a sibling
            self._internal_runner = web.AppRunner(internal, handle_signals=False)
            await self._internal_runner.setup()
            await web.UnixSite(self._internal_runner, self.worker.socket_path()).start()
        log.info("serving %s on %s:%s", self.agent.name, self.config.host, port)
        return port

    async def drain(self, timeout_s: float | None = None) -> None:
        """Stop accepting calls; let active calls finish up to `timeout_s`, then end them."""
        timeout_s = self.config.drain_timeout_s if timeout_s is None else timeout_s
        with self.finished_changed:
            self.draining = True
            self.finished_changed.notify_all()
        if self._lag_task is not None:
            self._lag_task.cancel()
        if self._site is not None:
            await self._site.stop()  # closes the listening socket: no new connections
        deadline = time.monotonic() + timeout_s
        while self.connections and time.monotonic() < deadline:
            waits = [asyncio.ensure_future(c.closed.wait()) for c in list(self.connections)]
            await asyncio.wait(waits, timeout=max(0.0, deadline - time.monotonic()))
            for w in waits:
                w.cancel()
        for call in list(self.connections):
            call.end("server_shutdown")
        if self.connections:
            waits = [asyncio.ensure_future(c.closed.wait()) for c in list(self.connections)]
            await asyncio.wait(waits, timeout=5.0)
        await self.switchboard.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._internal_runner is not None:
            await self._internal_runner.cleanup()
            self._internal_runner = None
        # Traces still being sent (each bounded by the exporter's timeout).
        await asyncio.get_running_loop().run_in_executor(None, self.after_call.shutdown)


def caller_context(number: str, info: Any) -> Any:
    """The agent's `CallerContext` from the caller's number and the CRM lookup."""
    if not number:
        return None
    from workbench.agent import CallerContext

    if info is None:
        return CallerContext(phone=number)
    return CallerContext(
        phone=number,
        name=info.name or None,
        account=info.account_name,
        vip=bool(info.vip),
        open_cases=tuple(info.open_cases),
    )
