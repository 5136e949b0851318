"""How the accurate ear's two passes are reconciled into the words the agent understands."""

from __future__ import annotations

from workbench.speech.ears import reconcile
from workbench.speech.stt import Transcript, Word

SOUNDS = frozenset({"uh", "huh", "mm", "hmm", "okay"})


def said(text: str, confidence: float) -> Transcript:
    return Transcript(text, tuple(Word(w, 0.0, 0.0) for w in text.split()), confidence)


def test_the_final_pass_s_words_win_when_it_is_sure():
    final = said("my name is dana whitfield", 0.9)
    assert reconcile(final, said("my name is dan a whit field", 0.8)).text == final.text


def test_an_unsure_final_pass_gives_way_to_a_sure_streaming_pass():
    assert reconcile(said("a whole grain", 0.3), said("opening hours", 0.8)).text == "opening hours"


def test_an_acknowledgement_the_final_pass_could_not_write_is_taken_from_the_streaming_pass():
    """Whisper leaves out filler sounds: "Mm-hmm." came out as "eminem"."""
    assert reconcile(said("eminem", 0.44), said("mm hmm", 0.4), SOUNDS).text == "mm hmm"
    # ... but not when the final pass is sure of a real word
    assert reconcile(said("okay sure", 0.8), said("mm hmm", 0.4), SOUNDS).text == "okay sure"
    # ... and not when the streaming pass heard more than sounds
    assert reconcile(said("eminem", 0.44), said("mm hmm yes", 0.4), SOUNDS).text == "eminem"


def test_digits_read_one_by_one_are_taken_as_the_streaming_pass_heard_them():
    final = said("my order is 55002", 0.9)
    fixed = reconcile(final, said("my order is five five one zero two", 0.7))
    assert fixed.text == "my order is five five one zero two"


def test_a_longer_digit_run_from_the_streaming_pass_is_not_taken():
    # pocketsphinx inserting a digit is as likely as Whisper dropping one (tuning sentences)
    final = said("it's order 58214 i think", 0.9)
    kept = reconcile(final, said("at four five eight two one four i think", 0.7))
    assert kept.text == final.text


def test_a_short_answer_whisper_wrote_twice_is_taken_once():
    assert reconcile(said("thanks thanks", 0.7), said("thanks", 0.9)).text == "thanks"
    assert reconcile(said("bye bye", 0.7), said("goodbye", 0.9)).text == "bye"


def test_an_answer_the_caller_said_twice_stays_twice():
    assert reconcile(said("no no", 0.8), said("no no", 0.9)).text == "no no"
    longer = "i need the order number i need the order number"
    assert reconcile(said(longer, 0.8), said("i need the order", 0.9)).text == longer


def test_a_very_sure_streaming_pass_beats_a_doubtful_final_pass():
    sure = said("how late are you guys open on friday", 0.98)
    assert reconcile(said("how they are you dim open on friday", 0.5), sure).text == sure.text
    confident = said("how late are you open on friday", 0.8)
    assert reconcile(confident, sure).text == confident.text
