"""The media-stream server: the agent reachable over Twilio Media Streams (`workbench serve`).

Routes:

- `POST /twiml`: TwiML `<Connect><Stream>` pointing at this server's `/media`, with the caller's
  number (form field `From`) and the token as custom parameters;
- `GET /media` (WebSocket): one call per connection, Twilio Media Streams exactly
  (`call_bridge.MediaCall`);
- `GET /agent` (WebSocket): human agents and supervisors (`handoff.AgentConnection`);
- `GET /healthz`, `GET /metrics` (Prometheus text).

Security: the server binds 127.0.0.1 by default; any other address requires a shared-secret
token, and a token given is enforced on every address. With a token, `/twiml`, `/agent` and
`/metrics` need it (`?token=` or `Authorization: Bearer`); `/media` takes it on the upgrade or —
since Twilio cannot add headers or query strings to a stream URL — in
`start.customParameters.token`. A wrong token on any request is refused with 403, a missing one
on HTTP routes with 401. The TwiML carries the token only to a request that presented it.

Twilio's signatures (`signature.py`): given the account's auth token (`--twilio-auth-token` or
TWILIO_AUTH_TOKEN), `/twiml` and the `/media` upgrade must carry a valid `X-Twilio-Signature`
(HMAC-SHA1 of the URL Twilio requested and the sorted POST parameters) — or, for peers that are
not Twilio, the shared token when one is configured. A wrong signature is refused with 403, and
so is a request with neither. The URL checked is the public one (`--public-url`: `wss://` for
`/media`, the same host over `https://` for `/twiml`), else the one this request reached
(`Host`, `X-Forwarded-Proto`).

Admission control (`--max-calls`, per process): a call beyond capacity is refused before it
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
lands on any worker is relayed to every worker's queue (`desk_router.py`), so it sees and takes
all waiting calls as with one process.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from aiohttp import web

from workbench.engine import events as ev
from workbench.errors import ConfigError
from workbench.speech.ears import resolve_ear
from workbench.telephony import signature as twilio_signature
from workbench.telephony.call_bridge import FAULT_REASONS, CallSummary, MediaCall
from workbench.telephony.metrics import ServerMetrics
from workbench.telephony.protocol import MAX_MESSAGE_CHARS

log = logging.getLogger(__name__)

AUTHORIZED = web.RequestKey("authorized", bool)  # the request carried the token or a signature
TOKEN_PRESENTED = web.RequestKey("token_presented", bool)  # it carried the shared token itself
HUMAN_VOICE = "espeak:en-us+f3"  # how a typed reply from the desk sounds to the caller
DEFAULT_EAR = "fast"  # a server is sized for capacity; `--ear accurate` for fidelity
# Stage threads per call. The accurate ear's final pass (150-350 ms, more under load) gets
# a thread of its own so it never queues understanding, replies or TTS behind it.
STAGE_WORKERS = {"fast": 2, "accurate": 3}
# Admission: calls a process takes by default, per core it gets (cores / workers). Calibrated
# with `workbench bench serve`: one process on 2 cores held 56 staggered calls (28 a core) at
# caller-side turn p95 <= 800 ms, and 24-28 talking in step; 20 a core keeps a margin for
# calls that talk at once. `bench serve --overload` measures a machine's own figure.
DEFAULT_CALLS_PER_CORE = 20
WHEN_FULL = ("busy", "reject", "message")
INTERRUPTION_MODES = ("pause", "judge")
BUSY_MESSAGE = "All our lines are busy right now. Please call again in a few minutes."
REFUSAL_LOG_EVERY_S = 10.0
# Overload guard: every LAG_PROBE_S the event loop's lateness and the calls' clock thread's
# (how far its ticks are behind the 20 ms grid) are probed; while either ran more than
# `max_loop_lag_ms` late in the last LAG_WINDOW probes, new calls are refused ("overloaded").
# A fixed --max-calls is calibrated on a quiet machine; when other work takes the cores, the
# calls it admits can outgrow the CPU the process gets, and every call slows (2026-12-07: 56
# calls admitted at load average 5 gave greetings after a minute). The loop's lag is the
# first sign of it.
LAG_PROBE_S = 0.05
LAG_WINDOW = 20  # probes: one second
DEFAULT_MAX_LOOP_LAG_MS = 300.0
# ... and while the replies themselves are slow: the server-side turn latency (the caller's end
# of speech to the first mark echo) of the turns heard in the last TURN_WINDOW_S has a p90
# above `max_turn_latency_ms` (with at least TURN_MIN_SAMPLES of them). The clock thread can be
# punctual while the calls' stage work (recognition, replies) starves: this catches that.
TURN_WINDOW_S = 10.0
TURN_MIN_SAMPLES = 5
DEFAULT_MAX_TURN_LATENCY_MS = 1500.0


@dataclass(frozen=True)
class ServerConfig:
    """How `workbench serve` runs. `require_token=None` means: required off loopback."""

    host: str = "127.0.0.1"
    port: int = 8080
    agent_path: Path | None = None
    token: str | None = None
    require_token: bool | None = None
    crm: bool = True
    public_url: str | None = None  # e.g. "wss://agent.example.com" for TwiML behind a proxy
    drain_timeout_s: float = 30.0
    max_call_s: float = 3600.0
    max_send_backlog: int = 500  # outbound messages queued (~10 s of audio) before giving up
    send_buffer_bytes: int | None = None  # cap socket + transport send buffers (tests)
    human_voice: str = HUMAN_VOICE
    endpointing: str = "semantic"
    keep_finished: int = 200  # summaries of finished calls kept for inspection
    workers: int = 1  # processes serving calls (`workers.py`); 1: this process alone
    ear: str | None = None  # `--ear`; None: the agent's `ear:`, else fast (capacity)
    max_calls: int | None = None  # calls this process takes at once; None: `default_max_calls`
    when_full: str = "busy"  # what `/twiml` answers beyond capacity (WHEN_FULL)
    twilio_auth_token: str | None = None  # check `X-Twilio-Signature` on /twiml and /media
    max_loop_lag_ms: float = DEFAULT_MAX_LOOP_LAG_MS  # refuse calls while this late (0: off)
    max_turn_latency_ms: float = DEFAULT_MAX_TURN_LATENCY_MS  # … or replies this slow (0: off)
    # `--interruption`: "pause" (go quiet at the caller's voice: `clear`, then resume or
    # yield), "judge" (talk on until the words show an interruption); None: the session's
    # default.
    interruption: str | None = None

    @property
    def token_required(self) -> bool:
        """A token given is always enforced; without one, off loopback refuses to start."""
        if self.token:
            return True
        return self.require_token if self.require_token is not None else not is_loopback(self.host)

    @property
    def calls_per_process(self) -> int:
        return self.max_calls if self.max_calls is not None else default_max_calls(self.workers)


def default_max_calls(workers: int = 1, cores: int | None = None) -> int:
    """Calls one process takes by default: `DEFAULT_CALLS_PER_CORE` per core it gets."""
    cores = cores or os.cpu_count() or 1
    return max(1, round(DEFAULT_CALLS_PER_CORE * cores / max(1, workers)))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_config(config: ServerConfig) -> None:
    """Refuse to start an unprotected server on a reachable address."""
    if config.token_required and not config.token:
        raise ConfigError(
            f"binding {config.host} exposes the agent beyond this machine: pass --token "
            "(a shared secret callers must present) or bind 127.0.0.1"
        )
    if config.max_calls is not None and config.max_calls < 1:
        raise ConfigError(f"--max-calls {config.max_calls}: a server takes at least one call")
    if config.max_loop_lag_ms < 0:
        raise ConfigError(f"--max-loop-lag-ms {config.max_loop_lag_ms:g}: 0 (off) or more")
    if config.max_turn_latency_ms < 0:
        raise ConfigError(f"--max-turn-latency-ms {config.max_turn_latency_ms:g}: 0 (off) or more")
    if config.interruption is not None and config.interruption not in INTERRUPTION_MODES:
        raise ConfigError(
            f"--interruption {config.interruption!r}: expected {' or '.join(INTERRUPTION_MODES)}"
        )
    if config.when_full not in WHEN_FULL:
        raise ConfigError(f"--when-full {config.when_full!r}: expected {', '.join(WHEN_FULL)}")
    if config.public_url and not config.public_url.startswith(("ws://", "wss://")):
        raise ConfigError(
            f"--public-url {config.public_url!r}: expected the public ws:// or wss:// base URL, "
            "e.g. wss://agent.example.com"
        )


class MediaStreamServer:
    """The aiohttp application and the state shared by its calls (on one asyncio loop)."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        runtime: Any = None,
        crm_sink: Any = None,
        on_event: Callable[[MediaCall, ev.Event], None] | None = None,
        worker: Any = None,
    ) -> None:
        """`worker`: this process's `workers.WorkerSlot` when it is one of several."""
        check_config(config)
        from workbench.engine.calls import CallRuntime
        from workbench.telephony.handoff import Switchboard

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
        self.scorecards: dict[str, Any] = {}  # call SID → its scorecard, the last few calls
        # After-call work that may wait on the network (an OTLP export), off the event loop.
        self._after_call = ThreadPoolExecutor(max_workers=1, thread_name_prefix="after-call")
        self.call_log_path = call_log_path()
        self.max_calls = config.calls_per_process
        self.metrics.max_calls = self.max_calls
        self.admitted = 0  # `/media` connections holding a slot (taken before the upgrade)
        self.loop_lag_ms = 0.0  # the event loop's worst lateness over the last second
        self._recent_turns: deque[tuple[float, float]] = deque(maxlen=200)  # (monotonic, ms)
        self._lag_task: asyncio.Task | None = None
        self._refusals_unlogged = 0
        self._refusal_logged_at: float | None = None
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
        app = web.Application(middlewares=[self._auth_middleware])
        app.router.add_post("/twiml", self._twiml)
        app.router.add_get("/media", self._media)
        app.router.add_get("/agent", self._agent)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/healthz/live", self._live)
        app.router.add_get("/healthz/ready", self._ready)
        app.router.add_get("/metrics", self._metrics)
        return app

    def token_matches(self, offered: str | None) -> bool:
        if not self.config.token:
            return not self.config.token_required
        return offered is not None and hmac.compare_digest(offered, self.config.token)

    @staticmethod
    def offered_token(request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :].strip()
        return request.query.get("token")

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        path = request.path
        if path == "/healthz" or path.startswith("/healthz/"):
            return await handler(request)
        signed = self.config.twilio_auth_token and path in ("/twiml", "/media")
        if signed:
            offered_signature = request.headers.get(twilio_signature.HEADER)
            if offered_signature is not None:
                params = await request.post() if request.method == "POST" else {}
                pairs = [(k, str(v)) for k, v in params.items()]
                url = self.signed_url(request)
                if not twilio_signature.valid(
                    self.config.twilio_auth_token, url, pairs, offered_signature
                ):
                    log.warning(
                        "%s %s refused: wrong Twilio signature for %s", request.method, path, url
                    )
                    self.metrics.inc(
                        "workbench_requests_refused_total", route=path[1:], reason="bad_signature"
                    )
                    return web.Response(status=403, text="invalid X-Twilio-Signature\n")
                request[AUTHORIZED] = True
                return await handler(request)
            if self.offered_token(request) is None and not (path == "/media" and self.config.token):
                # Neither Twilio's signature nor our token (which `/media` may still bring in
                # `start`): refused like a forged request.
                log.warning("%s %s refused: no X-Twilio-Signature", request.method, path)
                self.metrics.inc(
                    "workbench_requests_refused_total", route=path[1:], reason="unsigned"
                )
                return web.Response(status=403, text="X-Twilio-Signature required\n")
        if not self.config.token_required:
            return await handler(request)
        offered = self.offered_token(request)
        if offered is None:
            if path == "/media":  # the token may come in `start` instead
                request[AUTHORIZED] = False
                return await handler(request)
            log.warning("%s %s refused: no token", request.method, path)
            return web.Response(status=401, text="token required\n")
        if not self.token_matches(offered):
            log.warning("%s %s refused: wrong token", request.method, path)
            return web.Response(status=403, text="wrong token\n")
        request[AUTHORIZED] = True
        request[TOKEN_PRESENTED] = True
        return await handler(request)

    def signed_url(self, request: web.Request) -> str:
        """The URL Twilio signed for this request: the public one when configured (`wss://`
        for the stream, `https://` for webhooks), else the URL this request reached."""
        stream = request.path == "/media"
        query = f"?{request.query_string}" if request.query_string else ""
        if self.config.public_url:
            base = self.config.public_url.rstrip("/")
            if not stream:
                base = "http" + base[2:]  # ws:// -> http://, wss:// -> https://
            return base + request.path + query
        proto = request.headers.get("X-Forwarded-Proto", request.scheme)
        secure = proto in ("https", "wss")
        scheme = ("wss" if secure else "ws") if stream else ("https" if secure else "http")
        return f"{scheme}://{request.host}{request.path}{query}"

    # ------------------------------------------------------------------ admission

    @property
    def full(self) -> bool:
        return self.admitted >= self.max_calls

    @property
    def overloaded(self) -> bool:
        limit = self.config.max_loop_lag_ms
        if limit and self.loop_lag_ms > limit:
            return True
        limit = self.config.max_turn_latency_ms
        return bool(limit) and (self.recent_turn_latency_p90() or 0.0) > limit

    def note_turn_latency(self, latency_ms: float) -> None:
        """A turn heard by its caller (server-side latency), for the overload guard."""
        self._recent_turns.append((time.monotonic(), latency_ms))

    def recent_turn_latency_p90(self) -> float | None:
        """p90 of the turns heard in the last `TURN_WINDOW_S` (None: too few to judge)."""
        since = time.monotonic() - TURN_WINDOW_S
        values = sorted(ms for t, ms in self._recent_turns if t >= since)
        if len(values) < TURN_MIN_SAMPLES:
            return None
        return values[min(len(values) - 1, int(0.9 * len(values)))]

    def readiness(self) -> tuple[bool, str]:
        """Can this process take a call now? (and why not)"""
        if self.draining:
            return False, "draining"
        if self.worker is not None and self.worker.ready_count() < self.worker.count:
            return False, "starting"
        if self.full:
            return False, "full"
        if self.overloaded:
            return False, "overloaded"
        return True, ""

    async def _watch_loop_lag(self) -> None:
        """Probe how late the process runs (`loop_lag_ms`: the worst of the last second): the
        event loop's own lateness, and how far the calls' clock thread is behind its grid."""
        loop = asyncio.get_running_loop()
        recent: deque[float] = deque(maxlen=LAG_WINDOW)
        while True:
            started = loop.time()
            await asyncio.sleep(LAG_PROBE_S)
            loop_late = max(0.0, loop.time() - started - LAG_PROBE_S) * 1000.0
            clock_late = max(
                (c.driver.behind_ms for c in self.connections if c.driver is not None),
                default=0.0,
            )
            recent.append(max(loop_late, clock_late))
            self.loop_lag_ms = max(recent)
            self.metrics.loop_lag_ms = self.loop_lag_ms

    def refuse(self, route: str, reason: str) -> None:
        """Count and log a call refused at `route` (logs: the first at once, then a line per
        `REFUSAL_LOG_EVERY_S`, so an overload does not flood them)."""
        self.metrics.inc("workbench_calls_refused_total", route=route, reason=reason)
        self._refusals_unlogged += 1
        now = time.monotonic()
        if self._refusal_logged_at is None or now - self._refusal_logged_at >= REFUSAL_LOG_EVERY_S:
            log.warning(
                "refused %d call(s) (%s at %s): %d/%d calls active",
                self._refusals_unlogged,
                reason,
                route,
                self.admitted,
                self.max_calls,
            )
            self._refusals_unlogged = 0
            self._refusal_logged_at = now

    def full_twiml(self) -> str:
        """What `/twiml` answers beyond capacity (`--when-full`)."""
        if self.config.when_full == "message":
            verb = f"<Say>{BUSY_MESSAGE}</Say><Hangup/>"
        else:
            reason = "busy" if self.config.when_full == "busy" else "rejected"
            verb = f'<Reject reason="{reason}"/>'
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<Response>{verb}</Response>\n'

    # ------------------------------------------------------------------ routes

    async def _twiml(self, request: web.Request) -> web.Response:
        form = await request.post()
        ready, reason = self.readiness()
        if not ready and reason != "starting":
            self.refuse("twiml", reason)
            return web.Response(text=self.full_twiml(), content_type="text/xml")
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
            self.refuse("media", "draining")
            return web.Response(status=503, text="draining\n", headers={"Retry-After": "5"})
        if self.full or self.overloaded:  # refused before the upgrade: no audio, no session
            self.refuse("media", "full" if self.full else "overloaded")
            return web.Response(status=503, text="at capacity\n", headers={"Retry-After": "1"})
        self.admitted += 1  # the slot is taken before the first await
        try:
            return await self._serve_media(request)
        finally:
            self.admitted -= 1

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
        from workbench.telephony.desk_router import DeskRouter
        from workbench.telephony.handoff import AgentConnection

        ws = web.WebSocketResponse(max_msg_size=1_000_000, heartbeat=None)
        await ws.prepare(request)
        await (DeskRouter(self, ws) if relay else AgentConnection(self, ws)).run()
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
            "max_calls": self.max_calls,
            "loop_lag_ms": round(self.loop_lag_ms, 1),
            "recent_turn_latency_p90_ms": self.recent_turn_latency_p90(),
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
            "active_calls": self.admitted,
            "max_calls": self.max_calls,
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
        """The finished call's scorecard (`engine.scorecard`, the definition every face
        uses): counted on `/metrics`, appended to the call log, sent as an OTLP trace when
        `OTEL_EXPORTER_OTLP_ENDPOINT` is set."""
        import json

        from workbench.engine.otel import CallTrace, otlp_enabled
        from workbench.engine.scorecard import call_log_line, scorecard_for, session_call_result

        result = session_call_result(
            call.session,
            call.summary.events,
            end_reason=call.end_reason or "unknown",
            duration_ms=call.elapsed_s * 1000.0,
        )
        card = scorecard_for(result)
        self.scorecards[call.call_sid] = card
        while len(self.scorecards) > self.config.keep_finished:
            self.scorecards.pop(next(iter(self.scorecards)))
        main_topic = card.topics[-1].topic if card.topics else "none"
        self.metrics.inc(
            "workbench_call_resolutions_total", resolution=card.resolution, topic=main_topic
        )
        for topic in card.topics:
            self.metrics.inc(
                "workbench_topic_tasks_total",
                topic=topic.topic,
                success="true" if topic.success else "false",
            )
        line = call_log_line(
            card,
            result,
            agent=getattr(self.agent, "name", ""),
            started_at=call.started_at.isoformat(),
        )
        try:
            with self.call_log_path.open("a", encoding="utf-8") as log_file:
                log_file.write(json.dumps(line, default=str) + "\n")
        except OSError as error:
            log.warning("call log %s: %s", self.call_log_path, error)
        if otlp_enabled():
            trace = CallTrace.of(result, agent=line["agent"], resolution=card.resolution)
            trace.start_ns = int(call.started_at.timestamp() * 1e9)
            self._after_call.submit(self._export_trace, trace)
        return card

    @staticmethod
    def _export_trace(trace: Any) -> None:
        from workbench.engine.otel import export_calls

        problem = export_calls([trace])
        if problem:
            log.warning("call %s: %s", trace.call_id, problem)

    def new_session(self, call: MediaCall) -> tuple[Any, Any]:
        from workbench.engine.calls import ear_settings
        from workbench.engine.latency import MeasuredLatency
        from workbench.engine.realtime import RealTimeDriver
        from workbench.engine.session import CallSession, SessionSettings

        settings = SessionSettings(endpointing=self.config.endpointing)
        if self.config.interruption is not None:
            settings = replace(settings, interruption=self.config.interruption)
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
        """The AI leg's CallRecord (linked to the human leg after a handoff)."""
        if call.ai_leg_written or call.session is None:
            return
        call.ai_leg_written = True
        if self.crm is None:
            return
        from workbench.crm.from_call import call_record

        session = call.session
        conversation = session.conversation
        fault = call.end_reason in FAULT_REASONS
        record = call_record(
            call_id=call.call_sid,
            events=call.summary.events,
            transcript=list(session.transcript),
            caller_number=call.caller_number,
            started_at=call.started_at,
            captured=dict(getattr(conversation, "captured", {}) or {}),
            intended_actions=list(getattr(conversation, "intended_crm_actions", []) or []),
            routing=None if fault else session.routing,
            consent=call.custom_parameters.get("consent", "true").lower() in ("1", "true", "yes"),
            next_call_id=call.human.leg_id if call.human is not None else None,
            topics=list(getattr(conversation, "topics_seen", []) or []),
            topics_done=list(getattr(conversation, "topics_done", []) or []),
            tasks=[t.name for t in self.agent.definition.topics if t.action != "answer"],
        )
        if fault:
            from dataclasses import replace

            record = replace(record, disposition="failed")
        self.write_record(record)

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
        self.port = sockets[0].getsockname()[1] if sockets else self.config.port
        self._lag_task = asyncio.ensure_future(self._watch_loop_lag())
        if self.worker is not None:  # desks that land on a sibling are relayed here
            internal = web.Application()
            internal.router.add_get("/agent", self._worker_agent)  # desks relayed by a sibling
            self._internal_runner = web.AppRunner(internal, handle_signals=False)
            await self._internal_runner.setup()
            await web.UnixSite(self._internal_runner, self.worker.socket_path()).start()
        log.info("serving %s on %s:%s", self.agent.name, self.config.host, self.port)
        return self.port

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
        await asyncio.get_running_loop().run_in_executor(None, self._after_call.shutdown)


