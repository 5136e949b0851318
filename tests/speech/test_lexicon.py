"""Pronunciation lexicon: whole words and patterns, and one clear message for a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import InputFileError
from workbench.speech.lexicon import DEFAULT_LEXICON_PATH, Lexicon


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lexicon.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_words_are_replaced_case_insensitively_as_whole_words_only(tmp_path: Path) -> None:
    lexicon = Lexicon.load(write(tmp_path, "words:\n  Northwind: North wind\n  SQL: sequel\n"))
    assert lexicon.apply("NORTHWIND runs sql.") == "North wind runs sequel."
    assert lexicon.apply("Northwinds and MySQL stay") == "Northwinds and MySQL stay"


def test_a_replacement_is_not_replaced_again() -> None:
    lexicon = Lexicon({"CRM": "C R M", "C": "see"})
    assert lexicon.apply("CRM and C") == "C R M and see"


def test_longer_entries_win_over_their_prefixes() -> None:
    lexicon = Lexicon({"Wi": "why", "Wi-Fi": "why fie"})
    assert lexicon.apply("Wi-Fi") == "why fie"


def test_patterns_run_first_and_may_use_groups_and_markup(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "patterns:\n"
        "  - pattern: '\\bNW-(\\d+)\\b'\n"
        "    say: 'North wind order <digits>\\1</digits>'\n"
        "words:\n"
        "  order: purchase\n",
    )
    lexicon = Lexicon.load(path)
    assert lexicon.apply("Your order NW-48213") == (
        "Your purchase North wind purchase <digits>48213</digits>"
    )


def test_words_do_not_touch_markup_tags() -> None:
    assert Lexicon({"digits": "numbers"}).apply("<digits>12</digits>") == "<digits>12</digits>"


def test_the_default_lexicon_loads_and_knows_the_demo_company() -> None:
    lexicon = Lexicon.default()
    assert len(lexicon) > 5
    assert lexicon.apply("Northwind") == "North wind"
    assert "<digits>48213</digits>" in lexicon.apply("NW-48213")
    assert DEFAULT_LEXICON_PATH.is_file()


def test_an_empty_file_is_an_empty_lexicon(tmp_path: Path) -> None:
    assert len(Lexicon.load(write(tmp_path, "# nothing yet\n"))) == 0


def test_from_mapping_and_extend() -> None:
    agent = Lexicon.from_mapping({"words": {"Acme": "Ack me"}}, source="agent.yaml")
    combined = Lexicon.default().extend(agent)
    assert combined.apply("Acme uses SQL") == "Ack me uses sequel"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("words:\n  SQL: [sequel\n", r"lexicon\.yaml:\d+:\d+: invalid YAML"),
        ("- SQL\n", r"lexicon\.yaml:1: lexicon: expected a mapping"),
        ("words:\n  SQL: sequel\nsounds: {}\n", r"lexicon\.yaml:3: sounds: unknown section"),
        ("words:\n  - SQL\n", r"lexicon\.yaml:2: words: expected a mapping"),
        ("words:\n  SQL: ''\n", r"lexicon\.yaml:2: words\.SQL: expected how to say it"),
        ("words:\n  SQL: {a: b}\n", r"lexicon\.yaml:2: words\.SQL: expected how to say it"),
        ("words:\n  SQL: a\n  sql: b\n", r"lexicon\.yaml:3: words\.sql: listed twice"),
        ("patterns:\n  pattern: x\n", r"lexicon\.yaml:2: patterns: expected a list"),
        (
            "patterns:\n  - pattern: '(ab'\n    say: x\n",
            r"lexicon\.yaml:2: patterns\[0\]\.pattern: invalid regular expression",
        ),
        ("patterns:\n  - pattern: ab\n", r"lexicon\.yaml:2: patterns\[0\]\.say: missing"),
        (
            "patterns:\n  - pattern: ab\n    say: x\n    flags: i\n",
            r"lexicon\.yaml:4: patterns\[0\]\.flags: unknown field",
        ),
        (
            "patterns:\n  - pattern: 'a(b)'\n    say: '\\2'\n",
            r"lexicon\.yaml:3: patterns\[0\]\.say: refers to group 2 but the pattern has 1",
        ),
    ],
)
def test_a_bad_file_names_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(InputFileError, match=expected) as error:
        Lexicon.load(write(tmp_path, text))
    assert "\n" not in str(error.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="nope.yaml: no such lexicon file"):
        Lexicon.load(tmp_path / "nope.yaml")
