"""A trivial Twilio-Media-Streams agent for measuring the load generator alone.

`python loadtests/trivial_target.py [--host 127.0.0.1] [--port 0] [--poll-ms 0]
[--clear-after-ms 300]` prints one
line, `ready ws://HOST:PORT/media`, then serves until killed. Per call it speaks the protocol
and does as little as possible:

- after `start`, a 1 s greeting (a tone) and a mark;
- when the caller has spoken (or pressed keys) and then been quiet for 300 ms, a 2.5 s reply
  and a mark;
- caller speech lasting 300 ms while its reply is still playing: `clear` (a barge-in), and
  the reply is dropped: it never resumes (after the caller's quiet it replies anew, from the
  start). `--clear-after-ms 60` clears on every onset, acknowledgements included — the
  policy "clears on every onset, never resumes" for the overlap outcomes' tests;
- `stop` (or a close frame) ends the call; mark echoes are accepted.

It shares the generator's cores in `workbench bench load`, so every microsecond it spends is
taken from the generator it is supposed to measure. Hence no framework: one thread, one
`epoll`, raw sockets, a minimal RFC 6455 server (handshake, masked client frames, close,
ping). A `media` message is recognised by its prefix and its payload sliced out of the text —
no JSON decode for the 50 messages a second of every call; everything else (`connected`,
`start`, `mark`, `dtmf`, `stop`) goes through the strict `protocol.parse_message`. The agent's
audio is pre-encoded once: a whole greeting or reply (every `media` frame plus its `mark`) is
one template joined with the call's streamSid and written with one `send`, as an agent that
generates faster than real time sends it.

`--poll-ms N` (default 0: block in epoll) collects readiness every N ms instead of waking on
every incoming frame: fewer wake-ups of this process (a wake-up is part of the *sender's*
kernel time on loopback) at the price of up to N ms more reaction time.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import select
import socket
import struct
import sys
import time

import numpy as np

from workbench.audio.codec import ulaw_encode
from workbench.audio.heard import ulaw_is_audible
from workbench.telephony import protocol as p

END_OF_TURN_FRAMES = 15  # 300 ms of quiet after speech
BARGE_FRAMES = 15  # 300 ms of caller speech over the reply
MAX_FRAME = 2 * p.MAX_MESSAGE_CHARS
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MEDIA_PREFIX = b'{"event":"media",'
PAYLOAD_KEY = b'"payload":"'
SID_SLOT = "\x00"  # where the streamSid goes in a speech template


def _tone_frames(seconds: float, hz: float) -> list[str]:
    t = np.arange(int(seconds * 8000)) / 8000.0
    pcm = (5000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    ulaw = ulaw_encode(pcm)
    return [base64.b64encode(ulaw[i : i + 160]).decode("ascii") for i in range(0, len(ulaw), 160)]


GREETING = _tone_frames(1.0, 440.0)
REPLY = _tone_frames(2.5, 520.0)
_MEDIA = '{"event":"media","streamSid":"%s","media":{"payload":"%s"}}'
_MARK = '{"event":"mark","streamSid":"%s","mark":{"name":"%s"}}'
_CLEAR = '{"event":"clear","streamSid":"%s"}'


def server_frame(opcode: int, data: bytes) -> bytes:
    """One unmasked, final server frame."""
    n = len(data)
    if n < 126:
        return struct.pack("!BB", 0x80 | opcode, n) + data
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + data
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + data


class Speech:
    """A greeting or a reply: every frame and the closing mark, for any streamSid length."""

    def __init__(self, frames: list[str], mark: str) -> None:
        self.frames = frames
        self.mark = mark
        self.seconds = len(frames) * 0.02
        self._parts: dict[int, list[bytes]] = {}

    def render(self, stream_sid: bytes, mark: str | None = None) -> bytes:
        mark = mark or self.mark
        key = (len(stream_sid), mark)
        parts = self._parts.get(key)  # type: ignore[call-overload]
        if parts is None:
            # Frame lengths depend on the sid's length only: build the frames around a
            # placeholder sid of that length, then split at it.
            fake = SID_SLOT * len(stream_sid)
            blob = b"".join(
                server_frame(0x1, (_MEDIA % (fake, payload)).encode()) for payload in self.frames
            ) + server_frame(0x1, (_MARK % (fake, mark)).encode())
            parts = blob.split(fake.encode())
            if len(self._parts) < 64:
                self._parts[key] = parts  # type: ignore[index]
        return stream_sid.join(parts)


GREETING_SPEECH = Speech(GREETING, "greeting")
REPLY_SPEECH = Speech(REPLY, "reply")


class Conn:
    """One TCP connection: the HTTP upgrade, then one call's frames."""

    __slots__ = (
        "sock",
        "fd",
        "inbuf",
        "outbuf",
        "upgraded",
        "stream_sid",
        "voiced",
        "quiet",
        "heard_speech",
        "playing_until",
        "turns",
        "closing",
    )

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.upgraded = False
        self.stream_sid = b""
        self.voiced = 0
        self.quiet = 0
        self.heard_speech = False
        self.playing_until = 0.0
        self.turns = 0
        self.closing = False