def call_log_path() -> Path:
    """Where `serve` appends one JSON line per finished call (its scorecard): the call log."""
    from workbench.paths import workbench_home

    directory = workbench_home() / "serve"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / "calls.jsonl"


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


def open_crm_sink() -> Any:
    from workbench.crm.sink import CrmSink

    return CrmSink.from_settings()


def run_server(config: ServerConfig, *, ready: Callable[[Any], None] | None = None):
    """Serve until SIGTERM/SIGINT, then drain active calls (blocking; `workbench serve`).

    With `config.workers > 1` this process supervises that many worker processes
    (`workers.run_workers`); `ready` then receives an object with the bound `port`."""
    check_config(config)
    if config.workers > 1:
        from workbench.telephony.workers import run_workers

        run_workers(config, ready=ready)
        return
    serve_in_this_process(config, ready=ready)


def serve_in_this_process(
    config: ServerConfig, *, ready: Callable[[Any], None] | None = None, worker: Any = None
) -> None:
    crm = open_crm_sink() if config.crm else None
    try:
        server = MediaStreamServer(config, crm_sink=crm, worker=worker)
        asyncio.run(_serve(server, ready))
    finally:
        if crm is not None:
            crm.close()


async def _serve(server: MediaStreamServer, ready: Callable | None) -> None:
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(server)
    await stop.wait()
    log.warning("shutting down: draining %d calls", len(server.connections))
    await server.drain()


class ServerThread:
    """A server on its own loop thread (tests, the bench, the GUI): `start()` → port."""

    def __init__(self, server_factory: Callable[[], MediaStreamServer]) -> None:
        self._factory = server_factory
        self.server: MediaStreamServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 60.0) -> int:
        self._thread = threading.Thread(target=self._run, name="media-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError("the media-stream server did not start")
        if self._error is not None:
            raise self._error
        assert self.server is not None and self.server.port is not None
        return self.server.port

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.server = self._factory()
            self.loop.run_until_complete(self.server.start())
        except BaseException as error:
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    def call_soon(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server loop and return its result (thread-safe)."""
        assert self.loop is not None

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10.0)

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        if self.loop is None or self.server is None:
            return
        future = asyncio.run_coroutine_threadsafe(self.server.drain(drain_timeout_s), self.loop)
        try:
            future.result(drain_timeout_s + 15.0)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread is not None:
                self._thread.join(10.0)
