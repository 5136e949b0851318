"""A trivial Twilio-Media-Streams agent for measuring the load generator alone.

`python loadtests/trivial_target.py [--host 127.0.0.1] [--port 0]` prints one line,
`ready ws://HOST:PORT/media`, then serves until killed. Per call it speaks the protocol
exactly (strict parsing of what it receives) and does as little as possible:

- after `start`, a 1 s greeting (a tone) and a mark;
- when the caller has spoken and then been quiet for 300 ms, a 2.5 s reply and a mark;
- caller speech lasting 300 ms while its reply is still playing: `clear` (a barge-in);
- `stop` ends the call.

Audio is pre-encoded once; deciding "the caller is speaking" is a lookup-table pass over the
μ-law bytes, so the target costs little next to the generator it serves.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time

import numpy as np
from aiohttp import WSMsgType, web

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.telephony import protocol as p

AUDIBLE_TABLE = bytes(1 if abs(int(ulaw_decode(bytes([b]))[0])) > 300 else 0 for b in range(256))
END_OF_TURN_FRAMES = 15  # 300 ms of quiet after speech
BARGE_FRAMES = 15  # 300 ms of caller speech over the reply


def _tone_frames(seconds: float, hz: float) -> list[str]:
    t = np.arange(int(seconds * 8000)) / 8000.0
    pcm = (5000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    ulaw = ulaw_encode(pcm)
    return [base64.b64encode(ulaw[i : i + 160]).decode("ascii") for i in range(0, len(ulaw), 160)]


GREETING = _tone_frames(1.0, 440.0)
REPLY = _tone_frames(2.5, 520.0)
_MEDIA = '{"event":"media","streamSid":"%s","media":{"payload":"%s"}}'
_MARK = '{"event":"mark","streamSid":"%s","mark":{"name":"%s"}}'


class Call:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.stream_sid = ""
        self.voiced = 0
        self.quiet = 0
        self.heard_speech = False
        self.playing_until = 0.0
        self.turns = 0

    async def speak(self, frames: list[str], mark: str) -> None:
        for payload in frames:
            await self.ws.send_str(_MEDIA % (self.stream_sid, payload))
        await self.ws.send_str(_MARK % (self.stream_sid, mark))
        self.playing_until = max(self.playing_until, time.monotonic()) + len(frames) * 0.02

    async def on_media(self, payload: str) -> None:
        audio = base64.b64decode(payload)
        if 1 in audio.translate(AUDIBLE_TABLE):
            self.voiced += 1
            self.quiet = 0
            self.heard_speech = True
            if self.voiced == BARGE_FRAMES and time.monotonic() < self.playing_until:
                await self.ws.send_str(json.dumps({"event": "clear", "streamSid": self.stream_sid}))
                self.playing_until = 0.0
        else:
            self.quiet += 1
            if self.quiet >= END_OF_TURN_FRAMES and self.heard_speech:
                self.heard_speech = False
                self.voiced = 0
                self.turns += 1
                await self.speak(REPLY, f"reply-{self.turns}")
            elif self.quiet >= 3:
                self.voiced = 0


async def media(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=2 * p.MAX_MESSAGE_CHARS, heartbeat=None)
    await ws.prepare(request)
    call = Call(ws)
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            break
        text = msg.data
        if '"event":"media"' in text and call.stream_sid:  # the hot path: cheap, still checked
            data = json.loads(text)
            await call.on_media(data["media"]["payload"])
            continue
        try:
            message = p.parse_message(text)
        except p.ProtocolError as error:
            print(f"protocol error: {error}", file=sys.stderr)
            break
        if isinstance(message, p.Start):
            call.stream_sid = message.stream_sid
            await call.speak(GREETING, "greeting")
        elif isinstance(message, p.Media):
            await call.on_media(base64.b64encode(message.payload).decode("ascii"))
        elif isinstance(message, p.Stop):
            break
    await ws.close()
    return ws


async def serve(host: str, port: int) -> None:
    app = web.Application()
    app.router.add_get("/media", media)
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"ready ws://{host}:{bound}/media", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
