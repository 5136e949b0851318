"""Entity extraction from caller text, written for what speech-to-text produces.

STT hands us lowercase words without punctuation and with numbers spelled out ("four one five
five five five ..."), while typed text (the chat command, tests) has digits and capitals. Both
are handled by first building a *normalised view* of the text: number words are turned into
digits ("four eight two one three" -> "48213", "twenty third" -> "23rd") and every character of
that view remembers the span of the original text it came from. The extractors are regular
expressions over the normalised view; their matches are mapped back to original offsets, so an
`Entity` always points at what the caller actually said.

Entity types: person_name, email, phone, datetime, order_number, card_number, address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class Entity:
    """One value found in an utterance; `start`/`end` index the original text."""

    type: str
    value: str
    start: int
    end: int
    raw: str


UNITS = {
    "zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
MULTIPLIERS = {"double": 2, "triple": 3}
_NUMBER_WORDS = set(UNITS) | set(TEENS) | set(TENS) | {"hundred"}

_TOKEN = re.compile(r"[A-Za-z0-9@._'+-]+")


@dataclass
class NormalisedText:
    """Lowercase text with number words as digits; `spans[i]` is the original span of char i."""

    text: str
    spans: list[tuple[int, int]]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        return self.spans[start][0], self.spans[end - 1][1]


def _is_number_token(words: list[str], i: int) -> bool:
    word = words[i]
    if word.isdigit() or word in MULTIPLIERS:
        return word.isdigit() or (i + 1 < len(words) and words[i + 1] in UNITS)
    if word in ("oh", "o"):
        # "oh" is zero only between digits ("nine oh five"), not an interjection.
        prev_num = i > 0 and (words[i - 1] in _NUMBER_WORDS or words[i - 1].isdigit())
        next_num = i + 1 < len(words) and (words[i + 1] in UNITS or words[i + 1].isdigit())
        return prev_num and next_num
    return word in _NUMBER_WORDS


def words_to_digits(words: list[str]) -> str:
    """Turn a run of number words into digits: spoken digit strings and small compounds.

    "four one five" -> "415", "twenty three" -> "23", "three hundred twelve" -> "312",
    "double five" -> "55", "4111 1111" -> "41111111".
    """
    out: list[str] = []
    current: int | None = None  # a compound number being built ("twenty ...", "three hundred ...")
    kind = ""  # "tens": waits for a unit; "hundreds": waits for tens/teens/units
    repeat = 1

    def flush() -> None:
        nonlocal current, kind
        if current is not None:
            out.append(str(current))
        current, kind = None, ""

    for word in words:
        if word.isdigit():
            flush()
            out.append(word)
        elif word in MULTIPLIERS:
            flush()
            repeat = MULTIPLIERS[word]
        elif word in UNITS:
            value = UNITS[word]
            if current is not None and kind in ("tens", "hundreds") and value:
                current += value
                flush()
            else:
                flush()
                out.append(str(value) * repeat)
                repeat = 1
        elif word in TEENS:
            if current is not None and kind == "hundreds":
                current += TEENS[word]
                flush()
            else:
                flush()
                out.append(str(TEENS[word]))
        elif word in TENS:
            if current is not None and kind == "hundreds":
                current += TENS[word]
                kind = "tens"
            else:
                flush()
                current, kind = TENS[word], "tens"
        elif word == "hundred":
            if current is None and out and len(out[-1]) <= 2:
                current, kind = int(out.pop()) * 100, "hundreds"
            elif current is not None and kind == "tens" and current < 100:
                current, kind = current * 100, "hundreds"  # "nineteen hundred", "twenty hundred"
    flush()
    return "".join(out)


def normalise(text: str) -> NormalisedText:
    """Build the normalised view of `text` (see the module docstring)."""
    tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    cleaned = [tok.lower().strip(".'-,") or tok.lower() for tok, _, _ in tokens]
    pieces: list[tuple[str, int, int]] = []  # (normalised token, original start, original end)
    i = 0
    while i < len(tokens):
        if cleaned[i] and _is_number_token(cleaned, i):
            j = i
            while j < len(tokens) and cleaned[j] and _is_number_token(cleaned, j):
                j += 1
            digits = words_to_digits(cleaned[i:j])
            suffix = ""
            if j < len(tokens) and cleaned[j] in ORDINALS and cleaned[j - 1] in TENS:
                digits = str(int(digits[:-1] + "0") + ORDINALS[cleaned[j]]) if digits else digits
                suffix, j = "th", j + 1
            pieces.append((digits + suffix, tokens[i][1], tokens[j - 1][2]))
            i = j
        elif cleaned[i] in ORDINALS:
            pieces.append((f"{ORDINALS[cleaned[i]]}th", tokens[i][1], tokens[i][2]))
            i += 1
        else:
            pieces.append((cleaned[i], tokens[i][1], tokens[i][2]))
            i += 1
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    n = 0
    while n < len(pieces):
        piece, start, end = pieces[n]
        if n:
            chars.append(" ")
            spans.append((start, start))
        run = n
        while run < len(pieces) and len(pieces[run][0]) == 1 and pieces[run][0].isalpha():
            run += 1
        if run - n >= 3:
            # Spelled letters ("j o h n") become the word they spell, each letter keeping its span.
            for letter, lstart, lend in pieces[n:run]:
                chars.append(letter)
                spans.append((lstart, lend))
            n = run
            continue
        n += 1
        if piece.isdigit() or piece.endswith("th") and piece[:-2].isdigit():
            # A number maps, as a whole, to the words it came from.
            chars.extend(piece)
            spans.extend([(start, end)] * len(piece))
        else:
            # Keep character-level offsets where the token is the original text.
            original = text[start:end].lower()
            offset = original.find(piece) if piece in original else 0
            for k, ch in enumerate(piece):
                chars.append(ch)
                pos = min(start + offset + k, end - 1)
                spans.append((pos, pos + 1))
    return NormalisedText("".join(chars), spans)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        value = int(ch)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def mask_card(digits: str) -> str:
    """What may be said about a card: its last four digits only."""
    return f"card ending in <digits>{digits[-4:]}</digits>"


# --- extractors over the normalised view -----------------------------------------------------

_DIGIT_RUN = re.compile(r"(?<![\w-])\d+(?![\w-])")
_EMAIL_WRITTEN = re.compile(r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}")
_SEP = r"(?:dot|underscore|dash|hyphen|period)"
_EMAIL_SPOKEN = re.compile(
    rf"\b((?:[a-z0-9]+ {_SEP} )*[a-z0-9]+) (?:at|@) ((?:[a-z0-9]+ (?:dash |hyphen )?)*?[a-z0-9]+(?: dot [a-z]+)+)\b"
)
_ORDER_WRITTEN = re.compile(r"\bnw[- ]?(\d{5})\b")
_ORDER_SPOKEN = re.compile(r"\b(?:order|number|n w|nw|en double you)(?: number)?(?: is)? (\d{5})\b")
_STREET_TYPES = (
    "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|way|court|ct|place|pl|"
    "terrace|parkway|highway|circle|square"
)
_CITY_STOP = r"(?!(?:and|please|thanks|thank|so|because|but|now|instead|from|for|is|it)\b)"
_ADDRESS = re.compile(
    rf"\b(\d{{1,6}}) ((?:(?!(?:{_STREET_TYPES})\b)[a-z]+ ){{1,3}})({_STREET_TYPES})\b"
    rf"(?: (?:in )?({_CITY_STOP}[a-z]+(?: {_CITY_STOP}[a-z]+)?))?"
)
_NAME_TRIGGER = re.compile(
    r"\b(?:my name is|my name's|name is|this is|it is|it's|i am|i'm|im|call me|speaking is)"
    r" ((?:[a-z][a-z'-]* ?){1,3})"
)
NOT_NAMES = {
    "a", "an", "the", "and", "or", "but", "so", "calling", "looking", "trying", "interested",
    "not", "just", "having", "wondering", "moving", "here", "sorry", "good", "fine", "from",
    "with", "about", "regarding", "for", "to", "in", "on", "at", "of", "my", "your", "our",
    "i", "you", "we", "they", "he", "she", "it", "is", "was", "very", "really", "still",
    "already", "also", "going", "gonna", "afraid", "sure", "ok", "okay", "yes", "no", "yeah",
    "hi", "hello", "hey", "thanks", "thank", "please", "that", "this", "what", "when", "customer", "client", "new", "happy", "unhappy", "angry", "frustrated", "annoyed", "upset",
    "fed", "done", "ready", "able", "unable", "getting", "need", "want", "would",
    "like", "urgent", "important", "there", "right", "correct", "wrong",
    "speaking", "phoning", "ringing", "reaching", "now", "again", "back", "over", "out",
    "available", "free", "busy", "away", "sales", "support", "billing", "order", "email",
    "phone", "number", "cancelling", "canceling", "leaving", "switching", "one", "two", "actually", "well", "um", "uh", "er", "hmm",
}  # fmt: skip

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = [
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
]  # fmt: skip
_MONTH_RE = "|".join(MONTHS + [m[:3] for m in MONTHS if m != "may"])
_DATE_RELATIVE = re.compile(
    r"\b(today|tonight|tomorrow|day after tomorrow|(?:(?:next|this|on|coming) )?(?:"
    + "|".join(WEEKDAYS)
    + r"))\b"
)
_DATE_MONTH_DAY = re.compile(rf"\b({_MONTH_RE}) (?:the )?(\d{{1,2}})(?:st|nd|rd|th)?\b")
_DATE_DAY_MONTH = re.compile(rf"\b(?:the )?(\d{{1,2}})(?:st|nd|rd|th)? of ({_MONTH_RE})\b")
_DATE_THE_NTH = re.compile(r"\bthe (\d{1,2})(?:st|nd|rd|th)\b")
_TIME = re.compile(
    r"\b(?:at |around |about )?(\d{1,4})(?: (\d{2}))?(?::(\d{2}))? ?(am|pm|a m|p m|o'clock|oclock)\b"
    r"|\b(?:at|around|about) (\d{1,2})(?: (\d{2}))?\b(?! ?(?:am|pm|a m|p m))"
    r"|\b(noon|midday|midnight)\b"
    r"|\b(?:in the )?(morning|afternoon|evening|lunchtime)\b"
)
_PART_OF_DAY = {"morning": 10, "afternoon": 14, "evening": 17, "lunchtime": 12}


def _resolve_day(phrase: str, today: date) -> date:
    if phrase in ("today", "tonight"):
        return today
    if phrase == "tomorrow":
        return today + timedelta(days=1)
    if phrase == "day after tomorrow":
        return today + timedelta(days=2)
    words = phrase.split()
    weekday = WEEKDAYS.index(words[-1])
    ahead = (weekday - today.weekday()) % 7 or 7  # the next such day, never today
    return today + timedelta(days=ahead)


def _month_index(token: str) -> int:
    for i, month in enumerate(MONTHS):
        if token == month or token == month[:3]:
            return i + 1
    raise ValueError(token)


def _resolve_month_day(month: int, day: int, today: date) -> date | None:
    try:
        candidate = date(today.year, month, day)
    except ValueError:
        return None
    if candidate < today:  # "March 3rd" said in November means next year's
        candidate = date(today.year + 1, month, day)
    return candidate


def _parse_time(match: re.Match[str]) -> tuple[int, int] | None:
    """(hour, minute) in 24 h from a `_TIME` match; bare hours 1-7 are taken as afternoon."""
    num, mins, colon_mins, meridiem, bare, bare_mins, noon, part = match.groups()
    if noon:
        return (0, 0) if noon == "midnight" else (12, 0)
    if part:
        return _PART_OF_DAY[part], 0
    digits = num or bare
    minute_text = mins or colon_mins or bare_mins
    if digits and len(digits) in (3, 4) and not minute_text:  # "330 pm" from "three thirty pm"
        digits, minute_text = digits[:-2], digits[-2:]
    hour = int(digits)
    minute = int(minute_text) if minute_text else 0
    if hour > 23 or minute > 59:
        return None
    meridiem = (meridiem or "").replace(" ", "")
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    elif not meridiem or meridiem.startswith("o"):
        if 1 <= hour <= 7:  # nobody books a 3 am demo
            hour += 12
    return hour, minute


def _extract_datetime(norm: NormalisedText, reference: datetime) -> list[Entity]:
    text = norm.text
    today = reference.date()
    day: date | None = None
    day_span: tuple[int, int] | None = None
    for pattern in (_DATE_MONTH_DAY, _DATE_DAY_MONTH, _DATE_RELATIVE, _DATE_THE_NTH):
        m = pattern.search(text)
        if not m:
            continue
        if pattern is _DATE_MONTH_DAY:
            day = _resolve_month_day(_month_index(m.group(1)), int(m.group(2)), today)
        elif pattern is _DATE_DAY_MONTH:
            day = _resolve_month_day(_month_index(m.group(2)), int(m.group(1)), today)
        elif pattern is _DATE_RELATIVE:
            day = _resolve_day(m.group(1).replace("coming ", "next "), today)
        else:
            nth = int(m.group(1))
            month = today.month if nth >= today.day else today.month % 12 + 1
            day = _resolve_month_day(month, nth, today)
        if day is not None:
            day_span = m.span()
            break
    time: tuple[int, int] | None = None
    time_span: tuple[int, int] | None = None
    for m in _TIME.finditer(text):
        if day_span and day_span[0] <= m.start() < day_span[1]:
            continue
        parsed = _parse_time(m)
        if parsed is not None:
            time, time_span = parsed, m.span()
            break
    if day is None and time is None:
        return []
    if day is None:
        day = today
    spans = [s for s in (day_span, time_span) if s]
    start, end = min(s[0] for s in spans), max(s[1] for s in spans)
    value = day.isoformat() if time is None else f"{day.isoformat()}T{time[0]:02d}:{time[1]:02d}"
    return [_entity(norm, "datetime", value, start, end)]


def _entity(norm: NormalisedText, type_: str, value: str, start: int, end: int) -> Entity:
    ostart, oend = norm.original_span(start, end)
    return Entity(type_, value, ostart, oend, "")


def extract_entities(text: str, reference: datetime | None = None) -> tuple[Entity, ...]:
    """All entities in `text`; dates resolve relative to `reference` (default: now).

    A self-correction keeps the corrected value: in "next tuesday, no, wednesday" or "order
    four eight two one three, sorry, four eight two one four" only the value after the last
    correction marker is returned for that entity type (see `apply_corrections`).
    """
    reference = reference or datetime.now()
    return apply_corrections(text, _extract_plain(text, reference), reference)


def _extract_plain(text: str, reference: datetime) -> tuple[Entity, ...]:
    """All entities in `text`, with no regard for self-corrections."""
    norm = normalise(text)
    t = norm.text
    found: list[Entity] = []

    for m in _EMAIL_WRITTEN.finditer(t):
        found.append(_entity(norm, "email", m.group(0), *m.span()))
    if not found:
        for m in _EMAIL_SPOKEN.finditer(t):
            local = re.sub(rf" ?\b{_SEP}\b ?", _sep_char, m.group(1)).replace(" ", "")
            domain = re.sub(r" ?\b(dot|dash|hyphen)\b ?", _sep_char, m.group(2)).replace(" ", "")
            found.append(_entity(norm, "email", f"{local}@{domain}", *m.span()))
    email_spans = [(e.start, e.end) for e in found]

    order_spans: list[tuple[int, int]] = []
    for pattern in (_ORDER_WRITTEN, _ORDER_SPOKEN):
        for m in pattern.finditer(t):
            found.append(_entity(norm, "order_number", f"NW-{m.group(1)}", *m.span()))
            order_spans.append(m.span(1))

    address_spans: list[tuple[int, int]] = []
    for m in _ADDRESS.finditer(t):
        number, street, kind, city = m.groups()
        value = f"{number} {street.strip().title()} {_street_type(kind)}"
        end = m.end()
        if city:
            value += f", {city.title()}"
        else:
            end = m.end(3)
        found.append(_entity(norm, "address", value, m.start(), end))
        address_spans.append(m.span(1))

    for m in _DIGIT_RUN.finditer(t):
        digits = m.group(0)
        if any(s[0] <= m.start() < s[1] for s in order_spans + address_spans):
            continue
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(_entity(norm, "card_number", digits, *m.span()))
        elif len(digits) == 10 or (len(digits) == 11 and digits.startswith("1")):
            found.append(_entity(norm, "phone", _format_phone(digits), *m.span()))

    found.extend(_extract_datetime(norm, reference))

    for m in _NAME_TRIGGER.finditer(t):
        words: list[str] = []
        position = m.start(1)
        for word in m.group(1).split():
            if word in NOT_NAMES or word.endswith("ing") or word in _NUMBER_WORDS or "'" in word:
                break
            words.append(word)
            # A comma or full stop after a word ends the name ("this is Dana, I'd like...").
            after = norm.original_span(position, position + len(word))[1]
            if text[after : after + 1] in (",", ".", "?", "!", ";"):
                break
            position += len(word) + 1
        if words and not any(s[0] <= m.start(1) < s[1] for s in email_spans):
            start = m.start(1)
            end = start + len(" ".join(words))
            found.append(_entity(norm, "person_name", title_name(" ".join(words)), start, end))
            break

    found.sort(key=lambda e: e.start)
    return tuple(Entity(e.type, e.value, e.start, e.end, text[e.start : e.end]) for e in found)


# --- self-corrections --------------------------------------------------------------------------

# What callers say when they correct themselves. A marker must follow a pause or the start of
# the utterance in typed text, but STT gives neither commas nor dashes, so any occurrence counts:
# a marker only matters when a value of the same type follows it.
CORRECTION_MARKERS = ("no", "sorry", "i mean", "actually", "rather", "make that", "scratch that")
_CORRECTION = re.compile(
    r"(?:^|(?<=[\s,;:.!?\u2014\u2013-]))(?:"
    + "|".join(m.replace(" ", r"\s+") for m in CORRECTION_MARKERS)
    + r")\b[\s,;:.!?\u2014\u2013-]*",
    re.IGNORECASE,
)
_BARE_NAME_FILLERS = {"it's", "its", "it", "is", "um", "uh", "er", "well", "so", "wait", "oh"}
# Words after "no"/"sorry" that are not a corrected name ("no problem", "sorry to bother you").
_NOT_BARE_NAMES = {"problem", "worries", "worry", "idea", "way", "need", "thanks", "bother", "hold"}


def correction_segments(text: str) -> list[tuple[int, str]]:
    """`text` cut at correction markers: (offset in `text`, segment), markers left out.

    "next tuesday - no, wednesday" -> [(0, "next tuesday - "), (19, "wednesday")].
    """
    segments: list[tuple[int, str]] = []
    start = 0
    for m in _CORRECTION.finditer(text):
        segments.append((start, text[start : m.start()]))
        start = m.end()
    segments.append((start, text[start:]))
    return segments


def corrected_text(text: str) -> str:
    """What the caller meant in the end: the words after the last correction marker.

    Falls back to the text before it when nothing follows ("dana lee, sorry"); text without a
    marker is returned as it is.
    """
    for _, segment in reversed(correction_segments(text)):
        if WORD_RE.search(segment):
            return segment.strip(" ,;:.!?\u2014\u2013-")
    return ""


WORD_RE = re.compile(r"[A-Za-z0-9]")


def apply_corrections(
    text: str, found: tuple[Entity, ...], reference: datetime
) -> tuple[Entity, ...]:
    """Keep, per entity type, only the value the caller settled on after correcting themselves.

    The text is cut at correction markers; a type with a value in a later segment (found there
    by the extractors, or a bare value such as "dana smyth" or "four eight two one four"
    standing where the earlier segment had a name or an order number) takes that value.
    """
    segments = correction_segments(text)
    if len(segments) < 2:
        return found
    latest: dict[str, Entity] = {}
    seen_types = set()
    for index, (offset, segment) in enumerate(segments):
        if not WORD_RE.search(segment):
            continue
        here = {
            e.type: Entity(e.type, e.value, e.start + offset, e.end + offset, e.raw)
            for e in reversed(_extract_plain(segment, reference))
        }  # the first of each type in the segment (reversed: later ones overwritten)
        if index:
            for type_ in seen_types - set(here):
                bare = _bare_value(type_, segment)
                if bare is not None:
                    start = offset + len(segment) - len(segment.lstrip())
                    here[type_] = Entity(type_, bare, start, offset + len(segment.rstrip()), "")
            if "datetime" in here and "datetime" in latest:
                here["datetime"] = _keep_day(latest["datetime"], here["datetime"], segment)
        latest |= here
        seen_types |= set(here)
    kept = [e for e in found if e.type not in latest]
    kept += latest.values()
    kept.sort(key=lambda e: e.start)
    return tuple(Entity(e.type, e.value, e.start, e.end, text[e.start : e.end]) for e in kept)


def _bare_value(type_: str, segment: str) -> str | None:
    """A value said without its usual lead-in, standing in for an earlier one of `type_`."""
    words = [w.strip(".,'-") for w in segment.lower().split()]
    words = [w for w in words if w]
    while words and words[0] in _BARE_NAME_FILLERS:
        words = words[1:]
    if type_ == "person_name":
        if 1 <= len(words) <= 3 and not any(
            w in NOT_NAMES or w in _NOT_BARE_NAMES or not w.replace("-", "").isalpha()
            for w in words
        ):
            return title_name(" ".join(words))
        return None
    digits = re.findall(r"\d+", normalise(" ".join(words)).text)
    if type_ == "order_number" and len(digits) == 1 and len(digits[0]) == 5:
        return f"NW-{digits[0]}"
    if type_ == "phone" and len(digits) == 1 and len(digits[0]) in (10, 11):
        if len(digits[0]) == 10 or digits[0].startswith("1"):
            return _format_phone(digits[0])
    return None


def _keep_day(earlier: Entity, later: Entity, segment: str) -> Entity:
    """ "tuesday at ten, no, at eleven": a corrected time alone keeps the day said before."""
    said_day = any(
        p.search(normalise(segment).text)
        for p in (_DATE_MONTH_DAY, _DATE_DAY_MONTH, _DATE_RELATIVE, _DATE_THE_NTH)
    )
    if said_day or "T" not in later.value:
        return later
    value = f"{earlier.value[:10]}T{later.value[11:]}"
    return Entity(later.type, value, later.start, later.end, later.raw)


def _sep_char(m: re.Match[str]) -> str:
    word = m.group(0).strip()
    return {"dot": ".", "period": ".", "underscore": "_", "dash": "-", "hyphen": "-"}[word]


def _street_type(kind: str) -> str:
    short = {"st": "Street", "ave": "Avenue", "rd": "Road", "blvd": "Boulevard", "ln": "Lane"}
    short |= {"dr": "Drive", "ct": "Court", "pl": "Place"}
    return short.get(kind, kind.title())


def _format_phone(digits: str) -> str:
    """E.164 for North American numbers (the demo company's callers)."""
    return "+" + digits if len(digits) == 11 else "+1" + digits


def title_name(words: str) -> str:
    """'dana mcdonald-lee' -> 'Dana Mcdonald-Lee' (STT gives lowercase)."""
    return " ".join("-".join(p[:1].upper() + p[1:] for p in w.split("-")) for w in words.split())
