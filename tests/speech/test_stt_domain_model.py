"""The domain language model: built from sentences, cached by content, words it cannot use."""

from __future__ import annotations

import logging

import pytest

from workbench.errors import ConfigError
from workbench.speech.stt import load_recognizer
from workbench.speech.stt_pocketsphinx import build_domain_model, prepare_sentence

SENTENCES = ["I'd like to book a demo.", "What are your opening hours?", "My order is 4712."]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path


def dictionary_words(model) -> set[str]:
    lines = model.dict_path.read_text(encoding="utf-8").splitlines()
    return {line.split()[0].split("(")[0] for line in lines}


def test_sentences_are_prepared_as_spoken():
    assert prepare_sentence("My order is 4712, OK?") == [
        "my",
        "order",
        "is",
        "four",
        "seven",
        "one",
        "two",
        "ok",
    ]


def test_the_model_is_built_under_the_cache_dir(home):
    model = build_domain_model(SENTENCES)
    assert model.built
    assert model.lm_path.is_relative_to(home / "cache" / "stt")
    assert "\\data\\" in model.lm_path.read_text(encoding="utf-8")
    assert {"book", "demo", "hours", "four", "seven"} <= dictionary_words(model)


def test_a_second_load_reuses_the_cached_model(home):
    first = build_domain_model(SENTENCES)
    mtime = first.lm_path.stat().st_mtime_ns
    second = build_domain_model(list(SENTENCES))
    assert not second.built
    assert second.lm_path == first.lm_path
    assert second.lm_path.stat().st_mtime_ns == mtime
    assert second.words == first.words


def test_a_recognizer_load_uses_the_cache_too(home):
    build_domain_model(SENTENCES)
    recognizer = load_recognizer(domain_sentences=SENTENCES)
    assert recognizer.model == "domain"
    assert recognizer.domain_model is not None and not recognizer.domain_model.built


def test_different_sentences_make_a_different_model(home):
    one = build_domain_model(SENTENCES)
    other = build_domain_model([*SENTENCES, "Cancel my subscription."])
    assert other.built
    assert other.lm_path != one.lm_path


def test_words_missing_from_the_dictionary_get_generated_pronunciations(home, caplog):
    with caplog.at_level(logging.INFO, logger="workbench.speech.stt_pocketsphinx"):
        model = build_domain_model(["Book a demo with Zorbleflux please."])
    assert "generated pronunciations: zorbleflux" in caplog.text
    assert {"book", "demo", "please", "zorbleflux"} <= dictionary_words(model)
    assert "zorbleflux" in model.lm_path.read_text(encoding="utf-8")


def test_sentences_without_usable_words_are_a_config_error(home, monkeypatch):
    from workbench.speech import pronounce

    with pytest.raises(ConfigError, match="no words"):
        build_domain_model(["...", "  "])
    # espeak-ng unable to say anything: no word of these can be pronounced.
    monkeypatch.setattr(pronounce, "_espeak_phonemes", lambda words: [None] * len(words))
    with pytest.raises(ConfigError, match="pronunciation"):
        build_domain_model(["Zorbleflux Qwxyzzt"])
