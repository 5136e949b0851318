"""The desk router's one queue over several workers (the relay itself: test_server_workers.py)."""

from __future__ import annotations

from workbench.telephony.handoff.desk_router import can_serve, merged_queue


def entry(call_sid: str, priority: str = "normal", waiting: float = 0.0, skills=()) -> dict:
    return {"callSid": call_sid, "priority": priority, "waitingSeconds": waiting, "skills": skills}


def test_the_one_queue_puts_high_priority_first_then_the_longest_waiting():
    queues = {
        0: [entry("A", waiting=30.0), entry("B", "high", waiting=2.0)],
        1: [entry("C", waiting=45.0), entry("D", "high", waiting=9.0)],
    }

    order = [(worker, e["callSid"]) for worker, e in merged_queue(queues)]

    assert order == [(1, "D"), (0, "B"), (1, "C"), (0, "A")]


def test_a_desk_takes_only_calls_its_skills_allow():
    billing_call = entry("A", skills=("billing",))

    assert can_serve(frozenset({"billing"}), billing_call)
    assert can_serve(frozenset({"*"}), billing_call)
    assert can_serve(frozenset(), billing_call)  # a desk with no skills named takes anything
    assert not can_serve(frozenset({"orders"}), billing_call)
    assert can_serve(frozenset({"orders"}), entry("B"))  # a call needing no skill
