"""Pronunciations for words the CMU dictionary lacks, generated from espeak-ng, and the domain
language model that uses them so callers' brand and people names can be recognised."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import FRAME_SAMPLES
from workbench.errors import ConfigError
from workbench.speech import pronounce, tts_espeak
from workbench.speech.pronounce import (
    ARPABET,
    cmu_dictionary,
    generate_pronunciation,
    pronunciations_for,
    to_arpabet,
)
from workbench.speech.stt import TelephoneRecognizer, load_recognizer
from workbench.speech.stt_pocketsphinx import PocketsphinxRecognizer, build_domain_model
from workbench.speech.tts import TelephoneTTS, load_synthesizer

SAMPLE_SEED = 1234
SAMPLE_SIZE = 1000
# Measured 0.102 on this sample (0.09-0.115 over other seeds of 400 words; 0.100 on 3000):
# the CMU dictionary is full of foreign surnames that English spelling rules guess differently,
# and CMU writes many unstressed vowels AH where espeak has IH.
MAX_PHONE_ERROR_RATE = 0.15
NAMES = ["brightsmile", "northwind", "priya", "zentrix", "cryptocurrency"]
LOGGER = "workbench.speech.stt_pocketsphinx"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def dictionary_entries(model) -> dict[str, list[str]]:
    """The model's dictionary file: word (variant markers kept) → phones."""
    lines = model.dict_path.read_text(encoding="utf-8").splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines}


def unigrams(model) -> set[str]:
    text = model.lm_path.read_text(encoding="utf-8")
    section = text.split("\\1-grams:")[1].split("\\2-grams:")[0]
    return {line.split()[1] for line in section.strip().splitlines()}


# --- generating pronunciations ----------------------------------------------------------------


def test_generated_pronunciations_agree_with_the_cmu_dictionary():
    """espeak's rules mapped to ARPAbet say dictionary words mostly as CMU does, so a name
    outside the dictionary gets a pronunciation of the same quality."""
    dictionary = cmu_dictionary()
    words = sorted(w for w in dictionary if re.fullmatch(r"[a-z]+(?:'[a-z]+)*", w))
    sample = random.Random(SAMPLE_SEED).sample(words, SAMPLE_SIZE)
    generated = pronunciations_for(sample, known={})
    errors = sum(edit_distance(dictionary[w][0], generated.get(w, [[]])[0]) for w in sample)
    phones = sum(len(dictionary[w][0]) for w in sample)
    rate = errors / phones
    print(f"phone error rate against CMU on {SAMPLE_SIZE} words: {rate:.3f}")
    assert len(generated) == SAMPLE_SIZE
    assert rate <= MAX_PHONE_ERROR_RATE, f"phone error rate {rate:.3f}"


@pytest.mark.parametrize(
    "word",
    [
        *("cat", "book", "hello", "water", "street", "order", "account", "cancel", "window"),
        *("story", "sorry", "currency"),  # r-coloured vowels before r: one R, as CMU writes it
    ],
)
def test_simple_words_come_out_exactly_as_in_the_dictionary(word):
    assert generate_pronunciation(word) == cmu_dictionary()[word][0]


def test_every_generated_phone_is_one_of_the_acoustic_models_phones():
    """The decoder refuses a dictionary with a phone its en-us model does not have."""
    assert {p for variants in cmu_dictionary().values() for v in variants for p in v} == ARPABET
    mapped = {p for phones in pronounce._ESPEAK_TO_ARPABET.values() for p in phones}
    assert mapped <= ARPABET
    for word in NAMES:
        assert set(generate_pronunciation(word) or ["missing"]) <= ARPABET, word


def test_made_up_brand_and_people_names_get_plausible_pronunciations():
    brightsmile = " ".join(generate_pronunciation("Brightsmile") or [])
    assert brightsmile.startswith("B R AY T") and "S M AY L" in brightsmile
    northwind = " ".join(generate_pronunciation("northwind") or [])
    assert northwind.startswith("N AO R TH") and northwind.endswith("W IH N D")
    priya = " ".join(generate_pronunciation("priya") or [])
    assert priya.startswith("P R") and priya.endswith("Y AH")
    assert generate_pronunciation("zentrix") == "Z EH N T R IH K S".split()
    assert " ".join(generate_pronunciation("kowalski") or []).endswith("L S K IY")


def test_apostrophes_are_pronounced():
    """Possessives of names and names like O'Brien are model words too."""
    assert generate_pronunciation("zentrix's") == "Z EH N T R IH K S IH Z".split()
    assert " ".join(generate_pronunciation("o'brien") or []).startswith("OW B R AY")


def test_what_espeak_cannot_say_is_none():
    """Only plain words go to espeak; phonemes without an ARPAbet equivalent give None
    rather than a wrong pronunciation."""
    assert generate_pronunciation("") is None
    assert generate_pronunciation("x-ray") is None
    assert generate_pronunciation("café") is None
    assert to_arpabet("b|'0|n|(fr)Z|'u~") is None  # a switch to the French phoneme table
    assert to_arpabet("n|'O@|T|w|I|n|d") == "N AO R TH W IH N D".split()


def test_words_the_dictionary_has_are_left_to_it():
    assert set(pronunciations_for(["book", "zentrix"], known=cmu_dictionary())) == {"zentrix"}


def test_acronyms_are_said_as_the_letters_of_their_spoken_form():
    """The agent's lexicon says how an acronym is spoken; espeak alone would guess "okr" as a
    word (AA K ER)."""
    result = pronunciations_for(
        ["sso", "nw", "okr"],
        known=cmu_dictionary(),
        spoken_forms={"SSO": "S S O", "NW": "N W", "OKR": "O K R"},
    )
    assert result == {
        "sso": ["EH S EH S OW".split()],
        "nw": ["EH N D AH B AH L Y UW".split()],
        "okr": ["OW K EY AA R".split()],
    }


