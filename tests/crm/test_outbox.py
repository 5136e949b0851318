"""The outbox as a state machine: enqueue, claim (in order, respecting dependencies), retry,
dead letters, recovery of in-flight items from a dead process, replay and purge."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench.crm.outbox import NewItem, Outbox


class FakeClock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def outbox(tmp_path, clock):
    box = Outbox(tmp_path / "outbox.sqlite", lease_s=60, clock=clock)
    yield box
    box.close()


def call_items():
    return [
        NewItem("upsert", "Case", {"Subject": "s"}, "Call_Id__c", "CA1-case"),
        NewItem("upsert", "VoiceCall", {"RelatedRecordId": {"$ref": 0}}, "Call_Id__c", "CA1"),
    ]


def test_default_path_is_under_workbench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    box = Outbox()
    assert box.path == tmp_path / "crm" / "outbox.sqlite"
    box.close()


def test_a_new_outbox_opens_while_another_process_is_still_writing_it(tmp_path):
    import sqlite3
    import threading

    # Another process (here: another connection) mid-write on the new, not yet WAL database,
    # as when the workers of `serve --workers 2` open one outbox at once. SQLite refuses the
    # switch to WAL at once rather than waiting; opening must wait for the writer instead.
    path = tmp_path / "outbox.sqlite"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other_process (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other_process VALUES (1)")
    finishing = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    finishing.start()
    try:
        outbox = Outbox(path)
    finally:
        finishing.join()
        writer.close()

    assert outbox.status().counts["pending"] == 0
    outbox.close()


def test_enqueued_items_are_pending_and_survive_reopening(outbox, clock, tmp_path):
    outbox.enqueue("CA1", call_items())
    assert outbox.status().counts == {"pending": 2, "in_flight": 0, "delivered": 0, "dead": 0}
    again = Outbox(tmp_path / "outbox.sqlite", clock=clock)
    assert [i.object for i in again.items()] == ["Case", "VoiceCall"]
    again.close()


def test_an_item_waits_for_the_item_it_refers_to(outbox):
    case_id, vc_id = outbox.enqueue("CA1", call_items())
    first = outbox.claim(10)
    assert [i.id for i in first] == [case_id]
    assert outbox.claim(10) == []  # VoiceCall waits: the Case is in flight
    outbox.mark_delivered(case_id, "500000000000001AAA")
    (voice_call,) = outbox.claim(10)
    assert voice_call.id == vc_id
    assert outbox.resolved_payload(voice_call) == {"RelatedRecordId": "500000000000001AAA"}


def test_a_dead_dependency_drops_the_link_but_not_the_record(outbox):
    case_id, _ = outbox.enqueue("CA1", call_items())
    outbox.claim(1)
    outbox.mark_dead(case_id, "REQUIRED_FIELD_MISSING", "400 ...")
    (voice_call,) = outbox.claim(10)
    assert outbox.resolved_payload(voice_call) == {}


def test_a_reference_to_a_later_item_is_refused(outbox):
    with pytest.raises(ValueError, match="refers to item"):
        outbox.enqueue(
            "CA1", [NewItem("upsert", "VoiceCall", {"X": {"$ref": 0}}, "Call_Id__c", "CA1")]
        )


def test_a_retried_item_is_not_due_before_its_next_attempt(outbox, clock):
    (item_id,) = outbox.enqueue("CA1", call_items()[:1])
    outbox.claim(1)
    outbox.mark_retry(item_id, "503 SERVER_UNAVAILABLE", clock.t + 5)
    assert outbox.claim(1) == []
    clock.t += 5
    (item,) = outbox.claim(1)
    assert item.attempts == 1
    assert item.last_error == "503 SERVER_UNAVAILABLE"


def test_status_counts_dead_letters_by_cause(outbox):
    ids = outbox.enqueue(
        "CA1", [NewItem("upsert", "Case", {}, "Call_Id__c", f"k{n}") for n in range(3)]
    )
    outbox.claim(3)
    outbox.mark_dead(ids[0], "REQUIRED_FIELD_MISSING", "x")
    outbox.mark_dead(ids[1], "REQUIRED_FIELD_MISSING", "y")
    outbox.mark_dead(ids[2], "retries exhausted", "z")
    status = outbox.status()
    assert status.counts["dead"] == 3
    assert status.dead_by_cause == {"REQUIRED_FIELD_MISSING": 2, "retries exhausted": 1}


def test_replay_moves_dead_letters_back_to_pending(outbox):
    ids = outbox.enqueue(
        "CA1", [NewItem("upsert", "Case", {}, "Call_Id__c", f"k{n}") for n in range(2)]
    )
    outbox.claim(2)
    outbox.mark_dead(ids[0], "A", "x")
    outbox.mark_dead(ids[1], "B", "y")
    assert outbox.replay(cause="A") == 1
    assert outbox.status().counts == {"pending": 1, "in_flight": 0, "delivered": 0, "dead": 1}
    (item,) = outbox.claim(5)
    assert item.attempts == 0 and item.dead_cause is None


def test_purge_deletes_old_delivered_items_or_dead_letters(outbox, clock):
    ids = outbox.enqueue(
        "CA1", [NewItem("upsert", "Case", {}, "Call_Id__c", f"k{n}") for n in range(3)]
    )
    outbox.claim(3)
    outbox.mark_delivered(ids[0], "a")
    clock.t += 8 * 86400
    outbox.mark_delivered(ids[1], "b")
    outbox.mark_dead(ids[2], "A", "x")
    assert outbox.purge(older_than_days=7) == 1
    assert outbox.purge(dead=True) == 1
    assert [i.id for i in outbox.items()] == [ids[1]]


def test_in_flight_items_of_a_live_worker_are_kept_until_the_lease_lapses(outbox, clock):
    outbox.enqueue("CA1", call_items()[:1])
    outbox.claim(1)
    assert outbox.recover() == 0
    clock.t += 61
    assert outbox.recover() == 1
    assert outbox.status().counts["pending"] == 1


def test_in_flight_items_of_a_dead_process_are_recovered_at_once(tmp_path):
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path, lease_s=3600)
    box.enqueue("CA1", call_items()[:1])
    # Another process claims the item and exits without finishing it (as after kill -9).
    code = (
        f"from workbench.crm.outbox import Outbox;assert len(Outbox({str(path)!r}).claim(1)) == 1"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert box.status().counts["in_flight"] == 1
    assert box.recover() == 1
    assert len(box.claim(1)) == 1
    box.close()
