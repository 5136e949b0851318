"""Delivery from the outbox to a local org over HTTP with the real simple-salesforce client:
records land exactly once, retries are idempotent, permanent errors become dead letters."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from workbench.crm.call_record import CallEvent, CallRecord
from workbench.crm.delivery import RETRIES_EXHAUSTED, Backoff, DeliveryWorker, classify_error
from workbench.crm.mapping import build_call_items, build_event_item, load_mapping, validate_mapping
from workbench.crm.org import LocalOrg
from workbench.crm.outbox import NewItem, Outbox
from workbench.crm.sink import describer, local_org_client

pytestmark = pytest.mark.network

QUICK = Backoff(base_s=0.001, cap_s=0.01, seed=7)


@pytest.fixture
def org():
    with LocalOrg(host="127.0.0.1", seed_demo_data=False) as running:
        yield running


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    yield box
    box.close()


@pytest.fixture
def mapping(org):
    return validate_mapping(load_mapping(), describer(local_org_client(org)))


def worker_for(org, outbox, **options):
    return DeliveryWorker(
        outbox, lambda: local_org_client(org, timeout_s=5), backoff=QUICK, **options
    )


def call(n: int, **changes) -> CallRecord:
    values = dict(
        call_id=f"CA{n:032x}",
        from_number="+14155550199",
        to_number="+18005550100",
        started_at=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        ended_at=datetime(2026, 11, 22, 9, 1, tzinfo=UTC),
        duration_s=60.0,
        intent="order_status",
        intent_confidence=0.9,
        disposition="escalated_to_human",
        transcript=[("caller", "where is order 1042"), ("agent", "let me check")],
        summary="Order 1042 is late",
        consent=True,
        intended_actions=[
            {"object": "Case", "fields": {"Subject": "Order 1042 delayed"}},
            {"object": "Task", "fields": {"Subject": "Call back"}},
        ],
    )
    values.update(changes)
    return CallRecord(**values)


def call_id_counts(sf, obj: str) -> Counter:
    rows = sf.query_all(f"SELECT Call_Id__c FROM {obj} WHERE Call_Id__c != null")["records"]
    return Counter(row["Call_Id__c"] for row in rows)


def test_a_delivered_call_exists_once_with_its_links(org, outbox, mapping):
    record = call(1)
    outbox.enqueue(record.call_id, build_call_items(record, mapping))
    outbox.enqueue(
        record.call_id, [build_event_item(CallEvent(record.call_id, "disposition"), mapping)]
    )

    stats = worker_for(org, outbox).deliver_pending()

    assert (stats.delivered, stats.retried, stats.dead) == (4, 0, 0)
    sf = local_org_client(org)
    (voice_call,) = sf.query(
        "SELECT Id, RelatedRecordId, Intent__c, Disposition__c, Transcript__c FROM VoiceCall "
        f"WHERE Call_Id__c = '{record.call_id}'"
    )["records"]
    (case,) = sf.query(f"SELECT Id FROM Case WHERE Call_Id__c = '{record.call_id}-case'")["records"]
    (task,) = sf.query(f"SELECT WhatId FROM Task WHERE Call_Id__c = '{record.call_id}-task'")[
        "records"
    ]
    assert voice_call["RelatedRecordId"] == case["Id"]
    assert task["WhatId"] == case["Id"]
    assert voice_call["Intent__c"] == "OrderStatus"
    assert voice_call["Disposition__c"] == "Transferred"
    assert voice_call["Transcript__c"].startswith("Caller: where is order 1042")
    assert [e["payload"]["Type__c"] for e in org.published_events()] == ["disposition"]


def test_delivering_again_updates_instead_of_duplicating(org, outbox, mapping):
    record = call(2)
    outbox.enqueue(record.call_id, build_call_items(record, mapping))
    outbox.enqueue(record.call_id, build_call_items(record, mapping))  # the same call twice

    worker_for(org, outbox).deliver_pending()

    assert call_id_counts(local_org_client(org), "VoiceCall") == {record.call_id: 1}


def test_retries_under_heavy_faults_leave_every_record_exactly_once(org, outbox, mapping):
    records = [call(100 + n) for n in range(10)]
    for record in records:
        outbox.enqueue(record.call_id, build_call_items(record, mapping))
    # Half the requests fail; some of them after the write happened (the reply is dropped).
    org.set_faults("transient=0.3,dropafter=0.2,seed=3")

    assert worker_for(org, outbox, max_attempts=50).drain(timeout_s=60)

    org.set_faults("")
    sf = local_org_client(org)
    assert call_id_counts(sf, "VoiceCall") == {r.call_id: 1 for r in records}
    assert call_id_counts(sf, "Case") == {f"{r.call_id}-case": 1 for r in records}
    assert outbox.status().counts["dead"] == 0


def test_a_permanent_error_is_a_dead_letter_with_its_reason_at_the_first_attempt(org, outbox):
    incomplete = {"FromPhoneNumber": "+14155550199"}  # CallType and the times are required
    (item_id,) = outbox.enqueue(
        "CA1", [NewItem("upsert", "VoiceCall", incomplete, "Call_Id__c", "CA1")]
    )

    stats = worker_for(org, outbox).deliver_pending()

    assert stats.dead == 1
    (item,) = outbox.items(state="dead")
    assert item.id == item_id
    assert item.attempts == 1
    assert item.dead_cause == "REQUIRED_FIELD_MISSING"
    assert "CallType" in item.last_error
    assert outbox.status().dead_by_cause == {"REQUIRED_FIELD_MISSING": 1}


def test_an_unknown_object_is_a_permanent_error(org, outbox):
    outbox.enqueue("CA1", [NewItem("upsert", "NoSuchThing__c", {"A": 1}, "Call_Id__c", "CA1")])
    worker_for(org, outbox).deliver_pending()
    (item,) = outbox.items(state="dead")
    assert item.dead_cause in {"INVALID_TYPE", "NOT_FOUND"}


def test_exhausted_retries_are_dead_letters_and_replay_delivers_them_once_fixed(
    org, outbox, mapping
):
    record = call(3, intended_actions=[])
    outbox.enqueue(record.call_id, build_call_items(record, mapping))
    org.set_faults("error503=1,object=VoiceCall")
    worker = worker_for(org, outbox, max_attempts=3)

    assert worker.drain(timeout_s=30)
    (item,) = outbox.items(state="dead")
    assert item.dead_cause == RETRIES_EXHAUSTED
    assert item.attempts == 3
    assert "503" in item.last_error

    org.set_faults("")  # the org is healthy again
    assert outbox.replay() == 1
    assert worker.drain(timeout_s=30)
    assert call_id_counts(local_org_client(org), "VoiceCall") == {record.call_id: 1}


def test_transient_and_permanent_errors_are_told_apart(org):
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from simple_salesforce.exceptions import (
        SalesforceGeneralError,
        SalesforceMalformedRequest,
        SalesforceRefusedRequest,
    )

    def error(cls, status, code):
        return cls("url", status, "VoiceCall", [{"errorCode": code, "message": "m"}])

    assert classify_error(RequestsConnectionError("reset")).transient
    assert classify_error(error(SalesforceGeneralError, 503, "SERVER_UNAVAILABLE")).transient
    assert classify_error(error(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED")).transient
    assert classify_error(error(SalesforceMalformedRequest, 400, "UNABLE_TO_LOCK_ROW")).transient
    assert not classify_error(error(SalesforceMalformedRequest, 400, "INVALID_FIELD")).transient
    assert not classify_error(error(SalesforceRefusedRequest, 403, "INSUFFICIENT_ACCESS")).transient


def test_the_background_worker_delivers_what_is_enqueued(org, outbox, mapping):
    worker = worker_for(org, outbox, concurrency=2).start()
    try:
        record = call(4)
        outbox.enqueue(record.call_id, build_call_items(record, mapping))
        assert worker.drain(timeout_s=30)  # waits for the threads' work to show up
    finally:
        worker.stop()
    assert outbox.status().counts["delivered"] == 3


def test_records_of_many_calls_travel_in_one_collection_request(org, outbox, mapping):
    records = [call(200 + n, intended_actions=[]) for n in range(5)]
    for record in records:
        outbox.enqueue(record.call_id, build_call_items(record, mapping))

    stats = worker_for(org, outbox).deliver_pending()

    assert stats.delivered == 5
    counts = org.request_counts()
    assert counts.get("composite 200") == 1
    assert not any(key.startswith("upsert") for key in counts)
    assert call_id_counts(local_org_client(org), "VoiceCall") == {r.call_id: 1 for r in records}


def test_a_rejected_record_in_a_collection_dead_letters_only_itself(org, outbox, mapping):
    good = call(300, intended_actions=[])
    outbox.enqueue(good.call_id, build_call_items(good, mapping))
    outbox.enqueue(
        "CA-bad",
        [NewItem("upsert", "VoiceCall", {"FromPhoneNumber": "+1"}, "Call_Id__c", "CA-bad")],
    )

    stats = worker_for(org, outbox).deliver_pending()

    assert (stats.delivered, stats.dead) == (1, 1)
    (dead,) = outbox.items(state="dead")
    assert dead.ext_value == "CA-bad"
    assert dead.dead_cause == "REQUIRED_FIELD_MISSING"


def test_per_record_delivery_uses_plain_upserts(org, outbox, mapping):
    for n in range(3):
        record = call(400 + n, intended_actions=[])
        outbox.enqueue(record.call_id, build_call_items(record, mapping))

    worker_for(org, outbox, use_collections=False).deliver_pending()

    counts = org.request_counts()
    assert counts.get("upsert 201") == 3
    assert "composite 200" not in counts


def test_items_queued_without_the_org_schema_are_fitted_to_it_at_delivery(org, outbox):
    # The mapping could not be checked (org unreachable when the call ended): raw values queued.
    unchecked = load_mapping()
    record = call(
        500, intended_actions=[{"object": "Case", "fields": {"Subject": "x", "Mood__c": "ok"}}]
    )
    items = build_call_items(record, unchecked)
    assert items[-1].payload["Intent__c"] == "order_status"

    outbox.enqueue(record.call_id, items)
    stats = worker_for(org, outbox).deliver_pending()

    assert (stats.delivered, stats.dead) == (2, 0)
    sf = local_org_client(org)
    (voice_call,) = sf.query(
        f"SELECT Intent__c FROM VoiceCall WHERE Call_Id__c = '{record.call_id}'"
    )["records"]
    assert voice_call["Intent__c"] == "OrderStatus"
