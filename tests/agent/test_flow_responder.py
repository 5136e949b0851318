"""The flow responder: slot filling, read-backs, actions, escalation and guardrails, turn by turn."""

from __future__ import annotations

from datetime import datetime

import pytest

from workbench.agent import Agent, CallerContext, Conversation, Reply, load_agent
from workbench.paths import DEMO_AGENT_DIR

SUNDAY = datetime(2026, 11, 22, 10, 0)


@pytest.fixture(scope="module")
def agent() -> Agent:
    return load_agent(DEMO_AGENT_DIR)


def call(
    agent: Agent, *lines: str, caller: CallerContext | None = None
) -> tuple[Conversation, list[Reply]]:
    conv = agent.new_conversation(caller, reference=SUNDAY)
    replies = [agent.greet(conv)]
    for line in lines:
        replies.append(agent.respond(conv, line)[1])
    return conv, replies


def said(reply: Reply) -> str:
    return " ".join(reply.sentences)


def test_greeting_uses_the_known_callers_name(agent: Agent) -> None:
    conv = agent.new_conversation(CallerContext("+14155550100", name="Pat Jones"), reference=SUNDAY)
    assert said(agent.greet(conv)).startswith("Hi Pat,")
    assert "Thank you for calling Northwind Software" in said(agent.greet(agent.new_conversation()))


def test_book_demo_end_to_end(agent: Agent) -> None:
    conv, r = call(
        agent,
        "I'd like to book a demo",
        "my name is Dana Lee",
        "yes",
        "dana dot lee at acme dot com",
        "yes that's right",
        "next tuesday afternoon",
        "yes",
        "the second one",
        "no thanks",
    )
    assert "full name" in said(r[1])
    assert "<spell>Dana Lee</spell>" in said(r[2])  # names are spelled back
    assert "email" in said(r[3])
    assert "<spell>dana</spell> dot <spell>lee</spell> at <spell>acme</spell> dot com" in said(r[4])
    assert "Which day" in said(r[5])
    assert "Tuesday, November 24 at 2 PM" in said(r[6])
    assert "I can offer Tuesday, November 24 at 2 PM, or Tuesday, November 24 at 4 PM." in said(
        r[7]
    )
    assert [a.kind for a in r[7].actions] == ["offer_times"]  # from the `demos` schedule
    assert r[7].actions[0].result["times"] == ["2026-11-24T14:00", "2026-11-24T16:00"]
    assert [a.kind for a in r[8].actions] == ["reference", "crm", "crm"]
    booking = r[8].actions[0].result["number"]
    assert booking.startswith("DM-") and conv.captured["slot"] == "2026-11-24T16:00"
    assert "You're booked for Tuesday, November 24 at 4 PM." in said(r[8])
    assert r[8].routing is None and not r[8].end_call
    assert r[9].routing == "ai_resolved" and r[9].end_call
    assert conv.captured["email"] == "dana.lee@acme.com"
    objects = [a["object"] for a in conv.intended_crm_actions]
    assert objects == ["Lead", "Task"]
    lead, task = (a["fields"] for a in conv.intended_crm_actions)
    assert lead == {"FirstName": "Dana", "LastName": "Lee", "Email": "dana.lee@acme.com"}
    assert task == {
        "Subject": "Product demo",
        "ActivityDate": "2026-11-24",
        "Status": "Not Started",
        "Description": "Demo booked by phone for Dana Lee (dana.lee@acme.com) at "
        f"2026-11-24T16:00, booking {booking}",
    }


def test_a_rejected_read_back_asks_again_and_a_correction_is_read_back(agent: Agent) -> None:
    conv, r = call(agent, "book a demo", "this is Dana", "no it's Dina Lee", "yes")
    assert "<spell>Dina Lee</spell>" in said(r[3])
    assert conv.captured["name"] == "Dina Lee"
    _, r2 = call(agent, "book a demo", "this is Dana", "no")
    assert said(r2[3]).startswith("Sorry about that.")


def test_values_said_up_front_are_used(agent: Agent) -> None:
    conv, r = call(agent, "Hi, this is Dana Lee, I'd like to book a demo")
    assert conv.captured["name"] == "Dana Lee"
    assert "<spell>Dana Lee</spell>" in said(r[1])


