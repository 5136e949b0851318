"""ARPAbet pronunciations for words the CMU dictionary lacks, generated offline with espeak-ng.

pocketsphinx can only recognise words its dictionary can pronounce, and the CMU dictionary
(`cmu_dictionary()`, shipped in the pocketsphinx wheel) lacks the brand and people names every
agent has ("Northwind", "Priya", "Kowalski"). This module asks espeak-ng's letter-to-sound
rules (libespeak-ng from the `espeakng-loader` wheel, through `espeak_TextToPhonemes`, en-us)
how to say such a word and maps its phonemes to the 39 ARPAbet phones of pocketsphinx's en-us
acoustic model (no stress digits).

espeak's ASCII phoneme names are mapped, not its IPA: each name is one entry of espeak's
English phoneme table, so distinctions IPA output merges or splits differently (the r-coloured
vowels "O@", "A@", "3:", the flap "t#", the schwa+l "@L") map one to one.

A word may also have a spoken form: how an agent's TTS lexicon says it ("NW" → "N W",
"Northwind" → "North wind"). Then its pronunciations are those of the spoken form's words,
each taken from the CMU dictionary (single letters included: "n" → EH N) or else generated.
A spoken word with several dictionary variants gives the word several variants ("wind" is
W AY N D or W IH N D; the letter "a" is AH or EY), at most `MAX_VARIANTS`; the decoder
picks whichever the audio matches.

Thread safety: espeak-ng is process-global. Every call runs on the one worker thread and
under the lock of `workbench.speech.tts_espeak`, which owns the engine, so pronunciations can
be asked for from any thread, also while espeak voices are speaking.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence

import pocketsphinx

from workbench.speech.wer import spoken_digits

logger = logging.getLogger(__name__)

# The phones of pocketsphinx's en-us acoustic model (those used in cmudict-en-us.dict).
ARPABET = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
    "UH UW V W Y Z ZH".split()
)
MAX_VARIANTS = 4
ESPEAK_VOICE = "en-us"

# espeak-ng's English phoneme names (phsource/ph_english, ph_english_us and the base
# consonants) → ARPAbet. Where CMU and espeak disagree by convention the choice was made by
# the phone error rate against the CMU dictionary (tests/speech/test_pronounce.py).
_ESPEAK_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # consonants
    "b": ("B",),
    "d": ("D",),
    "d#": ("D",),
    "D": ("DH",),
    "dZ": ("JH",),
    "f": ("F",),
    "g": ("G",),
    "h": ("HH",),
    "j": ("Y",),
    "k": ("K",),
    "x": ("K",),  # German "ach": the nearest English stop
    "l": ("L",),
    "l/": ("L",),
    "l/2": ("L",),
    "l#": ("L",),
    "m": ("M",),
    "n": ("N",),
    "N": ("NG",),
    "p": ("P",),
    "r": ("R",),
    "r/": ("R",),
    "r-": (),  # linking r after a rhotic vowel, already part of ER/AA R/...
    "s": ("S",),
    "S": ("SH",),
    "t": ("T",),
    "t#": ("T",),  # flapped t ("city"), written T in CMU
    "t2": ("T",),
    "?": ("T",),  # glottal stop, as in "button"
    "tS": ("CH",),
    "T": ("TH",),
    "v": ("V",),
    "w": ("W",),
    "w#": ("W",),
    "z": ("Z",),
    "z#": ("Z",),
    "z/2": ("Z",),
    "Z": ("ZH",),
    # syllabic consonants and schwa + consonant
    "@L": ("AH", "L"),
    "@-": ("AH",),
    "n-": ("AH", "N"),
    "m-": ("AH", "M"),
    "l-": ("AH", "L"),
    # vowels
    "@": ("AH",),
    "@2": ("AH",),
    "@5": ("AH",),
    "@#": ("AH",),
    "V": ("AH",),
    "02": ("AH",),  # becomes V in en-us
    "3": ("ER",),
    "3:": ("ER",),
    "IR": ("ER",),
    "VR": ("ER",),
    "a": ("AE",),
    "a2": ("AE",),
    "aa": ("AE",),  # "bath", AE in American English
    "a#": ("AH",),
    "a#2": ("AE",),
    "A:": ("AA",),
    "A#": ("AA",),  # becomes A: in en-us
    "A@": ("AA", "R"),
    "A~": ("AA", "N"),
    "0": ("AA",),
    "0#": ("AA",),
    "aI": ("AY",),
    "aI@": ("AY", "AH"),
    "aI3": ("AY", "ER"),
    "aU": ("AW",),
    "aU@": ("AW", "ER"),
    "E": ("EH",),
    "E#": ("EH",),
    "E2": ("EH",),
    "e#": ("EH",),
    "e@": ("EH", "R"),
    "eI": ("EY",),
    "e:": ("EY",),
    "i": ("IY",),
    "i:": ("IY",),
    "i@": ("IY", "AH"),
    "i@3": ("IH", "R"),
    "I": ("IH",),
    "I2": ("IH",),
    "I#": ("IH",),
    "I2#": ("IH",),
    "O": ("AO",),
    "O:": ("AO",),
    "O2": ("AO",),
    "O@": ("AO", "R"),
    "o@": ("AO", "R"),
    "O~": ("AO", "N"),
    "OI": ("OY",),
    "oU": ("OW",),
    "oU#": ("OW",),
    "o:": ("OW",),
    "U": ("UH",),
    "U@": ("UH", "R"),
    "u:": ("UW",),
}

# From espeak-ng's speak_lib.h.
_ESPEAK_CHARS_UTF8 = 1
# `espeak_TextToPhonemes` phonememode: bit 1 clear = ASCII phoneme names; bits 8-23 = the
# character put between phonemes (words are separated by spaces).
_SEPARATOR = "|"
_PHONEME_MODE = ord(_SEPARATOR) << 8
_STRESS_MARKS = "',%="  # primary, secondary, unstressed, unstressed-diminished
_IGNORED = {";", ""}  # ";" marks a palatalising glide between vowels: no phone of its own
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_MARKUP = re.compile(r"<[^>]*>")

Dictionary = Mapping[str, Sequence[Sequence[str]]]
"""word → its pronunciations (variants, each a list of ARPAbet phones), like `cmu_dictionary()`."""


@functools.cache
def cmu_dictionary() -> dict[str, list[list[str]]]:
    """The CMU dictionary shipped in the pocketsphinx wheel: word → its variants' phones."""
    entries: dict[str, list[list[str]]] = {}
    path = pocketsphinx.get_model_path("en-us/cmudict-en-us.dict")
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            word, *phones = line.split()
            entries.setdefault(word.split("(", 1)[0], []).append(phones)
    return entries


