"""Redaction: card numbers (digits or words, Luhn-aware), CVVs, SSNs, and the confidence score."""

from __future__ import annotations

from datetime import UTC, datetime

from workbench.agent.entities import luhn_valid
from workbench.crm.call_record import CallRecord
from workbench.crm.mapping import prepare_call
from workbench.crm.redaction import redact_text, redact_transcript


def test_luhn_accepts_test_card_numbers_and_rejects_a_changed_digit():
    assert luhn_valid("4111111111111111")
    assert luhn_valid("5555555555554444")
    assert not luhn_valid("4111111111111112")


def test_card_number_in_digits_with_spaces_or_dashes_is_redacted():
    assert redact_text("my card is 4111 1111 1111 1111 thanks").text == "my card is [CARD] thanks"
    assert redact_text("use 5555-5555-5555-4444").text == "use [CARD]"


def test_card_number_spoken_in_words_is_redacted():
    spoken = "it's four one one one one one one one one one one one one one one one"
    result = redact_text(spoken)
    assert result.text == "it's [CARD]"
    assert result.counts == {"CARD": 1}


def test_long_number_failing_luhn_is_kept_unless_it_follows_the_word_card():
    order = redact_text("my order number is 4111111111111112")
    assert "4111111111111112" in order.text
    misheard = redact_text("the card number is 4111111111111112")
    assert misheard.text == "the card number is [CARD]"


def test_security_code_after_a_cue_is_redacted_in_digits_or_words():
    assert redact_text("the security code is 123").text == "the security code is [CVV]"
    assert redact_text("CVV: four five six").text == "CVV: [CVV]"


def test_three_digits_without_a_cue_are_kept():
    assert redact_text("I need 123 widgets").text == "I need 123 widgets"


def test_social_security_numbers_are_redacted_written_or_after_a_cue():
    assert redact_text("it's 123-45-6789").text == "it's [SSN]"
    assert redact_text(
        "my social security number is one two three four five six seven eight nine"
    ).text == ("my social security number is [SSN]")


def test_confidence_is_one_when_nothing_suspicious_remains():
    assert redact_text("hello, I'd like to book a demo").confidence == 1.0
    assert redact_text("card 4111 1111 1111 1111").confidence == 1.0


def test_phone_numbers_are_neither_redacted_nor_suspicious():
    result = redact_text("call me back on 415 555 0100")
    assert result.text == "call me back on 415 555 0100"
    assert result.confidence == 1.0


def test_leftover_long_numbers_and_dangling_cues_lower_the_confidence():
    leftover = redact_text("the number is 12345678")  # 8 digits: not a card, not phone-shaped
    assert leftover.confidence == 0.6
    dangling = redact_text("my credit card number is, hmm, let me find it")
    assert dangling.confidence == 0.8


def test_transcript_confidence_is_the_product_over_turns():
    result = redact_transcript(
        [("caller", "ref 12345678"), ("agent", "thanks"), ("caller", "and 87654321")]
    )
    assert result.confidence == round(0.6 * 0.6, 4)
    assert result.turns[1] == ("agent", "thanks")


def _record(**changes):
    values = dict(
        call_id="CA" + "0" * 32,
        from_number="+14155550101",
        to_number="+18005550100",
        started_at=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        ended_at=datetime(2026, 11, 22, 9, 2, tzinfo=UTC),
        duration_s=120.0,
        transcript=[("caller", "my card is 4111 1111 1111 1111"), ("agent", "thank you")],
        summary="Caller paid with 4111 1111 1111 1111",
        captured={"card": "4111111111111111", "order": "1042"},
        consent=True,
        recording_url="https://recordings.example/CA0.wav",
    )
    values.update(changes)
    return CallRecord(**values)


def test_everything_textual_in_a_call_is_redacted_before_it_leaves():
    prepared = prepare_call(_record())
    assert "4111" not in prepared.artefacts["transcript"]
    assert "4111" not in prepared.artefacts["summary"]
    assert "4111" not in prepared.artefacts["captured"]
    assert prepared.redaction_counts["CARD"] == 3
    assert prepared.artefacts["recording_url"] == "https://recordings.example/CA0.wav"


def test_without_consent_no_transcript_and_no_recording_link_are_stored():
    prepared = prepare_call(_record(consent=False))
    assert prepared.artefacts["transcript"] is None
    assert prepared.artefacts["recording_url"] is None
    assert prepared.artefacts["consent"] is False
