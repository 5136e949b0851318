"""The JSON shapes of Twilio Media Streams messages, as pydantic models, and reading a frame.

`protocol.py` speaks in flat, frozen messages (`Media`, `OutboundMark`, …); this module owns
what they look like on the wire (reference/twilio-media-streams.md §3-4) and every check a
frame must pass to become one. It is apart because the wire shape (nested bodies, camelCase
names, numbers sent as strings, base64 audio) and the ways a frame can be wrong are one
concern, and the messages the server and the clients pass around are another.

- A frame is one JSON text object with a string `event`, read by pydantic's JSON parser;
  an object with a repeated key is refused (Python's `json` would keep the last one silently).
- Messages from the caller's side (`connected` … `stop`) are models that keep unknown fields
  (`extra="allow"`): read tolerantly they become notes, read strictly they are refused.
- Messages the server sends (`media`, `mark`, `clear`) are models that forbid unknown fields
  (`extra="forbid"`): what the server writes is exactly what Twilio documents, and what a
  Twilio-faithful client reads from a server is judged as Twilio would.
- Any other departure (wrong type, missing field, bad base64) is one `ProtocolError` line with
  Twilio's code, naming the field by its path (`media.media.payload`).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal, TypeVar, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from workbench.errors import WorkbenchError

MALFORMED_MESSAGE = 31950  # a binary frame or raw audio
INVALID_MESSAGE = 31951  # bad JSON, unknown event, missing/extra fields, wrong types or SID

MAX_MEDIA_PAYLOAD_BYTES = 64_000  # 8 s of 8 kHz μ-law in one media message


def base64_chars(payload_bytes: int) -> int:
    return 4 * (-(-payload_bytes // 3))


def max_frame_chars(payload_bytes: int) -> int:
    return base64_chars(payload_bytes) + 4096  # the payload and the envelope around it


MAX_MESSAGE_CHARS = max_frame_chars(MAX_MEDIA_PAYLOAD_BYTES)

_TITLES = {MALFORMED_MESSAGE: "malformed message", INVALID_MESSAGE: "invalid message"}


class ProtocolError(WorkbenchError):
    """A message that breaks the protocol, with Twilio's error code (31950 or 31951)."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.detail = message
        super().__init__(f"Media Streams error {code} ({_TITLES.get(code, 'error')}): {message}")


# -- one frame to one JSON object ------------------------------------------------------------------


def decode_frame(text: str | bytes | bytearray | memoryview, max_payload_bytes: int) -> dict:
    """The frame's JSON object with a string `event`, or `ProtocolError`."""
    if not isinstance(text, str):
        raise ProtocolError(
            MALFORMED_MESSAGE,
            f"binary frame of {len(text)} bytes; Media Streams messages are JSON text frames",
        )
    limit = max_frame_chars(max_payload_bytes)
    if len(text) > limit:
        raise ProtocolError(
            MALFORMED_MESSAGE, f"frame of {len(text)} characters exceeds the limit of {limit}"
        )
    data = _checked_loads(text)
    if not isinstance(data, dict):
        raise ProtocolError(INVALID_MESSAGE, f"expected a JSON object, got {json_type(data)}")
    if "event" not in data:
        raise ProtocolError(INVALID_MESSAGE, "missing field 'event'")
    if not isinstance(data["event"], str):
        raise ProtocolError(
            INVALID_MESSAGE, f"'event' must be a string, got {json_type(data['event'])}"
        )
    return data


def _checked_loads(text: str) -> Any:
    """Python's `json`, refusing repeated keys (it would keep the last one) and NaN/Infinity."""
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except _DuplicateKeyError as error:
        raise ProtocolError(INVALID_MESSAGE, f"duplicate field {error.args[0]!r}") from None
    except (ValueError, RecursionError) as error:
        raise ProtocolError(INVALID_MESSAGE, f"invalid JSON ({_one_line(error)})") from None


class _DuplicateKeyError(Exception):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _one_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def json_type(value: object) -> str:
    """How a JSON value is named in an error message."""
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


# -- field types ---------------------------------------------------------------------------------

# `sequenceNumber`, `chunk`, `timestamp`: JSON strings holding a non-negative integer.
IntegerString = Annotated[str, Field(pattern=r"^(?:0|[1-9][0-9]{0,17})$")]
_INTEGER_STRING_FIELDS = frozenset({"sequenceNumber", "chunk", "timestamp"})

PositiveInt = Annotated[int, Field(gt=0)]


def _decode_payload(value: object, info: ValidationInfo) -> bytes:
    """base64 μ-law, canonical and within the payload limit (the validation context)."""
    if isinstance(value, bytes):  # a message being built: the audio itself (JSON has no bytes)
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "payload", "must be a string, got {got}", {"got": json_type(value)}
        )
    limit = info.context if isinstance(info.context, int) else MAX_MEDIA_PAYLOAD_BYTES
    if len(value) > base64_chars(limit):
        raise PydanticCustomError(
            "payload",
            "of {chars} base64 characters exceeds the limit of {limit} bytes of audio",
            {"chars": len(value), "limit": limit},
        )
    try:
        audio = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("payload", "is not valid base64") from None
    if not audio:
        raise PydanticCustomError("payload", "is empty")
    # Decoding lets stray padding (`AAAA==`) and stray bits in the last group (`fx==` reads as
    # `fw==`) pass; the canonical text has the right length and re-encodes its last group.
    last_group = base64.b64encode(audio[-(len(audio) % 3 or 3) :]).decode("ascii")
    if len(value) != base64_chars(len(audio)) or not value.endswith(last_group):
        raise PydanticCustomError("payload", "is not canonical base64")
    return audio


