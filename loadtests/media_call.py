"""A lean, greenlet-friendly Twilio-side Media Streams call (paced by `greenlet_pacer.py`).

Why not `workbench.telephony.caller.client.MediaStreamClient`: it is faithful but does per-frame
work that caps a generator process far below 500 calls — a `json.dumps` and a `b64encode`
per sent frame, a numpy μ-law decode per played frame, a receiver *thread* per call, and a
`Condition` per call that every tick notifies. Under Locust threads become greenlets, so it
runs, but each call costs roughly what the reference's "naive" user costs (~150–200 calls per
process). This module keeps the same behaviour (reference twilio-media-streams.md §7) with the
per-frame work removed:

- caller audio is pre-encoded once per process to base64 frame strings (`EncodedUtterance`); a sent
  frame is one `%`-format of a fixed JSON template plus a masked WebSocket header;
- agent audio is judged audible with a 256-byte lookup table (`bytes.translate`), no decode;
- ONE `GreenletPacer` greenlet per process sends every call's frame each 20 ms; calls are spread over
  ten 2 ms slots (their phases differ, as real calls' do), so each slot's burst is short;
- websocket-client (pure Python, cooperative under gevent) only opens the connection; frames
  are written and parsed here, and one receive greenlet per call reads in bulk;
- agent audio in the canonical layout is queued undecoded (no JSON) and decoded by the pacer
  as it plays, a frame per tick: an agent that sends a whole 2.5 s reply at once would
  otherwise put 125 decodes in front of every call's next send.

Times are on each call's schedule (`t0 + n × 20 ms`): a frame sent at tick n carries the
audio captured in [n·20 − 20, n·20) ms, and the agent frame played at tick n covers
[n·20, n·20 + 20) ms. The pacer measures its own lateness (actual − scheduled send time of
every frame) and CPU, so an overloaded generator is visible and never blamed on the agent.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import struct
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import gevent.lock
import websocket
from call_records import CallState, EncodedUtterance

from workbench.audio.frames import FRAME_BYTES, SILENCE_FRAME
from workbench.audio.heard import REPLY_GAP_MS, ulaw_audible_span
from workbench.telephony import protocol as p
from workbench.telephony import signature as twilio_signature
from workbench.telephony.caller.overlaps import OverlapTracker

if TYPE_CHECKING:
    from greenlet_pacer import GreenletPacer

    from workbench.telephony.caller.listened import CallRecording

log = logging.getLogger(__name__)

STOP_GAP_MS = 400.0  # after a barge-in onset, agent audio quiet this long has stopped
# After a backchannel the script waits this long from its onset before its next step, so an
# agent that paused for it has time to resume (what became of the reply is the overlap's
# outcome, `overlaps.OverlapTracker`).
FALSE_INTERRUPTION_WINDOW_MS = 1500.0

SILENCE_B64 = base64.b64encode(SILENCE_FRAME).decode("ascii")
_MEDIA = (
    '{"event":"media","sequenceNumber":"%d","streamSid":"%s","media":'
    '{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"%s"}}'
)


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


class LocustCall:
    """The caller's end of one call. `connect()`, then the script queues speech and keys."""

    def __init__(
        self,
        url: str,
        pacer: GreenletPacer,
        *,
        token: str | None = None,
        caller_number: str = "+14155550199",
        to_number: str = "+18005550100",
        twilio_auth_token: str | None = None,
        signed_url: str | None = None,
    ) -> None:
        """`twilio_auth_token`: sign the upgrade (`X-Twilio-Signature`) over `signed_url` (the
        URL the agent knows itself by; default `url`), as Twilio does."""
        self.url = url
        self.pacer = pacer
        self.twilio_auth_token = twilio_auth_token
        self.signed_url = signed_url
        self.call_sid = new_sid("CA")
        self.stream_sid = new_sid("MZ")
        self._media_head = (
            b'{"event":"media","streamSid":"' + self.stream_sid.encode() + b'","media":{"payload":"'
        )
        self.account_sid = new_sid("AC")
        self.parameters = {"caller": caller_number, "to": to_number}
        if token:
            self.parameters["token"] = token
        self.state = CallState()
        self.changed = gevent.event.Event()  # set by the pacer/receiver when state moved on
        self.closed = False
        self.t0 = 0.0  # perf_counter of tick 0 (the schedule's origin)
        self.start_ms = 0.0  # when `start` was sent, on the call's schedule (≤ 0)
        self.slot = 0
        self._ws: websocket.WebSocket | None = None
        self._sock: Any = None
        self._seq = 0
        self._chunk = 0
        self._out: deque[str] = deque()
        self._out_onset: int | None = None  # index in _out of the utterance's first audible frame
        self._out_speech_end: float = 0.0
        self._dtmf: deque[str] = deque()
        self._playout = bytearray()
        # Agent audio received but not decoded yet (base64 of canonical `media` messages, in
        # order after `_playout`): decoded at playout time, 20 ms per tick like everything
        # else the pacer does, instead of all at once when a whole reply arrives.
        self._undecoded: deque[bytes] = deque()
        self._queued = 0
        self._played = 0
        self._marks: deque[tuple[int, str]] = deque()
        self._echo_now: list[str] = []
        self._receiver: gevent.Greenlet | None = None
        self._utterance_started_ms: float | None = None
        self._pending_utterance: EncodedUtterance | None = None
        self._pending_intent: str | None = None
        # Each caller onset over agent audio and what became of it (the same tracker as
        # `workbench call`'s client): `overlap_report()` once the call is over.
        self.overlaps = OverlapTracker()
        # `--listen`: a sampled call keeps what it heard (`CallRecording`, appends only),
        # heard after the call in another process; None on every other call.
        self.recording: CallRecording | None = None

    # ------------------------------------------------------------------ connection

    def connect(self, timeout_s: float = 10.0) -> float:
        """Open the socket and send `connected` + `start`; returns the setup time in ms."""
        started = time.perf_counter()
        header = []
        if self.twilio_auth_token:
            value = twilio_signature.signature(self.twilio_auth_token, self.signed_url or self.url)
            header.append(f"{twilio_signature.HEADER}: {value}")
        # A refused upgrade (503 at capacity, 403…) raises WebSocketBadStatusException.
        self._ws = websocket.create_connection(self.url, timeout=timeout_s, header=header)
        self._ws.settimeout(None)
        self._sock = self._ws.sock
        self._raw = getattr(self._sock, "_sock", self._sock)  # the OS socket under gevent's
        self._lock = gevent.lock.Semaphore()
        setup_ms = (time.perf_counter() - started) * 1000.0
        self._send_text(p.encode_message(p.Connected()))
        self._seq += 1
        start = p.Start(
            sequence_number=self._seq,
            stream_sid=self.stream_sid,
            account_sid=self.account_sid,
            call_sid=self.call_sid,
            tracks=("inbound",),
            custom_parameters=dict(self.parameters),
            media_format=p.MediaFormat(),
        )
        self._send_text(p.encode_message(start))
        self.pacer.add(self)  # sets t0: `start` was sent just before tick 0
        self.start_ms = -((self.t0 - time.perf_counter()) * 1000.0)
        self._receiver = gevent.spawn(self._receive_loop)
        return setup_ms

    def now_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    def _send_text(self, text: str) -> None:
        """One masked text frame, written straight to the socket (no per-frame ABNF objects)."""
        self._send_frame(0x1, text.encode("ascii") if text.isascii() else text.encode("utf-8"))

    def _send_frame(self, opcode: int, data: bytes) -> None:
        if self._sock is None or self.closed:
            return
        self._send_frame_unchecked(opcode, data)

    def _send_frame_unchecked(self, opcode: int, data: bytes) -> None:
        n = len(data)
        key = random.getrandbits(32)
        if n < 126:
            header = struct.pack("!BBI", 0x80 | opcode, 0x80 | n, key)
        elif n < 65536:
            header = struct.pack("!BBHI", 0x80 | opcode, 0x80 | 126, n, key)
        else:
            header = struct.pack("!BBQI", 0x80 | opcode, 0x80 | 127, n, key)
        # XOR with the 4-byte key repeated, as one big-integer operation (fast in CPython).
        mask = key.to_bytes(4, "big") * ((n + 3) // 4)
        masked = (
            (int.from_bytes(data, "big") ^ int.from_bytes(mask[:n], "big")).to_bytes(n, "big")
            if n
            else b""
        )
        frame = header + masked
        try:
            # Fast path: one non-blocking send on the OS socket, skipping gevent's wrapper
            # (a measurable share of the per-frame cost). A partial write (full buffer) or
            # a send in progress finishes through gevent's cooperative sendall, under the lock
            # that keeps the pacer's and the receiver's frames from interleaving.
            if not self._lock.locked():
                try:
                    sent = self._raw.send(frame)
                except BlockingIOError:
                    sent = 0
                if sent == len(frame):
                    return
                frame = frame[sent:]
            with self._lock:
                self._sock.sendall(frame)
        except OSError as error:
            self._close(f"send failed: {error}")

    # ------------------------------------------------------------------ caller actions

    def say(self, utterance: EncodedUtterance, intent: str | None = "interruption") -> None:
        """Queue an utterance: its frames go out one per tick after anything queued. `intent`:
        what the caller means by it if it lands over agent audio ("interruption",
        "acknowledgement", "noise")."""
        self._pending_utterance = utterance
        self._pending_intent = intent
        start = len(self._out)
        self._out_onset = start + int(utterance.onset_ms // 20.0)
        self._out.extend(utterance.frames)

    @property
    def speaking(self) -> bool:
        return bool(self._out)

    def press(self, digit: str) -> None:
        self._dtmf.append(digit)

    def hang_up(self) -> None:
        """Send `stop`, close the socket, leave the pacer."""
        self.pacer.remove(self)
        if self._ws is not None and not self.closed:
            self._seq += 1
            stop = p.Stop(self._seq, self.stream_sid, self.account_sid, self.call_sid)
            self._send_text(p.encode_message(stop))
            self._close("caller_hung_up")
        if self._receiver is not None and self._receiver is not gevent.getcurrent():
            self._receiver.kill(block=False)

    def _close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.state.closed_reason = self.state.closed_reason or reason
            try:
                if self._sock is not None:
                    if not self.state.closed_by_agent:
                        self._send_frame_unchecked(0x8, struct.pack("!H", 1000))
                    self._sock.close()
            except OSError:
                pass
        self.changed.set()

    # ------------------------------------------------------------------ the 20 ms step (pacer)

    def tick(self, n: int, due: float) -> None:
        """Tick n: send one caller frame (and keys), play one agent frame, echo marks."""
        now = n * 20.0  # ms on this call's schedule
        state = self.state
        if self._out:
            payload = self._out.popleft()
            if self._out_onset is not None:
                if self._out_onset == 0:
                    onset = now - 20.0 + (self._pending_utterance.onset_ms % 20.0)  # type: ignore[union-attr]
                    self._utterance_started_ms = onset
                    self._on_caller_onset(onset)
                    if self.recording is not None:
                        self.recording.caller_onset(onset, self._pending_utterance.text)  # type: ignore[union-attr]
                    self._out_onset = None
                else:
                    self._out_onset -= 1
            if not self._out:  # the utterance's last frame: its speech ended in this frame
                utt = self._pending_utterance
                assert utt is not None
                end = now - 20.0 + (utt.end_ms - (len(utt.frames) - 1) * 20.0)
                state.speech_end_ms = end
                if self.recording is not None:
                    self.recording.caller_end(end)
                state.reply_ms = None
                state.reply_not_applicable = ""
                state.awaiting_reply = False
                # The trailing silence is out; agent audio may already have played after the
                # caller's last speech sample.
                last, run = state.last_audible_end_ms, state.run_onset_ms
                if last is None or last <= end:
                    state.awaiting_reply = True  # the reply is still to come (`_play`)
                elif run is not None and run > end:  # the reply began in the trailing silence
                    state.reply_ms = run
                else:  # the agent talked through the caller's end: nothing answers the caller
                    state.reply_not_applicable = "agent still speaking when the caller stopped"
                self.changed.set()
        else:
            payload = SILENCE_B64
        self._seq += 1
        self._chunk += 1
        self._send_text(
            _MEDIA % (self._seq, self.stream_sid, self._chunk, (self._chunk - 1) * 20, payload)
        )
        # Lateness: when the frame was handed to the kernel, against its schedule.
        self.pacer.health.lateness.add((time.perf_counter() - due) * 1000.0)
        if self._dtmf:
            digit = self._dtmf.popleft()
            self._seq += 1
            self._send_text(p.encode_message(p.Dtmf(self._seq, self.stream_sid, digit)))
            if self.recording is not None:
                self.recording.keys(now, digit)
            if not self._dtmf:
                state.speech_end_ms = now
                state.reply_ms = None
                state.awaiting_reply = True
                self.changed.set()
        self._play(now)

    def overlap_report(self) -> dict[str, Any]:
        """Settle the overlaps (the call is over) and report them (`OverlapTracker.report`)."""
        self.overlaps.finish(self.now_ms())
        return self.overlaps.report()

    def _on_caller_onset(self, onset: float) -> None:
        self.overlaps.caller_onset(onset, self._pending_intent)  # type: ignore[arg-type]
        item = self.state.interjection
        utterance = self._pending_utterance
        if item is not None and item.onset_ms is None:
            item.sound_onset_ms = onset
            if item.kind == "barge_in" and utterance is not None:
                if utterance.interruption_onset_ms is not None:
                    onset += utterance.interruption_onset_ms - utterance.onset_ms
            item.onset_ms = onset
            item.last_agent_ms = self.state.last_audible_end_ms
            self.changed.set()

    def _play(self, now: float) -> None:
        state = self.state
        echoes, self._echo_now = self._echo_now, []  # (a fresh list: each mark echoed once)
        while self._marks and self._marks[0][0] <= self._played:
            echoes.append(self._marks.popleft()[1])
        if self._undecoded and len(self._playout) < FRAME_BYTES:
            self._decode_some()
        span = None
        chunk = b""
        if self._playout:
            chunk = bytes(self._playout[:FRAME_BYTES])
            del self._playout[:FRAME_BYTES]
            self._played += len(chunk)
            span = ulaw_audible_span(chunk)
            if span is not None:
                first = now + span[0] / 8.0
                last = now + span[1] / 8.0
                gap_start = state.last_audible_end_ms
                if gap_start is None or first - gap_start >= REPLY_GAP_MS:
                    state.run_onset_ms = first
                    self.changed.set()
                if state.first_agent_audio_ms is None:
                    state.first_agent_audio_ms = first
                    self.changed.set()
                if (
                    state.awaiting_reply
                    and state.speech_end_ms is not None
                    and first > state.speech_end_ms
                    and not self._out
                ):
                    state.reply_ms = first
                    state.awaiting_reply = False
                    self.changed.set()
                state.last_audible_end_ms = last
        self.overlaps.agent_frame(now, chunk, span)
        if self.recording is not None:
            self.recording.played(now, chunk)
        item = state.interjection
        if (
            item is not None
            and item.onset_ms is not None
            and item.stop_ms is None
            and not item.not_applicable
        ):
            last = state.last_audible_end_ms
            if last is not None and last > item.onset_ms:
                item.last_agent_ms = last
            quiet_since = max(item.last_agent_ms or item.onset_ms, item.onset_ms)
            if now + 20.0 - quiet_since >= STOP_GAP_MS and not self.has_audio:
                sound = item.sound_onset_ms if item.sound_onset_ms is not None else item.onset_ms
                if last is not None and last > sound:
                    # The agent was heard after the caller began: it stopped `stop_ms` after
                    # the interruption proper (0: already during a leading "Yeah,").
                    item.stop_ms = quiet_since - item.onset_ms
                else:  # no agent audio once the caller began: there was nothing to stop
                    item.not_applicable = "agent silent at the caller's onset"
                self.changed.set()
        for name in echoes:
            self._seq += 1
            self._send_text(p.encode_message(p.Mark(self._seq, self.stream_sid, name)))
            state.marks_echoed += 1

    # ------------------------------------------------------------------ agent → caller

    def _receive_loop(self) -> None:
        """Read the agent's frames straight off the socket (server frames are unmasked).

        websocket-client's `recv_data` costs tens of µs per frame in Python; agents often send
        a whole reply at once, so this reads in bulk, parses frames itself, and yields to the
        pacer every few messages so a burst on one call cannot delay every call's clock.
        """
        buffer = bytearray()
        fragments: list[bytes] = []
        handled = 0
        while not self.closed:
            try:
                data = self._sock.recv(65536)
            except OSError as error:
                self._close("" if self.closed else f"socket closed: {error}")
                return
            if not data:
                self._close("closed by the agent (no close frame)")
                return
            buffer += data
            while len(buffer) >= 2:
                b0, b1 = buffer[0], buffer[1]
                length, offset = b1 & 0x7F, 2
                if length == 126:
                    if len(buffer) < 4:
                        break
                    length, offset = struct.unpack_from("!H", buffer, 2)[0], 4
                elif length == 127:
                    if len(buffer) < 10:
                        break
                    length, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
                if b1 & 0x80:  # a masked frame from a server breaks RFC 6455
                    self._flag("31950 masked frame from the agent")
                    self._close("protocol error")
                    return
                if len(buffer) < offset + length:
                    break
                payload = bytes(buffer[offset : offset + length])
                del buffer[: offset + length]
                opcode = b0 & 0x0F
                if opcode == 0x0:
                    fragments.append(payload)
                    if not b0 & 0x80:
                        continue
                    payload, fragments, opcode = b"".join(fragments), [], 0x1
                elif not b0 & 0x80:  # the first fragment of a message
                    fragments = [payload]
                    continue
                self.pacer.health.messages_received += 1
                if opcode == 0x1:
                    self._on_text(payload)
                elif opcode == 0x2:
                    self._flag("31950 binary frame from the agent")
                elif opcode == 0x8:
                    self.state.closed_by_agent = True
                    self._close("closed by the agent")
                    return
                elif opcode == 0x9:
                    self._send_frame(0xA, payload)
                handled += 1
                if handled % 8 == 0:
                    gevent.sleep(0)

    def _on_text(self, data: bytes) -> None:
        # Fastest path: agent audio in the canonical layout (the exact bytes `json.dumps`
        # writes for Twilio's shape, with this call's streamSid): no JSON decode, and a
        # payload without quotes or escapes is the whole string. Then the general fast path
        # for agent audio, validated as strictly as `protocol.parse_message` would for the
        # shape Twilio accepts; anything else goes through the full parser.
        head = self._media_head
        if data.startswith(head) and data.endswith(b'"}}'):
            b64 = data[len(head) : -3]
            if b'"' not in b64 and b"\\" not in b64:
                if len(b64) % 4:
                    self._flag("31951 media payload is not valid base64")
                    return
                self.state.media_received += 1
                self._undecoded.append(b64)
                self._queued += len(b64) // 4 * 3 - (b64[-2:].count(b"=") if b64 else 0)
                return
        try:
            message = json.loads(data)
        except ValueError:
            self._flag("31951 invalid JSON from the agent")
            return
        if (
            isinstance(message, dict)
            and message.get("event") == "media"
            and len(message) == 3
            and isinstance(message.get("media"), dict)
            and len(message["media"]) == 1
            and isinstance(message["media"].get("payload"), str)
        ):
            if message.get("streamSid") != self.stream_sid:
                self._flag(f"31951 wrong streamSid {message.get('streamSid')!r}")
                return
            try:
                audio = base64.b64decode(message["media"]["payload"], validate=True)
            except ValueError:
                self._flag("31951 media payload is not valid base64")
                return
            self.state.media_received += 1
            self._decode_all()
            self._playout.extend(audio)
            self._queued += len(audio)
            return
        try:
            parsed = p.parse_message(data.decode("utf-8", errors="replace"))
        except p.ProtocolError as error:
            self._flag(str(error))
            return
        if not isinstance(parsed, p.OutboundMark | p.Clear | p.OutboundMedia):
            self._flag(f"unexpected {type(parsed).__name__} from the agent")
            return
        if parsed.stream_sid != self.stream_sid:
            self._flag(f"31951 wrong streamSid {parsed.stream_sid!r}")
            return
        if isinstance(parsed, p.OutboundMark):
            self._marks.append((self._queued, parsed.name))
        elif isinstance(parsed, p.Clear):
            self._playout.clear()
            self._undecoded.clear()
            self._played = self._queued
            if self.recording is not None:
                self.recording.cleared()
            self._echo_now.extend(name for _, name in self._marks)
            self._marks.clear()
            now = self.now_ms()
            self.state.clears_ms.append(now)
            self.overlaps.clear(now)
            item = self.state.interjection
            if item is not None and item.onset_ms is not None and item.clear_ms is None:
                item.clear_ms = now
            self.changed.set()
        else:  # a media message in an unusual but valid key order
            self._decode_all()
            self._playout.extend(parsed.payload)
            self._queued += len(parsed.payload)

    @property
    def has_audio(self) -> bool:
        """Agent audio still to play (decoded or not)."""
        return bool(self._playout or self._undecoded)

    def _decode_some(self) -> None:
        """Decode queued agent audio until a frame's worth is ready (or none is left)."""
        while self._undecoded and len(self._playout) < FRAME_BYTES:
            self._decode_one(self._undecoded.popleft())

    def _decode_all(self) -> None:
        while self._undecoded:
            self._decode_one(self._undecoded.popleft())

    def _decode_one(self, b64: bytes) -> None:
        try:
            audio = base64.b64decode(b64, validate=True)
        except ValueError:
            self._flag("31951 media payload is not valid base64")
            # as much silence, so the marks queued after it keep their place
            audio = b"\xff" * (len(b64) // 4 * 3 - b64[-2:].count(b"="))
        self._playout.extend(audio)

    def _flag(self, error: str) -> None:
        self.state.protocol_errors.append(error)
        self.changed.set()

    # ------------------------------------------------------------------ waiting (script)

    def wait(self, predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.25) -> bool:
        """Wait until `predicate()` (re-checked when the call's state moves, or every `poll_s`)."""
        deadline = time.perf_counter() + timeout_s
        while True:
            if predicate():
                return True
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or self.closed:
                return predicate()
            self.changed.clear()
            self.changed.wait(min(remaining, poll_s))

    def agent_quiet(self) -> bool:
        """Nothing left to play and no audible agent audio for `REPLY_GAP_MS`."""
        last = self.state.last_audible_end_ms
        return not self.has_audio and (last is None or self.now_ms() - last >= REPLY_GAP_MS)

    def agent_speaking(self) -> bool:
        last = self.state.last_audible_end_ms
        return last is not None and self.now_ms() - last < 200.0
