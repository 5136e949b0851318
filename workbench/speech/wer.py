"""Word error rate with the text normalisation that makes STT output comparable to a script.

Both the reference and the hypothesis go through `normalize_words` before alignment:

1. Lowercase; "&" becomes "and", "%" becomes "percent", "@" becomes "at" and a dot inside a
   word becomes "dot" ("example.com" → "example dot com": what a caller says).
2. Punctuation is removed, except an apostrophe inside a word ("don't", "o'clock"); hyphens and
   slashes separate words ("e-mail" → "e mail").
3. Hesitations ("um", "uh", "er", "hmm") are dropped: recognisers differ in writing them, and
   they carry nothing a caller means (the usual practice, e.g. Whisper's English normaliser).
4. A run of spelled letters is one word: "j a m e s", "J-A-M-E-S" and "james" compare equal
   (a caller spelling a name means the name).
5. Numbers become digit tokens, one digit per word, whichever way they were written:
   - numerals lose grouping commas and are split into digits: "4,111" and "4111" → 4 1 1 1;
   - a run of digit words is read digit by digit: "four one one one" → 4 1 1 1 ("oh" counts as
     zero only inside such a run);
   - a run that uses tens or scale words is read as one cardinal number and then split into
     digits: "four thousand one hundred eleven" → 4111 → 4 1 1 1, "twenty five" → 2 5.
   So a card number read singly, grouped or as a quantity all compare equal, and each digit
   counts as one word (as it does when spoken digit by digit).
6. Ordinals end in one marked digit, however written: "twenty third", "23rd" and "23 rd" →
   2 3th; "the first" and "the 1st" → 1th ("second" counts only after a tens word, since "hang
   on a second" is not a number).

`word_error_rate` is (substitutions + deletions + insertions) / reference words, from a
Levenshtein alignment over the normalised words.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workbench.speech.alignment import edit_script

DIGIT_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
TEEN_WORDS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS_WORDS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
SCALE_WORDS = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
# Ordinal words and the cardinal word each stands for ("second" only after a tens word).
ORDINAL_WORDS = {
    "first": "one",
    "third": "three",
    "fourth": "four",
    "fifth": "five",
    "sixth": "six",
    "seventh": "seven",
    "eighth": "eight",
    "ninth": "nine",
    "tenth": "ten",
    "eleventh": "eleven",
    "twelfth": "twelve",
    "thirteenth": "thirteen",
    "fourteenth": "fourteen",
    "fifteenth": "fifteen",
    "sixteenth": "sixteen",
    "seventeenth": "seventeen",
    "eighteenth": "eighteen",
    "nineteenth": "nineteen",
    "twentieth": "twenty",
    "thirtieth": "thirty",
}
ORDINAL_MARK = "th"  # the ordinal's last digit carries it: 23rd → 2 3th
_NUMERAL_ORDINAL = re.compile(r"(\d+)(?:st|nd|rd|th)")
_NUMBER_WORDS = set(DIGIT_WORDS) | set(TEEN_WORDS) | set(TENS_WORDS) | set(SCALE_WORDS)
_DIGIT_NAMES = list(DIGIT_WORDS)  # index → word

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
_DOT_IN_WORD = re.compile(r"(?<=[a-z0-9])\.(?=[a-z])")
HESITATIONS = frozenset({"um", "umm", "uh", "uhm", "er", "erm", "hmm", "mm", "ah"})


@dataclass(frozen=True)
class WerResult:
    """An alignment's counts; `wer` is errors / reference words (0.0 for two empty texts)."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        if self.reference_words == 0:
            return 0.0 if self.errors == 0 else 1.0
        return self.errors / self.reference_words


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("&", " and ").replace("%", " percent ").replace("@", " at ")
    text = _DOT_IN_WORD.sub(" dot ", text.replace("’", "'"))
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # grouping commas: 4,111 → 4111
    tokens = [t for t in _TOKEN.findall(text) if t not in HESITATIONS]
    return _join_spelled(tokens)


def _join_spelled(tokens: list[str]) -> list[str]:
    """Runs of two or more single letters become one word (but "a" and "i" alone are words)."""
    out: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1 and token.isalpha():
            run.append(token)
            continue
        if len(run) >= 2 and set(run) - {"a", "i"}:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if token:
            out.append(token)
    return out


def _cardinal(words: Sequence[str]) -> str:
    """Digits of number words that use tens/scale words: "four thousand one hundred eleven".

    A word that cannot extend the number so far starts a new group whose digits follow on, so
    years and grouped readings work: "nineteen ninety nine" → 1999, "forty one eleven" → 4111.
    """
    groups: list[str] = []
    total = 0
    current = 0
    last = ""  # kind of the last word: digit, teen, tens, scale
    for word in words:
        if word in DIGIT_WORDS or word in TEEN_WORDS or word in TENS_WORDS:
            kind = "digit" if word in DIGIT_WORDS else "teen" if word in TEEN_WORDS else "tens"
            value = DIGIT_WORDS.get(word) or TEEN_WORDS.get(word) or TENS_WORDS.get(word, 0)
            fits = last in ("", "scale") or (last == "tens" and kind == "digit")
            if not fits:
                groups.append(str(total + current))
                total, current = 0, 0
            current += value
            last = kind
        elif word == "hundred":
            current = max(current, 1) * 100
            last = "scale"
        else:  # thousand, million
            total += max(current, 1) * SCALE_WORDS[word]
            current = 0
            last = "scale"
    groups.append(str(total + current))
    return "".join(groups)


