"""The flow responder in rooms: how a declared agent answers a caller, turn by turn.

`FlowResponder` (responder.py) runs every turn and composes the rooms below; each room owns
one part of the dialogue and is reached only through the responder:

    reply.py           Reply and Action (the responder's output) and the ReplyDraft a turn fills
    templates.py       template values ({name}, {caller.phone}, {booking.reference}) and render
    slots.py           slot capture and validation: fill, read back, confirm, ask again
    actions.py         the declared action kinds (say, crm, webhook, lookup, offer, reference,
                       ask_again, finish, end_call, handoff) and the built-in `answer`
    times.py           offering a schedule's free times and hearing the caller's pick
    backoffice.py      what actions ask of the outside: free times, a webhook POST
    escalation.py      the no-input / no-match ladder and the hand-off to a person
    multi_question.py  several questions in one turn, and answers cut off by a barge-in
    card_payment.py    a card number typed on the keypad (Luhn-checked, never stored)

Import from the modules themselves (this package imports nothing, so the rooms and the
responder can import each other's types without a cycle through here).
"""
