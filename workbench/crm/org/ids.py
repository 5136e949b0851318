"""Salesforce record ids: 15-character base-62 ids and their 18-character checksummed form.

An id is a 3-character key prefix (001 Account, 0LQ VoiceCall, …) and 12 base-62 characters.
The 18-character form appends 3 characters that encode, for each 5-character chunk, which
characters are uppercase, so the id survives case-insensitive handling (reference §11.12).
"""

from __future__ import annotations

import re

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_SHAPE = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")

# The 2 characters after the key prefix name the "pod" in real ids; ours is fixed.
_POD = "LO"


def checksum(id15: str) -> str:
    """The 3-character suffix that turns a 15-character id into its 18-character form."""
    if len(id15) != 15:
        raise ValueError(f"checksum needs a 15-character id, got {id15!r}")
    suffix = ""
    for start in (0, 5, 10):
        bits = 0
        for i, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        suffix += _CHECKSUM_ALPHABET[bits]
    return suffix


def to_18(id15: str) -> str:
    """The 18-character form of a 15-character id."""
    return id15 + checksum(id15)


def normalize_id(value: str) -> str | None:
    """The canonical 18-character id for a 15- or 18-character input, or None when malformed.

    An 18-character id whose case was lost (all lower- or uppercase) is repaired from its
    checksum, as Salesforce does.
    """
    if not isinstance(value, str) or not _ID_SHAPE.match(value):
        return None
    if len(value) == 15:
        return to_18(value)
    body, suffix = value[:15], value[15:].upper()
    if checksum(body) == suffix:
        return body + suffix
    repaired = []
    for chunk, code in zip((body[0:5], body[5:10], body[10:15]), suffix, strict=True):
        bits = _CHECKSUM_ALPHABET.index(code)
        for i, char in enumerate(chunk):
            upper = bool(bits & (1 << i))
            if upper and not char.isalpha():
                return None
            repaired.append(char.upper() if upper else char.lower())
    fixed = "".join(repaired)
    return fixed + suffix if checksum(fixed) == suffix else None


def make_id(key_prefix: str, number: int) -> str:
    """The 18-character id for the `number`-th record with this key prefix (deterministic)."""
    if len(key_prefix) != 3:
        raise ValueError(f"key prefix must be 3 characters, got {key_prefix!r}")
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    body = key_prefix + _POD + digits.rjust(10, "0")
    if len(body) != 15:
        raise ValueError(f"id number too large for prefix {key_prefix}")
    return to_18(body)
