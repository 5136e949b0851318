"""Twilio Media Streams codec: the reference's messages round-trip; anything else is refused."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.errors import WorkbenchError
from workbench.telephony.protocol import (
    INVALID_MESSAGE,
    MALFORMED_MESSAGE,
    Clear,
    Connected,
    Dtmf,
    Mark,
    Media,
    MediaFormat,
    OutboundMark,
    OutboundMedia,
    ProtocolError,
    Start,
    Stop,
    encode_message,
    parse_message,
)

# The examples of reference/twilio-media-streams.md §3, verbatim (identifiers shortened there).
CONNECTED = '{"event":"connected","protocol":"Call","version":"1.0.0"}'
START = """{"event":"start","sequenceNumber":"1","streamSid":"MZ18ad…",
 "start":{"accountSid":"AC12…","streamSid":"MZ18ad…","callSid":"CA9f…",
          "tracks":["inbound"],
          "customParameters":{"tenant":"acme","token":"t-42"},
          "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"""
MEDIA_AS_PRINTED = """{"event":"media","sequenceNumber":"3","streamSid":"MZ18ad…",
 "media":{"track":"inbound","chunk":"2","timestamp":"20","payload":"fv7+/n5+…"}}"""
MEDIA = MEDIA_AS_PRINTED.replace('n5+…"', 'n5+"')  # the payload, unshortened
DTMF = """{"event":"dtmf","sequenceNumber":"57","streamSid":"MZ18ad…",
 "dtmf":{"track":"inbound_track","digit":"1"}}"""
MARK = '{"event":"mark","sequenceNumber":"88","streamSid":"MZ18ad…","mark":{"name":"turn3-end"}}'
STOP = """{"event":"stop","sequenceNumber":"912","streamSid":"MZ18ad…",
 "stop":{"accountSid":"AC12…","callSid":"CA9f…"}}"""
# §4, with the placeholders filled in.
OUT_MEDIA = '{"event":"media","streamSid":"MZ18ad…","media":{"payload":"fv7+/n5+"}}'
OUT_MARK = '{"event":"mark","streamSid":"MZ18ad…","mark":{"name":"resp-7#3"}}'
CLEAR = '{"event":"clear","streamSid":"MZ18ad…"}'

REFERENCE_EXAMPLES = [CONNECTED, START, MEDIA, DTMF, MARK, STOP, OUT_MEDIA, OUT_MARK, CLEAR]


def compact(text: str) -> str:
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def error_of(text: str | bytes, **options: int) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse_message(text, **options)
    return caught.value


def media_json(**media_fields: object) -> str:
    body = {"track": "inbound", "chunk": "2", "timestamp": "20", "payload": "fv7+/n5+"}
    body.update(media_fields)
    return json.dumps({"event": "media", "sequenceNumber": "3", "streamSid": "MZ1", "media": body})


@pytest.mark.parametrize("text", REFERENCE_EXAMPLES)
def test_reference_examples_round_trip_exactly(text: str) -> None:
    assert encode_message(parse_message(text)) == compact(text)


def test_one_line_examples_round_trip_byte_for_byte() -> None:
    for text in (CONNECTED, MARK, OUT_MEDIA, OUT_MARK, CLEAR):
        assert encode_message(parse_message(text)) == text


def test_reference_examples_parse_to_these_messages() -> None:
    sid = "MZ18ad…"
    assert [parse_message(text) for text in REFERENCE_EXAMPLES] == [
        Connected(protocol="Call", version="1.0.0"),
        Start(
            sequence_number=1,
            stream_sid=sid,
            account_sid="AC12…",
            call_sid="CA9f…",
            tracks=("inbound",),
            custom_parameters={"tenant": "acme", "token": "t-42"},
            media_format=MediaFormat("audio/x-mulaw", 8000, 1),
        ),
        Media(3, sid, "inbound", chunk=2, timestamp=20, payload=base64.b64decode("fv7+/n5+")),
        Dtmf(57, sid, digit="1", track="inbound_track"),
        Mark(88, sid, "turn3-end"),
        Stop(912, sid, account_sid="AC12…", call_sid="CA9f…"),
        OutboundMedia(sid, base64.b64decode("fv7+/n5+")),
        OutboundMark(sid, "resp-7#3"),
        Clear(sid),
    ]


def test_the_shortened_payload_printed_in_the_reference_is_not_base64() -> None:
    error = error_of(MEDIA_AS_PRINTED)
    assert error.code == INVALID_MESSAGE
    assert "media.media.payload is not valid base64" in str(error)


def test_numbers_are_strings_where_twilio_sends_strings_and_numbers_elsewhere() -> None:
    frame = Media(12, "MZ1", "inbound", chunk=11, timestamp=220, payload=b"\xff" * 160)
    data = json.loads(encode_message(frame))
    assert data["sequenceNumber"] == "12"
    assert (data["media"]["chunk"], data["media"]["timestamp"]) == ("11", "220")
    assert base64.b64decode(data["media"]["payload"]) == b"\xff" * 160
    assert len(data["media"]["payload"]) == 216  # 160 μ-law bytes, as observed on the wire
    start = json.loads(encode_message(parse_message(START)))
    assert start["sequenceNumber"] == "1"
    assert start["start"]["mediaFormat"]["sampleRate"] == 8000
    assert start["start"]["mediaFormat"]["channels"] == 1


def test_outbound_media_carries_only_the_payload() -> None:
    data = json.loads(encode_message(OutboundMedia("MZ1", b"\x7f\xff")))
    assert data == {"event": "media", "streamSid": "MZ1", "media": {"payload": "f/8="}}


def test_errors_are_workbench_errors_with_twilio_codes() -> None:
    error = error_of("{")
    assert isinstance(error, WorkbenchError)
    assert error.code == 31951
    assert str(error).startswith("Media Streams error 31951 (invalid message): invalid JSON")
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    "frame", [b'{"event":"clear","streamSid":"MZ1"}', bytearray(b"\xff" * 160)]
)
def test_binary_frames_are_malformed(frame: bytes) -> None:
    error = error_of(frame)
    assert error.code == MALFORMED_MESSAGE
    assert "binary frame of" in error.detail and "JSON text frames" in error.detail


def test_oversized_frames_and_payloads_are_refused() -> None:
    big = base64.b64encode(b"\xff" * 1000).decode()
    error = error_of(media_json(payload=big), max_payload_bytes=999)
    assert error.code == INVALID_MESSAGE
    assert "media.media.payload of 1336 base64 characters exceeds the limit of 999 bytes" in str(
        error
    )
    assert parse_message(media_json(payload=big), max_payload_bytes=1000).payload == b"\xff" * 1000
    error = error_of(" " * 10_000 + CLEAR, max_payload_bytes=100)
    assert error.code == MALFORMED_MESSAGE
    assert "exceeds the limit" in error.detail


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("not json", "invalid JSON"),
        ('{"event":"clear","streamSid":NaN}', "invalid JSON (NaN is not valid JSON)"),
        ("[1, 2]", "expected a JSON object, got an array"),
        ('"media"', "expected a JSON object, got the string 'media'"),
        ('{"streamSid":"MZ1"}', "missing field 'event'"),
        ('{"event":7}', "'event' must be a string, got the number 7"),
        ('{"event":"hangup","streamSid":"MZ1"}', "unknown event 'hangup' (known: clear, connected"),
        ('{"event":"clear","streamSid":"MZ1","streamSid":"MZ2"}', "duplicate field 'streamSid'"),
        ('{"event":"clear"}', "clear: missing field 'streamSid'"),
        ('{"event":"clear","streamSid":"MZ1","extra":1}', "clear: unexpected field 'extra'"),
        ('{"event":"clear","streamSid":5}', "clear.streamSid must be a string, got the number 5"),
        (
            '{"event":"clear","sequenceNumber":"4","streamSid":"MZ1"}',
            "unexpected field 'sequenceNumber' in a 'clear' message",
        ),
        (
            '{"event":"stop","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}}',
            "missing field 'sequenceNumber' in a 'stop' message",
        ),
        (
            '{"event":"media","streamSid":"MZ1","media":{"playload":"fv7+"}}',
            "media.media: missing field 'payload'",
        ),
        (
            '{"event":"media","streamSid":"MZ1","media":{"payload":"fv7+","track":"inbound"}}',
            "media.media: unexpected field 'track'",
        ),
        ('{"event":"media","streamSid":"MZ1","media":"fv7+"}', "media.media must be an object"),
        (
            '{"event":"mark","streamSid":"MZ1","mark":{"name":null}}',
            "mark.mark.name must be a string, got null",
        ),
    ],
)
def test_invalid_messages_name_what_is_wrong(text: str, detail: str) -> None:
    error = error_of(text)
    assert error.code == INVALID_MESSAGE
    assert detail in error.detail


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        (
            {"chunk": 2},
            "media.media.chunk must be a string holding a non-negative integer, got the number 2",
        ),
        (
            {"timestamp": "-20"},
            "media.media.timestamp must be a string holding a non-negative integer",
        ),
        ({"timestamp": "020"}, "media.media.timestamp must be a string holding"),
        ({"chunk": "2.0"}, "media.media.chunk must be a string holding"),
        ({"track": "inbound_track"}, "media.media.track must be 'inbound' or 'outbound'"),
        ({"payload": "fv7+/n5"}, "media.media.payload is not valid base64"),
        ({"payload": "fv7 +/n5+"}, "media.media.payload is not valid base64"),
        ({"payload": "fx=="}, "media.media.payload is not canonical base64"),
        ({"payload": ""}, "media.media.payload is empty"),
        ({"payload": 12}, "media.media.payload must be a string"),
    ],
)
def test_media_fields_are_checked_strictly(fields: dict, detail: str) -> None:
    error = error_of(media_json(**fields))
    assert error.code == INVALID_MESSAGE
    assert detail in error.detail