def _number_run_digits(run: Sequence[str]) -> list[str]:
    """Digits of a run of number words (see the module docstring for the rule)."""
    if all(word in DIGIT_WORDS or word == "oh" for word in run):
        return [str(DIGIT_WORDS.get(word, 0)) for word in run]
    return list(_cardinal([w if w != "oh" else "zero" for w in run]))


def normalize_words(text: str) -> list[str]:
    """The words of `text` after lowercasing, punctuation removal and number normalisation."""
    out: list[str] = []
    run: list[str] = []

    def flush_run() -> None:
        # A lone "oh" is an interjection, not a zero.
        if run == ["oh"]:
            out.append("oh")
        elif run:
            out.extend(_number_run_digits(run))
        run.clear()

    def flush_ordinal(cardinal: str) -> None:
        run.append(cardinal)
        flush_run()
        out[-1] += ORDINAL_MARK

    tokens = _tokens(text)
    for i, token in enumerate(tokens):
        numeral_ordinal = _NUMERAL_ORDINAL.fullmatch(token)
        if token.isdigit() and i + 1 < len(tokens) and tokens[i + 1] in ("st", "nd", "rd", "th"):
            flush_run()
            out.extend(token)
            out[-1] += ORDINAL_MARK
        elif token in ("st", "nd", "rd", "th") and out and out[-1].endswith(ORDINAL_MARK):
            continue  # the suffix of "23 rd", already marked
        elif token.isdigit():
            flush_run()
            out.extend(token)
        elif numeral_ordinal:
            flush_run()
            out.extend(numeral_ordinal.group(1))
            out[-1] += ORDINAL_MARK
        elif token in ORDINAL_WORDS:
            flush_ordinal(ORDINAL_WORDS[token])
        elif token == "second" and run and run[-1] in TENS_WORDS:
            flush_ordinal("two")
        elif token in _NUMBER_WORDS:
            run.append(token)
        elif token == "oh" and (run or (i + 1 < len(tokens) and tokens[i + 1] in DIGIT_WORDS)):
            run.append(token)
        elif token == "and" and run and i + 1 < len(tokens) and tokens[i + 1] in _NUMBER_WORDS:
            # "one hundred and five": "and" joins a cardinal number, it is not a word of its own.
            if any(w in SCALE_WORDS for w in run):
                continue
            flush_run()
            out.append(token)
        else:
            flush_run()
            if any(c.isdigit() for c in token):  # "3pm", "2nd": split digits from letters
                out.extend(re.findall(r"\d|[a-z']+", token))
            else:
                out.append(token)
    flush_run()
    return out


def normalize_text(text: str) -> str:
    """`normalize_words` joined by single spaces."""
    return " ".join(normalize_words(text))


def spoken_digits(text: str) -> str:
    """Text with each numeral spelled as digit words: "order 4712" → "order four seven one two".

    Used to turn written sentences into what a caller says digit by digit (for language models
    and TTS references); other words are left as they are.
    """

    def spell(match: re.Match[str]) -> str:
        digits = " ".join(_DIGIT_NAMES[int(d)] for d in match.group(0).replace(",", ""))
        return f" {digits} "

    spelled = re.sub(r"\d(?:[\d,]*\d)?", spell, text)
    return re.sub(r" {2,}", " ", spelled).strip().replace(" ,", ",").replace(" .", ".")


# A substitution costs a hair more than one error, so that of the alignments with the fewest
# errors the one with the fewest substitutions is counted (a word the recogniser dropped and one
# it added, rather than two words it misheard); exact in binary for any sentence length.
_SUBSTITUTION = 1.0 + 2.0**-20


def _wer_substitution(ref_word: str, hyp_word: str) -> float:
    return 0.0 if ref_word == hyp_word else _SUBSTITUTION


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> WerResult:
    """Levenshtein alignment of two word lists, counting each kind of error."""
    ops = Counter(edit.op for edit in edit_script(reference, hypothesis, _wer_substitution))
    return WerResult(ops["sub"], ops["del"], ops["ins"], len(reference))


def word_errors(reference: str, hypothesis: str) -> WerResult:
    """Error counts between two texts after normalisation."""
    return align(normalize_words(reference), normalize_words(hypothesis))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of one hypothesis against its reference, after normalisation."""
    return word_errors(reference, hypothesis).wer


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Pooled WER over (reference, hypothesis) pairs: total errors / total reference words."""
    errors = 0
    words = 0
    for reference, hypothesis in pairs:
        result = word_errors(reference, hypothesis)
        errors += result.errors
        words += result.reference_words
    return errors / words if words else 0.0
