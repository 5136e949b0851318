"""Number reading modes: digits for cards, phones and references; words for amounts and times."""

from __future__ import annotations

import pytest

from workbench.speech.numbers import (
    number_to_words,
    read_amount,
    read_digits,
    read_numbers,
    read_time,
    spell,
)


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("4111 1111 1111 1111", "4 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1"),
        ("4111-1111-1111-1111", "4 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1"),
        ("4111111111111111", "4 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1"),
        ("3782 822463 10005", "3 7 8 2, 8 2 2 4 6 3, 1 0 0 0 5"),
    ],
)
def test_card_numbers_are_read_digit_by_digit_in_their_groups(text: str, spoken: str) -> None:
    assert read_numbers(f"My card is {text}.") == f"My card is {spoken}."


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("+1 415 555 0100", "plus 1, 4 1 5, 5 5 5, 0 1 0 0"),
        ("(415) 555-0100", "4 1 5, 5 5 5, 0 1 0 0"),
        ("415-555-0100", "4 1 5, 5 5 5, 0 1 0 0"),
        ("+44 20 7946 0958", "plus 4 4, 2 0, 7 9 4 6, 0 9 5 8"),
    ],
)
def test_phone_numbers_are_read_digit_by_digit(text: str, spoken: str) -> None:
    assert read_numbers(f"Call {text} now") == f"Call {spoken} now"


def test_order_numbers_and_long_digit_runs_are_read_digit_by_digit() -> None:
    assert read_numbers("Order NW-48213 shipped.") == "Order N W, 4 8 2 1 3 shipped."
    assert read_numbers("order 48213 shipped") == "order 4 8 2 1 3 shipped"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("$1,299.50", "one thousand two hundred ninety-nine dollars and fifty cents"),
        ("$5", "five dollars"),
        ("$1.00", "one dollar"),
        ("$0.99", "ninety-nine cents"),
        ("$2.5", "two dollars and fifty cents"),
        ("$1,000,000", "one million dollars"),
        ("£3.01", "three pounds and one penny"),
        ("€40", "forty euros"),
        ("$2.5 million", "two point five million dollars"),
        ("$3 billion", "three billion dollars"),
    ],
)
def test_amounts_are_read_naturally(text: str, spoken: str) -> None:
    assert read_numbers(f"That is {text}, thanks") == f"That is {spoken}, thanks"


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("9:30", "nine thirty"),
        ("9:05", "nine oh five"),
        ("10:00", "ten o'clock"),
        ("9:30 am", "nine thirty a m"),
        ("4:00 PM", "four p m"),
        ("9:15 a.m", "nine fifteen a m"),
        ("14:45", "fourteen forty-five"),
    ],
)
def test_times_are_read_as_people_say_them(text: str, spoken: str) -> None:
    assert read_numbers(f"See you at {text} then") == f"See you at {spoken} then"


def test_small_numbers_and_years_are_left_to_the_voice() -> None:
    text = "We have 3 plans since 2019, at 2.5 percent."
    assert read_numbers(text) == text


def test_markup_forces_digits_or_spelling() -> None:
    assert read_numbers("PIN <digits>4111</digits> ok") == "PIN 4 1 1 1 ok"
    assert read_numbers("Name <spell>smith</spell>.") == "Name s m i t h."
    assert read_numbers("<SPELL>Mary Ann</SPELL>") == "m a r y, a n n"
    assert (
        read_numbers("<digits>1299</digits> vs $1,299")
        == "1 2 9 9 vs one thousand two hundred ninety-nine dollars"
    )


def test_markup_content_is_not_read_again_by_the_automatic_modes() -> None:
    assert read_numbers("<spell>9:30</spell>") == "9 3 0"


def test_unclosed_tags_are_dropped_rather_than_spoken() -> None:
    assert read_numbers("code <digits>12 and more") == "code 12 and more"


def test_the_building_blocks() -> None:
    assert number_to_words(0) == "zero"
    assert number_to_words(15) == "fifteen"
    assert number_to_words(40) == "forty"
    assert number_to_words(101) == "one hundred one"
    assert number_to_words(2_000_019) == "two million nineteen"
    assert read_digits("NW-48213") == "N W, 4 8 2 1 3"
    assert spell("O'Neil") == "o n e i l"
    assert read_amount("$", "12", "5") == "twelve dollars and fifty cents"
    assert read_time(12, 0, "p") == "twelve p m"
