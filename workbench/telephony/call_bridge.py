"""One media-stream connection: the Twilio Media Streams socket bridged to a call session.

A `MediaCall` lives on the server's asyncio loop. It reads the socket, checks that messages
come in the protocol's order (`connected`, `start`, then `media`/`dtmf`/`mark`, `stop` last),
and runs a `CallSession` on a `RealTimeDriver` thread. The driver's frames and events cross
back to the loop with `loop.call_soon_threadsafe`; everything that touches the socket or the
call's own state happens on the loop.

Marks: after the first frame of each agent turn, every `MARK_EVERY_FRAMES` frames and at the
end of each sentence the server sends a `mark` named for what it closes
(`t<turn>-s<sentence>-p<percent>-<kind>-<n>`). Their echoes say what the caller has actually
heard; the server-side "first audible agent audio" and the `on_audio_heard` calls to the
session come from them, never from the send clock. On barge-in (the session stops its audio
with reason "interrupted") the server sends `clear`, drops the turn's remaining frames and
treats the burst of echoes that follows as flushed, not heard.

Pause and resume ("pause" interruption mode): when the session pauses its reply for the
caller's voice (`AgentPaused`), the server sends `clear` at once. Its ledger of the turn's
frames and the marks echoed so far say what the caller heard: every frame up to the last mark
echoed for certain, and of the frames after it, all but those still in the caller's buffer —
how many that is, the depth of the caller's buffer, is measured at each echo (frames sent
then, less the frames the echo proves played). The unplayed remainder is kept, counted from
the start of the word it begins in. On `AgentResumed` the session re-sends its cut word from
the start (`rewound_ms`); the server first re-sends whatever of the remainder lies before
that (audio the `clear` dropped that the session does not know was lost), with marks, so the
caller hears each word once and in order (the cut word whole again). On a yield (`AgentAudio
Stopped`, "interrupted") the remainder is dropped and no second `clear` is sent. The session
is told the heard position at the pause (`on_audio_heard`), so the transcript and the CRM
keep what was heard.

After a handoff the AI session ends but the socket stays open: the caller hears hold audio,
then the human agent (see `handoff.py`).

The peer is read tolerantly (`protocol.parse_inbound`): an unknown field or a mark echoed
without `sequenceNumber` is logged once and the call goes on. Any protocol fault (bad JSON,
bad base64, wrong types, missing fields, unknown or out-of-order events, binary or oversized
frames, a client that stops reading) ends this call, with its reason logged, counted and written to the
CRM as a failed call; other calls never notice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from workbench.audio.frames import FRAME_BYTES, FRAME_MS
from workbench.engine import events as ev
from workbench.telephony import protocol as p

if TYPE_CHECKING:
    from workbench.engine.playout import AgentFrame
    from workbench.telephony.handoff import HumanLeg
    from workbench.telephony.server import MediaStreamServer

log = logging.getLogger(__name__)

MARK_EVERY_FRAMES = 10  # a mark every 200 ms of agent audio: how finely "heard" is known
MEDIA_MESSAGE_BYTES = 330  # a 20 ms outbound media message on the wire, about
HANGUP_MARK = "hangup"
HANGUP_PLAYOUT_TIMEOUT_S = 15.0  # the caller's buffer should drain long before this
FAULT_REASONS = {"protocol_error", "client_not_reading", "transport_error", "error", "unauthorized"}
SESSION_FAULTS = {"error", "transport_error", "timeout"}  # the session ended itself badly


@dataclass
class MarkInfo:
    """What a mark closes: the agent audio sent since the previous mark."""

    turn: int
    sentence_index: int
    progress: float
    text: str
    kind: str
    chunk_frames: int  # frames since the previous mark (audio this echo proves played)
    flushed: bool = False
    ledger_end: int = 0  # the turn's frames sent up to and including this mark's


@dataclass
class PauseRecord:
    """One pause of a reply at the caller (`AgentPaused`), as the server saw it (frames of the
    turn's ledger; call clock, ms)."""

    t_ms: float
    turn: int
    sent_frames: int  # sent before the `clear`
    proven_frames: int  # proven played by mark echoes
    heard_frames: int  # played, by the measured depth of the caller's buffer
    resume_from: int  # the start of the word the unplayed remainder begins in
    outcome: str = ""  # "resumed" | "yielded" | "" (the call ended first)
    resent_frames: int = 0  # of the remainder, re-sent by the server (before the session's)


@dataclass
class HeardRecord:
    """A mark echo that proved agent audio reached the caller (call clock, ms)."""

    t_ms: float
    turn: int
    sentence_index: int
    progress: float
    text: str


@dataclass
class TurnHeard:
    """Server-side view of a turn at the caller, from mark echoes."""

    turn: int
    first_audible_ms: float
    caller_speech_end_ms: float | None
    latency_ms: float | None


class CallFault(Exception):
    """Ends one call: `cause` names the fault for logs and metrics."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.detail = detail


@dataclass
class CallSummary:
    """What stays of a call after its socket closed (for tests, the desk and reports)."""

    call_sid: str
    end_reason: str
    events: list[ev.Event] = field(default_factory=list)
    turns: list[TurnHeard] = field(default_factory=list)
    heard: list[HeardRecord] = field(default_factory=list)
    human_leg_ids: list[str] = field(default_factory=list)
    clears_sent: int = 0
    pauses: list[PauseRecord] = field(default_factory=list)


class MediaCall:
    """One `/media` WebSocket connection and the call it carries."""

    def __init__(self, server: MediaStreamServer, ws: web.WebSocketResponse, *, authorized: bool):
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
        self.human: HumanLeg | None = None
        self.escalation: dict[str, Any] = {}
        self.last_topic = ""
        self.ai_leg_written = False
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer: asyncio.Task | None = None
        self._marks: dict[str, MarkInfo] = {}
        self._mark_counter = 0
        self._frames_since_mark = 0
        self._frames_by_turn: dict[int, int] = {}
        self._interrupted_turns: set[int] = set()
        self._speech_end_ms: float | None = None
        self._turn_speech_end: dict[int, float | None] = {}
        self._heard_turns: set[int] = set()
        # The current turn's frames as sent (the ledger), how many the caller has played for
        # certain (mark echoes), the depth of its buffer at the last echo, and a pause's state.
        self._ledger: list[AgentFrame] = []
        self._ledger_turn: int | None = None
        self._proven = 0
        self._depth: int | None = None
        self._pause: PauseRecord | None = None
        self._mark_next = False
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
        self.session, self.driver = self.server.new_session(self)
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
        info = self._marks.pop(name, None)
        if info is None:
            if self.human is not None:
                return  # human-leg marks are not tracked
            log.debug("call %s: echo of unknown mark %r", self.call_sid, name)
            return
        if info.flushed or self.driver is None:
            return  # echoed by `clear`: that audio was dropped, not heard
        now = self.driver.now_ms()
        turn = info.turn
        if turn == self._ledger_turn:
            self._proven = max(self._proven, info.ledger_end)
            self._depth = len(self._ledger) - info.ledger_end  # sent, not yet played
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
            self._publish_heard(turn, first, speech_end)
        self.summary.heard.append(
            HeardRecord(now, turn, info.sentence_index, info.progress, info.text)
        )
        if info.kind == "speech":
            sentence, progress = info.sentence_index, info.progress

            def heard(session: Any, t_ms: float) -> list[Any]:
                method = getattr(session, "on_audio_heard", None)
                if method is None:
                    return []
                return method(t_ms, turn, sentence, progress) or []

            self.driver.call(heard)

    def _publish_heard(self, turn: int, first_ms: float, speech_end_ms: float | None) -> None:
        """The server-side waterfall of a turn, closed by the mark echo (not the send clock)."""
        from workbench.engine.trace import TimelineBuilder, TimelineError

        heard: list[ev.Event] = [ev.AgentAudioHeard(self.call_sid, first_ms, turn=turn)]
        record = self.session.turns.get(turn) if self.session is not None else None
        if record is not None and record.first_frame_sent_at is not None:
            origin = speech_end_ms if turn > 0 and speech_end_ms is not None else 0.0
            builder = TimelineBuilder(turn, origin)
            try:
                if turn > 0 and record.endpoint_at is not None:
                    builder.reach(
                        record.endpoint_label or "endpointing wait", "setting", record.endpoint_at
                    )
                sent = record.first_frame_sent_at
                for name, owner, t in list(record.checkpoints):
                    if t <= sent:
                        builder.reach(name, owner, t)
                builder.reach("agent output clock (20 ms frames)", "playout", sent)
                builder.reach("agent leg + caller playout (mark echo)", "network", first_ms)
                builder.caller_text = record.caller_text
                builder.agent_text = " ".join(record.agent_sentences)
                builder.spans.extend(list(record.spans))
                builder.notes.append(
                    "server-side: origin is the VAD's end of caller speech; the end is the "
                    "first mark echo (what the caller's playout reached)"
                )
                timeline = builder.build()
                heard.append(
                    ev.TurnCompleted(self.call_sid, first_ms, turn=turn, timeline=timeline)
                )
            except TimelineError as error:
                log.info(
                    "call %s: no server-side waterfall for turn %d: %s", self.call_sid, turn, error
                )
        for event in heard:
            self.summary.events.append(event)
            self.server.publish_event(self, event)

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
        if frame.turn != self._ledger_turn:
            self._ledger, self._ledger_turn, self._proven, self._pause = [], frame.turn, 0, None
        self._send_agent_frame(frame)

    def _send_agent_frame(self, frame: AgentFrame) -> None:
        self.send_media(frame.payload)
        self._ledger.append(frame)
        count = self._frames_by_turn.get(frame.turn, 0) + 1
        self._frames_by_turn[frame.turn] = count
        self._frames_since_mark += 1
        if (
            count == 1
            or self._mark_next
            or self._frames_since_mark >= MARK_EVERY_FRAMES
            or frame.progress >= 1.0
        ):
            self._mark_next = False
            self._mark_counter += 1
            name = (
                f"t{frame.turn}-s{frame.sentence_index}-p{round(frame.progress * 100)}"
                f"-{frame.kind}-{self._mark_counter}"
            )
            self._marks[name] = MarkInfo(
                frame.turn,
                frame.sentence_index,
                frame.progress,
                frame.text,
                frame.kind,
                self._frames_since_mark,
                ledger_end=len(self._ledger),
            )
            self._frames_since_mark = 0
            self.send(p.OutboundMark(self.stream_sid, name))

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
        pause, self._pause = self._pause, None
        if pause is not None and pause.turn == turn:
            pause.outcome = "yielded"  # cleared at the pause already: drop the remainder
            self._ledger = []
            return
        self._flush_marks()
        self.summary.clears_sent += 1
        self.server.metrics.inc("workbench_barge_ins_total")
        self.send(p.Clear(self.stream_sid))

    def _flush_marks(self) -> None:
        """Every mark still out follows audio a `clear` drops: its echo proves nothing."""
        for info in self._marks.values():
            info.flushed = True
        self._frames_since_mark = 0

    def _paused(self, event: ev.AgentPaused) -> None:
        """The session went quiet for the caller's voice: `clear` now, keep the remainder."""
        if self.state != "ai" or event.turn != self._ledger_turn or self._pause is not None:
            return
        if event.turn in self._interrupted_turns:
            return
        sent = len(self._ledger)
        # Played: all but the depth of the caller's buffer (unknown before the first echo:
        # then only what echoes proved), never less than proven.
        depth = self._depth if self._depth is not None else sent - self._proven
        heard = min(sent, max(self._proven, sent - depth))
        self._pause = PauseRecord(
            t_ms=event.t_ms,
            turn=event.turn,
            sent_frames=sent,
            proven_frames=self._proven,
            heard_frames=heard,
            resume_from=self._word_start(heard),
        )
        self.summary.pauses.append(self._pause)
        self._flush_marks()
        self.summary.clears_sent += 1
        self.server.metrics.inc("workbench_pauses_total")
        self.send(p.Clear(self.stream_sid))
        if heard > 0 and self.driver is not None:
            last = self._ledger[heard - 1]
            if last.kind == "speech":
                turn, sentence, progress = last.turn, last.sentence_index, last.progress
                self.driver.call(
                    lambda session, t_ms: (
                        session.on_audio_heard(t_ms, turn, sentence, progress) or []
                    )
                )

    def _word_start(self, index: int) -> int:
        """Where the word that ledger frame `index` falls in begins (the last quiet frame at
        or before it in its sentence); `index` itself when it is past the end."""
        from workbench.audio.frames import word_start

        if index >= len(self._ledger):
            return index
        frame = self._ledger[index]
        first = index
        while first > 0 and (
            self._ledger[first - 1].kind,
            self._ledger[first - 1].sentence_index,
        ) == (
            frame.kind,
            frame.sentence_index,
        ):
            first -= 1
        return first + word_start([f.payload for f in self._ledger[first : index + 1]])

    def _resumed(self, event: ev.AgentResumed) -> None:
        """The session goes on with the reply, re-sending its cut word from the start: first
        re-send what the `clear` dropped before that (the session thinks it was played)."""
        pause, self._pause = self._pause, None
        if pause is None or pause.turn != event.turn or self.state != "ai":
            return
        pause.outcome = "resumed"
        # The session re-sends the last `rewound_ms` of what it sent (its cut word).
        rewound = len(self._ledger) - round(event.rewound_ms / FRAME_MS)
        start = min(pause.resume_from, rewound)
        resend = self._ledger[pause.resume_from : rewound]
        del self._ledger[start:]
        self._proven = min(self._proven, start)
        pause.resent_frames = len(resend)
        self._mark_next = True  # learn soon that the caller hears the reply again
        for frame in resend:
            self._send_agent_frame(frame)

    def _on_session_ended(self, event: ev.CallEnded) -> None:
        self._session_ended = True
        reason = event.reason
        if reason in SESSION_FAULTS:
            self.server.metrics.inc("workbench_errors_total", cause=f"session_{reason}")
        if reason == "handoff" and not self._closing:
            from workbench.telephony.handoff import start_handoff

            start_handoff(self)
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

    # ------------------------------------------------------------------ helpers

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_monotonic
