"""Typed slot values: what a caller's words mean for one slot of a given type.

`slot_value(slot, text, reference, asked=...)` reads the value of one slot from an utterance,
typed or transcribed (through the normalised view of `entities.normalise`, which turns number
words into digits). Values are strings in a canonical form:

| type | value | e.g. |
|---|---|---|
| date | `YYYY-MM-DD` (`when:` future, past or any decides the year when none is said) | 2026-12-08 |
| date_of_birth | `YYYY-MM-DD`, in the past, the year required | 1972-05-09 |
| time | `HH:MM` (24 h) | 15:30 |
| datetime | `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` | 2026-12-08T10:00 |
| phone, email, address, order_number | as `entities` finds them | |
| number | digits | 3 |
| identifier | the characters matching the slot's `pattern`, upper case | ABC123456 |
| money | `D.CC` | 120.50 |
| person_name | Title Case | Maria Lopez |
| yes_no | `yes` or `no` | |
| choice | one of the slot's `choices`, as written there | cleaning |
| text | the caller's words | |

`asked` says the slot was the question just asked: then a bare answer counts ("Maria Lopez",
"three", "yes"). Otherwise only a value whose type the caller made unmistakable is taken (see
`clearly_answered`): a value never fills every empty slot of its type.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from workbench.agent.definition import SlotSpec
from workbench.agent.entities import (
    _MONTH_RE,
    _TIME,
    NOT_NAMES,
    _month_index,
    _parse_time,
    corrected_text,
    extract_entities,
    normalise,
    title_name,
)
from workbench.agent.speakable import NAME_FILLERS, WORDS, answer_kind

DATE_TYPES = ("date", "date_of_birth", "datetime", "time")
_DAY_OF_MONTH = re.compile(rf"\b(?:the )?(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({_MONTH_RE})\b")
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE}) (?:the )?(\d{{1,2}})(?:st|nd|rd|th)?\b(?! thousand)")
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH_RE}) (?:the )?(\d{{1,2}})(19\d\d|20\d\d)\b")
_SLASHED = re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})\b")
_YEAR_AFTER = re.compile(r"^,? ?(?:of |in )?(1[89]\d\d|20\d\d|2 thousand(?: and)?(?: \d{1,2})?)\b")
_MONEY = re.compile(
    r"(?:\$ ?(\d+)(?:\.(\d{1,2}))?)|(?:\b(\d+)(?:\.(\d{1,2}))? (?:dollars?|bucks|usd)"
    r"(?: and (\d{1,2}) cents?)?)|(?:\b(\d{1,2}) cents?\b)"
)
_BIRTH = re.compile(r"\b(?:born|birth|birthday|dob|d o b)\b")
_FOR_NAME = re.compile(
    r"\b(?:it's|it is|its|that's|that is|this is|appointment is|booking is|booked|"
    r"appointment|booking)\s+for\s+((?:[a-z][a-z'-]*\s?){1,3})"
)
_INTRODUCED = re.compile(r"\b(?:this is|my name is|my name's)\s+((?:[a-z][a-z'-]*\s?){1,3})")
_THIS_IS = re.compile(r"\b(?:this is|it's|it is|my name is|i'm|i am)\s+((?:[a-z][a-z'-]*\s?){1,3})")


def slot_value(slot: SlotSpec, text: str, reference: datetime, *, asked: bool) -> str | None:
    """The value of `slot` in `text`, or None. `reference` is the call's "now"."""
    entity = slot.entity
    corrected = corrected_text(text)
    if entity in ("date", "date_of_birth"):
        when = "past" if entity == "date_of_birth" else slot.when
        value = find_date(corrected, reference, when, need_year=entity == "date_of_birth")
        if entity == "date_of_birth" and value and value >= reference.date().isoformat():
            return None
        return value
    if entity == "time":
        norm = normalise(corrected).text
        for m in _TIME.finditer(norm):
            parsed = _parse_time(m)
            if parsed:
                return f"{parsed[0]:02d}:{parsed[1]:02d}"
        return None
    if entity == "number":
        m = re.search(r"\d+", normalise(corrected).text)
        return m.group(0) if m and asked else None
    if entity == "identifier":
        return find_identifier(corrected, slot.pattern or r"[A-Z0-9]{4,}")
    if entity == "money":
        return find_money(corrected) if asked or "$" in text or "dollar" in text.lower() else None
    if entity == "yes_no":
        return answer_kind(text) if asked else None
    if entity == "choice":
        return find_choice(corrected, slot.choices)
    if entity == "person_name":
        return find_name(corrected, asked=asked)
    return None