def test_order_status_is_looked_up_in_the_order_book(agent: Agent) -> None:
    conv, r = call(agent, "where is my order", "it's four eight two one three", "yes")
    assert "<spell>NW</spell> <digits>48213</digits>" in said(r[2])  # digits read back one by one
    lookup = r[3].actions[0]
    assert lookup.kind == "lookup" and lookup.params["table"] == "orders.yaml"
    assert lookup.result["found"] and lookup.result["status"] == "shipped"
    assert said(r[3]).startswith(
        "Order <spell>NW</spell> <digits>48213</digits> for fifty Northwind Ops licences is "
        "shipped. The licence keys were emailed"
    )


def test_an_unknown_order_is_asked_for_again_then_a_person_takes_over(agent: Agent) -> None:
    conv, r = call(agent, "order status for NW-99999 please", "yes")
    assert r[2].actions[0].result == {"found": False}
    assert said(r[2]) == (
        "I couldn't find order <spell>NW</spell> <digits>99999</digits>. "
        "Could you say the order number again?"
    )
    assert conv.pending_slot == "order_number" and "order_number" not in conv.captured
    for _ in range(2):  # `times: 2` asks again; the third miss hands off
        r.append(agent.respond(conv, "nine nine nine nine eight")[1])
        r.append(agent.respond(conv, "yes")[1])
    assert "couldn't find" in said(r[4]) and r[4].routing is None
    assert r[6].routing == "human" and r[6].actions[-1].kind == "escalate"  # queue-less handoff
    assert r[6].actions[-1].params["queue"] == "Reception"  # so the escalation's queue
    assert r[6].actions[-1].params["reason"] == "order not found"
    assert "Let me connect you with a colleague who can help." in said(r[6])


def test_a_support_case_is_opened_with_the_callers_description(agent: Agent) -> None:
    conv, r = call(agent, "the app keeps crashing when I export reports", "John Smith", "yes")
    number = r[3].actions[0].result["number"]
    assert [a.kind for a in r[3].actions] == ["reference", "crm"] and number.startswith("CS-")
    assert conv.intended_crm_actions == [
        {
            "object": "Case",
            "fields": {
                "Subject": "the app keeps crashing when I export reports",
                "Description": f"the app keeps crashing when I export reports (reference {number})",
                "Origin": "Phone",
                "Priority": "Medium",
                "SuppliedName": "John Smith",
            },
        }
    ]
    spoken = f"<spell>CS</spell> <digits>{number[3:]}</digits>"
    assert said(r[3]).startswith(f"I've opened support case {spoken}.")


def test_a_vips_support_case_is_high_priority(agent: Agent) -> None:
    vip = CallerContext("+14155550100", "Pat Jones", account="Acme", vip=True)
    conv, _ = call(agent, "the app keeps crashing on every export", "Pat Jones", "yes", caller=vip)
    fields = conv.intended_crm_actions[0]["fields"]
    assert fields["Priority"] == "High" and fields["SuppliedPhone"] == "+14155550100"


def test_speak_to_human_routes_to_a_person_with_a_summary(agent: Agent) -> None:
    conv, r = call(agent, "where is my order", "can I speak to a human please")
    reply = r[2]
    assert reply.routing == "human" and reply.end_call
    action = reply.actions[-1]
    assert action.kind == "escalate" and action.params["queue"] == "Reception"
    summary = conv.escalation_summary or ""
    assert "caller asked for a person" in summary and "where is my order" in summary
    assert action.params["summary"] == summary


def test_a_vip_is_escalated_to_the_priority_queue(agent: Agent) -> None:
    _, r = call(agent, "operator", caller=CallerContext("+14155550100", "Pat", vip=True))
    assert r[1].actions[0].params["queue"] == "Priority"


def test_an_angry_caller_is_escalated(agent: Agent) -> None:
    _, r = call(agent, "this is ridiculous I have been waiting for weeks")
    assert r[1].routing == "human"
    assert "upset" in r[1].actions[0].params["reason"]


def test_opening_hours_are_answered_from_the_hours_chunk(agent: Agent) -> None:
    _, r = call(agent, "what are your opening hours")
    assert "Monday to Friday, from 8 AM to 6 PM" in said(r[1])
    assert r[1].actions[0].params["source"] == "hours"
    assert "answer from hours" in r[1].plan


def test_off_topic_gets_a_polite_refusal_then_a_human_is_offered(agent: Agent) -> None:
    conv, r = call(agent, "what's the weather on mars", "tell me a joke", "yes")
    assert "only help with questions about Northwind Software" in said(r[1])
    assert "connect you with a colleague" in said(r[2]) and r[2].routing is None
    assert r[3].routing == "human"
    assert conv.reprompt_count == 2


