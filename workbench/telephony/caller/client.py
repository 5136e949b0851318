"""A synchronous Twilio-faithful Media Streams client: the caller's side of a phone call.

It behaves like Twilio's end of a bidirectional stream (reference §7):

- handshake: `connected`, then `start` with fresh `CA…`/`MZ…` ids, `tracks: ["inbound"]`, the
  media format and custom parameters (caller number, token);
- one inbound `media` every 20 ms for the whole call, silence included, scheduled on absolute
  deadlines (`t0 + n × 20 ms` on the monotonic clock);
- a playout buffer for the agent's audio drained at 8000 samples/s (one frame per tick), so
  "the caller heard it at t" is defined; a `mark` is echoed only once the audio queued before
  it has played; `clear` empties the buffer and echoes every pending mark at once;
- `dtmf` and `stop`; messages from the agent are validated strictly (31950/31951 are recorded
  as protocol errors, as a test failure would be).

No asyncio, no Qt. One `tick()` does a 20 ms step (send one frame, play one frame, echo marks);
`pacer.Pacer` calls `tick()` for one or many clients on a thread, and a gevent harness can call it
from a greenlet instead. Reading the socket happens on a receiver thread (`connect()`).

Measurements, at the caller: time to first agent audio (from `start`), turn latency (the
caller's last speech sample sent → the first audible agent sample played), barge-in stop
latency (caller speech onset over audible agent audio → the last agent audio played after it).
A reply that begins while the caller's trailing silence is still being sent is timed from its
own first sample (the agent's speech run that began after the caller's last speech sample). A
measure that does not apply is counted with its reason in `not_applicable`, never recorded as
a number: a barge-in after which no agent audio played at all found the agent silent (not a
0 ms stop), and a turn whose caller stopped while the agent was still talking (a speech run
that began before the caller's end) has no reply to time.

Signing: given the account's auth token (`twilio_auth_token`) the upgrade carries
`X-Twilio-Signature` over `signed_url` (default: the URL dialled), as Twilio signs it, so an
agent that checks signatures can be called. A refused upgrade (HTTP 503: the agent is at
capacity; 403: not authorised) raises `CallRefused` and is recorded as `refused`, apart from
calls that failed.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import websocket

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.audio.frames import FRAME_BYTES, FRAME_MS, FRAME_SAMPLES, SILENCE_FRAME
from workbench.audio.heard import audible_span, last_audible_index
from workbench.engine.outcomes import Intent
from workbench.telephony import protocol as p
from workbench.telephony import signature as twilio_signature
from workbench.telephony.caller.overlaps import OverlapTracker
from workbench.telephony.caller.results import (
    NOT_APPLICABLE_OVERLAP,
    NOT_APPLICABLE_SILENT,
    CallerResults,
)

log = logging.getLogger(__name__)

BARGE_WINDOW_MS = 100.0  # caller speech this soon after audible agent audio is a barge-in
STOP_GAP_MS = 400.0  # agent audio silent this long after a barge-in onset has stopped
# Waiters (`wait_until`) are woken when a tick changes what they wait for, and otherwise every
# this many ticks for predicates that only time makes true (the agent quiet for a while):
# waking every script thread on every tick cost a load test more CPU than its calls.
WAKE_EVERY_TICKS = 5


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


class CallRefused(Exception):
    """The agent refused the WebSocket upgrade (`status`: 503 at capacity, 401/403 auth)."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"refused with HTTP {status}{': ' + detail if detail else ''}")
        self.status = status


def signed_headers(url: str, twilio_auth_token: str | None, signed_url: str | None) -> list[str]:
    """The upgrade's `X-Twilio-Signature` header (none without an auth token)."""
    if not twilio_auth_token:
        return []
    value = twilio_signature.signature(twilio_auth_token, signed_url or url)
    return [f"{twilio_signature.HEADER}: {value}"]


