"""The CRM mapping: loading errors name file, line and field; validation lists every missing field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workbench.crm.call_record import CallEvent, CallRecord
from workbench.crm.mapping import (
    DEFAULT_MAPPING_PATH,
    build_call_items,
    build_event_item,
    load_mapping,
    validate_mapping,
)
from workbench.crm.org.schema import OBJECTS
from workbench.errors import ConfigError, InputFileError


def org_describe(
    without: dict[str, set[str]] | None = None, missing_objects: set[str] = frozenset()
):
    """describe() answers built from the local org's schema, minus some fields or objects."""
    without = without or {}

    def describe(name: str):
        if name in missing_objects or name not in OBJECTS:
            return None
        drop = without.get(name, set())
        return {
            "name": name,
            "fields": [f.describe() for f in OBJECTS[name].fields if f.name not in drop],
        }

    return describe


def record(**changes) -> CallRecord:
    values = dict(
        call_id="CA" + "1" * 32,
        from_number="+14155550101",
        to_number="+18005550100",
        started_at=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        ended_at=datetime(2026, 11, 22, 9, 1, 30, 250000, tzinfo=UTC),
        duration_s=90.25,
        intent="book_demo",
        intent_confidence=0.91,
        disposition="escalated_to_human",
        transcript=[("caller", "I want a demo"), ("agent", "Sure")],
        summary="Wants a demo",
        consent=True,
        intended_actions=[
            {"object": "Case", "fields": {"Subject": "Demo request", "Bogus__c": 1}},
            {"object": "Task", "fields": {"Subject": "Call back"}},
            {"object": "Task", "fields": {"Subject": "Send brochure"}},
        ],
    )
    values.update(changes)
    return CallRecord(**values)


def test_the_canonical_mapping_matches_the_local_org_schema():
    mapping = validate_mapping(load_mapping(), org_describe())
    assert mapping.voice_call.object == "VoiceCall"
    assert mapping.voice_call.external_id == "Call_Id__c"
    assert set(mapping.actions) == {"Case", "Lead", "Task", "Event"}


def test_missing_fields_are_one_error_listing_all_of_them():
    describe = org_describe({"VoiceCall": {"Intent__c", "Transcript__c"}, "Case": {"Call_Id__c"}})
    with pytest.raises(ConfigError) as caught:
        validate_mapping(load_mapping(), describe)
    message = str(caught.value)
    assert "\n" not in message
    for name in ("VoiceCall.Intent__c", "VoiceCall.Transcript__c", "Case.Call_Id__c"):
        assert name in message
    assert str(DEFAULT_MAPPING_PATH) in message


def test_a_missing_object_is_reported_with_the_missing_fields():
    with pytest.raises(ConfigError, match=r"Call_Event__e \(object missing"):
        validate_mapping(load_mapping(), org_describe(missing_objects={"Call_Event__e"}))


def test_bad_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text("voice_call:\n  object: VoiceCall\n  fields: [unclosed\n")
    with pytest.raises(InputFileError, match=r"mapping.yaml:\d+:\d+: invalid YAML"):
        load_mapping(path)


def test_an_unknown_artefact_names_file_line_and_field(tmp_path):
    text = DEFAULT_MAPPING_PATH.read_text().replace(
        "FromPhoneNumber: from_number", "FromPhoneNumber: caller_phone"
    )
    path = tmp_path / "mapping.yaml"
    path.write_text(text)
    line = text.splitlines().index("    FromPhoneNumber: caller_phone") + 1
    with pytest.raises(
        ConfigError,
        match=rf"mapping.yaml:{line}: voice_call.fields.FromPhoneNumber: unknown artefact 'caller_phone'",
    ):
        load_mapping(path)


def test_a_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="nope.yaml"):
        load_mapping(tmp_path / "nope.yaml")


def test_call_items_come_actions_first_keyed_by_call_id_and_linked():
    mapping = validate_mapping(load_mapping(), org_describe())
    items = build_call_items(record(), mapping)
    assert [(i.object, i.ext_value) for i in items] == [
        ("Case", "CA" + "1" * 32 + "-case"),
        ("Task", "CA" + "1" * 32 + "-task"),
        ("Task", "CA" + "1" * 32 + "-task2"),
        ("VoiceCall", "CA" + "1" * 32),
    ]
    case, task, _, voice_call = items
    assert case.payload["Subject"] == "Demo request"  # the conversation's field wins
    assert "Bogus__c" not in case.payload  # unknown to the org: dropped, record kept
    assert task.payload["WhatId"] == {"$ref": 0}
    assert voice_call.payload["RelatedRecordId"] == {"$ref": 0}
    assert "Call_Id__c" not in voice_call.payload  # the key travels in the URL


def test_values_are_coerced_to_the_org_field_types():
    mapping = validate_mapping(load_mapping(), org_describe())
    voice_call = build_call_items(record(), mapping)[-1].payload
    assert voice_call["CallStartDateTime"] == "2026-11-22T09:00:00.000Z"
    assert voice_call["CallEndDateTime"] == "2026-11-22T09:01:30.250Z"
    assert voice_call["CallDurationInSeconds"] == 90
    assert voice_call["Intent__c"] == "BookDemo"  # snake_case topic → picklist value
    assert voice_call["Disposition__c"] == "Transferred"
    assert voice_call["Consent_Record__c"] == "Consented"
    assert voice_call["CallType"] == "Inbound"


def test_an_intent_the_restricted_picklist_lacks_becomes_unknown():
    mapping = validate_mapping(load_mapping(), org_describe())
    voice_call = build_call_items(record(intent="talk_about_weather"), mapping)[-1].payload
    assert voice_call["Intent__c"] == "Unknown"


def test_a_transfer_refers_to_the_previous_leg_by_lookup():
    mapping = load_mapping()
    previous = "CA" + "2" * 32
    voice_call = build_call_items(record(previous_call_id=previous), mapping)[-1].payload
    assert voice_call["PreviousCallId"] == {
        "$lookup": {"object": "VoiceCall", "by": "Call_Id__c", "value": previous}
    }


def test_events_carry_their_uuid_in_the_payload():
    event = CallEvent(
        call_id="CA" + "1" * 32, type="intent_decided", payload={"intent": "book_demo"}
    )
    item = build_event_item(event, load_mapping())
    assert item.kind == "event"
    assert item.object == "Call_Event__e"
    assert event.event_id in item.payload["Payload__c"]
    assert item.payload["Type__c"] == "intent_decided"


def test_a_task_listed_before_its_case_still_links_to_it_and_to_one_record_only():
    mapping = validate_mapping(load_mapping(), org_describe())
    actions = [
        {"object": "Task", "fields": {"Subject": "Call back"}},
        {"object": "Lead", "fields": {"LastName": "Ng", "Company": "Acme"}},
        {"object": "Case", "fields": {"Subject": "Broken"}},
    ]
    items = build_call_items(record(intended_actions=actions), mapping)
    assert [i.object for i in items] == ["Lead", "Case", "Task", "VoiceCall"]
    task = items[2].payload
    assert task["WhatId"] == {"$ref": 1}
    assert "WhoId" not in task
    assert items[3].payload["RelatedRecordId"] == {"$ref": 1}  # the Case is preferred