def test_a_card_number_is_never_read_back_in_full(agent: Agent) -> None:
    conv, r = call(
        agent,
        "can you charge my card 4111 1111 1111 1111",
        "it's four one one one one one one one one one one one one one one one",
    )
    for reply in r:
        for sentence in reply.sentences:
            assert "4111111111111111" not in sentence.replace(" ", "")
    assert "don't read card numbers" in said(r[1])
    assert all("4111 1111" not in text for _, text in conv.history)
    assert "[card ending 1111]" in conv.history[1][1]


def test_cancel_subscription_offers_retention_then_starts_the_workflow(agent: Agent) -> None:
    conv, r = call(agent, "I want to cancel my subscription", "Dana Lee", "yes", "no")
    assert said(r[3]) == (
        "Before you go, we can offer you three months at half price. "
        "Would you like to stay with that offer?"
    )
    assert [a.kind for a in r[4].actions] == ["offer", "crm"]
    assert r[4].actions[0].result == {"accepted": "no"}
    assert said(r[4]).startswith("Understood. I've submitted your cancellation request.")
    assert r[4].routing == "workflow" and r[4].end_call
    assert conv.intended_crm_actions[0]["fields"]["Type"] == "Cancellation"


def test_accepting_the_retention_offer_keeps_the_customer(agent: Agent) -> None:
    conv, r = call(agent, "cancel my plan", "Dana Lee", "yes", "maybe", "yes please")
    assert said(r[4]) == "Would you like to take the offer? Please say yes or no."
    assert [a.kind for a in r[5].actions] == ["offer", "crm"]
    assert said(r[5]) == (
        "Wonderful. The discount will appear on your next invoice. "
        "Is there anything else I can help you with?"
    )
    assert r[5].routing is None and conv.outcome == "ai_resolved"
    assert conv.intended_crm_actions[0]["fields"]["Subject"] == "Retention offer accepted"


def test_change_address_captures_and_confirms_the_address(agent: Agent) -> None:
    conv, r = call(
        agent,
        "we moved offices",
        "this is Dana Lee",
        "yes",
        "742 Evergreen Terrace in Springfield",
        "yes",
    )
    assert "742 Evergreen Terrace, Springfield" in said(r[4])
    assert r[5].actions[0].kind == "crm"  # the declared action update_address
    assert r[5].actions[0].params["object"] == "Task"
    assert (
        conv.intended_crm_actions[0]["fields"]["Description"]
        == "New address for Dana Lee: 742 Evergreen Terrace, Springfield"
    )


def test_no_input_reprompts_then_offers_a_person_then_ends(agent: Agent) -> None:
    conv = agent.new_conversation(reference=SUNDAY)
    agent.greet(conv)
    replies = [agent.no_input(conv) for _ in range(3)]
    assert "still there" in said(replies[0]) and replies[0].routing is None
    assert "connect you with a colleague" in said(replies[1]) and not replies[1].end_call
    assert replies[2].end_call and conv.disposition == "abandoned"


def test_every_reply_explains_itself(agent: Agent) -> None:
    _, r = call(agent, "I'd like to book a demo")
    assert "BookDemo" in r[1].plan and "asking for name" in r[1].plan
    assert r[1].topic == "BookDemo"


def test_a_hello_is_answered_and_a_goodbye_ends_the_call(agent: Agent) -> None:
    conv, r = call(agent, "hello", "okay thanks bye")
    assert said(r[1]) == "Hello! How can I help you today?" and conv.reprompt_count == 0
    assert r[2].end_call and r[2].routing == "ai_resolved"


def test_dates_resolve_against_the_calls_reference_not_the_understanding(agent: Agent) -> None:
    conv = agent.new_conversation(reference=SUNDAY)
    for line in ("book a demo", "Dana Lee", "yes", "dana at acme dot com", "yes"):
        agent.respond(conv, line)
    text = "tomorrow at ten am"
    understanding = agent.understand(text, reference=datetime(2030, 1, 1))
    agent.reply(conv, text, understanding, [])
    assert conv.captured["date"] == "2026-11-23T10:00"


@pytest.mark.parametrize("answer", ["dana lee", "sure dana lee", "um it's dana lee", "Dana Lee."])
def test_a_bare_name_answers_the_name_question(agent: Agent, answer: str) -> None:
    conv, _ = call(agent, "book a demo", answer)
    assert conv.captured["name"] == "Dana Lee"


def test_after_a_transfer_the_conversation_says_nothing_more(agent: Agent) -> None:
    conv, r = call(agent, "operator", "hello?")
    assert conv.ended and conv.disposition == "escalated_to_human"
    assert r[2].sentences == () and r[2].end_call and r[2].routing == "human"