def test_sequence_number_must_be_a_string() -> None:
    text = media_json().replace('"sequenceNumber": "3"', '"sequenceNumber": 3')
    assert (
        "media.sequenceNumber must be a string holding a non-negative integer"
        in error_of(text).detail
    )


def start_json(**changes: object) -> str:
    data = json.loads(START)
    data["start"].update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        (
            {"streamSid": "MZother"},
            "start: streamSid 'MZ18ad…' differs from start.streamSid 'MZother'",
        ),
        ({"tracks": "inbound"}, "start.start.tracks must be an array of strings"),
        (
            {"customParameters": {"tenant": 1}},
            "start.start.customParameters.tenant must be a string",
        ),
        (
            {"mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": "8000", "channels": 1}},
            "start.start.mediaFormat.sampleRate must be a positive integer, got the string '8000'",
        ),
        (
            {"mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": True}},
            "start.start.mediaFormat.channels must be a positive integer, got a boolean",
        ),
        (
            {"mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}},
            "missing field 'channels'",
        ),
        ({"callerName": "Ann"}, "start.start: unexpected field 'callerName'"),
    ],
)
def test_start_fields_are_checked_strictly(changes: dict, detail: str) -> None:
    error = error_of(start_json(**changes))
    assert error.code == INVALID_MESSAGE
    assert detail in error.detail


