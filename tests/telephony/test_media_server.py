"""The media-stream server speaks Twilio Media Streams exactly, and guards itself with a token."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
import websocket
from telephony_helpers import TOKEN

from workbench.errors import ConfigError
from workbench.telephony.server.config import ServerConfig, check_config
from workbench.telephony.server.media_server import MediaStreamServer

# The reference's §3 examples, in the order Twilio sends them (payload unshortened).
CONNECTED = '{"event":"connected","protocol":"Call","version":"1.0.0"}'
START = """{"event":"start","sequenceNumber":"1","streamSid":"MZ18ad…",
 "start":{"accountSid":"AC12…","streamSid":"MZ18ad…","callSid":"CA9f…",
          "tracks":["inbound"],
          "customParameters":{"tenant":"acme","token":"t-42"},
          "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"""
MEDIA = """{"event":"media","sequenceNumber":"3","streamSid":"MZ18ad…",
 "media":{"track":"inbound","chunk":"2","timestamp":"20","payload":"fv7+/n5+"}}"""
DTMF = """{"event":"dtmf","sequenceNumber":"57","streamSid":"MZ18ad…",
 "dtmf":{"track":"inbound_track","digit":"1"}}"""
MARK = '{"event":"mark","sequenceNumber":"88","streamSid":"MZ18ad…","mark":{"name":"turn3-end"}}'
STOP = """{"event":"stop","sequenceNumber":"912","streamSid":"MZ18ad…",
 "stop":{"accountSid":"AC12…","callSid":"CA9f…"}}"""


def receive_json(ws: websocket.WebSocket) -> dict:
    opcode, data = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_TEXT, "the server sends JSON text frames only"
    return json.loads(data)


def test_reference_messages_in_order_get_agent_media_back_in_twilio_shape(live_server):
    ws = websocket.create_connection(live_server.media_url, timeout=20)
    for text in (CONNECTED, START, MEDIA):
        ws.send(text)
    received = [receive_json(ws) for _ in range(12)]
    media = [m for m in received if m["event"] == "media"]
    marks = [m for m in received if m["event"] == "mark"]
    assert media and marks
    for message in media:
        assert set(message) == {"event", "streamSid", "media"}
        assert message["streamSid"] == "MZ18ad…"
        assert set(message["media"]) == {"payload"}
        assert len(base64.b64decode(message["media"]["payload"], validate=True)) == 160
    for message in marks:
        assert set(message) == {"event", "streamSid", "mark"}
        assert set(message["mark"]) == {"name"} and message["mark"]["name"].startswith("t0-")
    for text in (DTMF, MARK, STOP):
        ws.send(text)
    summary = live_server.wait_finished("CA9f…")
    ws.close()
    assert summary.end_reason == "caller_hung_up"
    kinds = [type(e).__name__ for e in live_server.events_of("CA9f…")]
    assert kinds[0] == "CallStarted" and "DtmfReceived" in kinds and kinds[-1] == "CallEnded"
    assert live_server.crm.wait_for(lambda rs: any(r.call_id == "CA9f…" for r in rs))


def test_twiml_connects_a_stream_to_this_server_with_the_callers_number(live_server):
    request = urllib.request.Request(
        live_server.http + "/twiml", data=b"From=%2B14155550100&To=%2B18005550100"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/xml")
    assert f'<Connect><Stream url="ws://127.0.0.1:{live_server.port}/media">' in body
    assert '<Parameter name="caller" value="+14155550100"/>' in body


def test_healthz_and_prometheus_metrics(live_server):
    with urllib.request.urlopen(live_server.http + "/healthz", timeout=5) as response:
        assert json.loads(response.read())["status"] == "ok"
    with urllib.request.urlopen(live_server.http + "/metrics", timeout=5) as response:
        text = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE workbench_active_calls gauge" in text
    assert "workbench_active_calls " in text


def test_binding_beyond_loopback_without_a_token_refuses_to_start():
    with pytest.raises(ConfigError, match="--token"):
        check_config(ServerConfig(host="0.0.0.0"))
    with pytest.raises(ConfigError, match="--token"):
        MediaStreamServer(ServerConfig(host="0.0.0.0", port=0, crm=False))
    check_config(ServerConfig(host="0.0.0.0", token="t"))  # with a token it may


def status_of(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_with_a_token_requests_without_it_are_refused(secured_server):
    twiml = secured_server.http + "/twiml"
    assert status_of(urllib.request.Request(twiml, data=b"From=1")) == 401
    assert status_of(urllib.request.Request(twiml + "?token=wrong", data=b"From=1")) == 403
    assert status_of(urllib.request.Request(twiml + f"?token={TOKEN}", data=b"From=1")) == 200
    bearer = urllib.request.Request(
        twiml, data=b"From=1", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status_of(bearer) == 200
    assert status_of(urllib.request.Request(secured_server.http + "/metrics")) == 401
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(secured_server.media_url + "?token=wrong", timeout=5)
    assert refused.value.status_code == 403


def test_with_a_token_a_stream_without_it_in_start_is_ended_before_any_session(secured_server):
    ws = websocket.create_connection(secured_server.media_url, timeout=10)
    ws.send(CONNECTED)
    ws.send(START.replace('"CA9f…"', '"CA-no-token"').replace('"t-42"', '"wrong"'))
    opcode, _ = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    summary = secured_server.wait_finished("CA-no-token")
    assert summary.end_reason == "unauthorized"
    assert not summary.events  # no call session was created
    ws.close()


def test_with_the_token_in_start_the_call_is_served(secured_server):
    ws = websocket.create_connection(secured_server.media_url, timeout=20)
    ws.send(CONNECTED)
    ws.send(START.replace('"CA9f…"', '"CA-token"').replace('"t-42"', f'"{TOKEN}"'))
    assert any(receive_json(ws)["event"] == "media" for _ in range(5))
    ws.send(STOP.replace('"CA9f…"', '"CA-token"'))
    assert secured_server.wait_finished("CA-token").end_reason == "caller_hung_up"
    ws.close()
