"""One media-stream connection: the Twilio Media Streams socket bridged to a call session.

A `MediaCall` lives on the server's asyncio loop. It reads the socket, checks that messages
come in the protocol's order (`connected`, `start`, then `media`/`dtmf`/`mark`, `stop` last),
and runs a `CallSession` on a `RealTimeDriver` thread. The driver's frames and events cross
back to the loop with `loop.call_soon_threadsafe`; everything that touches the socket or the
call's own state happens on the loop.

Marks prove what the caller heard: the call's `MarkLedger` (`marks.py`) says when to send one and
what its echo proves; the server-side "first audible agent audio" and the `on_audio_heard` calls to
the session come from the echoes, never from the send clock. On barge-in the server sends `clear`;
on a pause it sends `clear` and, on resume, re-sends what the `clear` dropped (`marks.py` tells
how). After a handoff the AI session ends but the socket stays open: the caller hears hold audio,
then the human agent (see `handoff/`). The peer is read tolerantly (`protocol.parse_inbound`): an
unknown field or a mark echoed without `sequenceNumber` is logged once and the call goes on. Any
protocol fault (bad JSON, bad base64, wrong types, missing fields, unknown or out-of-order events,
binary or oversized frames, a client that stops reading) ends this call, with its reason logged,
counted and written to the CRM as a failed call; other calls never notice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import WSMsgType, web

from workbench.audio.frames import FRAME_BYTES, FRAME_MS
from workbench.engine import events as ev
from workbench.telephony import protocol as p
from workbench.telephony.metrics import ServerMetrics
from workbench.telephony.server.call_summary import (
    FAULT_REASONS,
    SESSION_FAULTS,
    CallFault,
    CallSummary,
    HeardRecord,
    TurnHeard,
)
from workbench.telephony.server.config import ServerConfig
from workbench.telephony.server.marks import MarkLedger, heard_events

if TYPE_CHECKING:
    from workbench.engine.playout import AgentFrame

log = logging.getLogger(__name__)

MEDIA_MESSAGE_BYTES = 330  # a 20 ms outbound media message on the wire, about
HANGUP_MARK = "hangup"
HANGUP_PLAYOUT_TIMEOUT_S = 15.0  # the caller's buffer should drain long before this


class CallHost(Protocol):
    """What a call needs from the server that accepted it (`media_server.MediaStreamServer`)."""

    @property
    def config(self) -> ServerConfig: ...
    @property
    def metrics(self) -> ServerMetrics: ...
    @property
    def draining(self) -> bool: ...
    def token_matches(self, offered: str | None) -> bool: ...
    def register_call(self, call: MediaCall) -> None: ...
    def unregister_call(self, call: MediaCall) -> None: ...
    async def lookup_caller(self, number: str) -> Any: ...
    def new_session(self, call: MediaCall) -> tuple[Any, Any]: ...
    def publish_event(self, call: MediaCall, event: ev.Event) -> None: ...
    def note_turn_latency(self, latency_ms: float) -> None: ...
    def write_ai_leg(self, call: MediaCall) -> None: ...
    def start_handoff(self, call: MediaCall) -> None: ...


class HumanSide(Protocol):
    """What a call needs from its human leg once handed off (`handoff.legs.HumanLeg`)."""

    @property
    def leg_id(self) -> str: ...
    def on_caller_frame(self, frame: bytes) -> None: ...
    def on_caller_dtmf(self, digit: str) -> None: ...
    def end(self, reason: str) -> None: ...


class MediaCall:
    """One `/media` WebSocket connection and the call it carries."""

    def __init__(self, server: CallHost, ws: web.WebSocketResponse, *, authorized: bool):
        self.server = server
        self.ws = ws
        self.loop = asyncio.get_running_loop()
        self.authorized = authorized  # the upgrade carried the token
        self.transport: Any = None  # the TCP transport, to abort a peer that stopped reading
        self.state = "new"  # new | connected | ai | queued | human | ended
        self.call_sid = ""
        self.stream_sid = ""
        self.account_sid = ""
        self.caller_number = ""
        self.custom_parameters: dict[str, str] = {}
        self.started_at = datetime.now(UTC)
        self.started_monotonic = time.monotonic()
        self.session: Any = None
        self.driver: Any = None
        self.caller_info: Any = None  # the CRM lookup (CallerInfo) or None
        self.end_reason = ""
        self.closed = asyncio.Event()
        self.summary = CallSummary(call_sid="", end_reason="")
        self.human: HumanSide | None = None
        self.escalation: dict[str, Any] = {}
        self.last_topic = ""
        self.ai_leg_written = False
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._interrupted_turns: set[int] = set()
        self._speech_end_ms: float | None = None
        self._turn_speech_end: dict[int, float | None] = {}
        self._heard_turns: set[int] = set()
        self.marks = MarkLedger()  # what the caller heard of the agent, proved by mark echoes
        self._media_remainder = b""
        self._hangup_echoed = asyncio.Event()
        self._closing = False
        self._close_task: asyncio.Future | None = None
        self._session_ended = False
        self._tolerated: set[str] = set()  # notes of `parse_inbound` logged on this call

    # ------------------------------------------------------------------ socket loop

    async def run(self) -> None:
        """Read the socket until it closes or the call ends."""
        self._writer = asyncio.create_task(self._write_loop())
        try:
            async for message in self.ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_text(message.data)
                elif message.type == WSMsgType.BINARY:
                    self._fail(
                        CallFault(
                            "protocol_error",
                            str(p.ProtocolError(p.MALFORMED_MESSAGE, "binary frame")),
                        )
                    )
                elif message.type == WSMsgType.ERROR:
                    self._fail(CallFault("transport_error", str(self.ws.exception())))
        except (ConnectionError, asyncio.CancelledError) as error:
            if not self._closing:
                self._fail(CallFault("transport_error", type(error).__name__))
            if isinstance(error, asyncio.CancelledError):
                raise
        finally:
            await self._on_socket_closed()

    async def _on_text(self, text: str) -> None:
        try:
            message, notes = p.parse_inbound(text)
            await self._dispatch(message)
            for note in notes:  # (after the dispatch: a `start` names the call first)
                self._tolerate(note)
        except p.ProtocolError as error:
            self._fail(CallFault("protocol_error", str(error)))
        except CallFault as fault:
            self._fail(fault)

    async def _dispatch(self, message: p.Message) -> None:
        if self.state == "ended":
            if isinstance(message, p.Mark) and message.name == HANGUP_MARK:
                self._hangup_echoed.set()  # the caller heard everything: close now
            return
        match message:
            case p.Connected():
                if self.state != "new":
                    raise CallFault("protocol_error", "'connected' sent twice")
                self.state = "connected"
            case p.Start():
                if self.state == "new":
                    raise CallFault("protocol_error", "'start' before 'connected'")
                if self.state != "connected":
                    raise CallFault("protocol_error", "'start' sent twice")
                await self._on_start(message)
            case p.Media():
                self._require_started(message.stream_sid, "media")
                self._on_media(message.payload)
            case p.Dtmf():
                self._require_started(message.stream_sid, "dtmf")
                self._on_dtmf(message.digit)
            case p.Mark():
                self._require_started(message.stream_sid, "mark")
                self._on_mark_echo(message.name)
            case p.Stop():
                self._require_started(message.stream_sid, "stop")
                self.end("caller_hung_up")
            case _:
                raise CallFault(
                    "protocol_error",
                    f"a server-side {type(message).__name__} message sent by the caller's side",
                )

    def _tolerate(self, note: str) -> None:
        """A harmless departure from the protocol by the peer: logged once per call, counted."""
        if note in self._tolerated:
            return
        self._tolerated.add(note)
        log.warning(
            "call %s: tolerated from the caller's side: %s", self.call_sid or "(no start)", note
        )
        self.server.metrics.inc("workbench_tolerated_total")

    def _require_started(self, stream_sid: str, event: str) -> None:
        if self.state in ("new", "connected"):
            raise CallFault("protocol_error", f"'{event}' before 'start'")
        if stream_sid != self.stream_sid:
            raise CallFault(
                "protocol_error", f"'{event}' for stream {stream_sid!r}, not {self.stream_sid!r}"
            )

    # ------------------------------------------------------------------ inbound messages

    async def _on_start(self, start: p.Start) -> None:
        media_format = start.media_format
        if (media_format.encoding, media_format.sample_rate, media_format.channels) != (
            "audio/x-mulaw",
            8000,
            1,
        ):
            raise CallFault("protocol_error", f"unsupported media format {media_format}")
        self.call_sid = start.call_sid
        self.stream_sid = start.stream_sid
        self.account_sid = start.account_sid
        self.custom_parameters = dict(start.custom_parameters)
        self.summary.call_sid = self.call_sid
        if not self.authorized and not self.server.token_matches(
            self.custom_parameters.get("token")
        ):
            raise CallFault("unauthorized", "no valid token on the upgrade or in customParameters")
        if self.server.draining:
            raise CallFault("draining", "the server is shutting down")
        self.caller_number = (
            self.custom_parameters.get("caller") or self.custom_parameters.get("From") or ""
        )
        self.state = "ai"
        self.server.register_call(self)
        self.caller_info = await self.server.lookup_caller(self.caller_number)
        if self.state != "ai":  # the caller left during the lookup
            return
        # (off the event loop: beyond the pool's peak it builds a recogniser, ~40 ms of work)
        session, driver = await asyncio.to_thread(self.server.new_session, self)
        if self.state != "ai":  # the caller left meanwhile
            return
        self.session, self.driver = session, driver
        self.driver.start()
        log.info("call %s: started (caller %s)", self.call_sid, self.caller_number or "unknown")

    def _on_media(self, payload: bytes) -> None:
        data = self._media_remainder + payload
        whole = len(data) - len(data) % FRAME_BYTES
        self._media_remainder = data[whole:]
        for i in range(0, whole, FRAME_BYTES):
            frame = data[i : i + FRAME_BYTES]
            if self.state == "ai" and self.driver is not None:
                self.driver.push_caller_frame(frame)
            elif self.human is not None:
                self.human.on_caller_frame(frame)

    def _on_dtmf(self, digit: str) -> None:
        if self.state == "ai" and self.driver is not None:
            self.driver.call(lambda session, t: session.on_dtmf(t, digit))
        elif self.human is not None:
            self.human.on_caller_dtmf(digit)

    def _on_mark_echo(self, name: str) -> None:
        if name == HANGUP_MARK:
            self._hangup_echoed.set()
            return
        info = self.marks.marks.pop(name, None)
        if info is None:
            if self.human is not None:
                return  # human-leg marks are not tracked
            log.debug("call %s: echo of unknown mark %r", self.call_sid, name)
            return
        if info.flushed or self.driver is None:
            return  # echoed by `clear`: that audio was dropped, not heard
        now = self.driver.now_ms()
        turn = info.turn
        self.marks.prove(info)
        if turn not in self._heard_turns:
            self._heard_turns.add(turn)
            first = now - info.chunk_frames * FRAME_MS  # the echo follows the chunk's playout
            record = self.session.turns.get(turn) if self.session is not None else None
            sent = getattr(record, "first_frame_sent_at", None)
            if sent is not None:
                first = max(first, sent)  # (echo timing is frame-quantised at the caller)
            speech_end = self._turn_speech_end.get(turn)
            latency = first - speech_end if (turn > 0 and speech_end is not None) else None
            self.summary.turns.append(TurnHeard(turn, first, speech_end, latency))
            if latency is not None:
                self.server.metrics.observe("workbench_turn_latency_seconds", latency / 1000.0)
                self.server.note_turn_latency(latency)
            if turn > 0:
                self.server.metrics.inc("workbench_turns_total")
            # The server-side waterfall of the turn, closed by the echo (not the send clock).
            for event in heard_events(self.call_sid, record, turn, first, speech_end):
                self.summary.events.append(event)
                self.server.publish_event(self, event)
        self.summary.heard.append(
            HeardRecord(now, turn, info.sentence_index, info.progress, info.text)
        )
        if info.kind == "speech":
            self._tell_heard(turn, info.sentence_index, info.progress)

    def _tell_heard(self, turn: int, sentence: int, progress: float) -> None:
        """Tell the session how far into the turn's reply the caller has heard."""

        def heard(session: Any, t_ms: float) -> list[Any]:
            method = getattr(session, "on_audio_heard", None)
            return (method(t_ms, turn, sentence, progress) or []) if method else []

        if self.driver is not None:
            self.driver.call(heard)

    # ------------------------------------------------------------------ from the driver thread

    def frame_from_driver(self, frame: AgentFrame) -> None:
        """`send_frame` for the driver (its thread): hand the frame to the loop."""
        self.loop.call_soon_threadsafe(self._on_agent_frame, frame)

    def event_from_driver(self, event: ev.Event) -> None:
        self.loop.call_soon_threadsafe(self._on_event, event)

    # ------------------------------------------------------------------ on the loop

    def _on_agent_frame(self, frame: AgentFrame) -> None:
        if self.state != "ai" or frame.turn in self._interrupted_turns:
            return  # flushed by a barge-in, or the call moved on
        for earlier in self.marks.due_before(frame):
            self._send_agent_frame(earlier)
        self.marks.follow(frame.turn)
        self._send_agent_frame(frame)

    def _send_agent_frame(self, frame: AgentFrame) -> None:
        self.send_media(frame.payload)
        mark = self.marks.sent(frame)
        if mark is not None:
            self.send(p.OutboundMark(self.stream_sid, mark))

    def _on_event(self, event: ev.Event) -> None:
        if not isinstance(event, ev.PartialTranscript):  # (live only: the bulk of all events)
            self.summary.events.append(event)
        self.server.publish_event(self, event)
        match event:
            case ev.EndpointDecided():
                # The caller's last speech frame ended `silence_ms` before the decision.
                self._speech_end_ms = event.t_ms - event.silence_ms
            case ev.ResponseStarted():
                self._turn_speech_end.setdefault(event.turn, self._speech_end_ms)
                for action in event.actions:
                    if action.get("kind") == "escalate":
                        self.escalation = dict(action.get("params", {}))
            case ev.TopicDecided():
                self.last_topic = event.topic
            case ev.AgentPaused():
                self._paused(event)
            case ev.AgentResumed():
                self._resumed(event)
            case ev.AgentAudioStopped() if event.reason == "interrupted":
                self._barge_in(event.turn)
            case ev.CallEnded():
                self._on_session_ended(event)

    def _barge_in(self, turn: int) -> None:
        self._interrupted_turns.add(turn)
        pause, self.marks.pause = self.marks.pause, None
        if pause is not None and pause.turn == turn:
            pause.outcome = "yielded"  # cleared at the pause already: drop the remainder
            self.marks.frames = []
            return
        self.marks.flush()
        self.summary.clears_sent += 1
        self.server.metrics.inc("workbench_barge_ins_total")
        self.send(p.Clear(self.stream_sid))

    def _paused(self, event: ev.AgentPaused) -> None:
        """The session went quiet for the caller's voice: `clear` now, keep the remainder."""
        if self.state != "ai" or event.turn != self.marks.turn or self.marks.pause is not None:
            return
        if event.turn in self._interrupted_turns:
            return
        pause = self.marks.paused(event.t_ms, event.turn)
        self.summary.pauses.append(pause)
        self.marks.flush()
        self.summary.clears_sent += 1
        self.server.metrics.inc("workbench_pauses_total")
        self.send(p.Clear(self.stream_sid))
        if pause.heard_frames > 0:
            last = self.marks.frames[pause.heard_frames - 1]
            if last.kind == "speech":
                self._tell_heard(last.turn, last.sentence_index, last.progress)

    def _resumed(self, event: ev.AgentResumed) -> None:
        """The session goes on with the reply, re-sending its cut word from the start: first
        re-send what the `clear` dropped before that (the session thinks it was played)."""
        pause, self.marks.pause = self.marks.pause, None
        if pause is None or pause.turn != event.turn or self.state != "ai":
            return
        if event.rephrased:  # what the `clear` dropped goes after the rephrasing
            self.marks.resume_rephrased(pause, event.sentence_index)
            return
        for frame in self.marks.resume(pause, event.rewound_ms):
            self._send_agent_frame(frame)

    def _on_session_ended(self, event: ev.CallEnded) -> None:
        self._session_ended = True
        reason = event.reason
        if reason in SESSION_FAULTS:
            self.server.metrics.inc("workbench_errors_total", cause=f"session_{reason}")
        if reason == "handoff" and not self._closing:
            self.server.start_handoff(self)
            return
        self.server.write_ai_leg(self)
        if self.state != "ended":
            self.end(reason)

    # ------------------------------------------------------------------ sending

    def send(self, message: p.ServerMessage) -> None:
        if self._closing:
            return
        self._out.put_nowait(p.encode_message(message))
        backlog = self.send_backlog()
        if backlog > self.server.config.max_send_backlog:
            self._fail(
                CallFault(
                    "client_not_reading",
                    f"about {backlog} messages waiting to be sent; the client stopped reading",
                )
            )

    def send_backlog(self) -> int:
        """Messages not yet taken by the peer: queued here plus buffered in the transport.

        aiohttp buffers a lot before `send_str` blocks, so the transport's own buffer counts
        (in media-message units) — a peer that stops reading is caught within seconds.
        """
        buffered = 0
        if self.transport is not None:
            try:
                buffered = self.transport.get_write_buffer_size() // MEDIA_MESSAGE_BYTES
            except (AttributeError, RuntimeError):
                buffered = 0
        return self._out.qsize() + buffered

    def send_media(self, payload: bytes) -> None:
        self.send(p.OutboundMedia(self.stream_sid, payload))

    def send_mark(self, name: str) -> None:
        self.send(p.OutboundMark(self.stream_sid, name))

    async def _write_loop(self) -> None:
        while True:
            text = await self._out.get()
            if text is None:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError) as error:
                if not self._closing:
                    self._fail(CallFault("transport_error", f"send failed: {error}"))
                return

    # ------------------------------------------------------------------ ending

    def end(self, reason: str) -> None:
        """End the call: the AI session (if running), the human leg (if any), the socket.

        Normal endings let the caller's playout finish (a final mark, then close)."""
        if self.state == "ended":
            return
        previous = self.state
        self.state = "ended"
        self.end_reason = self.end_reason or reason
        self.summary.end_reason = self.end_reason
        log.info("call %s: ended (%s)", self.call_sid or "(no start)", self.end_reason)
        if self.driver is not None and self.driver.running and not self._session_ended:
            self.driver.hang_up(reason)
        if self.human is not None:
            self.human.end(reason)
        if previous in ("new", "connected"):
            self._start_close(flush_playout=False)
        else:
            self._start_close(
                flush_playout=reason not in FAULT_REASONS | {"caller_hung_up", "server_shutdown"}
            )

    def _fail(self, fault: CallFault) -> None:
        if self.state == "ended" and self._closing:
            return
        log.warning(
            "call %s: ended by %s (%s)", self.call_sid or "(no start)", fault.cause, fault.detail
        )
        self.server.metrics.inc("workbench_errors_total", cause=fault.cause)
        self.end_reason = fault.cause
        if self.state == "ended":  # already ending gracefully: stop waiting on the caller
            self._abort()
            return
        self.end(fault.cause)
        if fault.cause == "client_not_reading":
            self._abort()

    def _start_close(self, *, flush_playout: bool) -> None:
        if self._closing:
            return
        if flush_playout and not self.ws.closed:
            self.send_mark(HANGUP_MARK)
        self._closing = True
        self._close_task = asyncio.ensure_future(self._close(flush_playout))

    async def _close(self, wait_for_playout: bool) -> None:
        if wait_for_playout:
            try:
                await asyncio.wait_for(self._hangup_echoed.wait(), HANGUP_PLAYOUT_TIMEOUT_S)
            except TimeoutError:
                log.info("call %s: no echo of the final mark; closing anyway", self.call_sid)
        self._out.put_nowait(None)
        if self._writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), 2.0)
            except TimeoutError:
                self._abort()
        try:
            await asyncio.wait_for(self.ws.close(), 2.0)
        except (TimeoutError, ConnectionError, RuntimeError):
            self._abort()

    def _abort(self) -> None:
        """Drop the connection without a closing handshake (a peer that stopped reading)."""
        self._closing = True
        if self.transport is not None:
            self.transport.abort()
        if self._writer is not None:
            self._writer.cancel()

    async def _on_socket_closed(self) -> None:
        if self.state != "ended":
            if self.state in ("new", "connected"):
                self.end("caller_disconnected")
            else:
                log.info("call %s: socket closed without 'stop'", self.call_sid)
                self.end("caller_disconnected")
        if self._writer is not None and not self._writer.done():
            self._out.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
            except (TimeoutError, asyncio.CancelledError):
                self._writer.cancel()
        if self.driver is not None:
            await self.loop.run_in_executor(None, self.driver.join, 5.0)
        if not self.ai_leg_written and self.session is not None and self._session_ended:
            self.server.write_ai_leg(self)
        self.server.unregister_call(self)
        self.closed.set()

    # ------------------------------------------------------------------ what the call leaves

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_monotonic

    def call_result(self) -> Any:
        """The AI leg as the engine's `CallResult` (what its scorecard is made from)."""
        from workbench.engine.scorecard import session_call_result

        return session_call_result(
            self.session,
            self.summary.events,
            end_reason=self.end_reason or "unknown",
            duration_ms=self.elapsed_s * 1000.0,
        )

    def claim_ai_leg(self) -> bool:
        """True once for a call whose AI session ran: its AI leg is to be written now."""
        if self.ai_leg_written or self.session is None:
            return False
        self.ai_leg_written = True
        return True

    def ai_leg_record(self, tasks: list[str]) -> Any:
        """The AI leg's `CallRecord` (linked to the human leg after a handoff); `tasks`: the
        agent's topics that are tasks, not answers."""
        from workbench.telephony.server.after_call import ai_leg_record

        return ai_leg_record(
            self.session,
            call_id=self.call_sid,
            events=self.summary.events,
            caller_number=self.caller_number,
            started_at=self.started_at,
            fault=self.end_reason in FAULT_REASONS,
            consent=self.custom_parameters.get("consent", "true").lower() in ("1", "true", "yes"),
            next_call_id=self.human.leg_id if self.human is not None else None,
            tasks=tasks,
        )
