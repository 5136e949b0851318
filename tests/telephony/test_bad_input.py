"""Bad input ends only the call that sent it, cleanly and with a logged reason; other calls go on.

A good call streams for the whole module while each bad case runs on its own connection; the
module ends by checking that the good call is still answered.
"""

from __future__ import annotations

import json
import socket
import uuid

import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.telephony import protocol as p
from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer

pytestmark = [pytest.mark.network, pytest.mark.slow]

CONNECTED = p.encode_message(p.Connected())


def start_message(call_sid: str, stream_sid: str) -> str:
    return p.encode_message(
        p.Start(1, stream_sid, "AC" + "0" * 32, call_sid, custom_parameters={"caller": "+1555"})
    )


def media_message(stream_sid: str, seq: int = 2, payload: bytes = b"\xff" * 160) -> str:
    return p.encode_message(p.Media(seq, stream_sid, "inbound", seq - 1, 20 * (seq - 2), payload))


def ids() -> tuple[str, str]:
    return "CA" + uuid.uuid4().hex, "MZ" + uuid.uuid4().hex


def closed_by_server(ws: websocket.WebSocket, timeout_s: float = 20.0) -> bool:
    """Read (and drop agent audio) until the server closes the socket."""
    ws.settimeout(timeout_s)
    try:
        while True:
            opcode, _ = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return True
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return True
    except websocket.WebSocketTimeoutException:
        return False


@pytest.fixture(scope="module")
def good_call(live_server):
    client = MediaStreamClient(live_server.media_url, caller_number="+14155550111")
    client.connect()
    pacer = Pacer([client]).start()
    yield client
    pacer.stop()
    client.hang_up()


def errors(live_server, cause: str) -> float:
    return live_server.server.metrics.counter("workbench_errors_total", cause=cause)


BEFORE_START = {
    "malformed JSON": [CONNECTED, '{"event": "media",'],
    "start before connected": ["START"],
    "media before start": [CONNECTED, "MEDIA"],
    "binary frame": [CONNECTED, b"\x00\x01\x02"],
}


@pytest.mark.parametrize("case", list(BEFORE_START))
def test_bad_input_before_start_closes_the_connection(live_server, good_call, case):
    call_sid, stream_sid = ids()
    before = errors(live_server, "protocol_error")
    ws = websocket.create_connection(live_server.media_url, timeout=10)
    for item in BEFORE_START[case]:
        if item == "START":
            item = start_message(call_sid, stream_sid)
        elif item == "MEDIA":
            item = media_message(stream_sid)
        if isinstance(item, bytes):
            ws.send_binary(item)
        else:
            ws.send(item)
    assert closed_by_server(ws)
    assert errors(live_server, "protocol_error") == before + 1
    assert call_sid not in live_server.server.finished  # no call was ever started
    assert not good_call.closed.is_set()


def oversized(stream_sid: str) -> str:
    return media_message(stream_sid).replace(
        '"event"', '"pad":"' + "x" * p.MAX_MESSAGE_CHARS + '","event"'
    )


AFTER_START = {
    "unknown event": lambda sid: json.dumps(
        {"event": "ringing", "sequenceNumber": "2", "streamSid": sid}
    ),
    "invalid base64": lambda sid: media_message(sid).replace('"payload":"', '"payload":"!!'),
    "oversized frame": oversized,
    "binary frame": lambda sid: b"\x00" * 200,
    "second start": lambda sid: start_message("CA" + uuid.uuid4().hex, sid),
    "wrong streamSid": lambda sid: media_message("MZ" + "f" * 32),
    "server-side message": lambda sid: p.encode_message(p.Clear(sid)),
}


