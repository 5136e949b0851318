"""Typed slots: what a caller's words (typed, or as a recogniser writes them) mean for a slot."""

from __future__ import annotations

from datetime import datetime

import pytest

from workbench.agent.definition import SlotSpec
from workbench.agent.slot_values import clearly_answered, find_date, slot_value
from workbench.agent.speakable import shown_text, spoken_value

NOW = datetime(2026, 12, 7, 10, 0)  # a Monday


def slot(entity: str, **extra) -> SlotSpec:
    return SlotSpec(name="x", entity=entity, prompt="?", **extra)


@pytest.mark.parametrize(
    ("said", "value"),
    [
        ("the ninth of May nineteen seventy two", "1972-05-09"),
        ("9 May 1972.", "1972-05-09"),
        ("May 9, 1972", "1972-05-09"),
        ("1 january 1990", "1990-01-01"),
        ("the twelfth of march two thousand fifteen", "2015-03-12"),
        ("march third two thousand", "2000-03-03"),
        ("05/09/1972", "1972-05-09"),
        ("it's the 20th of April, 1990", "1990-04-20"),
    ],
)
def test_a_date_of_birth_keeps_its_year(said, value):
    assert slot_value(slot("date_of_birth"), said, NOW, asked=True) == value


@pytest.mark.parametrize("said", ["the ninth of May", "next tuesday", "tomorrow", "2029-01-01"])
def test_a_date_of_birth_needs_a_year_in_the_past(said):
    assert slot_value(slot("date_of_birth"), said, NOW, asked=True) is None


def test_a_date_without_a_year_takes_the_next_one_or_the_last_one():
    assert find_date("the ninth of may", NOW, "future", need_year=False) == "2027-05-09"
    assert find_date("the ninth of may", NOW, "past", need_year=False) == "2026-05-09"
    assert find_date("december 20th", NOW, "any", need_year=False) == "2026-12-20"
    assert slot_value(slot("date"), "next tuesday", NOW, asked=True) == "2026-12-08"
    assert slot_value(slot("date", when="past"), "next tuesday", NOW, asked=True) is None


def test_times_numbers_money_choices_yes_no():
    assert slot_value(slot("time"), "at three thirty pm", NOW, asked=True) == "15:30"
    assert slot_value(slot("number"), "two of us", NOW, asked=True) == "2"
    assert slot_value(slot("number"), "two of us", NOW, asked=False) is None
    assert (
        slot_value(slot("money"), "one hundred twenty dollars and fifty cents", NOW, asked=True)
        == "120.50"
    )
    assert slot_value(slot("money"), "$45", NOW, asked=True) == "45.00"
    choice = slot("choice", choices=["cleaning", "checkup", "filling"])
    assert slot_value(choice, "a check up please", NOW, asked=True) == "checkup"
    assert slot_value(choice, "i need to book a fill in", NOW, asked=True) == "filling"
    assert slot_value(choice, "whitening", NOW, asked=True) is None
    assert slot_value(slot("yes_no"), "yes I do", NOW, asked=True) == "yes"
    assert slot_value(slot("yes_no"), "nope", NOW, asked=False) is None


def test_identifiers_match_their_pattern_spoken_or_written():
    member = slot("identifier", pattern=r"[A-Z]{3}\d{6}")
    assert (
        slot_value(member, "it's a b c one two three four five six", NOW, asked=True) == "ABC123456"
    )
    assert slot_value(member, "my id is XYZ987654", NOW, asked=False) == "XYZ987654"
    assert slot_value(member, "one two three", NOW, asked=True) is None


def test_a_name_introduced_for_someone_else():
    name = slot("person_name")
    assert slot_value(name, "It's for Maria Lopez", NOW, asked=False) == "Maria Lopez"
    assert (
        slot_value(name, "the appointment is for tom baker please", NOW, asked=False) == "Tom Baker"
    )
    assert slot_value(name, "this is Dana", NOW, asked=True) == "Dana"
    assert slot_value(name, "it's broken", NOW, asked=False) is None


def test_only_a_clearly_answered_slot_is_filled_unasked():
    dob = slot("date_of_birth")
    day = slot("date")
    assert not clearly_answered(dob, "can I come tomorrow", "2026-12-08", 1)
    assert clearly_answered(dob, "I was born on May 9 1972", "1972-05-09", 1)
    assert clearly_answered(day, "can I come tomorrow", "2026-12-08", 1)
    assert not clearly_answered(day, "can I come tomorrow", "2026-12-08", 2)  # which of two?
    assert not clearly_answered(slot("number"), "two", "2", 0)


def test_read_backs_say_dates_with_their_year_and_spell_as_letters_in_text():
    assert spoken_value(slot("date_of_birth"), "1972-05-09") == "May 9, 1972"
    assert spoken_value(slot("date"), "2026-12-08") == "Tuesday, December 8"
    assert spoken_value(slot("time"), "15:30") == "3:30 PM"
    assert spoken_value(slot("money"), "120.50") == "120 dollars and 50 cents"
    spelled = spoken_value(slot("person_name", confirm="spell"), "Sarah Connor")
    assert spelled == "Sarah Connor, spelled <spell>Sarah Connor</spell>"
    assert shown_text(spelled) == "Sarah Connor, spelled S-A-R-A-H C-O-N-N-O-R"
    assert shown_text("ending in <digits>1111</digits>") == "ending in 1111"