def find_date(text: str, reference: datetime, when: str, *, need_year: bool) -> str | None:
    """A calendar date in `text`; a year said ("nineteen seventy two") is kept, else `when`
    chooses the year: the next such day (future), the last one (past) or the nearest (any)."""
    slashed = _SLASHED.search(text)
    if slashed:  # typed: month/day/year, as written in the US
        month, day, year = (int(g) for g in slashed.groups())
        year += 1900 if year < 100 and year > reference.year % 100 else 2000 if year < 100 else 0
        return _iso(year, month, day)
    norm = normalise(text).text
    merged = _MONTH_DAY_YEAR.search(norm)  # "may 9 1972" comes out of normalise as "may 91972"
    if merged:
        return _iso(int(merged.group(3)), _month_index(merged.group(1)), int(merged.group(2)))
    for pattern in (_DAY_OF_MONTH, _MONTH_DAY):
        m = pattern.search(norm)
        if not m:
            continue
        if pattern is _MONTH_DAY:
            month, day = _month_index(m.group(1)), int(m.group(2))
        else:
            month, day = _month_index(m.group(2)), int(m.group(1))
        year_match = _YEAR_AFTER.search(norm[m.end() :].lstrip())
        if year_match:
            return _iso(_year(year_match.group(1)), month, day)
        if need_year:
            return None
        return _without_year(month, day, reference.date(), when)
    if need_year:
        return None
    found = next((e for e in extract_entities(text, reference) if e.type == "datetime"), None)
    if found is None:
        return None
    value = found.value[:10]
    if when == "past" and value > reference.date().isoformat():
        return None  # "next tuesday" is not a past date
    return value


_BARE_YEAR = re.compile(
    r"^\W*(?:in |it's |it was )?(1[89]\d\d|20\d\d|2 thousand(?: and)?(?: \d{1,2})?)\W*$"
)


def date_in_parts(
    text: str, partial: str | None, reference: datetime
) -> tuple[str | None, str | None]:
    """A date of birth said in two answers: (the date, None) once the year follows the day and
    month, or (None, "MM-DD") while the year is still to come, or (None, None)."""
    norm = normalise(corrected_text(text)).text
    year = _BARE_YEAR.match(norm)
    if partial and year:
        month, day = (int(part) for part in partial.split("-"))
        value = _iso(_year(year.group(1)), month, day)
        if value and value < reference.date().isoformat():
            return value, None
        return None, None
    for pattern in (_DAY_OF_MONTH, _MONTH_DAY):
        m = pattern.search(norm)
        if m:
            if pattern is _MONTH_DAY:
                month, day = _month_index(m.group(1)), int(m.group(2))
            else:
                month, day = _month_index(m.group(2)), int(m.group(1))
            if _iso(2000, month, day):  # a real day of that month (leap years allowed)
                return None, f"{month:02d}-{day:02d}"
    return None, partial


def _year(text: str) -> int:
    """'1972' -> 1972; '2 thousand and 5' ("two thousand and five") -> 2005."""
    if text.startswith("2 thousand"):
        rest = re.findall(r"\d+", text[len("2 thousand") :])
        return 2000 + (int(rest[0]) if rest else 0)
    return int(text)


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _without_year(month: int, day: int, today: date, when: str) -> str | None:
    candidates = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    if when == "future":
        candidates = [c for c in candidates if c >= today]
        pick = min(candidates, default=None)
    elif when == "past":
        candidates = [c for c in candidates if c <= today]
        pick = max(candidates, default=None)
    else:
        pick = min(candidates, key=lambda c: abs((c - today).days), default=None)
    return pick.isoformat() if pick else None