def test_a_spoken_form_keeps_the_variants_of_its_words():
    """ "wind" is W AY N D or W IH N D in CMU, and the letter "a" AH or EY: both are kept, the
    decoder takes whichever it hears."""
    result = pronunciations_for(
        ["northwind", "apx"],
        known=cmu_dictionary(),
        spoken_forms={"Northwind": "North wind", "APX": "A P X"},
    )
    assert result["northwind"] == ["N AO R TH W AY N D".split(), "N AO R TH W IH N D".split()]
    assert result["apx"] == ["AH P IY EH K S".split(), "EY P IY EH K S".split()]


def test_spoken_words_missing_from_the_dictionary_are_generated():
    result = pronunciations_for(["ava"], known={}, spoken_forms={"Ava": "Ay-vuh"})
    spoken = (generate_pronunciation("ay") or []) + (generate_pronunciation("vuh") or [])
    assert result == {"ava": [spoken]}
    assert spoken != generate_pronunciation("ava")  # the spelling alone says AA V AH


def test_generation_waits_for_the_espeak_engine_in_use():
    """espeak-ng is process-global: generation takes the TTS engine's lock, so it never runs
    inside a synthesis."""
    generate_pronunciation("zentrix")  # the engine is started
    with ThreadPoolExecutor(max_workers=1) as caller:
        with tts_espeak._engine_lock:
            pending = caller.submit(generate_pronunciation, "zentrix")
            time.sleep(0.2)
            assert not pending.done()
        assert pending.result(timeout=10) == "Z EH N T R IH K S".split()


def test_generation_from_several_threads_while_espeak_speaks():
    """Callers on any thread get the same answer, with an espeak voice speaking meanwhile."""
    speaking = load_synthesizer("espeak:en-us+klatt3").stream("Thanks for calling Northwind.")
    results: list[list[str] | None] = []

    def generate() -> None:
        for _ in range(20):
            results.append(generate_pronunciation("zentrix"))

    threads = [threading.Thread(target=generate) for _ in range(4)]
    for thread in threads:
        thread.start()
    audio = np.concatenate(list(speaking))
    for thread in threads:
        thread.join()
    assert len(audio) > 0
    assert results == ["Z EH N T R IH K S".split()] * 80


# --- the domain language model ----------------------------------------------------------------

DOMAIN = [
    "Welcome to Northwind, this is Priya.",
    "Do you support SSO?",
    "Is the Brightsmile plan ready for cryptocurrency?",
    "I have a question about my Zentrix account.",
]


def test_the_domain_model_keeps_words_missing_from_the_dictionary(home, caplog):
    """Names are what callers say; none is silently dropped from the model."""
    with caplog.at_level(logging.INFO, logger=LOGGER):
        model = build_domain_model(DOMAIN)
    entries = dictionary_entries(model)
    assert {*NAMES, "sso"} <= set(entries)
    assert {*NAMES, "sso"} <= unigrams(model)
    assert entries["brightsmile"] == generate_pronunciation("brightsmile")
    generated_line = next(
        r.message for r in caplog.records if "generated pronunciations" in r.message
    )
    for word in [*NAMES, "sso"]:
        assert f"{word} {' '.join(entries[word])}" in generated_line
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_spoken_forms_reach_the_domain_models_dictionary(home):
    plain = build_domain_model(DOMAIN)
    spoken = build_domain_model(DOMAIN, spoken_forms={"SSO": "S S O", "Northwind": "North wind"})
    assert spoken.lm_path != plain.lm_path  # spoken forms are part of the cache key
    entries = dictionary_entries(spoken)
    assert entries["sso"] == "EH S EH S OW".split()
    assert entries["northwind(2)"] == "N AO R TH W IH N D".split()
    recognizer = PocketsphinxRecognizer(
        domain_sentences=DOMAIN, spoken_forms={"Northwind": "North wind"}
    )
    assert recognizer.domain_model is not None
    assert "northwind(2)" in dictionary_entries(recognizer.domain_model)


def test_words_that_cannot_be_pronounced_are_left_out_with_a_warning(home, caplog, monkeypatch):
    monkeypatch.setattr(pronounce, "_espeak_phonemes", lambda words: [None] * len(words))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        model = build_domain_model(["Book a demo with Zentrix please."])
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "zentrix" in warnings[0]
    assert "zentrix" not in dictionary_entries(model)
    assert {"book", "demo", "please"} <= set(dictionary_entries(model))
    with pytest.raises(ConfigError, match="pronunciation"):
        build_domain_model(["Zentrix Brightsmile"])


def test_a_made_up_brand_name_is_recognised_on_the_telephone(home):
    """The whole point: a caller saying the brand name is heard saying it."""
    tts = TelephoneTTS(load_synthesizer("piper:joe"))
    pad = np.zeros(2400, dtype=np.int16)  # 300 ms of line silence
    pcm = np.concatenate(
        [pad, ulaw_decode(tts.render("I have a question about my Zentrix account")), pad]
    )
    sentences = [
        "Is my Zentrix order ready?",
        "I have a question about my account.",
        "Can I speak to someone about Zentrix?",
        "I want to cancel my order.",
    ]
    recognizer = TelephoneRecognizer(load_recognizer("pocketsphinx", domain_sentences=sentences))
    recognizer.begin_utterance()
    for start in range(0, len(pcm), FRAME_SAMPLES):
        recognizer.feed(pcm[start : start + FRAME_SAMPLES])
    transcript = recognizer.end_utterance()
    assert "zentrix" in transcript.text.split(), transcript.text
