"""The Twilio Media Streams wire format: messages as frozen dataclasses, parsed and encoded.

Pure: no sockets, no clock. The server, the softphone client and the Locust caller all speak
through `parse_message` and `encode_message`, so they agree on one strict reading of the
protocol (see reference/twilio-media-streams.md):

- every message is one JSON object in a text frame, with an `event` field;
- `sequenceNumber`, `media.chunk` and `media.timestamp` are strings holding integers, while
  `mediaFormat.sampleRate` and `mediaFormat.channels` are numbers;
- audio payloads are base64 μ-law; here they are `bytes`, decoded;
- messages from the server carry no `sequenceNumber`; a message with one came from Twilio.

Anything else raises `ProtocolError` with Twilio's code: 31950 for a binary or oversized
frame, 31951 for invalid JSON, an unknown event, missing or extra fields, wrong types or a
stream SID that disagrees with itself. Being strict here is what lets a simulated Twilio
flag a misbehaving agent the way the real one would.

The agent reads its peer with `parse_inbound` instead: the same checks, except that unknown
fields (Twilio adds some over time) and a missing `sequenceNumber` (a mark echoed in the shape
it was sent) are let pass and reported as notes — an honest peer's call goes on.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import WorkbenchError

MALFORMED_MESSAGE = 31950  # a binary frame or raw audio
INVALID_MESSAGE = 31951  # bad JSON, unknown event, missing/extra fields, wrong types or SID

MAX_MEDIA_PAYLOAD_BYTES = 64_000  # 8 s of 8 kHz μ-law in one media message


def _base64_chars(payload_bytes: int) -> int:
    return 4 * (-(-payload_bytes // 3))


def _max_frame_chars(payload_bytes: int) -> int:
    return _base64_chars(payload_bytes) + 4096  # the payload and the envelope around it


MAX_MESSAGE_CHARS = _max_frame_chars(MAX_MEDIA_PAYLOAD_BYTES)

_TITLES = {MALFORMED_MESSAGE: "malformed message", INVALID_MESSAGE: "invalid message"}
_INTEGER_STRING = re.compile(r"0|[1-9][0-9]{0,17}")
_DTMF_DIGITS = frozenset("0123456789*#ABCD")
_MEDIA_TRACKS = ("inbound", "outbound")


class ProtocolError(WorkbenchError):
    """A message that breaks the protocol, with Twilio's error code (31950 or 31951)."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.detail = message
        super().__init__(f"Media Streams error {code} ({_TITLES.get(code, 'error')}): {message}")


# -- messages from Twilio -----------------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    """Always the first message on a stream."""

    protocol: str = "Call"
    version: str = "1.0.0"


@dataclass(frozen=True)
class MediaFormat:
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True)
class Start:
    """Sent once, right after `Connected`: who is calling and how the audio is encoded."""

    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...] = ("inbound",)
    custom_parameters: dict[str, str] = field(default_factory=dict)
    media_format: MediaFormat = field(default_factory=MediaFormat)


@dataclass(frozen=True)
class Media:
    """One chunk of the caller's audio (usually 20 ms: 160 μ-law bytes)."""

    sequence_number: int
    stream_sid: str
    track: str
    chunk: int
    timestamp: int  # ms since the stream started
    payload: bytes


@dataclass(frozen=True)
class Dtmf:
    """A key the caller pressed (two-way streams only)."""

    sequence_number: int
    stream_sid: str
    digit: str
    track: str = "inbound_track"


@dataclass(frozen=True)
class Mark:
    """Twilio's echo of a mark the server sent: playout reached it (or `clear` dropped it)."""

    sequence_number: int
    stream_sid: str
    name: str


@dataclass(frozen=True)
class Stop:
    """Always the last message: the call ended."""

    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str


# -- messages from the server --------------------------------------------------------------------


@dataclass(frozen=True)
class OutboundMedia:
    """Audio for the caller, appended to Twilio's playback buffer."""

    stream_sid: str
    payload: bytes