def to_arpabet(espeak_phonemes: str) -> list[str] | None:
    """espeak's ASCII phonemes (separated by "|" and spaces) as ARPAbet phones; None when one
    of them has no mapping (e.g. a language switch such as "(fr)" to another phoneme table)."""
    phones: list[str] = []
    for token in re.split(rf"[{re.escape(_SEPARATOR)}\s]+", espeak_phonemes):
        name = token.lstrip(_STRESS_MARKS)
        if name == ";" and phones and phones[-1] == "IH":
            # espeak's [I] before a vowel ("menial", "video"), IY in CMU.
            phones[-1] = "IY"
            continue
        if name in _IGNORED or name.startswith("_"):  # "_" starts a pause
            continue
        mapped = _ESPEAK_TO_ARPABET.get(name)
        if mapped is None:
            logger.debug("no ARPAbet phone for espeak phoneme %r in %r", name, espeak_phonemes)
            return None
        for phone in mapped:
            # CMU writes an r-coloured vowel before r once: "currency" K ER AH ..., not ER R.
            if phone == "R" and phones and phones[-1] in ("R", "ER"):
                continue
            phones.append(phone)
    return phones or None


def _espeak_phonemes(words: Sequence[str]) -> list[str | None]:
    """espeak-ng's phonemes for each word, on the espeak worker thread under its lock; None
    for every word when the engine cannot start."""
    from workbench.speech import tts_espeak

    def run() -> list[str | None]:
        with tts_espeak._engine_lock:
            engine = tts_espeak._engine_instance()
            lib = engine.lib
            lib.espeak_TextToPhonemes.argtypes = [
                ctypes.POINTER(ctypes.c_void_p),
                ctypes.c_int,
                ctypes.c_int,
            ]
            lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
            # The voice chooses the language's rules; a synthesiser sets its own voice back.
            if not engine.set_voice(ESPEAK_VOICE):
                raise RuntimeError(f"espeak-ng has no voice {ESPEAK_VOICE!r}")
            return [_text_to_phonemes(lib, word) for word in words]

    try:
        return tts_espeak._executor.submit(run).result()
    except (OSError, RuntimeError) as error:
        logger.warning("espeak-ng cannot generate pronunciations: %s", error)
        return [None] * len(words)