def _encode_payload(audio: bytes) -> str:
    return base64.b64encode(audio).decode("ascii")


Payload = Annotated[bytes, PlainValidator(_decode_payload), PlainSerializer(_encode_payload)]

_DTMF_DIGITS = frozenset("0123456789*#ABCD")


def _dtmf_digit(value: str) -> str:
    if value not in _DTMF_DIGITS:
        raise PydanticCustomError(
            "dtmf_digit", "must be one of 0-9, *, #, A-D, got {got}", {"got": repr(value)}
        )
    return value


DtmfDigit = Annotated[str, AfterValidator(_dtmf_digit)]


# -- messages from the caller's side (Twilio, or a simulation of it) ------------------------------


class _FromCaller(BaseModel):
    """Unknown fields are kept, for the reader to note (tolerant) or refuse (strict)."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class ConnectedWire(_FromCaller):
    event: Literal["connected"]
    protocol: str
    version: str


class MediaFormatWire(_FromCaller):
    encoding: str
    sampleRate: PositiveInt  # numbers here, unlike the counters
    channels: PositiveInt


class StartBody(_FromCaller):
    accountSid: str
    streamSid: str
    callSid: str
    tracks: list[str]
    customParameters: dict[str, str]
    mediaFormat: MediaFormatWire


class StartWire(_FromCaller):
    event: Literal["start"]
    sequenceNumber: IntegerString
    streamSid: str
    start: StartBody

    @model_validator(mode="after")
    def _one_stream(self) -> StartWire:
        if self.start.streamSid != self.streamSid:
            raise PydanticCustomError(
                "stream_sid",
                "{detail}",
                {
                    "detail": f"streamSid {self.streamSid!r} differs from start.streamSid "
                    f"{self.start.streamSid!r}"
                },
            )
        return self


class MediaBody(_FromCaller):
    track: Literal["inbound", "outbound"]
    chunk: IntegerString
    timestamp: IntegerString  # ms since the stream started
    payload: Payload


class MediaWire(_FromCaller):
    event: Literal["media"]
    sequenceNumber: IntegerString
    streamSid: str
    media: MediaBody


class DtmfBody(_FromCaller):
    track: str
    digit: DtmfDigit


class DtmfWire(_FromCaller):
    event: Literal["dtmf"]
    sequenceNumber: IntegerString
    streamSid: str
    dtmf: DtmfBody


class MarkBody(_FromCaller):
    name: str


class MarkWire(_FromCaller):
    event: Literal["mark"]
    sequenceNumber: IntegerString
    streamSid: str
    mark: MarkBody


class StopBody(_FromCaller):
    accountSid: str
    callSid: str


class StopWire(_FromCaller):
    event: Literal["stop"]
    sequenceNumber: IntegerString
    streamSid: str
    stop: StopBody


# -- messages the server sends: exactly these fields ---------------------------------------------


class _FromServer(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class OutboundMediaBody(_FromServer):
    payload: Payload  # only the payload: no track, chunk or timestamp


class OutboundMediaWire(_FromServer):
    event: Literal["media"]
    streamSid: str
    media: OutboundMediaBody


class OutboundMarkBody(_FromServer):
    name: str


class OutboundMarkWire(_FromServer):
    event: Literal["mark"]
    streamSid: str
    mark: OutboundMarkBody


class ClearWire(_FromServer):
    event: Literal["clear"]
    streamSid: str


# -- which model reads which message -------------------------------------------------------------

# A message from Twilio carries a `sequenceNumber`, except `connected`; the server's never do.
TWILIO_MODELS: dict[str, type[BaseModel]] = {
    "start": StartWire,
    "media": MediaWire,
    "dtmf": DtmfWire,
    "mark": MarkWire,
    "stop": StopWire,
}
SERVER_MODELS: dict[str, type[BaseModel]] = {
    "connected": ConnectedWire,
    "media": OutboundMediaWire,
    "mark": OutboundMarkWire,
    "clear": ClearWire,
}
CALLER_MODELS: dict[str, type[BaseModel]] = {"connected": ConnectedWire, **TWILIO_MODELS}


# Each message read in one pass, its model picked by `event` (`quick_read`).
FROM_TWILIO: TypeAdapter[StartWire | MediaWire | DtmfWire | MarkWire | StopWire] = TypeAdapter(
    Annotated[StartWire | MediaWire | DtmfWire | MarkWire | StopWire, Field(discriminator="event")]
)
FROM_SERVER: TypeAdapter[ConnectedWire | OutboundMediaWire | OutboundMarkWire | ClearWire] = (
    TypeAdapter(
        Annotated[
            ConnectedWire | OutboundMediaWire | OutboundMarkWire | ClearWire,
            Field(discriminator="event"),
        ]
    )
)
FROM_CALLER: TypeAdapter[ConnectedWire | StartWire | MediaWire | DtmfWire | MarkWire | StopWire] = (
    TypeAdapter(
        Annotated[
            ConnectedWire | StartWire | MediaWire | DtmfWire | MarkWire | StopWire,
            Field(discriminator="event"),
        ]
    )
)


def _fixed_keys(model: type[BaseModel]) -> int | None:
    """How many keys an exact message of `model` has, nested objects included (None when a
    field is a JSON object of any size, like `customParameters`)."""
    count = 0
    for info in model.model_fields.values():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            inner = _fixed_keys(kind)
            if inner is None:
                return None
            count += inner
        elif get_origin(kind) is dict:
            return None
        count += 1
    return count


_FIXED_KEYS = {
    model: keys
    for model in (*CALLER_MODELS.values(), *SERVER_MODELS.values())
    if (keys := _fixed_keys(model)) is not None
}


def quick_read(adapter: TypeAdapter[Any], text: object, max_payload_bytes: int) -> Any:
    """The message model of an exact frame, in one pass of pydantic's JSON reader; None when
    the frame needs the careful reading below (anything wrong, unusual or unknown in it).

    This is every media frame of a call, so it is kept short: an exact frame has as many
    ':' as keys (each key has its own, and none of its strings holds one), so a frame with
    more has a repeated key, an unknown field or a ':' in a string, and is read carefully.
    """
    if not isinstance(text, str) or len(text) > max_frame_chars(max_payload_bytes):
        return None
    try:
        message = adapter.validate_json(text, context=max_payload_bytes)
    except ValidationError:
        return None
    return message if text.count(":") == _FIXED_KEYS.get(type(message)) else None


# -- validating ----------------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: dict[str, Any], limit: int, notes: list[str] | None = None) -> M:
    """`data` as `model`, or `ProtocolError` naming the first thing wrong. Unknown fields of a
    caller's-side message are refused, or, given `notes`, noted there and let pass."""
    event = data["event"]
    try:
        message = model.model_validate(data, context=limit)
    except ValidationError as error:
        raise ProtocolError(INVALID_MESSAGE, _first_problem(error, event)) from None
    unknown = _unknown_fields(message, event)
    if unknown and notes is None:
        where, key = unknown[0]
        raise ProtocolError(INVALID_MESSAGE, f"{where}: unexpected field {key!r}")
    if notes is not None:
        notes.extend(f"{where}: unknown field {key!r} (ignored)" for where, key in unknown)
    return message


