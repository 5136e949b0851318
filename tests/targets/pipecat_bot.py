"""A small Pipecat bot: a Twilio Media Streams agent whose protocol side nobody here wrote.

    .venv-pipecat/bin/python tests/targets/pipecat_bot.py --greeting greeting.wav \
        --reply reply.wav [--host 127.0.0.1] [--port 0]

prints one line, `ready ws://HOST:PORT/media`, once it accepts calls, then serves until killed.
It runs in its own virtualenv (`.venv-pipecat`, made by `scripts/setup` for the tests) because
Pipecat's dependencies are not the workbench's; it imports nothing from the workbench.

It is built the way a Pipecat user builds a Twilio bot — FastAPI's WebSocket endpoint,
`parse_telephony_websocket` for the `connected`/`start` handshake, `TwilioFrameSerializer`,
`FastAPIWebsocketTransport`, Silero VAD (the ONNX model inside the pipecat-ai wheel) — with no
STT, LLM or TTS service: it says two phrases rendered beforehand (WAV files, 16-bit mono):

- the greeting as soon as the stream starts;
- the reply once the caller has spoken and gone quiet (VAD stop), after every utterance;
- caller speech while it is speaking interrupts it (Pipecat's interruption: a `clear`).

Nothing goes to the network: the serializer's `auto_hang_up` (a POST to Twilio's REST API when
the pipeline ends) is off, and the call ends when the caller hangs up.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import wave
from pathlib import Path

import uvicorn
from fastapi import FastAPI, WebSocket
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ClientConnectedFrame,
    Frame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

PHONE_RATE = 8000  # the pipeline runs at the line's rate: no resampling on the way in


class Phrase:
    """A pre-rendered phrase: 16-bit mono PCM and its rate."""

    def __init__(self, path: Path) -> None:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                raise SystemExit(f"{path}: expected 16-bit mono PCM WAV")
            self.rate = wav.getframerate()
            self.pcm = wav.readframes(wav.getnframes())

    def frames(self) -> list[Frame]:
        # What a TTS service pushes: the output transport resamples the audio to 8 kHz, cuts it
        # into chunks, paces them, and from TTS frames knows when the bot speaks (an
        # interruption needs that) and when it stopped.
        return [
            TTSStartedFrame(),
            TTSAudioRawFrame(audio=self.pcm, sample_rate=self.rate, num_channels=1),
            TTSStoppedFrame(),
        ]


class FixedPhrases(FrameProcessor):
    """The bot's whole mind: greet on connect, reply after each utterance, yield to the caller."""

    def __init__(self, greeting: Phrase, reply: Phrase) -> None:
        super().__init__()
        self._greeting = greeting
        self._reply = reply
        self._speaking = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, ClientConnectedFrame):
            await self.say(self._greeting)
        elif isinstance(frame, BotStartedSpeakingFrame):
            self._speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._speaking = False
        elif isinstance(frame, VADUserStartedSpeakingFrame) and self._speaking:
            await self.broadcast_interruption()  # the serializer sends Twilio's `clear`
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            await self.say(self._reply)

    async def say(self, phrase: Phrase) -> None:
        for frame in phrase.frames():
            await self.push_frame(frame)


async def run_call(websocket: WebSocket, greeting: Phrase, reply: Phrase) -> None:
    _, call_data = await parse_telephony_websocket(websocket)
    serializer = TwilioFrameSerializer(
        stream_sid=call_data["stream_id"],
        call_sid=call_data["call_id"],
        # Off: on by default it POSTs to api.twilio.com to hang up when the pipeline ends.
        params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    vad = VADProcessor(vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=0.4)))
    pipeline = Pipeline([transport.input(), vad, FixedPhrases(greeting, reply), transport.output()])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=PHONE_RATE, audio_out_sample_rate=PHONE_RATE),
        enable_rtvi=False,
    )

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport, _websocket) -> None:
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)  # one runner per call, as Pipecat's examples do
    await runner.add_workers(worker)
    await runner.run()


def make_app(greeting: Phrase, reply: Phrase, ready_line: str) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        print(ready_line, flush=True)  # the server is accepting: tell whoever started us
        yield

    app = FastAPI(lifespan=lifespan)

    @app.websocket("/media")
    async def media(websocket: WebSocket) -> None:
        await websocket.accept()
        await run_call(websocket, greeting, reply)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--greeting", type=Path, required=True, help="WAV said on connect")
    parser.add_argument("--reply", type=Path, required=True, help="WAV said after each utterance")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    greeting, reply = Phrase(args.greeting), Phrase(args.reply)
    # Bind here so port 0 gives a known free port to print.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    app = make_app(greeting, reply, f"ready ws://{host}:{port}/media")
    # A bounded graceful shutdown: a SIGTERM ends the bot within seconds even mid-call.
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
