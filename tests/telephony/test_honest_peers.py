"""The agent reads its peer tolerantly: harmless departures are logged once and the call goes on;
garbage still ends only that connection. The caller's side stays strict about the agent."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import websocket

from workbench.telephony import protocol as p

CONNECTED = p.encode_message(p.Connected())


def start_with_region(call_sid: str, stream_sid: str) -> str:
    data = json.loads(
        p.encode_message(
            p.Start(1, stream_sid, "AC" + "0" * 32, call_sid, custom_parameters={"caller": "+1"})
        )
    )
    data["start"]["region"] = "ie1"  # a field Twilio might add one day
    data["extra_top"] = True
    return json.dumps(data)


def media(stream_sid: str, seq: int) -> str:
    return p.encode_message(
        p.Media(seq, stream_sid, "inbound", seq - 1, 20 * (seq - 2), b"\xff" * 160)
    )


def test_unknown_fields_and_a_mark_without_sequence_number_are_let_pass_with_notes():
    call_sid, stream_sid = "CA1", "MZ1"
    start, notes = p.parse_inbound(start_with_region(call_sid, stream_sid))
    assert isinstance(start, p.Start) and start.call_sid == call_sid
    assert notes == [
        "start: unknown field 'extra_top' (ignored)",
        "start.start: unknown field 'region' (ignored)",
    ]
    echo = p.encode_message(p.OutboundMark(stream_sid, "t1-s0-p100-speech-3"))  # as it was sent
    mark, notes = p.parse_inbound(echo)
    assert mark == p.Mark(0, stream_sid, "t1-s0-p100-speech-3")
    assert notes == ["mark: no 'sequenceNumber' (not used; let pass)"]
    assert p.parse_inbound(media(stream_sid, 2))[1] == []  # a faithful message: no notes


GARBAGE = {
    "bad JSON": '{"event": "media",',
    "bad base64": lambda sid: media(sid, 2).replace('"payload":"', '"payload":"!!'),
    "wrong type": lambda sid: media(sid, 2).replace('"chunk":"1"', '"chunk":1'),
    "missing field": lambda sid: json.dumps({"event": "mark", "streamSid": sid, "mark": {}}),
    "unknown event": lambda sid: json.dumps({"event": "ringing", "streamSid": sid}),
    "server-side event": lambda sid: p.encode_message(p.Clear(sid)),
}


@pytest.mark.parametrize("case", list(GARBAGE))
def test_garbage_is_still_refused_with_one_clear_error(case):
    item = GARBAGE[case]
    text = item if isinstance(item, str) else item("MZ1")
    with pytest.raises(p.ProtocolError) as error:
        p.parse_inbound(text)
    assert error.value.code == p.INVALID_MESSAGE
    assert "\n" not in str(error.value)


def test_the_callers_side_stays_strict_about_what_the_agent_sends():
    sent = json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "a"}, "x": 1})
    with pytest.raises(p.ProtocolError, match="unexpected field 'x'"):
        p.parse_message(sent)


@pytest.mark.network
@pytest.mark.slow
def test_a_call_from_an_honest_peer_goes_on_and_the_departure_is_logged_once(live_server, caplog):
    call_sid, stream_sid = "CA" + uuid.uuid4().hex, "MZ" + uuid.uuid4().hex
    tolerated = live_server.server.metrics.counter("workbench_tolerated_total")
    caplog.set_level(logging.WARNING, logger="workbench.telephony.server.call_bridge")
    ws = websocket.create_connection(live_server.media_url, timeout=20)
    ws.send(CONNECTED)
    ws.send(start_with_region(call_sid, stream_sid))
    marks = []
    seq = 2
    while len(marks) < 2:  # the greeting's first marks
        ws.send(media(stream_sid, seq))
        seq += 1
        message = json.loads(ws.recv())
        if message["event"] == "mark":
            marks.append(message["mark"]["name"])
    for name in marks:  # echoed in the shape they came in: no sequenceNumber
        ws.send(p.encode_message(p.OutboundMark(stream_sid, name)))
    for _ in range(10):
        ws.send(media(stream_sid, seq))
        seq += 1
    heard = [json.loads(ws.recv())["event"] for _ in range(5)]
    assert "media" in heard or "mark" in heard  # the agent still talks: the call is alive
    assert call_sid in live_server.server.calls
    ws.send(p.encode_message(p.Stop(seq, stream_sid, "AC" + "0" * 32, call_sid)))
    assert live_server.wait_finished(call_sid).end_reason == "caller_hung_up"
    ws.close()
    lines = [r.getMessage() for r in caplog.records if call_sid in r.getMessage()]
    tolerated_lines = [line for line in lines if "tolerated" in line]
    assert len([line for line in tolerated_lines if "sequenceNumber" in line]) == 1  # once
    assert any("'region'" in line for line in tolerated_lines)
    assert live_server.server.metrics.counter("workbench_tolerated_total") == tolerated + 3
