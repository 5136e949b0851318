"""Speech in and out of the dialogue: yes/no and small-talk words, and how values are said.

Read-backs use the TTS markup of `workbench.speech.numbers`: `<spell>…</spell>` (letter by
letter) and `<digits>…</digits>` (digit by digit). Card numbers are never said: `redact_cards`
replaces any Luhn-valid card number, written or spoken, by its last four digits.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from workbench.agent.definition import SlotSpec
from workbench.agent.entities import luhn_valid, normalise

YES = {
    "yes", "yeah", "yep", "yup", "yea", "correct", "right", "sure", "exactly", "absolutely",
    "perfect", "ok", "okay", "affirmative", "definitely", "great", "fine", "please",
}  # fmt: skip
YES_PHRASES = ("sounds good", "that works", "go ahead", "that's it", "thats it", "i would", "i do")
NO = {"no", "nope", "nah", "not", "wrong", "incorrect", "negative", "don't", "dont", "never"}
NO_PHRASES = ("no thanks", "that's all", "thats all", "that is all", "nothing else", "i'm good")
NAME_FILLERS = {
    "yes", "yeah", "yep", "sure", "ok", "okay", "um", "uh", "er", "well", "so", "it's", "its",
    "it", "is", "my", "name", "name's", "i'm", "im", "this", "that's", "thats", "hi", "hello",
}  # fmt: skip
GREETINGS = {
    "hi",
    "hello",
    "hey",
    "good",
    "morning",
    "afternoon",
    "evening",
    "there",
    "yes",
    "yeah",
}
GOODBYES = {"bye", "goodbye", "byebye", "cheers"}
THANKS = {"thanks", "thank", "you", "much", "very", "great", "no", "nope", "that's", "all"}
FIRST = {"first", "earlier", "morning", "former", "1st", "one"}
SECOND = {"second", "later", "afternoon", "latter", "other", "2nd", "two", "last"}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
WORDS = re.compile(r"[a-z0-9']+")


def answer_kind(text: str) -> str | None:
    """'yes', 'no' or None for a reply to a yes/no question ("no" wins: "not right")."""
    lowered = text.lower()
    words = set(WORDS.findall(lowered))
    if words & NO or any(p in lowered for p in NO_PHRASES):
        return "no"
    if words & YES or any(p in lowered for p in YES_PHRASES):
        return "yes"
    return None


_ACKNOWLEDGEMENTS = {
    "uh", "huh", "uh-huh", "mhm", "mm", "hmm", "mmhmm", "okay", "ok", "right", "alright",
    "i", "see", "got", "it", "sure", "yeah", "yep", "oh", "cool", "great", "all",
}  # fmt: skip
_THANKS_WORDS = {"thanks", "thank", "you", "so", "much", "very", "great", "okay", "ok", "oh"}
_REPEAT = re.compile(
    r"\b(?:repeat|say (?:that|it) again|come again|pardon|what did you say|"
    r"didn't (?:catch|hear|get) (?:that|it|you)|one more time)\b"
    r"|^\W*(?:sorry|what|huh|excuse me|sorry what)\W*$"
)
_HOLD_ON = re.compile(
    r"^(?:\W*(?:um|uh|oh|yeah|okay|ok|sorry|can you|could you|please))*\W*"
    r"(?:hold on|hang on|one moment|one second|one sec|just a (?:moment|second|sec|minute)|"
    r"give me a (?:moment|second|sec|minute)|wait a (?:moment|second|sec|minute))\b"
)


def conversation_act(text: str) -> str | None:
    """A built-in act the caller's words are, apart from any topic: "acknowledgement"
    ("uh-huh", "okay"), "thanks", "repeat" ("say that again") or "hold_on" ("one moment"),
    or None. Short utterances only: "okay, I need to book a cleaning" is a request."""
    lowered = text.lower().replace("’", "'")
    words = WORDS.findall(lowered)
    if not words or len(words) > 8:
        return None
    if _REPEAT.search(lowered):
        return "repeat"
    if _HOLD_ON.search(lowered) and len(words) <= 6:
        return "hold_on"
    if set(words) & {"thanks", "thank"} and set(words) <= _THANKS_WORDS:
        return "thanks"
    if len(words) <= 4 and set(words) <= _ACKNOWLEDGEMENTS:
        return "acknowledgement"
    return None


def shown_text(sentence: str) -> str:
    """A reply sentence as text: spelled parts as letters ("J-A-M-E-S"), digits as digits."""

    def spelled(m: re.Match[str]) -> str:
        return " ".join("-".join(word.upper()) for word in m.group(1).split())

    sentence = re.sub(r"<spell>(.*?)</spell>", spelled, sentence, flags=re.I | re.S)
    return re.sub(r"</?(?:digits|spell)>", "", sentence, flags=re.I)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def redact_cards(text: str) -> str:
    """Replace any card number (Luhn-valid run of 13-19 digits, written or spoken) by its last four."""
    norm = normalise(text)
    out = text
    for m in reversed(list(re.finditer(r"\d{13,19}", norm.text))):
        if luhn_valid(m.group(0)):
            start, end = norm.original_span(*m.span())
            out = out[:start] + f"[card ending {m.group(0)[-4:]}]" + out[end:]
    return out


def speak_datetime(value: str) -> str:
    """'2026-11-24T14:30' -> 'Tuesday, November 24 at 2:30 PM'."""
    if "T" in value:
        moment = datetime.fromisoformat(value)
        hour = moment.strftime("%I").lstrip("0")
        clock = hour if moment.minute == 0 else f"{hour}:{moment.minute:02d}"
        return f"{moment:%A, %B} {moment.day} at {clock} {moment:%p}"
    day = date.fromisoformat(value)
    return f"{day:%A, %B} {day.day}"


def spoken_value(slot: SlotSpec, value: str) -> str:
    """How a captured value is read back: spelled, digit by digit, or plainly."""
    if slot.entity == "order_number" and "-" in value:
        prefix, digits = value.split("-", 1)
        return f"<spell>{prefix}</spell> <digits>{digits}</digits>"
    if slot.entity == "datetime":
        return speak_datetime(value)
    if slot.entity in ("date", "date_of_birth"):
        day = date.fromisoformat(value[:10])
        if slot.entity == "date_of_birth" or slot.when == "past":
            return f"{day:%B} {day.day}, {day.year}"
        return speak_datetime(value[:10])
    if slot.entity == "time":
        return speak_datetime(f"2000-01-01T{value}").split(" at ", 1)[1]
    if slot.entity == "money":
        dollars, _, cents = value.partition(".")
        return f"{dollars} dollars" + (f" and {int(cents)} cents" if int(cents or 0) else "")
    if slot.entity == "identifier" and slot.confirm in ("spell", "digits"):
        return f"<spell>{value}</spell>"
    if slot.entity == "card_number":
        return f"card ending in <digits>{value[-4:]}</digits>"
    if slot.entity == "email" and slot.confirm == "spell":
        return spoken_email(value)
    if slot.confirm == "spell":
        return (
            f"{value}, spelled <spell>{value}</spell>"
            if slot.entity == "person_name"
            else f"<spell>{value}</spell>"
        )
    if slot.confirm == "digits":
        return f"<digits>{value}</digits>"
    return value


def spoken_email(email: str) -> str:
    """'dana.lee@acme.com' -> '<spell>dana</spell> dot <spell>lee</spell> at <spell>acme</spell> dot com'."""
    local, _, domain = email.partition("@")
    common = {"com", "org", "net", "io", "co", "uk", "us", "ca", "edu", "gov"}

    def words(part: str, separator: str) -> str:
        pieces = re.split(rf"[{re.escape(separator)}]", part)
        out = []
        for piece in pieces:
            out.append(piece if piece in common else f"<spell>{piece}</spell>")
        return " dot ".join(out)

    local_spoken = " dot ".join(
        " underscore ".join(f"<spell>{p}</spell>" for p in chunk.split("_"))
        for chunk in local.split(".")
    )
    return f"{local_spoken} at {words(domain, '.')}"


def spoken_reference(number: str) -> str:
    prefix, digits = number.split("-", 1)
    return f"<spell>{prefix}</spell> <digits>{digits}</digits>"


def subject_line(issue: str) -> str:
    return issue if len(issue) <= 80 else issue[:77].rsplit(" ", 1)[0] + "..."
