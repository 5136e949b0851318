"""How numbers are read aloud: digit by digit, as quantities, as times, or spelled out.

Speech engines read "4111 1111 1111 1111" as "four thousand one hundred eleven…", which no one
says on the phone. `read_numbers(text)` rewrites numbers into words or spaced digits before
synthesis, choosing a reading mode by shape:

- card numbers (13-19 digits, maybe grouped), phone numbers ("+1 415 555 0100",
  "(415) 555-0100"), references such as "NW-48213" and any run of 5 or more digits are read digit
  by digit, groups separated by a pause: "4 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1";
- amounts are read naturally: "$1,299.50" → "one thousand two hundred ninety-nine dollars and
  fifty cents", "$2.5 million" → "two point five million dollars" (also £ and €);
- times: "9:30" → "nine thirty", "9:05 am" → "nine oh five a m", "10:00" → "ten o'clock".

Other numbers are left to the engine, which reads them as quantities.

Markup lets the responder force a mode for a span (tags are case-insensitive and not nested):

- `<digits>4111</digits>` → "4 1 1 1": every digit and letter singly, groups kept as pauses;
- `<spell>smith</spell>` → "s m i t h": letter by letter.

Tags left unclosed are dropped rather than read aloud.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_CURRENCIES = {"$": ("dollar", "cent"), "£": ("pound", "penny"), "€": ("euro", "cent")}
_PLURALS = {"penny": "pence"}

_MARKUP = re.compile(r"<(digits|spell)>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
_STRAY_TAG = re.compile(r"</?(?:digits|spell)>", re.IGNORECASE)


def display_text(text: str) -> str:
    """A reply sentence as a person reads it: without the reading-mode tags."""
    return _STRAY_TAG.sub("", text)


_CARD = re.compile(
    r"(?<![\w])(?:\d{4}(?:[ -]\d{4}){2,3}|\d{4}[ -]\d{6}[ -]\d{5}|\d{13,19})(?![\w])"
)
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]?\d{3}[ .-]\d{4}(?![\w])"
)
_INTERNATIONAL_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]\d{1,5}){2,5}(?![\w])")
_REFERENCE = re.compile(r"\b[A-Z]{1,4}-?\d{3,}(?:-\d+)*\b")
_AMOUNT = re.compile(
    r"([$£€])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?![\d,]*\d)"
    r"(?:\s(thousand|million|billion|trillion)\b)?"
)
_TIME = re.compile(r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])(?:\s?([AaPp])\.?\s?[Mm]\b)?")
_LONG_DIGITS = re.compile(r"(?<![\w.,])\d{5,}(?![\w]|[.,]\d)")


def number_to_words(n: int) -> str:
    """0 → "zero", 1299 → "one thousand two hundred ninety-nine" (American style, no "and")."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("-" + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" " + number_to_words(rest) if rest else "")
    for value, word in _SCALES:
        if n >= value:
            high, rest = divmod(n, value)
            return (
                number_to_words(high) + " " + word + (" " + number_to_words(rest) if rest else "")
            )
    raise AssertionError("unreachable")


def read_digits(text: str) -> str:
    """Every digit and letter singly; runs separated by anything else become pause-separated groups.

    "4111 1111" → "4 1 1 1, 1 1 1 1"; "NW-48213" → "N W, 4 8 2 1 3"; "+1 415" → "plus 1, 4 1 5".
    """
    groups = []
    prefix = "plus " if text.strip().startswith("+") else ""
    for group in re.findall(r"[A-Za-z]+|\d+", text):
        if group.isalpha() and not group.isupper():
            groups.append(group)  # a word inside digits markup ("ext") stays a word
        else:
            groups.append(" ".join(group))
    return prefix + ", ".join(groups)


def spell(text: str) -> str:
    """Letter by letter: "smith" → "s m i t h"; "O'Neil" → "o n e i l"; spaces become pauses."""
    words = [" ".join(ch for ch in word.lower() if ch.isalnum()) for word in text.split()]
    return ", ".join(word for word in words if word)


def read_amount(
    symbol: str, whole: str, fraction: str | None = None, scale: str | None = None
) -> str:
    """("$", "1,299", "50") → "one thousand two hundred ninety-nine dollars and fifty cents";
    with a scale word, ("$", "1", "5", "million") → "one point five million dollars"."""
    major, minor = _CURRENCIES[symbol]
    if scale:
        amount = number_to_words(int(whole.replace(",", "")))
        if fraction:
            amount += " point " + " ".join(_ONES[int(digit)] for digit in fraction)
        return f"{amount} {scale} {major}s"
    units = int(whole.replace(",", ""))
    subunits = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if units or not subunits:
        parts.append(f"{number_to_words(units)} {_plural(major, units)}")
    if subunits:
        parts.append(f"{number_to_words(subunits)} {_plural(minor, subunits)}")
    return " and ".join(parts)


def _plural(word: str, count: int) -> str:
    return word if count == 1 else _PLURALS.get(word, word + "s")


def read_time(hours: int, minutes: int, meridiem: str | None = None) -> str:
    """(9, 30) → "nine thirty"; (9, 5, "a") → "nine oh five a m"; (10, 0) → "ten o'clock"."""
    if minutes == 0:
        spoken = number_to_words(hours) + ("" if meridiem else " o'clock")
    elif minutes < 10:
        spoken = f"{number_to_words(hours)} oh {number_to_words(minutes)}"
    else:
        spoken = f"{number_to_words(hours)} {number_to_words(minutes)}"
    if meridiem:
        spoken += f" {meridiem.lower()} m"
    return spoken


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_CARD, lambda m: read_digits(_group_card(m.group(0)))),
    (_PHONE, lambda m: read_digits(m.group(0))),
    (_INTERNATIONAL_PHONE, lambda m: read_digits(m.group(0))),
    (_REFERENCE, lambda m: read_digits(m.group(0))),
    (_AMOUNT, lambda m: read_amount(m.group(1), m.group(2), m.group(3), m.group(4))),
    (_TIME, lambda m: read_time(int(m.group(1)), int(m.group(2)), m.group(3))),
    (_LONG_DIGITS, lambda m: read_digits(m.group(0))),
)


def _group_card(number: str) -> str:
    """An ungrouped card number is read in fours, as it is printed on the card."""
    if number.isdigit():
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


def _read_plain(text: str) -> str:
    # Each rule's output (words, spaced digits) no longer matches the rules after it.
    for pattern, read in _RULES:
        text = pattern.sub(read, text)
    return text


def read_numbers(text: str) -> str:
    """Apply the markup, then the automatic reading modes to the text outside it."""
    out = []
    position = 0
    for match in _MARKUP.finditer(text):
        out.append(_read_plain(text[position : match.start()]))
        mode, body = match.group(1).lower(), match.group(2)
        out.append(read_digits(body) if mode == "digits" else spell(body))
        position = match.end()
    out.append(_read_plain(text[position:]))
    return _STRAY_TAG.sub("", "".join(out))
