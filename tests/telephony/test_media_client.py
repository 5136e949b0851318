"""The Twilio-faithful client: it plays agent audio in real time, echoes a mark only once the
audio before it has played, empties its buffer on `clear`, and flags a misbehaving agent."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import numpy as np
import pytest
from aiohttp import WSMsgType, web

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.telephony import protocol as p
from workbench.telephony.caller.client import MediaStreamClient


def tone_frame() -> bytes:
    t = np.arange(160) / 8000.0
    return ulaw_encode((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))


class FakeAgentServer:
    """A scripted agent: sends what the test tells it, records what the caller sends."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.changed = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.ws: web.WebSocketResponse | None = None
        self.stream_sid = ""
        self._ready = threading.Event()
        self._connected = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/media", self._media)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _media(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws = ws
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                parsed = p.parse_message(message.data)
                if isinstance(parsed, p.Start):
                    self.stream_sid = parsed.stream_sid
                    self._connected.set()
                with self.changed:
                    self.received.append(parsed)
                    self.changed.notify_all()
        return ws

    def send_raw(self, *texts: str) -> None:
        async def send() -> None:
            assert self.ws is not None
            for text in texts:
                await self.ws.send_str(text)

        asyncio.run_coroutine_threadsafe(send(), self.loop).result(5)

    def send(self, *messages: p.ServerMessage) -> None:
        self.send_raw(*(p.encode_message(m) for m in messages))

    def send_binary(self, data: bytes) -> None:
        async def send() -> None:
            assert self.ws is not None
            await self.ws.send_bytes(data)

        asyncio.run_coroutine_threadsafe(send(), self.loop).result(5)

    def wait_received(self, predicate: Any, timeout_s: float = 5.0) -> list[Any]:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.received), timeout_s)
            return list(self.received)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def agent():
    server = FakeAgentServer()
    yield server
    server.close()


@pytest.fixture
def caller(agent):
    client = MediaStreamClient(f"ws://127.0.0.1:{agent.port}/media", record_audio=True)
    client.connect()
    agent._connected.wait(5)
    yield client
    client.hang_up()


def media_count(received: list[Any]) -> int:
    return sum(isinstance(m, p.Media) for m in received)


def test_the_handshake_is_connected_then_start_with_fresh_twilio_ids(agent, caller):
    received = agent.wait_received(lambda r: len(r) >= 2)
    assert isinstance(received[0], p.Connected)
    start = received[1]
    assert isinstance(start, p.Start) and start.sequence_number == 1
    assert start.call_sid.startswith("CA") and len(start.call_sid) == 34
    assert start.stream_sid.startswith("MZ") and len(start.stream_sid) == 34
    assert start.custom_parameters["caller"] == caller.caller_number
    assert start.tracks == ("inbound",)


def test_a_mark_is_echoed_only_after_the_audio_before_it_has_played(agent, caller):
    agent.send(*[p.OutboundMedia(agent.stream_sid, tone_frame()) for _ in range(10)])
    agent.send(p.OutboundMark(agent.stream_sid, "m1"))
    assert caller.wait_until(lambda: caller.results.marks_received == 1, 5)
    for _ in range(10):
        caller.tick()
    received = agent.wait_received(lambda r: media_count(r) == 10)
    assert not any(isinstance(m, p.Mark) for m in received)  # the tenth frame is still playing
    caller.tick()  # the tenth frame has played: the mark is reached
    received = agent.wait_received(lambda r: any(isinstance(m, p.Mark) for m in r))
    echo_at = next(i for i, m in enumerate(received) if isinstance(m, p.Mark))
    assert media_count(received[:echo_at]) == 11  # echoed on the eleventh tick, 200 ms later
    assert received[echo_at].name == "m1" and received[echo_at].stream_sid == agent.stream_sid
    assert caller.results.first_agent_audio_ms is not None


def test_clear_empties_the_playout_buffer_and_echoes_pending_marks_at_once(agent, caller):
    agent.send(*[p.OutboundMedia(agent.stream_sid, tone_frame()) for _ in range(50)])
    agent.send(p.OutboundMark(agent.stream_sid, "m2"))
    assert caller.wait_until(lambda: caller.results.marks_received == 1, 5)
    for _ in range(5):
        caller.tick()
    agent.send(p.Clear(agent.stream_sid))
    assert caller.wait_until(lambda: caller.results.clears_received == 1, 5)
    assert caller.playout_buffered_ms == 0
    caller.tick()
    caller.tick()
    received = agent.wait_received(lambda r: any(isinstance(m, p.Mark) for m in r))
    echo_at = next(i for i, m in enumerate(received) if isinstance(m, p.Mark))
    assert media_count(received[:echo_at]) == 6  # echoed on the first tick after the clear
    played = [np.abs(ulaw_decode(f).astype(np.int32)).max() for f in caller.played_audio]
    assert all(level > 1000 for level in played[:5])
    assert all(level < 100 for level in played[5:])  # nothing of the dropped audio played


