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

The JSON shapes are pydantic models in `protocol_wire.py`; this module turns them into the
messages below and back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.telephony import protocol_wire as w
from workbench.telephony.protocol_wire import (  # the codes and limits belong to the API
    INVALID_MESSAGE,
    MAX_MEDIA_PAYLOAD_BYTES,
    ProtocolError,
)
from workbench.telephony.protocol_wire import MALFORMED_MESSAGE as MALFORMED_MESSAGE
from workbench.telephony.protocol_wire import MAX_MESSAGE_CHARS as MAX_MESSAGE_CHARS

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


def parse_message(
    text: str | bytes | bytearray | memoryview,
    *,
    max_payload_bytes: int = MAX_MEDIA_PAYLOAD_BYTES,
) -> Message:
    """Parse one WebSocket frame; raise `ProtocolError` for anything that breaks the protocol.

    `bytes` stand for a binary frame, which the protocol never uses (31950).
    """
    from_twilio = isinstance(text, str) and '"sequenceNumber"' in text  # (a guess; checked)
    wire = w.quick_read(w.FROM_TWILIO if from_twilio else w.FROM_SERVER, text, max_payload_bytes)
    if wire is not None:
        return _message(wire)
    data = w.decode_frame(text, max_payload_bytes)
    event = data["event"]
    from_twilio = "sequenceNumber" in data
    model = (w.TWILIO_MODELS if from_twilio else w.SERVER_MODELS).get(event)
    if model is None:
        known = sorted(w.TWILIO_MODELS.keys() | w.SERVER_MODELS.keys())
        if event in known:  # a known event in the other direction's shape
            raise ProtocolError(
                INVALID_MESSAGE,
                f"{'unexpected' if from_twilio else 'missing'} field 'sequenceNumber' "
                f"in a {event!r} message",
            )
        raise ProtocolError(INVALID_MESSAGE, f"unknown event {event!r} (known: {', '.join(known)})")
    return _message(w.validate(model, data, max_payload_bytes))


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
    wire = w.quick_read(w.FROM_CALLER, text, max_payload_bytes)
    if wire is not None:
        return _message(wire), []
    data = w.decode_frame(text, max_payload_bytes)
    event = data["event"]
    model = w.CALLER_MODELS.get(event)
    if model is None:
        known = sorted(w.CALLER_MODELS)
        raise ProtocolError(
            INVALID_MESSAGE,
            f"unknown event {event!r} from the caller's side (known: {', '.join(known)})",
        )
    notes: list[str] = []
    if event != "connected" and "sequenceNumber" not in data:
        notes.append(f"{event}: no 'sequenceNumber' (not used; let pass)")
        data = {**data, "sequenceNumber": "0"}
    return _message(w.validate(model, data, max_payload_bytes, notes)), notes


def _message(wire: Any) -> Any:
    """The message a validated wire model stands for."""
    return _FROM_WIRE[type(wire)](wire)


def _start(wire: w.StartWire) -> Start:
    body, media_format = wire.start, wire.start.mediaFormat
    return Start(
        sequence_number=int(wire.sequenceNumber),
        stream_sid=wire.streamSid,
        account_sid=body.accountSid,
        call_sid=body.callSid,
        tracks=tuple(body.tracks),
        custom_parameters=dict(body.customParameters),
        media_format=MediaFormat(
            media_format.encoding, media_format.sampleRate, media_format.channels
        ),
    )


def _media(wire: w.MediaWire) -> Media:
    body = wire.media
    return Media(
        int(wire.sequenceNumber),
        wire.streamSid,
        body.track,
        int(body.chunk),
        int(body.timestamp),
        body.payload,
    )


_FROM_WIRE: dict[type, Callable[[Any], Message]] = {
    w.ConnectedWire: lambda wire: Connected(wire.protocol, wire.version),
    w.StartWire: _start,
    w.MediaWire: _media,
    w.DtmfWire: lambda wire: Dtmf(
        int(wire.sequenceNumber), wire.streamSid, wire.dtmf.digit, wire.dtmf.track
    ),
    w.MarkWire: lambda wire: Mark(int(wire.sequenceNumber), wire.streamSid, wire.mark.name),
    w.StopWire: lambda wire: Stop(
        int(wire.sequenceNumber), wire.streamSid, wire.stop.accountSid, wire.stop.callSid
    ),
    w.OutboundMediaWire: lambda wire: OutboundMedia(wire.streamSid, wire.media.payload),
    w.OutboundMarkWire: lambda wire: OutboundMark(wire.streamSid, wire.mark.name),
    w.ClearWire: lambda wire: Clear(wire.streamSid),
}


# -- encoding ------------------------------------------------------------------------------------


def encode_message(message: Message) -> str:
    """The JSON text frame for a message, in the exact shape of the reference (compact)."""
    return _to_wire(message).model_dump_json()


def _to_wire(message: Message) -> Any:
    match message:
        case OutboundMedia():
            return w.OutboundMediaWire(
                event="media",
                streamSid=message.stream_sid,
                media=w.OutboundMediaBody(payload=message.payload),
            )
        case OutboundMark():
            return w.OutboundMarkWire(
                event="mark",
                streamSid=message.stream_sid,
                mark=w.OutboundMarkBody(name=message.name),
            )
        case Clear():
            return w.ClearWire(event="clear", streamSid=message.stream_sid)
        case Media():
            return w.MediaWire(
                event="media",
                sequenceNumber=str(message.sequence_number),
                streamSid=message.stream_sid,
                media=w.MediaBody(
                    track=message.track,  # type: ignore[arg-type]  # the model checks it
                    chunk=str(message.chunk),
                    timestamp=str(message.timestamp),
                    payload=message.payload,
                ),
            )
        case Connected():
            return w.ConnectedWire(
                event="connected", protocol=message.protocol, version=message.version
            )
        case Start():
            fmt = message.media_format
            return w.StartWire(
                event="start",
                sequenceNumber=str(message.sequence_number),
                streamSid=message.stream_sid,
                start=w.StartBody(
                    accountSid=message.account_sid,
                    streamSid=message.stream_sid,
                    callSid=message.call_sid,
                    tracks=list(message.tracks),
                    customParameters=dict(message.custom_parameters),
                    mediaFormat=w.MediaFormatWire(
                        encoding=fmt.encoding, sampleRate=fmt.sample_rate, channels=fmt.channels
                    ),
                ),
            )
        case Dtmf():
            return w.DtmfWire(
                event="dtmf",
                sequenceNumber=str(message.sequence_number),
                streamSid=message.stream_sid,
                dtmf=w.DtmfBody(track=message.track, digit=message.digit),
            )
        case Mark():
            return w.MarkWire(
                event="mark",
                sequenceNumber=str(message.sequence_number),
                streamSid=message.stream_sid,
                mark=w.MarkBody(name=message.name),
            )
        case Stop():
            return w.StopWire(
                event="stop",
                sequenceNumber=str(message.sequence_number),
                streamSid=message.stream_sid,
                stop=w.StopBody(accountSid=message.account_sid, callSid=message.call_sid),
            )
    raise TypeError(f"not a Media Streams message: {message!r}")
