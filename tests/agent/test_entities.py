"""Entity extraction from typed and transcribed (lowercase, spoken-number) text."""

from __future__ import annotations

from datetime import datetime

import pytest

from workbench.agent.entities import (
    Entity,
    extract_entities,
    luhn_valid,
    normalise,
    words_to_digits,
)

SUNDAY = datetime(2026, 11, 22, 10, 0)  # a Sunday morning


def only(text: str, type_: str) -> Entity:
    found = [e for e in extract_entities(text, SUNDAY) if e.type == type_]
    assert len(found) == 1, f"{type_} in {text!r}: {found}"
    return found[0]


def test_spoken_email_is_assembled() -> None:
    e = only("my email is john dot smith at example dot com", "email")
    assert e.value == "john.smith@example.com"
    assert e.raw == "john dot smith at example dot com"


def test_written_email_is_found() -> None:
    assert only("mail Dana.Lee@Acme.io please", "email").value == "dana.lee@acme.io"


def test_email_with_underscore_and_dashed_domain() -> None:
    e = only("it's dana underscore lee at north dash wind dot co dot uk", "email")
    assert e.value == "dana_lee@north-wind.co.uk"


def test_spoken_digits_phone_number() -> None:
    e = only("call me back on four one five five five five zero one two three", "phone")
    assert e.value == "+14155550123"
    assert e.raw == "four one five five five five zero one two three"


def test_written_phone_number_with_separators() -> None:
    assert only("my number is 415 555 0199", "phone").value == "+14155550199"


def test_double_and_oh_in_spoken_digits() -> None:
    assert (
        words_to_digits("four one five double five five oh one two three".split()) == "4155550123"
    )
    assert only("four one five double five five oh one two three", "phone").value == "+14155550123"


def test_relative_date_and_time_resolve_against_the_reference() -> None:
    assert only("next Tuesday afternoon works", "datetime").value == "2026-11-24T14:00"
    assert only("how about tomorrow at 3 pm", "datetime").value == "2026-11-23T15:00"
    assert only("tomorrow at three thirty p m", "datetime").value == "2026-11-23T15:30"
    assert only("the twenty third of december", "datetime").value == "2026-12-23"
    assert only("march third at ten am", "datetime").value == "2027-03-03T10:00"


def test_a_card_number_is_accepted_only_when_luhn_valid() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert only("my card is 4111 1111 1111 1111", "card_number").value == "4111111111111111"
    spoken = "four " + "one " * 15
    assert only(spoken.strip(), "card_number").value == "4111111111111111"
    assert not [
        e
        for e in extract_entities("my card is 4111 1111 1111 1112", SUNDAY)
        if e.type == "card_number"
    ]


def test_order_numbers_written_and_spoken() -> None:
    assert only("where is order NW-48213?", "order_number").value == "NW-48213"
    assert only("order four eight two one three please", "order_number").value == "NW-48213"
    assert only("it's n w five five one zero two", "order_number").value == "NW-55102"


def test_street_address_with_and_without_city() -> None:
    e = only("we moved to 742 Evergreen Terrace in Springfield", "address")
    assert e.value == "742 Evergreen Terrace, Springfield"
    assert only("one hundred twenty three main street", "address").value == "123 Main Street"
    assert (
        only("seven four two evergreen terrace springfield", "address").value
        == "742 Evergreen Terrace, Springfield"
    )


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("my name is John Smith", "John Smith"),
        ("hi this is dana", "Dana"),
        ("this is Dana from Acme", "Dana"),
        ("i'm maria garcia and i need help", "Maria Garcia"),
    ],
)
def test_person_names(text: str, name: str) -> None:
    assert only(text, "person_name").value == name


def test_no_name_in_i_am_calling_about() -> None:
    assert not [
        e for e in extract_entities("i am calling about my bill", SUNDAY) if e.type == "person_name"
    ]


def test_entity_offsets_point_into_the_original_text() -> None:
    text = "Hi, my order is NW-48213 and my email is JOHN@EXAMPLE.COM."
    for e in extract_entities(text, SUNDAY):
        assert text[e.start : e.end] == e.raw


def test_normalisation_turns_number_words_into_digits() -> None:
    assert normalise("Twenty three and oh no").text == "23 and oh no"
    assert normalise("nine oh five").text == "905"


def test_spelled_letters_are_joined_into_words() -> None:
    e = only("it's j o h n dot s m i t h at example dot com", "email")
    assert e.value == "john.smith@example.com"
    assert e.raw == "j o h n dot s m i t h at example dot com"