def test_inbound_media_numbers_are_increasing_strings(agent, caller):
    for _ in range(3):
        caller.tick()
    agent.wait_received(lambda r: media_count(r) == 3)
    texts = [p.encode_message(m) for m in agent.received if isinstance(m, p.Media)]
    chunks = [json.loads(t)["media"]["chunk"] for t in texts]
    timestamps = [json.loads(t)["media"]["timestamp"] for t in texts]
    assert chunks == ["1", "2", "3"] and timestamps == ["0", "20", "40"]


def test_a_misbehaving_agent_is_flagged_like_twilio_would(agent, caller):
    agent.send_raw(
        json.dumps({"event": "media", "streamSid": agent.stream_sid, "media": {"playload": "AA=="}})
    )
    agent.send(p.OutboundMedia("MZwrong", tone_frame()))
    agent.send_binary(b"\x00\x01")
    assert caller.wait_until(lambda: len(caller.results.protocol_errors) == 3, 5)
    errors = caller.results.protocol_errors
    assert "31951" in errors[0] and "payload" in errors[0]
    assert "wrong streamSid" in errors[1]
    assert "31950" in errors[2]


def ticks(caller, n: int) -> None:
    """`n` ticks 20 ms apart, on absolute deadlines (the measures are on the wall clock)."""
    start = time.perf_counter()
    for i in range(n):
        delay = start + i * 0.020 - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        caller.tick()


def speech(frames: int) -> np.ndarray:
    t = np.arange(160 * frames) / 8000.0
    return (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)


def play_agent(agent, caller, frames: int) -> None:
    agent.send(*[p.OutboundMedia(agent.stream_sid, tone_frame()) for _ in range(frames)])
    assert caller.wait_until(lambda: caller.results.media_received >= frames, 5)


def test_a_barge_in_that_finds_the_agent_silent_is_not_a_zero_ms_stop(agent, caller):
    play_agent(agent, caller, 5)
    ticks(caller, 5 + 4)  # the agent's 100 ms play, then 80 ms of silence
    caller.send_audio(speech(10))  # the caller starts within the barge-in window…
    ticks(caller, 40)  # …but no agent audio plays after its onset: nothing to stop
    assert caller.results.barge_in_stop_ms == []
    assert caller.results.not_applicable == {"barge_in_stop: agent silent at the caller's onset": 1}


def test_a_barge_in_over_agent_speech_is_still_measured(agent, caller):
    play_agent(agent, caller, 40)
    ticks(caller, 5)
    caller.send_audio(speech(25))
    ticks(caller, 10)  # 200 ms of the caller over the agent, then the agent stops
    agent.send(p.Clear(agent.stream_sid))
    assert caller.wait_until(lambda: caller.results.clears_received == 1, 5)
    ticks(caller, 30)
    assert caller.results.not_applicable == {}
    [stop] = caller.results.barge_in_stop_ms
    assert 150.0 < stop < 260.0


def test_a_turn_the_agent_talks_through_has_no_latency_and_an_early_reply_is_timed(agent, caller):
    play_agent(agent, caller, 60)
    ticks(caller, 1)
    caller.send_audio(np.concatenate([speech(10), np.zeros(1600, np.int16)]))  # 200 ms tail
    ticks(caller, 30)
    assert caller.results.turn_latencies_ms == []
    assert caller.results.not_applicable == {
        "turn_latency: agent still speaking when the caller stopped": 1
    }
    ticks(caller, 60)  # the agent's audio runs out; a quiet second
    caller.send_audio(np.concatenate([speech(10), np.zeros(1600, np.int16)]))
    ticks(caller, 14)  # the speech and 4 frames of the tail
    play_agent(agent, caller, 65)  # the reply arrives during the tail
    ticks(caller, 10)
    [latency] = caller.results.turn_latencies_ms
    assert 40.0 < latency < 200.0  # from the caller's last sample to the reply's first