class Server:
    def __init__(
        self, host: str, port: int, poll_ms: float = 0.0, clear_after_ms: float = 300.0
    ) -> None:
        self.barge_frames = max(1, round(clear_after_ms / 20.0))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(1024)
        self.listener.setblocking(False)
        self.host = host
        self.port = self.listener.getsockname()[1]
        self.poll_s = poll_ms / 1000.0
        self.epoll = select.epoll()
        self.epoll.register(self.listener.fileno(), select.EPOLLIN)
        self.conns: dict[int, Conn] = {}

    # ------------------------------------------------------------------ loop

    def serve_forever(self) -> None:
        listen_fd = self.listener.fileno()
        poll = self.epoll.poll
        conns = self.conns
        next_poll = time.monotonic()
        while True:
            if self.poll_s > 0:
                next_poll += self.poll_s
                delay = next_poll - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_poll = time.monotonic()
                events = poll(0)
            else:
                events = poll()
            for fd, mask in events:
                if fd == listen_fd:
                    self._accept()
                    continue
                conn = conns.get(fd)
                if conn is None:
                    continue
                if mask & select.EPOLLOUT:
                    self._flush(conn)
                if mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    self._readable(conn)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Conn(sock)
            self.conns[conn.fd] = conn
            self.epoll.register(conn.fd, select.EPOLLIN)

    def _drop(self, conn: Conn) -> None:
        if self.conns.pop(conn.fd, None) is not None:
            try:
                self.epoll.unregister(conn.fd)
            except (OSError, ValueError):
                pass
            conn.sock.close()

    def _send(self, conn: Conn, data: bytes) -> None:
        if conn.outbuf:
            conn.outbuf += data
            return
        try:
            sent = conn.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._drop(conn)
            return
        if sent < len(data):
            conn.outbuf += data[sent:]
            self.epoll.modify(conn.fd, select.EPOLLIN | select.EPOLLOUT)

    def _flush(self, conn: Conn) -> None:
        try:
            sent = conn.sock.send(conn.outbuf)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        del conn.outbuf[:sent]
        if not conn.outbuf:
            if conn.closing:
                self._drop(conn)
            else:
                self.epoll.modify(conn.fd, select.EPOLLIN)

    def _close(self, conn: Conn, code: int = 1000) -> None:
        if not conn.closing:
            conn.closing = True
            self._send(conn, server_frame(0x8, struct.pack("!H", code)))
        if not conn.outbuf and conn.fd in self.conns:
            self._drop(conn)

    # ------------------------------------------------------------------ reading

    def _readable(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            self._drop(conn)
            return
        if conn.closing:
            return
        buf = conn.inbuf
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        if not conn.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > 16384:
                    self._drop(conn)
                else:
                    buf += data
                return
            if not self._upgrade(conn, data[: end + 4]):
                return
            data = data[end + 4 :]
        offset = self._frames(conn, data)
        if offset < len(data) and conn.fd in self.conns and not conn.closing:
            buf += data[offset:]

    def _upgrade(self, conn: Conn, request: bytes) -> bool:
        lines = request.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key", "")
        if len(parts) < 2 or parts[0] != "GET" or parts[1].split("?")[0] != "/media" or not key:
            self._send(conn, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            conn.closing = True
            if not conn.outbuf:
                self._drop(conn)
            return False
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
        self._send(
            conn,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n",
        )
        conn.upgraded = True
        return True

    def _frames(self, conn: Conn, data: bytes) -> int:
        """Handle every complete frame in `data`; returns how much was consumed."""
        offset = 0
        end = len(data)
        while end - offset >= 2 and not conn.closing:
            b0 = data[offset]
            b1 = data[offset + 1]
            length = b1 & 0x7F
            head = offset + 2
            if length == 126:
                if end - offset < 4:
                    break
                length = (data[offset + 2] << 8) | data[offset + 3]
                head = offset + 4
            elif length == 127:
                if end - offset < 10:
                    break
                length = struct.unpack_from("!Q", data, offset + 2)[0]
                head = offset + 10
            if not b1 & 0x80 or length > MAX_FRAME or not b0 & 0x80:
                # Unmasked client frames break RFC 6455; fragments are never sent by callers.
                print("protocol error: unmasked, fragmented or oversized frame", file=sys.stderr)
                self._close(conn, 1002)
                break
            if end - head - 4 < length:
                break
            key = data[head : head + 4]
            start = head + 4
            offset = start + length
            # Unmask as one big-integer XOR (fast in CPython).
            text = (
                int.from_bytes(data[start:offset], "big")
                ^ int.from_bytes((key * ((length + 3) // 4))[:length], "big")
            ).to_bytes(length, "big")
            opcode = b0 & 0x0F
            if opcode == 0x1:
                self._on_text(conn, text)
            elif opcode == 0x8:
                self._close(conn)
            elif opcode == 0x9:
                self._send(conn, server_frame(0xA, text))
            elif opcode != 0xA:
                print(f"protocol error: opcode {opcode}", file=sys.stderr)
                self._close(conn, 1003)
        return offset

    # ------------------------------------------------------------------ the agent

    def _on_text(self, conn: Conn, text: bytes) -> None:
        if text.startswith(MEDIA_PREFIX) and conn.stream_sid:  # the hot path: cheap, still checked
            at = text.find(PAYLOAD_KEY)
            stop = text.find(b'"', at + len(PAYLOAD_KEY))
            if at < 0 or stop < 0 or conn.stream_sid not in text:
                print(f"protocol error: bad media message {text[:120]!r}", file=sys.stderr)
                self._close(conn, 1002)
                return
            self._on_media(conn, base64.b64decode(text[at + len(PAYLOAD_KEY) : stop]))
            return
        try:
            message = p.parse_message(text.decode("utf-8"))
        except (p.ProtocolError, UnicodeDecodeError) as error:
            print(f"protocol error: {error}", file=sys.stderr)
            self._close(conn, 1002)
            return
        if isinstance(message, p.Start):
            conn.stream_sid = message.stream_sid.encode()
            self._speak(conn, GREETING_SPEECH)
        elif isinstance(message, p.Media):
            self._on_media(conn, message.payload)
        elif isinstance(message, p.Dtmf):  # keys are a turn too: the reply follows the quiet
            conn.heard_speech = True
            conn.quiet = 0
        elif isinstance(message, p.Stop):
            self._close(conn)

    def _speak(self, conn: Conn, speech: Speech, mark: str | None = None) -> None:
        self._send(conn, speech.render(conn.stream_sid, mark))
        conn.playing_until = max(conn.playing_until, time.monotonic()) + speech.seconds

    def _on_media(self, conn: Conn, audio: bytes) -> None:
        if ulaw_is_audible(audio):
            conn.voiced += 1
            conn.quiet = 0
            conn.heard_speech = True
            if conn.voiced == self.barge_frames and time.monotonic() < conn.playing_until:
                clear = _CLEAR % conn.stream_sid.decode()
                self._send(conn, server_frame(0x1, clear.encode()))
                conn.playing_until = 0.0
        else:
            conn.quiet += 1
            if conn.quiet >= END_OF_TURN_FRAMES and conn.heard_speech:
                conn.heard_speech = False
                conn.voiced = 0
                conn.turns += 1
                self._speak(conn, REPLY_SPEECH, f"reply-{conn.turns}")
            elif conn.quiet >= 3:
                conn.voiced = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--poll-ms", type=float, default=0.0, help="Poll every N ms (0: block)")
    parser.add_argument(
        "--clear-after-ms",
        type=float,
        default=BARGE_FRAMES * 20.0,
        help="Caller speech this long over a reply clears it (60: every onset)",
    )
    args = parser.parse_args()
    server = Server(args.host, args.port, args.poll_ms, args.clear_after_ms)
    print(f"ready ws://{args.host}:{server.port}/media", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