def find_identifier(text: str, pattern: str) -> str | None:
    """Characters matching `pattern` (upper case): written ("DN-4821") or spoken letter by
    letter and digit by digit ("d n four eight two one"), spaces and dashes ignored."""
    compiled = re.compile(pattern, re.IGNORECASE)
    norm = normalise(text).text
    tokens = re.findall(r"[a-z0-9-]+", norm)
    # Every run of consecutive tokens, joined: spoken letters and digit groups come apart.
    for size in range(len(tokens), 0, -1):
        for start in range(len(tokens) - size + 1):
            candidate = "".join(tokens[start : start + size]).replace("-", "").upper()
            if compiled.fullmatch(candidate):
                return candidate
    return None


def find_money(text: str) -> str | None:
    m = _MONEY.search(normalise(text).text.replace(" point ", "."))
    if not m:
        m = re.search(r"\$ ?(\d+)(?:\.(\d{1,2}))?", text)
        if not m:
            return None
        return f"{int(m.group(1))}.{(m.group(2) or '0').ljust(2, '0')}"
    dollars, cents = m.group(1) or m.group(3), m.group(2) or m.group(4) or m.group(5)
    if m.group(6):
        dollars, cents = "0", m.group(6)
    return f"{int(dollars)}.{(cents or '0').ljust(2, '0')}"


def find_choice(text: str, choices: list[str]) -> str | None:
    """The choice named in `text` (whole words, case-insensitive, "filling" also as "fill"
    since recognisers split words); the longest wins."""
    lowered = " ".join(WORDS.findall(text.lower()))

    def named(choice: str) -> bool:
        words = " ".join(WORDS.findall(choice.lower()))
        stem = re.sub(r"(?:ing|s)$", "", words) if len(words) >= 6 else words
        if re.search(rf"\b(?:{re.escape(words)}|{re.escape(stem)})\b", lowered):
            return True
        return words.replace(" ", "") in lowered.replace(" ", "")  # "check up", "checkup"

    found = [choice for choice in choices if named(choice)]
    return max(found, key=len) if found else None


def find_name(text: str, *, asked: bool) -> str | None:
    """A person's name: "it's for Maria Lopez", "this is Dana", "my name is ..."; when asked,
    also a bare "Maria Lopez"."""
    lowered = " ".join(re.findall(r"[a-z'-]+", text.lower()))
    for pattern in (_FOR_NAME, _THIS_IS) if asked else (_FOR_NAME, _INTRODUCED):
        m = pattern.search(lowered)
        if m:
            words = _name_words(m.group(1).split())
            if words:
                return title_name(" ".join(words))
    if not asked:
        return None
    entity = next((e for e in extract_entities(text) if e.type == "person_name"), None)
    if entity:
        return entity.value
    words = [w for w in lowered.split()]
    while words and words[0] in NAME_FILLERS:
        words = words[1:]
    if 1 <= len(words) <= 3 and not any(w in NOT_NAMES for w in words):
        return title_name(" ".join(words))
    return None


def _name_words(words: list[str]) -> list[str]:
    kept: list[str] = []
    for word in words:
        if word in NOT_NAMES or word.endswith("ing") or "'" in word:
            break
        kept.append(word)
    return kept


def clearly_answered(slot: SlotSpec, text: str, value: str, date_slots: int) -> bool:
    """Whether a value found in an utterance that did not answer this slot's question belongs
    to it: its type is unmistakable (an email, an identifier of the slot's pattern, a name
    introduced as one, one of a choice's own words), or it is the topic's only day or time
    (a date of birth never counts as one) and is the right kind of date."""
    if slot.entity in (
        "email", "phone", "order_number", "address", "card_number", "identifier", "choice"
    ):  # fmt: skip
        return True
    if slot.entity == "person_name":
        return True  # find_name only takes an introduced name when not asked
    if slot.entity == "date_of_birth":
        return bool(_BIRTH.search(text.lower()))
    if slot.entity in DATE_TYPES:
        return date_slots == 1
    return False