class MediaStreamClient:
    """The caller's end of one Media Streams call.

    `on_agent_audio(pcm8k, t_ms)` (optional) receives each 20 ms of agent audio as it plays
    (silence when nothing plays), on the ticking thread.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        caller_number: str = "+14155550199",
        to_number: str = "+18005550100",
        custom_parameters: dict[str, str] | None = None,
        on_agent_audio: Callable[[np.ndarray, float], None] | None = None,
        token_in_url: bool = False,
        record_audio: bool = False,
        connect_timeout_s: float = 10.0,
        frame_source: Callable[[float], Any] | None = None,
        twilio_auth_token: str | None = None,
        signed_url: str | None = None,
        intent_of: Callable[[float], Intent | None] | None = None,
        playout_delay_ms: float = 0.0,
    ) -> None:
        """`twilio_auth_token`: sign the upgrade as Twilio does, over `signed_url` (the URL the
        agent knows itself by; default `url`). `intent_of(onset_ms)`: what the caller meant by
        the voice it began at `onset_ms` (a `frame_source` caller knows; `send_audio` takes it
        as an argument). `playout_delay_ms`: agent audio plays this long after it arrived, as
        behind a carrier's jitter buffer (0: at the next tick), so more of it is still
        unplayed when a `clear` comes."""
        self.url = url
        self.token = token
        self.twilio_auth_token = twilio_auth_token
        self.signed_url = signed_url
        self.call_sid = new_sid("CA")
        self.stream_sid = new_sid("MZ")
        self.account_sid = "AC" + uuid.uuid4().hex
        self.caller_number = caller_number
        parameters = {"caller": caller_number, "to": to_number}
        if token:
            parameters["token"] = token
        parameters.update(custom_parameters or {})
        self.custom_parameters = parameters
        self.on_agent_audio = on_agent_audio
        # `frame_source(t_ms)` -> an engine `CallerFrame` (payload, speech_end_ms, dtmf) for
        # [t_ms, t_ms + 20): a scripted caller that decides each frame itself, instead of the
        # `send_audio` queue.
        self.frame_source = frame_source
        self.intent_of = intent_of
        self.playout_delay_ms = playout_delay_ms
        self.overlaps = OverlapTracker()
        self._next_intent: Intent | None = None  # of the audio queued by `send_audio`
        self._arrivals: deque[tuple[int, float]] = deque()  # (queued bytes, arrival ms)
        self._ready_bytes = 0  # (playout_delay_ms) queued audio that may play
        self.token_in_url = token_in_url
        self.record_audio = record_audio
        self.connect_timeout_s = connect_timeout_s
        self.results = CallerResults(call_sid=self.call_sid, stream_sid=self.stream_sid)
        self.played_audio: list[bytes] = []  # what the caller heard, frame by frame (recorded)
        self._ws: websocket.WebSocket | None = None
        self._send_lock = threading.Lock()
        self._state = threading.Condition()
        self._sequence = 0
        self._chunk = 0
        self._t0 = 0.0
        self._outgoing: deque[bytes] = deque()  # caller frames waiting for their tick
        self._outgoing_speech_ends: deque[int | None] = deque()
        self._pending_dtmf: deque[str] = deque()
        # Playout buffer: bytes not yet played and marks by the byte position they follow.
        self._playout = bytearray()
        self._queued_bytes = 0
        self._played_bytes = 0
        self._pending_marks: deque[tuple[int, str]] = deque()
        self._echo_now: list[str] = []
        self._receiver: threading.Thread | None = None
        self._ticks_since_wake = 0
        self.connected = False
        self.closed = threading.Event()
        self.stopped = False
        # Measurement state
        self._speech_end_ms: float | None = None  # end of the caller's latest utterance
        self._awaiting_reply = False
        self._awaiting_media = False
        self._caller_speaking = False
        self._last_caller_speech_ms: float | None = None
        self._last_agent_audible_ms: float | None = None
        self._agent_run_onset_ms: float | None = None  # start of the agent's latest speech run
        self._barge_onset_ms: float | None = None
        self._barge_last_agent_ms: float | None = None

    # ------------------------------------------------------------------ connection

    def connect(self) -> None:
        """Open the socket, send `connected` and `start`, start reading."""
        url = self.url
        if self.token and self.token_in_url:  # (Twilio itself can only use customParameters)
            url += ("&" if "?" in url else "?") + f"token={self.token}"
        headers = signed_headers(url, self.twilio_auth_token, self.signed_url)
        try:
            self._ws = websocket.create_connection(
                url, timeout=self.connect_timeout_s, enable_multithread=True, header=headers
            )
        except websocket.WebSocketBadStatusException as error:
            self.results.refused = True
            self.results.refused_status = error.status_code
            self.results.close_reason = f"refused ({error.status_code})"
            self.closed.set()
            body = error.resp_body.decode("utf-8", "replace").strip() if error.resp_body else ""
            raise CallRefused(error.status_code, body) from None
        self._ws.settimeout(None)
        self._t0 = time.perf_counter()
        self._send(p.Connected())
        self._send(
            p.Start(
                sequence_number=self._next_seq(),
                stream_sid=self.stream_sid,
                account_sid=self.account_sid,
                call_sid=self.call_sid,
                tracks=("inbound",),
                custom_parameters=self.custom_parameters,
                media_format=p.MediaFormat(),
            )
        )
        self.connected = True
        self._receiver = threading.Thread(
            target=self._receive_loop, name=f"rx-{self.call_sid[:10]}", daemon=True
        )
        self._receiver.start()

    def now_ms(self) -> float:
        return (time.perf_counter() - self._t0) * 1000.0

    @property
    def t0(self) -> float:
        return self._t0

    def _next_seq(self) -> int:
        self._sequence += 1
        return self._sequence

    def _send(self, message: p.TwilioMessage | p.Connected) -> None:
        if self._ws is None or self.closed.is_set():
            return
        text = p.encode_message(message)
        with self._send_lock:
            try:
                self._ws.send(text)
            except (OSError, websocket.WebSocketException) as error:
                self._on_closed(f"send failed: {error}")

    # ------------------------------------------------------------------ caller actions (any thread)

    def send_audio(self, pcm8k: np.ndarray, intent: Intent | None = None) -> None:
        """Queue caller speech (8 kHz int16); it goes out one frame per tick after what is queued.
        `intent`: what the caller means by it if it lands over agent audio (an "interruption",
        an "acknowledgement", "noise"), for the overlap outcomes."""
        self._next_intent = intent
        pcm = np.asarray(pcm8k, dtype=np.int16)
        pad = (-len(pcm)) % FRAME_SAMPLES
        pcm = np.concatenate([pcm, np.zeros(pad, np.int16)])
        frames = []
        ends = []
        for i in range(0, len(pcm), FRAME_SAMPLES):
            chunk = pcm[i : i + FRAME_SAMPLES]
            last = last_audible_index(chunk)
            frames.append(ulaw_encode(chunk))
            ends.append(None if last is None else last + 1)
        self.send_frames(frames, ends)

    def send_frames(self, frames: Iterable[bytes], speech_ends: Iterable[int | None]) -> None:
        """Queue pre-encoded frames; `speech_ends[i]` is the sample after the last audible one
        in frame i (None if silent). Pre-encoding keeps load tests free of per-call encoding."""
        with self._state:
            self._outgoing.extend(frames)
            self._outgoing_speech_ends.extend(speech_ends)

    @property
    def speaking(self) -> bool:
        """True while queued caller audio is still being sent."""
        with self._state:
            return bool(self._outgoing)

    def press(self, digit: str) -> None:
        """Press a key: sent as a `dtmf` event at the next tick."""
        with self._state:
            self._pending_dtmf.append(digit)

    def hang_up(self) -> None:
        """Send `stop` and close the socket."""
        if self.stopped or self._ws is None:
            return
        self.stopped = True
        self.results.close_reason = self.results.close_reason or "caller_hung_up"
        self.settle_overlaps()
        self._send(p.Stop(self._next_seq(), self.stream_sid, self.account_sid, self.call_sid))
        try:
            self._ws.close(timeout=2)
        except (OSError, websocket.WebSocketException):
            pass
        self._on_closed("caller_hung_up")
        if self._receiver is not None and self._receiver is not threading.current_thread():
            self._receiver.join(5.0)

    # ------------------------------------------------------------------ the 20 ms step

    def tick(self, due_s: float | None = None) -> None:
        """One 20 ms step: send a caller frame, play an agent frame, echo marks.

        `due_s` is the scheduled perf_counter time of this tick (for lateness accounting).
        """
        if self.closed.is_set() or self.stopped:
            return
        now = self.now_ms()
        if due_s is not None:
            lateness = (time.perf_counter() - due_s) * 1000.0
            self.results.worst_lateness_ms = max(self.results.worst_lateness_ms, lateness)
            if lateness > FRAME_MS:
                self.results.late_sends += 1
        spoken_at: float | None = None
        with self._state:
            if self.frame_source is not None:
                # The frame carries the 20 ms just captured: spoken in [now - 20, now).
                caller_frame = self.frame_source(now - FRAME_MS)
                frame = caller_frame.payload
                spoken_at = caller_frame.speech_end_ms
                finished_utterance = spoken_at is None and self._caller_speaking
                if caller_frame.dtmf:
                    self._pending_dtmf.append(caller_frame.dtmf)
            else:
                frame = self._outgoing.popleft() if self._outgoing else SILENCE_FRAME
                end = self._outgoing_speech_ends.popleft() if self._outgoing_speech_ends else None
                if end is not None:
                    spoken_at = now - FRAME_MS + end / 8.0
                finished_utterance = not self._outgoing and self._caller_speaking
            digits = list(self._pending_dtmf)
            self._pending_dtmf.clear()
        self._chunk += 1
        if spoken_at is not None:
            if not self._caller_speaking:
                self._on_caller_speech_onset(now - FRAME_MS)
            self._caller_speaking = True
            self._last_caller_speech_ms = spoken_at
        if finished_utterance:
            self._caller_speaking = False
            if self._last_caller_speech_ms is not None:
                end = self._speech_end_ms = self._last_caller_speech_ms
                self._awaiting_media = True
                self._awaiting_reply = False
                # The utterance's trailing silence has just been sent; agent audio may already
                # have played after the caller's last speech sample.
                last_agent, run = self._last_agent_audible_ms, self._agent_run_onset_ms
                if last_agent is None or last_agent <= end:
                    self._awaiting_reply = True  # the reply is still to come: timed in `_play`
                elif run is not None and run > end:  # the reply began in the trailing silence
                    self.results.turn_latencies_ms.append(run - end)
                else:  # the agent talked through the caller's end: its audio answers nothing
                    self._not_applicable(NOT_APPLICABLE_OVERLAP)
        self._send(
            p.Media(
                sequence_number=self._next_seq(),
                stream_sid=self.stream_sid,
                track="inbound",
                chunk=self._chunk,
                timestamp=int(round((self._chunk - 1) * FRAME_MS)),
                payload=frame,
            )
        )
        self.results.frames_sent += 1
        for digit in digits:
            self._send(p.Dtmf(self._next_seq(), self.stream_sid, digit))
        self._play(now, changed=finished_utterance or bool(digits))

    def settle_overlaps(self) -> dict[str, Any]:
        """Close the overlap record (the call is over) and put its report in the results."""
        with self._state:
            self.overlaps.finish(self.now_ms())
            self.results.overlaps = self.overlaps.report()
            return self.results.overlaps

    def _on_caller_speech_onset(self, onset_ms: float) -> None:
        intent = self.intent_of(onset_ms) if self.intent_of is not None else self._next_intent
        with self._state:
            self.overlaps.caller_onset(onset_ms, intent)
        audible_recently = (
            self._last_agent_audible_ms is not None
            and onset_ms - self._last_agent_audible_ms <= BARGE_WINDOW_MS
        )
        if audible_recently and self._barge_onset_ms is None:
            self._barge_onset_ms = onset_ms
            self._barge_last_agent_ms = self._last_agent_audible_ms

    def _play(self, now: float, *, changed: bool = False) -> None:
        with self._state:
            # Marks whose audio finished playing by now (the frame of the previous tick ended
            # at this tick) are echoed before the next frame starts.
            echoes = self._echo_now
            self._echo_now = []
            while self._pending_marks and self._pending_marks[0][0] <= self._played_bytes:
                echoes.append(self._pending_marks.popleft()[1])
            playable = FRAME_BYTES
            if self.playout_delay_ms > 0:  # only audio that has waited out the jitter buffer
                while self._arrivals and self._arrivals[0][1] + self.playout_delay_ms <= now:
                    self._ready_bytes = self._arrivals.popleft()[0]
                playable = max(0, min(FRAME_BYTES, self._ready_bytes - self._played_bytes))
            chunk = bytes(self._playout[:playable])
            del self._playout[:playable]
            self._played_bytes += len(chunk)
        measured = (
            self.results.first_agent_audio_ms,
            len(self.results.turn_latencies_ms),
            len(self.results.barge_in_stop_ms),
        )
        pcm = ulaw_decode(chunk) if chunk else np.zeros(0, np.int16)
        span: tuple[int, int] | None = None
        audible = audible_span(pcm) if chunk else None
        if audible is not None:
            span = (audible[0], audible[1] + 1)
            first = now + audible[0] / 8.0
            last = now + (audible[1] + 1) / 8.0
            if self.results.first_agent_audio_ms is None:
                self.results.first_agent_audio_ms = first
            previous = self._last_agent_audible_ms
            if previous is None or first - previous >= STOP_GAP_MS:
                self._agent_run_onset_ms = first
            if self._awaiting_reply and self._speech_end_ms is not None:
                if first > self._speech_end_ms and not self._caller_speaking:
                    self.results.turn_latencies_ms.append(first - self._speech_end_ms)
                    self._awaiting_reply = False
            self._last_agent_audible_ms = last
            if self._barge_onset_ms is not None:
                self._barge_last_agent_ms = last
        self._check_barge_stop(now)
        with self._state:
            self.overlaps.agent_frame(now, chunk, span)
        changed = (
            changed
            or bool(echoes)
            or (bool(chunk) and not self._playout)  # the playout buffer just ran dry
            or measured
            != (
                self.results.first_agent_audio_ms,
                len(self.results.turn_latencies_ms),
                len(self.results.barge_in_stop_ms),
            )
        )
        self._ticks_since_wake += 1
        if changed or self._ticks_since_wake >= WAKE_EVERY_TICKS:
            self._ticks_since_wake = 0
            with self._state:
                self._state.notify_all()
        if self.record_audio:
            self.played_audio.append(chunk + SILENCE_FRAME[len(chunk) :])
        if self.on_agent_audio is not None:
            full = chunk + SILENCE_FRAME[len(chunk) :]
            self.on_agent_audio(ulaw_decode(full), now)
        for name in echoes:
            self._send(p.Mark(self._next_seq(), self.stream_sid, name))
            self.results.marks_echoed += 1

    def _check_barge_stop(self, now: float) -> None:
        if self._barge_onset_ms is None or self._barge_last_agent_ms is None:
            return
        if now - self._barge_last_agent_ms >= STOP_GAP_MS:
            stop = self._barge_last_agent_ms - self._barge_onset_ms
            if stop > 0:
                self.results.barge_in_stop_ms.append(stop)
            else:  # no agent audio played after the onset: nothing was there to stop
                self._not_applicable(NOT_APPLICABLE_SILENT)
            self._barge_onset_ms = None
            self._barge_last_agent_ms = None

    def _not_applicable(self, reason: str) -> None:
        counts = self.results.not_applicable
        counts[reason] = counts.get(reason, 0) + 1

    # ------------------------------------------------------------------ agent → caller

    def _receive_loop(self) -> None:
        assert self._ws is not None
        while not self.closed.is_set():
            try:
                opcode, data = self._ws.recv_data()
            except (OSError, websocket.WebSocketException) as error:
                self._on_closed("" if self.stopped else f"socket closed: {error}")
                return
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.results.closed_by_server = not self.stopped
                self._on_closed("closed by the server")
                return
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self._on_text(data.decode("utf-8", errors="replace"))
            elif opcode == websocket.ABNF.OPCODE_BINARY:
                self._flag(str(p.ProtocolError(p.MALFORMED_MESSAGE, "binary frame from the agent")))

    def _on_text(self, text: str) -> None:
        try:
            message = p.parse_message(text)
        except p.ProtocolError as error:
            self._flag(str(error))
            return
        stream = getattr(message, "stream_sid", None)
        if not isinstance(message, p.OutboundMedia | p.OutboundMark | p.Clear):
            self._flag(f"unexpected {type(message).__name__} from agent")
            return
        if stream != self.stream_sid:
            self._flag(str(p.ProtocolError(p.INVALID_MESSAGE, f"wrong streamSid {stream!r}")))
            return
        now = self.now_ms()
        with self._state:
            match message:
                case p.OutboundMedia():
                    self.results.media_received += 1
                    self._playout.extend(message.payload)
                    self._queued_bytes += len(message.payload)
                    if self.playout_delay_ms > 0:
                        self._arrivals.append((self._queued_bytes, now))
                    if self._awaiting_media and self._speech_end_ms is not None:
                        self.results.first_media_after_speech_ms.append(now - self._speech_end_ms)
                        self._awaiting_media = False
                case p.OutboundMark():
                    self.results.marks_received += 1
                    self._pending_marks.append((self._queued_bytes, message.name))
                case p.Clear():
                    self.results.clears_received += 1
                    self._playout.clear()
                    self._played_bytes = self._ready_bytes = self._queued_bytes
                    self._arrivals.clear()
                    self.overlaps.clear(now)
                    self._echo_now.extend(name for _, name in self._pending_marks)
                    self._pending_marks.clear()
            self._state.notify_all()

    def _flag(self, error: str) -> None:
        """A message from the agent that Twilio would reject (31950/31951): a test failure."""
        with self._state:
            self.results.protocol_errors.append(error)
            self._state.notify_all()

    def _on_closed(self, reason: str) -> None:
        with self._state:
            if not self.closed.is_set():
                self.results.close_reason = self.results.close_reason or reason
                self.closed.set()
            self._state.notify_all()

    # ------------------------------------------------------------------ waiting (script thread)

    @property
    def playout_buffered_ms(self) -> float:
        with self._state:
            return len(self._playout) / 8.0

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait (on the client's condition) until `predicate()` or timeout. Waiters are woken
        by every message from the agent, by ticks that change what the caller sent or heard,
        and at least every `WAKE_EVERY_TICKS` ticks."""
        deadline = time.monotonic() + timeout_s
        with self._state:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed.is_set():
                    return predicate()
                self._state.wait(remaining)
        return True

    def wait_for_agent_quiet(self, gap_ms: float, timeout_s: float) -> bool:
        """Wait until the agent has been heard and then silent for `gap_ms` with nothing queued."""

        def quiet() -> bool:
            if self._playout or self._outgoing:
                return False
            last = self._last_agent_audible_ms
            return last is not None and self.now_ms() - last >= gap_ms

        return self.wait_until(quiet, timeout_s)

    def wait_for_agent_audio(self, timeout_s: float) -> bool:
        """Wait until some agent audio has been heard after the latest caller utterance."""
        return self.wait_until(lambda: not self._awaiting_reply, timeout_s)

    def wait_sent(self, timeout_s: float) -> bool:
        """Wait until every queued caller frame has been sent."""
        return self.wait_until(lambda: not self._outgoing, timeout_s)
