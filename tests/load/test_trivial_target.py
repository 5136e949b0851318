"""The bench's trivial agent (loadtests/trivial_target.py) still speaks Twilio Media Streams:
a greeting and a mark after `start`, a reply after the caller's turn (speech or keys), `clear`
on a barge-in, mark echoes accepted, `stop` ends the call, unmasked client frames refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import websocket

from workbench.audio.codec import ulaw_encode
from workbench.telephony import protocol as p

pytestmark = [pytest.mark.network]

STREAM_SID = "MZ" + "0" * 32
VOICED = ulaw_encode((6000 * np.sin(2 * np.pi * 200 * np.arange(160) / 8000)).astype(np.int16))
QUIET = ulaw_encode(np.zeros(160, np.int16))


class Caller:
    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=10)
        self.seq = 0
        self.chunk = 0
        self.send(p.Connected())
        self.send(
            p.Start(
                sequence_number=self.next_seq(),
                stream_sid=STREAM_SID,
                account_sid="AC" + "1" * 32,
                call_sid="CA" + "2" * 32,
                tracks=("inbound",),
                custom_parameters={},
                media_format=p.MediaFormat(),
            )
        )

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def send(self, message: object) -> None:
        self.ws.send(p.encode_message(message))

    def media(self, audio: bytes, frames: int) -> None:
        for _ in range(frames):
            self.chunk += 1
            self.send(
                p.Media(self.next_seq(), STREAM_SID, "inbound", self.chunk, self.chunk * 20, audio)
            )

    def until_mark(self) -> tuple[int, str, list[str]]:
        """Read to the next mark: (media frames, mark name, other events on the way)."""
        frames, others = 0, []
        while True:
            message = json.loads(self.ws.recv())
            assert message["streamSid"] == STREAM_SID
            if message["event"] == "media":
                assert set(message["media"]) == {"payload"}
                frames += 1
            elif message["event"] == "mark":
                return frames, message["mark"]["name"], others
            else:
                others.append(message["event"])


def test_greets_replies_after_each_turn_clears_on_barge_in_and_ends_on_stop(trivial_target: str):
    caller = Caller(trivial_target)
    assert caller.until_mark()[:2] == (50, "greeting")  # 1 s of audio, then its mark
    caller.send(p.Mark(caller.next_seq(), STREAM_SID, "greeting"))  # the echo is accepted
    caller.media(VOICED, 20)
    caller.media(QUIET, 15)  # 300 ms of quiet ends the turn
    assert caller.until_mark()[:2] == (125, "reply-1")
    caller.media(VOICED, 15)  # 300 ms of speech over the reply still playing: a barge-in
    caller.media(QUIET, 15)
    frames, name, others = caller.until_mark()
    assert (frames, name, others) == (125, "reply-2", ["clear"])
    caller.send(p.Dtmf(caller.next_seq(), STREAM_SID, "1"))
    caller.media(QUIET, 15)  # keys are a turn too
    assert caller.until_mark()[:2] == (125, "reply-3")
    caller.send(p.Stop(caller.next_seq(), STREAM_SID, "AC" + "1" * 32, "CA" + "2" * 32))
    opcode, data = caller.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    caller.ws.close()


def test_refuses_an_unmasked_client_frame(trivial_target: str):
    caller = Caller(trivial_target)
    caller.until_mark()
    text = p.encode_message(p.Dtmf(caller.next_seq(), STREAM_SID, "1")).encode()
    header = bytes([0x81, 126]) + len(text).to_bytes(2, "big")  # no mask bit, no key
    caller.ws.sock.sendall(header + text)  # RFC 6455: clients must mask every frame
    opcode, data = caller.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == 1002  # protocol error
    caller.ws.close()
