"""The Media Streams wire models: exact frames read in one pass, everything else read carefully,
and both readings agree; what the server writes has exactly the fields Twilio documents."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from workbench.telephony import protocol as p
from workbench.telephony import protocol_wire as w

SID = "MZ" + "0" * 32
FRAME = bytes(range(96, 256))
EXACT = [
    p.Connected(),
    p.Start(1, SID, "AC1", "CA1", custom_parameters={"caller": "+15550100"}),
    p.Media(2, SID, "inbound", 1, 0, FRAME),
    p.Dtmf(3, SID, "#"),
    p.Mark(4, SID, "t1-s0-p100-speech-3"),
    p.Stop(5, SID, "AC1", "CA1"),
    p.OutboundMedia(SID, FRAME),
    p.OutboundMark(SID, "t1-s0-p100-speech-3"),
    p.Clear(SID),
]


def careful(parse, text: str):
    """`parse` without the one-pass reading: the outcome (message, notes or error detail)."""
    with mock.patch.object(w, "quick_read", return_value=None):
        return outcome(parse, text)


def outcome(parse, text: str):
    try:
        return ("read", parse(text))
    except p.ProtocolError as error:
        return ("refused", error.code, error.detail)


@pytest.mark.parametrize("message", EXACT, ids=lambda m: type(m).__name__)
def test_exact_frames_other_than_start_are_read_in_one_pass(message):
    text = p.encode_message(message)
    adapter = w.FROM_TWILIO if '"sequenceNumber"' in text else w.FROM_SERVER
    quick = w.quick_read(adapter, text, w.MAX_MEDIA_PAYLOAD_BYTES)
    # `start` (once a call) has customParameters, an object of any size: always read carefully.
    assert (quick is None) == isinstance(message, p.Start)
    assert p.parse_message(text) == message


def test_frames_with_more_keys_than_their_model_are_read_carefully():
    media = json.loads(p.encode_message(p.Media(2, SID, "inbound", 1, 0, FRAME)))
    duplicate = p.encode_message(p.Media(2, SID, "inbound", 1, 0, FRAME)).replace(
        '"chunk":"1"', '"chunk":"1","chunk":"7"'
    )
    with_extra = json.dumps({**media, "media": {**media["media"], "bitDepth": 8}})
    colon_in_name = p.encode_message(p.Mark(4, SID, "turn:3"))
    for text in (duplicate, with_extra, colon_in_name):
        assert w.quick_read(w.FROM_CALLER, text, w.MAX_MEDIA_PAYLOAD_BYTES) is None
    assert "duplicate field 'chunk'" in outcome(p.parse_message, duplicate)[2]
    assert "media.media: unexpected field 'bitDepth'" in outcome(p.parse_message, with_extra)[2]
    assert p.parse_inbound(with_extra)[1] == ["media.media: unknown field 'bitDepth' (ignored)"]
    assert p.parse_message(colon_in_name) == p.Mark(4, SID, "turn:3")


def test_an_unknown_field_however_deep_is_noted_by_its_path():
    data = json.loads(p.encode_message(EXACT[1]))
    data["start"]["mediaFormat"]["bitDepth"] = 8
    start, notes = p.parse_inbound(json.dumps(data))
    assert start == EXACT[1]
    assert notes == ["start.start.mediaFormat: unknown field 'bitDepth' (ignored)"]


def test_what_the_server_writes_has_exactly_the_documented_fields():
    assert json.loads(p.encode_message(p.OutboundMedia(SID, b"\x7f"))) == {
        "event": "media",
        "streamSid": SID,
        "media": {"payload": "fw=="},
    }
    assert json.loads(p.encode_message(p.OutboundMark(SID, "a"))) == {
        "event": "mark",
        "streamSid": SID,
        "mark": {"name": "a"},
    }
    assert json.loads(p.encode_message(p.Clear(SID))) == {"event": "clear", "streamSid": SID}
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        w.OutboundMarkBody(name="a", track="inbound")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        w.ClearWire(event="clear", streamSid=SID, sequenceNumber="1")  # type: ignore[call-arg]


def test_a_message_with_a_value_the_wire_cannot_carry_is_not_written():
    with pytest.raises(ValidationError, match="digit"):
        p.encode_message(p.Dtmf(3, SID, "12"))
    with pytest.raises(ValidationError, match="sequenceNumber"):
        p.encode_message(p.Mark(-1, SID, "a"))


def mutate(text: str, data: st.DataObject) -> str:
    position = data.draw(st.integers(0, len(text) - 1))
    return text[:position] + data.draw(st.text(max_size=3)) + text[position + 1 :]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EXACT), st.data())
def test_fuzz_the_one_pass_and_the_careful_reading_agree(message, data):
    text = mutate(p.encode_message(message), data)
    assert outcome(p.parse_message, text) == careful(p.parse_message, text)
    assert outcome(p.parse_inbound, text) == careful(p.parse_inbound, text)


def test_the_protocol_bench_times_each_side_of_a_call():
    from workbench.telephony.protocol_bench import run_protocol_bench

    result = run_protocol_bench(messages=20, rounds=1)
    assert set(result["cases"]) == {
        "server_reads_media",
        "server_writes_media",
        "client_reads_media",
        "client_writes_media",
        "server_reads_mark",
        "server_reads_start",
    }
    for case in result["cases"].values():
        assert case["us_per_message"] > 0 and case["json_loads_us"] > 0
        assert case["ratio_to_json_loads"] == pytest.approx(
            case["us_per_message"] / case["json_loads_us"], rel=0.05, abs=0.02
        )