def _unknown_fields(message: BaseModel, where: str) -> list[tuple[str, str]]:
    """(where, name) of every unknown field, outer objects first, names sorted in each."""
    found = [(where, key) for key in sorted(message.__pydantic_extra__ or ())]
    for name, value in message.__dict__.items():
        if isinstance(value, BaseModel):
            found += _unknown_fields(value, f"{where}.{name}")
    return found


# Within one object a missing field is named before an unexpected one, and both before a
# field of the wrong type; outer objects come before inner ones.
_RANK = {"missing": 0, "extra_forbidden": 1}


def _first_problem(error: ValidationError, event: str) -> str:
    problems = error.errors(include_url=False)
    _, problem = min(
        enumerate(problems),
        key=lambda item: (len(item[1]["loc"]), _RANK.get(item[1]["type"], 2), item[0]),
    )
    return _describe(problem, event)


def _describe(problem: Any, event: str) -> str:
    kind, loc, value = problem["type"], problem["loc"], problem["input"]
    if any(isinstance(part, int) for part in loc):  # an item of a list (only `tracks` has one)
        loc = loc[: next(i for i, part in enumerate(loc) if isinstance(part, int))]
        kind = "list_type"
    path = ".".join((event, *map(str, loc)))
    if not loc:  # a check of the whole message
        return f"{event}: {problem['msg']}"
    container, name = path.rsplit(".", 1)
    if kind == "missing":
        return f"{container}: missing field {name!r}"
    if kind == "extra_forbidden":
        return f"{container}: unexpected field {name!r}"
    if kind == "list_type":
        return f"{path} must be an array of strings"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{path} must be an object, got {json_type(value)}"
    if name in _INTEGER_STRING_FIELDS and kind in ("string_type", "string_pattern_mismatch"):
        return f"{path} must be a string holding a non-negative integer, got {json_type(value)}"
    if kind == "string_type" or (kind == "literal_error" and not isinstance(value, str)):
        return f"{path} must be a string, got {json_type(value)}"
    if kind == "literal_error":
        return f"{path} must be {problem['ctx']['expected']}, got {value!r}"
    if kind in ("int_type", "greater_than"):
        return f"{path} must be a positive integer, got {json_type(value)}"
    return f"{path} {problem['msg']}"  # our own checks speak in this form
