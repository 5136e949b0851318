"""The one word alignment (an edit script) behind WER, the caller's ear and the two ears."""

from __future__ import annotations

from workbench.speech.alignment import Edit, edit_script


def ops(reference: str, hypothesis: str) -> list[str]:
    return [e.op for e in edit_script(reference.split(), hypothesis.split())]


def test_a_script_names_each_word_on_both_sides():
    assert edit_script(["we", "open", "at", "eight"], ["we", "opened", "at", "eight", "now"]) == [
        Edit("ok", 0, 0),
        Edit("sub", 1, 1),
        Edit("ok", 2, 2),
        Edit("ok", 3, 3),
        Edit("ins", None, 4),
    ]


def test_dropped_and_added_words():
    assert ops("can i speak to a human", "can speak to the human please") == [
        "ok", "del", "ok", "ok", "sub", "ok", "ins",
    ]  # fmt: skip
    assert ops("", "hello there") == ["ins", "ins"]
    assert ops("hello there", "") == ["del", "del"]


def test_a_cheaper_substitution_changes_which_words_pair_up():
    """With digits closer to digits, a digit run maps onto the digit run it was heard as."""
    reference, hypothesis = ["7", "a", "7"], ["1", "4"]
    unit = [(e.ref, e.hyp) for e in edit_script(reference, hypothesis)]
    assert unit == [(0, None), (1, 0), (2, 1)]  # "a" heard as "1"

    def digits_closer(a: str, b: str) -> float:
        if a == b:
            return 0.0
        return 0.5 if a.isdigit() and b.isdigit() else 1.0

    pairs = [(e.ref, e.hyp) for e in edit_script(reference, hypothesis, digits_closer)]
    assert pairs == [(0, 0), (1, None), (2, 1)]  # both digits heard as digits, "a" dropped


def test_among_equally_cheap_scripts_the_walk_back_prefers_a_pairing_then_an_insertion():
    assert ops("a b", "b c") == ["sub", "sub"]
    assert ops("a", "b a") == ["ins", "ok"]
