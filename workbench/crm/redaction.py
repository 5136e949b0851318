"""Redact payment-card numbers, card security codes and national ids before text leaves the laptop.

Callers say numbers two ways and STT writes them two ways: as digits ("4111 1111 1111 1111") or
as words ("four one one one ..."). Both are scanned as one *digit run*: a sequence of digit
groups and digit words ("zero", "oh", "one" … "nine") separated by spaces, commas, dots or
dashes. Each run is then judged:

- 13–19 digits that pass the Luhn check → `[CARD]` (Luhn keeps order numbers and phone numbers
  intact); 13–19 digits that fail it but follow the word "card" → `[CARD]` as well (a misheard
  digit must not leak a card);
- 3–4 digits right after "security code", "CVV", "CVC", "CSC" or "verification code" → `[CVV]`;
- 9 digits written `ddd-dd-dddd`, or 9 digits after "social security"/"SSN" → `[SSN]`.

Redaction confidence (stored in `PII_Redaction_Confidence__c`) is an estimate of the
probability that no sensitive number remains, computed from what is *left* after redaction:

    confidence = 0.6 ** leftover_long_runs * 0.8 ** dangling_cues

where a *leftover long run* is an unredacted digit run of 6+ digits that is not shaped like a
phone number (10 digits, or 11 starting with 1) — it could be a card or id split across turns
or misheard, and a *dangling cue* is a trigger phrase ("card number",
"security code", "social security") with no redaction within the next 80 characters (the number
may have been spoken in words STT did not recognise). Text with neither scores 1.0, whether or
not anything was redacted; a transcript scores the product over its turns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workbench.agent.entities import luhn_valid

_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_TOKEN = r"(?:\d+|" + "|".join(sorted(_DIGIT_WORDS, key=len, reverse=True)) + r")"
_DIGIT_RUN = re.compile(rf"\b{_TOKEN}(?:[\s,.\-]+{_TOKEN})*\b", re.IGNORECASE)
_SSN_WRITTEN = re.compile(r"^\d{3}[- ]\d{2}[- ]\d{4}$")

_CARD_CUE = re.compile(r"\bcard\b", re.IGNORECASE)
_CVV_CUE = re.compile(
    r"\b(?:security code|cvv2?|cvc|csc|verification (?:code|value)|three digit code)\b"
    r"(?:\s+(?:is|was|it's|its|number))*[\s:,.]*$",
    re.IGNORECASE,
)
_SSN_CUE = re.compile(r"\b(?:social security|ssn|social)\b", re.IGNORECASE)
_DANGLING_CUES = re.compile(
    r"\b(?:card number|credit card|debit card|security code|cvv|social security|ssn)\b",
    re.IGNORECASE,
)

LEFTOVER_RUN_FACTOR = 0.6
DANGLING_CUE_FACTOR = 0.8


@dataclass(frozen=True)
class Redacted:
    """Redacted text with what was removed and how sure we are nothing is left."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)
    confidence: float = 1.0


def _digits_of(run: str) -> str:
    parts = re.split(r"[\s,.\-]+", run)
    return "".join(part if part.isdigit() else _DIGIT_WORDS.get(part.lower(), "") for part in parts)


def _phone_shaped(digits: str) -> bool:
    # Callers give their phone number all the time; it is not what this module protects.
    return len(digits) == 10 or (len(digits) == 11 and digits.startswith("1"))


def _classify(text: str, start: int, run: str, digits: str) -> str | None:
    before = text[max(0, start - 60) : start]
    n = len(digits)
    if 13 <= n <= 19 and (luhn_valid(digits) or _CARD_CUE.search(before)):
        return "CARD"
    if 3 <= n <= 4 and _CVV_CUE.search(before):
        return "CVV"
    if n == 9 and (_SSN_WRITTEN.match(run) or _SSN_CUE.search(before)):
        return "SSN"
    return None


def redact_text(text: str) -> Redacted:
    """Replace card numbers, CVVs and national ids in `text` with `[CARD]`, `[CVV]`, `[SSN]`."""
    pieces: list[str] = []
    counts: dict[str, int] = {}
    leftover_long_runs = 0
    cursor = 0
    for match in _DIGIT_RUN.finditer(text):
        run = match.group(0)
        digits = _digits_of(run)
        # A lone "one"/"oh" in prose is not a number worth judging.
        if len(digits) < 3:
            continue
        kind = _classify(text, match.start(), run, digits)
        if kind is None:
            if len(digits) >= 6 and not _phone_shaped(digits):
                leftover_long_runs += 1
            continue
        pieces.append(text[cursor : match.start()])
        pieces.append(f"[{kind}]")
        cursor = match.end()
        counts[kind] = counts.get(kind, 0) + 1
    pieces.append(text[cursor:])
    redacted = "".join(pieces)
    dangling = sum(
        1
        for cue in _DANGLING_CUES.finditer(redacted)
        if "[" not in redacted[cue.end() : cue.end() + 80]
    )
    confidence = LEFTOVER_RUN_FACTOR**leftover_long_runs * DANGLING_CUE_FACTOR**dangling
    return Redacted(redacted, counts, round(confidence, 4))


@dataclass(frozen=True)
class RedactedTranscript:
    """A transcript after redaction: the turns, totals per kind, and the overall confidence."""

    turns: tuple[tuple[str, str], ...]
    counts: dict[str, int]
    confidence: float


def redact_transcript(
    turns: tuple[tuple[str, str], ...] | list[tuple[str, str]],
) -> RedactedTranscript:
    """Redact each (speaker, text) turn; confidence is the product of the turns' confidences."""
    out: list[tuple[str, str]] = []
    counts: dict[str, int] = {}
    confidence = 1.0
    for speaker, text in turns:
        result = redact_text(text)
        out.append((speaker, result.text))
        confidence *= result.confidence
        for kind, n in result.counts.items():
            counts[kind] = counts.get(kind, 0) + n
    return RedactedTranscript(tuple(out), counts, round(confidence, 4))