@dataclass(frozen=True)
class OutboundMark:
    """A checkpoint after the audio queued so far; Twilio echoes it as a `Mark`."""

    stream_sid: str
    name: str


@dataclass(frozen=True)
class Clear:
    """Drop all buffered, unplayed outbound audio (barge-in)."""

    stream_sid: str


TwilioMessage = Connected | Start | Media | Dtmf | Mark | Stop
ServerMessage = OutboundMedia | OutboundMark | Clear
Message = TwilioMessage | ServerMessage


# -- parsing -------------------------------------------------------------------------------------


@dataclass
class _Reading:
    """How one frame is read: the payload limit, and (tolerant reading) what was let pass."""

    limit: int
    tolerant: bool = False
    notes: list[str] = field(default_factory=list)


def parse_message(
    text: str | bytes | bytearray | memoryview,
    *,
    max_payload_bytes: int = MAX_MEDIA_PAYLOAD_BYTES,
) -> Message:
    """Parse one WebSocket frame; raise `ProtocolError` for anything that breaks the protocol.

    `bytes` stand for a binary frame, which the protocol never uses (31950).
    """
    data = _decode_frame(text, max_payload_bytes)
    event = data["event"]
    from_twilio = "sequenceNumber" in data
    parser = (_TWILIO_PARSERS if from_twilio else _SERVER_PARSERS).get(event)
    if parser is None:
        known = sorted(_TWILIO_PARSERS.keys() | _SERVER_PARSERS.keys())
        if event in known:  # a known event in the other direction's shape
            raise ProtocolError(
                INVALID_MESSAGE,
                f"{'unexpected' if from_twilio else 'missing'} field 'sequenceNumber' "
                f"in a {event!r} message",
            )
        raise ProtocolError(INVALID_MESSAGE, f"unknown event {event!r} (known: {', '.join(known)})")
    return parser(data, _Reading(max_payload_bytes))


def parse_inbound(
    text: str | bytes | bytearray | memoryview,
    *,
    max_payload_bytes: int = MAX_MEDIA_PAYLOAD_BYTES,
) -> tuple[TwilioMessage, list[str]]:
    """A message from the caller's side, read as an agent should read its peer: tolerantly.

    Twilio adds fields over time (a `start` may grow a `start.region`), and honest peers echo
    marks in the shape they were sent (no `sequenceNumber`). Neither harms the call, so an
    unknown field and a missing `sequenceNumber` (which the agent does not use) are let pass
    and returned as notes. Everything the agent needs is still checked strictly: invalid JSON,
    an unknown event, a missing required field, a wrong type, bad base64 raise `ProtocolError`.
    The caller's side (`client.py`, the harness) reads the agent with `parse_message`: strictly.
    """
    data = _decode_frame(text, max_payload_bytes)
    event = data["event"]
    reading = _Reading(max_payload_bytes, tolerant=True)
    if event == "connected":
        return _parse_connected(data, reading), reading.notes
    parser = _TWILIO_PARSERS.get(event)
    if parser is None:
        known = sorted({"connected", *_TWILIO_PARSERS})
        raise ProtocolError(
            INVALID_MESSAGE,
            f"unknown event {event!r} from the caller's side (known: {', '.join(known)})",
        )
    if "sequenceNumber" not in data:
        reading.notes.append(f"{event}: no 'sequenceNumber' (not used; let pass)")
        data = {**data, "sequenceNumber": "0"}
    return parser(data, reading), reading.notes