@pytest.mark.parametrize("case", list(AFTER_START))
def test_bad_input_during_a_call_ends_that_call_as_failed(live_server, good_call, case):
    call_sid, stream_sid = ids()
    ws = websocket.create_connection(live_server.media_url, timeout=10)
    ws.send(CONNECTED)
    ws.send(start_message(call_sid, stream_sid))
    ws.send(media_message(stream_sid))
    bad = AFTER_START[case](stream_sid)
    if isinstance(bad, bytes):
        ws.send_binary(bad)
    else:
        ws.send(bad)
    assert closed_by_server(ws)
    summary = live_server.wait_finished(call_sid)
    assert summary.end_reason == "protocol_error"
    assert type(summary.events[-1]).__name__ == "CallEnded"
    assert live_server.crm.wait_for(lambda rs: any(r.call_id == call_sid for r in rs))
    record = next(r for r in live_server.crm.records if r.call_id == call_sid)
    assert record.disposition == "failed"
    assert not good_call.closed.is_set()


def test_an_abrupt_disconnect_ends_the_call(live_server, good_call):
    call_sid, stream_sid = ids()
    ws = websocket.create_connection(live_server.media_url, timeout=10)
    ws.send(CONNECTED)
    ws.send(start_message(call_sid, stream_sid))
    ws.sock.shutdown(socket.SHUT_RDWR)  # no stop, no close frame
    ws.sock.close()
    summary = live_server.wait_finished(call_sid)
    assert summary.end_reason == "caller_disconnected"
    assert not good_call.closed.is_set()


def test_a_client_that_stops_reading_is_dropped(live_server, good_call):
    call_sid, stream_sid = ids()
    ws = websocket.create_connection(
        live_server.media_url,
        timeout=10,
        sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 2048),),
    )
    ws.send(CONNECTED)
    ws.send(start_message(call_sid, stream_sid))  # then never reads the greeting
    summary = live_server.wait_finished(call_sid, timeout_s=30)
    assert summary.end_reason == "client_not_reading"
    ws.sock.close()
    assert not good_call.closed.is_set()


REFERENCE_SHAPES = [
    {
        "event": "media",
        "sequenceNumber": "3",
        "media": {"track": "inbound", "chunk": "2", "timestamp": "20", "payload": "/w=="},
    },
    {"event": "dtmf", "sequenceNumber": "4", "dtmf": {"track": "inbound_track", "digit": "1"}},
    {"event": "mark", "sequenceNumber": "5", "mark": {"name": "x"}},
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def fuzzed_messages(draw) -> str | bytes:
    kind = draw(st.sampled_from(["mutated", "text", "binary"]))
    if kind == "text":
        return draw(st.text(max_size=60))
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=40))
    message = json.loads(json.dumps(draw(st.sampled_from(REFERENCE_SHAPES))))
    key = draw(st.sampled_from(sorted(message)))
    if draw(st.booleans()):
        message[key] = draw(json_values)
    else:
        message[draw(st.text(min_size=1, max_size=6))] = draw(json_values)
    return json.dumps(message)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=fuzzed_messages())
def test_fuzzed_messages_end_only_their_own_call(live_server, good_call, message):
    call_sid, stream_sid = ids()
    ws = websocket.create_connection(live_server.media_url, timeout=10)
    ws.send(CONNECTED)
    ws.send(start_message(call_sid, stream_sid))
    if isinstance(message, bytes):
        ws.send_binary(message)
    else:
        ws.send(
            message.replace('"sequenceNumber"', f'"streamSid":"{stream_sid}","sequenceNumber"', 1)
            if message.startswith('{"event"')
            else message
        )
    ws.send(p.encode_message(p.Stop(9, stream_sid, "AC" + "0" * 32, call_sid)))
    assert closed_by_server(ws)
    summary = live_server.wait_finished(call_sid)
    assert summary.end_reason in ("protocol_error", "caller_hung_up")
    assert not good_call.closed.is_set()


def test_the_concurrent_good_call_is_still_answered(live_server, good_call, runtime):
    tts = runtime.stack(runtime.agent()).caller_tts("piper:joe")
    assert good_call.wait_for_agent_quiet(500, 20)
    good_call.send_audio(tts.render_pcm("What are your opening hours?", 8000))
    assert good_call.wait_for_agent_audio(20)
    assert good_call.results.protocol_errors == []
    assert not good_call.closed.is_set()