def test_dtmf_digit_must_be_a_key() -> None:
    error = error_of(DTMF.replace('"digit":"1"', '"digit":"12"'))
    assert "dtmf.dtmf.digit must be one of 0-9, *, #, A-D, got '12'" in error.detail


def test_every_message_kind_round_trips_through_its_encoding() -> None:
    messages = [
        Connected(),
        Start(1, "MZ1", "AC1", "CA1", ("inbound", "outbound"), {"k": "v"}, MediaFormat()),
        Media(2, "MZ1", "outbound", 0, 0, bytes(range(256))),
        Dtmf(3, "MZ1", "#"),
        Mark(4, "MZ1", "resp-2#2"),
        Stop(5, "MZ1", "AC1", "CA1"),
        OutboundMedia("MZ1", b"\x00" * 3200),
        OutboundMark("MZ1", "turn-end"),
        Clear("MZ1"),
    ]
    for message in messages:
        assert parse_message(encode_message(message)) == message


def test_encoding_something_else_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="not a Media Streams message"):
        encode_message("clear")  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=12,
)
message_like = st.fixed_dictionaries(
    {
        "event": st.sampled_from(
            ["connected", "start", "media", "dtmf", "mark", "stop", "clear", "x"]
        )
    },
    optional={
        "sequenceNumber": st.one_of(st.just("1"), json_values),
        "streamSid": st.one_of(st.just("MZ1"), json_values),
        "media": st.one_of(st.just({"payload": "fv7+"}), json_values),
        "mark": st.one_of(st.just({"name": "a"}), json_values),
        "start": json_values,
        "stop": json_values,
        "dtmf": json_values,
        "protocol": json_values,
        "version": json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), st.binary(), message_like.map(json.dumps)))
def test_fuzz_parse_returns_a_message_or_raises_protocol_error(frame: str | bytes) -> None:
    try:
        message = parse_message(frame)
    except ProtocolError as error:
        assert error.code in (MALFORMED_MESSAGE, INVALID_MESSAGE)
        assert "\n" not in str(error)
    else:
        assert parse_message(encode_message(message)) == message


counters = st.integers(min_value=0, max_value=10**18 - 1)
any_message = st.one_of(
    st.builds(Connected, st.text(), st.text()),
    st.builds(
        Start,
        counters,
        st.text(),
        st.text(),
        st.text(),
        st.lists(st.text(), max_size=3).map(tuple),
        st.dictionaries(st.text(), st.text(), max_size=3),
        st.builds(MediaFormat, st.text(), st.integers(1, 96000), st.integers(1, 8)),
    ),
    st.builds(
        Media,
        counters,
        st.text(),
        st.sampled_from(["inbound", "outbound"]),
        counters,
        counters,
        st.binary(min_size=1, max_size=400),
    ),
    st.builds(Dtmf, counters, st.text(), st.sampled_from(sorted("0123456789*#ABCD")), st.text()),
    st.builds(Mark, counters, st.text(), st.text()),
    st.builds(Stop, counters, st.text(), st.text(), st.text()),
    st.builds(OutboundMedia, st.text(), st.binary(min_size=1, max_size=400)),
    st.builds(OutboundMark, st.text(), st.text()),
    st.builds(Clear, st.text()),
)


@settings(max_examples=200, deadline=None)
@given(any_message)
def test_any_message_round_trips(message: object) -> None:
    assert parse_message(encode_message(message)) == message  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(REFERENCE_EXAMPLES), st.data())
def test_fuzz_mutated_reference_messages(text: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(text) - 1))
    replacement = data.draw(st.text(max_size=3))
    mutated = text[:position] + replacement + text[position + 1 :]
    try:
        parse_message(mutated)
    except ProtocolError:
        pass


def test_deeply_nested_json_is_a_protocol_error() -> None:
    assert (
        error_of("[" * 100_000 + "]" * 100_000, max_payload_bytes=200_000).code == INVALID_MESSAGE
    )