def _decode_frame(text: str | bytes | bytearray | memoryview, max_payload_bytes: int) -> dict:
    """The frame's JSON object with a string `event`, or `ProtocolError`."""
    if not isinstance(text, str):
        raise ProtocolError(
            MALFORMED_MESSAGE,
            f"binary frame of {len(text)} bytes; Media Streams messages are JSON text frames",
        )
    limit = _max_frame_chars(max_payload_bytes)
    if len(text) > limit:
        raise ProtocolError(
            MALFORMED_MESSAGE, f"frame of {len(text)} characters exceeds the limit of {limit}"
        )
    try:
        data = json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except _DuplicateKeyError as error:
        raise ProtocolError(INVALID_MESSAGE, f"duplicate field {error.args[0]!r}") from None
    except (ValueError, RecursionError) as error:
        raise ProtocolError(INVALID_MESSAGE, f"invalid JSON ({_one_line(error)})") from None
    if not isinstance(data, dict):
        raise ProtocolError(INVALID_MESSAGE, f"expected a JSON object, got {_json_type(data)}")
    if "event" not in data:
        raise ProtocolError(INVALID_MESSAGE, "missing field 'event'")
    if not isinstance(data["event"], str):
        raise ProtocolError(
            INVALID_MESSAGE, f"'event' must be a string, got {_json_type(data['event'])}"
        )
    return data


class _DuplicateKeyError(Exception):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _one_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _fields(obj: dict[str, Any], where: str, expected: tuple[str, ...], ctx: _Reading) -> None:
    """Exactly the expected keys: Twilio answers missing and extra fields alike with 31951.
    Read tolerantly, extra fields are noted and let pass (missing ones never are)."""
    missing = [key for key in expected if key not in obj]
    if missing:
        raise ProtocolError(INVALID_MESSAGE, f"{where}: missing field {missing[0]!r}")
    extra = sorted(key for key in obj if key not in expected)
    if extra and ctx.tolerant:
        ctx.notes.extend(f"{where}: unknown field {key!r} (ignored)" for key in extra)
    elif extra:
        raise ProtocolError(INVALID_MESSAGE, f"{where}: unexpected field {extra[0]!r}")