def _text_to_phonemes(lib: ctypes.CDLL, text: str) -> str:
    """All clauses of `text` through `espeak_TextToPhonemes`, which translates one clause per
    call and advances the text pointer (NULL at the end)."""
    buffer = ctypes.create_string_buffer(text.encode("utf-8"))
    pointer = ctypes.c_void_p(ctypes.addressof(buffer))
    clauses = []
    while pointer.value:
        phonemes = lib.espeak_TextToPhonemes(
            ctypes.byref(pointer), _ESPEAK_CHARS_UTF8, _PHONEME_MODE
        )
        if phonemes:
            clauses.append(phonemes.decode("utf-8", "replace"))
    return " ".join(clauses)


def _generate(words: Sequence[str]) -> dict[str, list[str] | None]:
    """Generated phones for each word (lower-case letters and inner apostrophes only), None
    where espeak cannot say it."""
    result: dict[str, list[str] | None] = {w: None for w in words}
    speakable = [w for w in dict.fromkeys(words) if _WORD.fullmatch(w)]
    for word in set(words) - set(speakable):
        logger.debug("cannot generate a pronunciation for %r: not a plain lower-case word", word)
    if speakable:
        for word, phonemes in zip(speakable, _espeak_phonemes(speakable), strict=True):
            result[word] = to_arpabet(phonemes) if phonemes is not None else None
    return result


def generate_pronunciation(word: str) -> list[str] | None:
    """ARPAbet phones for a word as espeak-ng's en-us rules say it, e.g. "zentrix" →
    Z EH N T R IH K S; None if it cannot (not a word of letters and apostrophes, or phonemes
    with no ARPAbet mapping; the reason is logged at DEBUG). Case does not matter."""
    return _generate([word.lower()])[word.lower()]


def spoken_words(text: str) -> list[str]:
    """The words of a spoken form, lower-cased: markup dropped, numerals read digit by digit."""
    return _WORD.findall(spoken_digits(_MARKUP.sub(" ", text)).lower().replace("’", "'"))


def pronunciations_for(
    words: Iterable[str],
    *,
    known: Dictionary,
    spoken_forms: Mapping[str, str] | None = None,
) -> dict[str, list[list[str]]]:
    """Pronunciations (variants of ARPAbet phones) for the `words` that `known` lacks.

    `words` are lower-case model words; `spoken_forms` maps a written word (any case) to how it
    is said, e.g. {"SSO": "S S O"}. A word with a spoken form is pronounced as its spoken words
    (from `known`, else generated); any other word, or one whose spoken words cannot all be
    pronounced, is generated from its own spelling. Words that still cannot be pronounced are
    missing from the result.
    """
    forms = {w.lower(): spoken_words(say) for w, say in (spoken_forms or {}).items()}
    unknown = [w for w in dict.fromkeys(words) if w not in known]
    said = {w: forms[w] for w in unknown if forms.get(w)}
    parts = [p for w in said for p in said[w] if p not in known]
    generated = _generate([*(w for w in unknown if w not in said), *parts])

    result: dict[str, list[list[str]]] = {}
    for word, spoken in said.items():
        variants = _spoken_variants(spoken, known, generated)
        if variants:
            result[word] = variants
    # A word whose spoken form could not be pronounced is generated from its spelling.
    fallback = [w for w in said if w not in result and w not in generated]
    generated.update(_generate(fallback))
    for word in unknown:
        phones = generated.get(word)
        if word not in result and phones:
            result[word] = [phones]
    return result


def _spoken_variants(
    parts: Sequence[str], known: Dictionary, generated: Mapping[str, list[str] | None]
) -> list[list[str]]:
    """The concatenated pronunciations of a spoken form's words (cross product of their
    variants, first variants first, at most `MAX_VARIANTS`); [] if a word has none."""
    choices: list[Sequence[Sequence[str]]] = []
    for part in parts:
        if part in known:
            choices.append(known[part])
        elif phones := generated.get(part):
            choices.append([phones])
        else:
            return []
    combined = itertools.islice(itertools.product(*choices), MAX_VARIANTS)
    return [[phone for variant in combination for phone in variant] for combination in combined]


def format_pronunciations(pronunciations: Mapping[str, Sequence[Sequence[str]]]) -> str:
    """One log line: `northwind N AO R TH W AY N D / N AO R TH W IH N D, sso EH S EH S OW`."""
    return ", ".join(
        f"{word} {' / '.join(' '.join(v) for v in variants)}"
        for word, variants in sorted(pronunciations.items())
    )
