"""Word error rate and the text normalisation that makes transcripts comparable."""

from __future__ import annotations

import pytest

from workbench.paths import ASSETS_DIR
from workbench.speech.wer import (
    align,
    corpus_wer,
    normalize_text,
    normalize_words,
    spoken_digits,
    word_error_rate,
    word_errors,
)


def test_identical_texts_have_no_errors():
    assert word_error_rate("book a demo", "book a demo") == 0.0


def test_case_and_punctuation_do_not_count():
    assert word_error_rate("Hi, I'd like to book a demo!", "hi i'd like to book a demo") == 0.0


def test_apostrophes_inside_words_are_kept():
    assert normalize_words("I can't, it's Bob's") == ["i", "can't", "it's", "bob's"]
    assert word_error_rate("I can't", "i cant") == 0.5


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("4111", "four one one one"),
        ("4,111", "four thousand one hundred eleven"),
        ("4111 1111", "four one one one one one one one"),
        ("order 47129", "order four seven one two nine"),
        ("25", "twenty five"),
        ("105", "one hundred and five"),
        ("1999", "nineteen ninety nine"),
        ("2026", "two thousand and twenty six"),
        ("3 pm", "three pm"),
        ("call 0142", "call oh one four two"),
        ("on the 23rd", "on the twenty third"),
        ("the 22nd of May", "the twenty second of May"),
        ("the 1st Monday", "the first Monday"),
        ("the 9th of May 1972", "the ninth of May nineteen seventy two"),
    ],
)
def test_numbers_compare_equal_however_they_are_written(written, spoken):
    assert normalize_words(written) == normalize_words(spoken)
    assert word_error_rate(written, spoken) == 0.0


def test_each_digit_counts_as_one_word():
    assert normalize_words("card 4111") == ["card", "4", "1", "1", "1"]
    assert word_error_rate("card 4111", "card 4112") == pytest.approx(1 / 5)


def test_an_ordinal_is_its_digits_with_the_last_one_marked():
    assert normalize_words("the twenty third") == ["the", "2", "3th"]
    assert word_error_rate("the twenty third", "the 23") == pytest.approx(1 / 3)


def test_a_second_of_time_is_not_a_number():
    assert normalize_words("hang on a second") == ["hang", "on", "a", "second"]


def test_a_lone_oh_is_an_interjection_not_a_zero():
    assert normalize_words("Oh, thanks") == ["oh", "thanks"]
    assert normalize_words("oh four two") == ["0", "4", "2"]


def test_one_as_a_word_is_treated_like_the_digit_on_both_sides():
    assert word_error_rate("which one is it", "which 1 is it") == 0.0


def test_known_error_counts():
    result = word_errors("can I speak to a human agent", "can speak to the human agent please")
    assert (result.substitutions, result.deletions, result.insertions) == (1, 1, 1)
    assert result.reference_words == 7
    assert result.wer == pytest.approx(3 / 7)


def test_everything_wrong_and_more_can_exceed_one():
    assert word_error_rate("yes", "no no no") == pytest.approx(3.0)


def test_empty_texts():
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "hello") == 1.0
    assert word_error_rate("hello there", "") == 1.0


def test_align_counts_on_word_lists():
    assert align(["a", "b", "c"], ["a", "x", "c", "d"]).errors == 2


def test_corpus_wer_pools_words_rather_than_averaging_sentences():
    pairs = [("yes", "no"), ("one two three four five six seven eight nine", "1 2 3 4 5 6 7 8 9")]
    assert corpus_wer(pairs) == pytest.approx(1 / 10)


def test_normalize_text_and_spoken_digits():
    assert normalize_text("My order is 4712.") == "my order is 4 7 1 2"
    assert spoken_digits("order 4712, at 3pm") == "order four seven one two, at three pm"


def test_the_wer_sentences_are_not_in_the_domain_sentences():
    """The domain model must not have seen the test sentences (honest measurement)."""
    speech = ASSETS_DIR / "speech"
    wer_sentences = (speech / "wer_sentences.txt").read_text(encoding="utf-8").splitlines()
    domain = (speech / "domain_sentences.txt").read_text(encoding="utf-8").splitlines()
    wer_set = {normalize_text(s) for s in wer_sentences if s.strip()}
    domain_set = {normalize_text(s) for s in domain if s.strip()}
    assert len(wer_set) >= 30
    assert len(domain_set) >= 120
    assert wer_set.isdisjoint(domain_set)