def _object(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj[key]
    if not isinstance(value, dict):
        raise ProtocolError(
            INVALID_MESSAGE, f"{where}.{key} must be an object, got {_json_type(value)}"
        )
    return value


def _string(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise ProtocolError(
            INVALID_MESSAGE, f"{where}.{key} must be a string, got {_json_type(value)}"
        )
    return value


def _integer_string(obj: dict[str, Any], key: str, where: str) -> int:
    """`sequenceNumber`, `chunk`, `timestamp`: JSON strings holding a non-negative integer."""
    value = obj[key]
    if not isinstance(value, str) or not _INTEGER_STRING.fullmatch(value):
        raise ProtocolError(
            INVALID_MESSAGE,
            f"{where}.{key} must be a string holding a non-negative integer, "
            f"got {_json_type(value)}",
        )
    return int(value)


def _number(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ProtocolError(
            INVALID_MESSAGE, f"{where}.{key} must be a positive integer, got {_json_type(value)}"
        )
    return value


def _payload(obj: dict[str, Any], where: str, max_payload_bytes: int) -> bytes:
    text = _string(obj, "payload", where)
    if len(text) > _base64_chars(max_payload_bytes):
        raise ProtocolError(
            INVALID_MESSAGE,
            f"{where}.payload of {len(text)} base64 characters exceeds the limit of "
            f"{max_payload_bytes} bytes of audio",
        )
    try:
        audio = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(INVALID_MESSAGE, f"{where}.payload is not valid base64") from None
    if not audio:
        raise ProtocolError(INVALID_MESSAGE, f"{where}.payload is empty")
    if base64.b64encode(audio).decode("ascii") != text:
        raise ProtocolError(INVALID_MESSAGE, f"{where}.payload is not canonical base64")
    return audio


def _parse_connected(data: dict[str, Any], ctx: _Reading) -> Connected:
    _fields(data, "connected", ("event", "protocol", "version"), ctx)
    return Connected(_string(data, "protocol", "connected"), _string(data, "version", "connected"))


def _parse_start(data: dict[str, Any], ctx: _Reading) -> Start:
    _fields(data, "start", ("event", "sequenceNumber", "streamSid", "start"), ctx)
    seq = _integer_string(data, "sequenceNumber", "start")
    stream_sid = _string(data, "streamSid", "start")
    body = _object(data, "start", "start")
    keys = ("accountSid", "streamSid", "callSid", "tracks", "customParameters", "mediaFormat")
    _fields(body, "start.start", keys, ctx)
    inner_sid = _string(body, "streamSid", "start.start")
    if inner_sid != stream_sid:
        raise ProtocolError(
            INVALID_MESSAGE,
            f"start: streamSid {stream_sid!r} differs from start.streamSid {inner_sid!r}",
        )
    tracks = body["tracks"]
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise ProtocolError(INVALID_MESSAGE, "start.start.tracks must be an array of strings")
    parameters = _object(body, "customParameters", "start.start")
    for key, value in parameters.items():
        if not isinstance(value, str):
            raise ProtocolError(
                INVALID_MESSAGE,
                f"start.start.customParameters.{key} must be a string, got {_json_type(value)}",
            )
    media_format = _object(body, "mediaFormat", "start.start")
    where = "start.start.mediaFormat"
    _fields(media_format, where, ("encoding", "sampleRate", "channels"), ctx)
    return Start(
        sequence_number=seq,
        stream_sid=stream_sid,
        account_sid=_string(body, "accountSid", "start.start"),
        call_sid=_string(body, "callSid", "start.start"),
        tracks=tuple(tracks),
        custom_parameters=dict(parameters),
        media_format=MediaFormat(
            encoding=_string(media_format, "encoding", where),
            sample_rate=_number(media_format, "sampleRate", where),
            channels=_number(media_format, "channels", where),
        ),
    )


def _parse_media(data: dict[str, Any], ctx: _Reading) -> Media:
    _fields(data, "media", ("event", "sequenceNumber", "streamSid", "media"), ctx)
    body = _object(data, "media", "media")
    _fields(body, "media.media", ("track", "chunk", "timestamp", "payload"), ctx)
    track = _string(body, "track", "media.media")
    if track not in _MEDIA_TRACKS:
        raise ProtocolError(
            INVALID_MESSAGE, f"media.media.track must be 'inbound' or 'outbound', got {track!r}"
        )
    return Media(
        sequence_number=_integer_string(data, "sequenceNumber", "media"),
        stream_sid=_string(data, "streamSid", "media"),
        track=track,
        chunk=_integer_string(body, "chunk", "media.media"),
        timestamp=_integer_string(body, "timestamp", "media.media"),
        payload=_payload(body, "media.media", ctx.limit),
    )


def _parse_dtmf(data: dict[str, Any], ctx: _Reading) -> Dtmf:
    _fields(data, "dtmf", ("event", "sequenceNumber", "streamSid", "dtmf"), ctx)
    body = _object(data, "dtmf", "dtmf")
    _fields(body, "dtmf.dtmf", ("track", "digit"), ctx)
    digit = _string(body, "digit", "dtmf.dtmf")
    if digit not in _DTMF_DIGITS:
        raise ProtocolError(
            INVALID_MESSAGE, f"dtmf.dtmf.digit must be one of 0-9, *, #, A-D, got {digit!r}"
        )
    return Dtmf(
        sequence_number=_integer_string(data, "sequenceNumber", "dtmf"),
        stream_sid=_string(data, "streamSid", "dtmf"),
        digit=digit,
        track=_string(body, "track", "dtmf.dtmf"),
    )


def _parse_mark(data: dict[str, Any], ctx: _Reading) -> Mark:
    _fields(data, "mark", ("event", "sequenceNumber", "streamSid", "mark"), ctx)
    body = _object(data, "mark", "mark")
    _fields(body, "mark.mark", ("name",), ctx)
    return Mark(
        sequence_number=_integer_string(data, "sequenceNumber", "mark"),
        stream_sid=_string(data, "streamSid", "mark"),
        name=_string(body, "name", "mark.mark"),
    )


def _parse_stop(data: dict[str, Any], ctx: _Reading) -> Stop:
    _fields(data, "stop", ("event", "sequenceNumber", "streamSid", "stop"), ctx)
    body = _object(data, "stop", "stop")
    _fields(body, "stop.stop", ("accountSid", "callSid"), ctx)
    return Stop(
        sequence_number=_integer_string(data, "sequenceNumber", "stop"),
        stream_sid=_string(data, "streamSid", "stop"),
        account_sid=_string(body, "accountSid", "stop.stop"),
        call_sid=_string(body, "callSid", "stop.stop"),
    )


def _parse_outbound_media(data: dict[str, Any], ctx: _Reading) -> OutboundMedia:
    _fields(data, "media", ("event", "streamSid", "media"), ctx)
    body = _object(data, "media", "media")
    _fields(body, "media.media", ("payload",), ctx)
    return OutboundMedia(
        _string(data, "streamSid", "media"), _payload(body, "media.media", ctx.limit)
    )


def _parse_outbound_mark(data: dict[str, Any], ctx: _Reading) -> OutboundMark:
    _fields(data, "mark", ("event", "streamSid", "mark"), ctx)
    body = _object(data, "mark", "mark")
    _fields(body, "mark.mark", ("name",), ctx)
    return OutboundMark(_string(data, "streamSid", "mark"), _string(body, "name", "mark.mark"))


def _parse_clear(data: dict[str, Any], ctx: _Reading) -> Clear:
    _fields(data, "clear", ("event", "streamSid"), ctx)
    return Clear(_string(data, "streamSid", "clear"))


# `connected` is the one message from Twilio without a sequenceNumber.
_TWILIO_PARSERS = {
    "start": _parse_start,
    "media": _parse_media,
    "dtmf": _parse_dtmf,
    "mark": _parse_mark,
    "stop": _parse_stop,
}
_SERVER_PARSERS = {
    "connected": _parse_connected,
    "media": _parse_outbound_media,
    "mark": _parse_outbound_mark,
    "clear": _parse_clear,
}


# -- encoding ------------------------------------------------------------------------------------


def encode_message(message: Message) -> str:
    """The JSON text frame for a message, in the exact shape of the reference (compact)."""
    return json.dumps(_to_json(message), separators=(",", ":"), ensure_ascii=False)


def _b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def _to_json(message: Message) -> dict[str, Any]:
    match message:
        case Connected():
            return {"event": "connected", "protocol": message.protocol, "version": message.version}
        case Start():
            fmt = message.media_format
            return {
                "event": "start",
                "sequenceNumber": str(message.sequence_number),
                "streamSid": message.stream_sid,
                "start": {
                    "accountSid": message.account_sid,
                    "streamSid": message.stream_sid,
                    "callSid": message.call_sid,
                    "tracks": list(message.tracks),
                    "customParameters": dict(message.custom_parameters),
                    "mediaFormat": {
                        "encoding": fmt.encoding,
                        "sampleRate": fmt.sample_rate,
                        "channels": fmt.channels,
                    },
                },
            }
        case Media():
            return {
                "event": "media",
                "sequenceNumber": str(message.sequence_number),
                "streamSid": message.stream_sid,
                "media": {
                    "track": message.track,
                    "chunk": str(message.chunk),
                    "timestamp": str(message.timestamp),
                    "payload": _b64(message.payload),
                },
            }
        case Dtmf():
            return {
                "event": "dtmf",
                "sequenceNumber": str(message.sequence_number),
                "streamSid": message.stream_sid,
                "dtmf": {"track": message.track, "digit": message.digit},
            }
        case Mark():
            return {
                "event": "mark",
                "sequenceNumber": str(message.sequence_number),
                "streamSid": message.stream_sid,
                "mark": {"name": message.name},
            }
        case Stop():
            return {
                "event": "stop",
                "sequenceNumber": str(message.sequence_number),
                "streamSid": message.stream_sid,
                "stop": {"accountSid": message.account_sid, "callSid": message.call_sid},
            }
        case OutboundMedia():
            return {
                "event": "media",
                "streamSid": message.stream_sid,
                "media": {"payload": _b64(message.payload)},
            }
        case OutboundMark():
            return {
                "event": "mark",
                "streamSid": message.stream_sid,
                "mark": {"name": message.name},
            }
        case Clear():
            return {"event": "clear", "streamSid": message.stream_sid}
    raise TypeError(f"not a Media Streams message: {message!r}")
