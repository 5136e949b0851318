"""Card payments on the keypad (`card_payment` in the definition).

"I want to pay my invoice by card" asks for the card number on the keypad; the digits are
collected here, outside the `Conversation` (which is logged, serialised and shown), checked
with Luhn on '#' (or once `card_payment.digits` arrived), and only the last four and a random
token are kept. Apart because nothing else in the dialogue may see the digits.
"""

from __future__ import annotations

import re
import secrets
import weakref
from typing import TYPE_CHECKING

from workbench.agent.conversation import Conversation
from workbench.agent.entities import luhn_valid, normalise
from workbench.agent.flow.reply import Action, ReplyDraft
from workbench.agent.flow.templates import Values
from workbench.agent.speakable import WORDS, answer_kind

if TYPE_CHECKING:
    from workbench.agent.flow.responder import FlowResponder

_PAY = re.compile(r"\b(?:pay|paying|payment|settle)\b")
_CARD = re.compile(r"\b(?:card|credit|debit|visa|mastercard|amex|american express)\b")
_NOT_PAYING = re.compile(r"\b(?:update|change|replace|new|declined|expired|accept|take)\b")
_CANCEL_ENTRY = {"cancel", "stop", "nevermind", "never", "forget"}


def wants_card_payment(text: str) -> bool:
    """'I want to pay my invoice by card', 'can I pay with my credit card' (not 'do you take
    visa' or 'I need to update my card', which are questions for the knowledge base)."""
    lowered = text.lower()
    return bool(_PAY.search(lowered) and _CARD.search(lowered) and not _NOT_PAYING.search(lowered))


def looks_like_card_number(text: str) -> bool:
    """A run of 13 or more digits said aloud: never stored or read back (the guardrail)."""
    return any(len(run) >= 13 for run in re.findall(r"\d+", normalise(text).text))


class CardPayment:
    """The keypad entry of one responder's calls; digits kept by id(conversation)."""

    def __init__(self, flow: FlowResponder) -> None:
        self.flow = flow
        # Card digits being typed, by id(conversation): kept out of the Conversation on purpose
        # (it is logged, serialised and shown), and dropped as soon as the entry ends.
        self._digits: dict[int, list[str]] = {}

    def typing(self, conv: Conversation) -> bool:
        """Keys have been pressed in the entry under way (silence then is not "no input")."""
        return bool(self._digits.get(id(conv)))

    def start(self, conv: Conversation, turn: ReplyDraft) -> None:
        spec = self.flow.definition.card_payment
        assert spec is not None
        conv.stage = "card_entry"
        conv.secure_input = True
        conv.card_attempts = 0
        if id(conv) not in self._digits:
            weakref.finalize(conv, self._digits.pop, id(conv), None)
        self._digits[id(conv)] = []
        turn.say("Sure.", spec.prompt)
        turn.note("card payment: collecting the card number on the keypad (secure input)")

    def resume(self, conv: Conversation) -> None:
        """Back to typing the card number (the caller declined the person offered)."""
        conv.secure_input = True
        self._digits[id(conv)] = []

    def end(self, conv: Conversation) -> None:
        """Leave secure input and forget any digits typed so far."""
        conv.secure_input = False
        self._digits.pop(id(conv), None)

    def on_speech(self, conv: Conversation, text: str, turn: ReplyDraft) -> None:
        """The caller spoke during the entry: a cancel ends it, anything else is re-asked."""
        spec = self.flow.definition.card_payment
        assert spec is not None
        words = set(WORDS.findall(text.lower()))
        if answer_kind(text) == "no" or words & _CANCEL_ENTRY:
            self.end(conv)
            conv.stage = None
            turn.say("Okay, I've cancelled the card payment.")
            turn.note("caller cancelled the card payment")
            self.flow.offer_more(conv, turn)
            return
        turn.say(spec.prompt)
        turn.note("card entry: asked again to use the keypad")

    def on_dtmf(self, conv: Conversation, digit: str) -> ReplyDraft | None:
        """A keypad key: collected while `secure_input`; the card is checked on '#' (or when
        `card_payment.digits` digits arrived). None while collecting (and outside card entry)."""
        spec = self.flow.definition.card_payment
        if conv.ended or not conv.secure_input or conv.stage != "card_entry" or spec is None:
            return None
        digits = self._digits.setdefault(id(conv), [])
        if digit == "*":  # start over
            digits.clear()
            return None
        if digit.isdigit() and len(digit) == 1:
            digits.append(digit)
        if digit != "#" and len(digits) < spec.digits:
            return None
        if not digits:  # '#' alone (or right after 16 digits finished the entry): nothing to check
            return None
        number = "".join(digits)
        digits.clear()
        conv.last_reply_questions = []
        conv.turn_count += 1
        conv.history.append(("caller", "[card number entered on the keypad]"))
        turn = ReplyDraft(spec.topic)
        turn.note(f"keypad entry finished ({len(number)} digits)")
        if 13 <= len(number) <= 19 and luhn_valid(number):
            self._take_payment(conv, number[-4:], turn)
        else:
            self._invalid(conv, turn)
        del number
        return turn

    def _take_payment(self, conv: Conversation, last4: str, turn: ReplyDraft) -> None:
        spec = self.flow.definition.card_payment
        assert spec is not None
        token = "tok_" + secrets.token_hex(12)  # random: nothing about the card can be derived
        self.end(conv)
        conv.stage = None
        conv.card_attempts = 0
        conv.failed_turns = 0
        conv.captured["card_last4"] = last4
        conv.captured["payment_token"] = token
        turn.actions.append(
            Action("take_payment", {"last4": last4, "token": token}, {"status": "approved"})
        )
        conv.intend(
            "Task",
            Subject="Card payment by phone",
            Description=(
                f"Invoice paid by card ending {last4} (payment token {token}); "
                "number entered on the keypad, not stored"
            ),
            Status="Completed",
        )
        values = Values(company=self.flow.definition.company, last4=last4)
        values["last4_spoken"] = f"<digits>{last4}</digits>"
        turn.say(*(t.format_map(values) for t in spec.taken))
        turn.note(f"payment taken: card ending {last4}, token {token}")
        conv.outcome = "ai_resolved"
        self.flow.offer_more(conv, turn)

    def _invalid(self, conv: Conversation, turn: ReplyDraft) -> None:
        spec = self.flow.definition.card_payment
        assert spec is not None
        conv.card_attempts += 1
        if conv.card_attempts <= spec.max_reentries:
            self._digits[id(conv)] = []
            turn.say(spec.invalid)
            turn.note(f"card number not valid (attempt {conv.card_attempts}); asking again")
            return
        self.end(conv)
        conv.resume_stage = None
        conv.stage = "offer_human"
        turn.say("I'm sorry, that card number still isn't valid.")
        turn.say(*self.flow.definition.guardrails.offer_human)
        turn.note(f"card number not valid (attempt {conv.card_attempts}); offering a person")
