"""The local org speaks Salesforce REST to the real simple-salesforce client (reference §11)."""

from __future__ import annotations

import uuid

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from workbench.crm.org import LocalOrg

pytestmark = pytest.mark.network

CALL = {
    "CallType": "Inbound",
    "CallStartDateTime": "2026-03-01T09:00:00Z",
    "CallEndDateTime": "2026-03-01T09:02:30+00:00",
    "FromPhoneNumber": "+14155550101",
    "ToPhoneNumber": "+18005550100",
}


@pytest.fixture(scope="module")
def org():
    with LocalOrg() as running:
        yield running


@pytest.fixture(scope="module")
def sf(org) -> Salesforce:
    return org.salesforce()


@pytest.fixture
def http(org):
    """A plain requests session with the org's bearer token, for checking raw responses."""
    session = org.http_session()
    session.headers["Authorization"] = f"Bearer {org.token}"
    return session


def key() -> str:
    return f"call-{uuid.uuid4()}"


def data_url(org, path: str, version: str = "59.0") -> str:
    return f"{org.instance_url}/services/data/v{version}/{path}"


# ------------------------------------------------------------------ envelope and auth


def test_every_response_is_json_and_carries_the_limit_header(org, http):
    response = http.get(data_url(org, "sobjects"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")
    missing = http.get(data_url(org, "sobjects/Contact/003LO0000000999"))
    assert missing.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert "Sforce-Limit-Info" in missing.headers


def test_api_usage_is_parsed_by_the_client(sf):
    sf.query("SELECT Id FROM Account LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert usage.used >= 1 and usage.total == 15000


def test_a_missing_or_unknown_token_is_a_401_list_with_invalid_session_id(org):
    bad = Salesforce(instance_url=org.instance_url, session_id="nope", session=org.http_session())
    with pytest.raises(SalesforceExpiredSession) as caught:
        bad.query("SELECT Id FROM Contact")
    assert caught.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    anonymous = org.http_session().get(data_url(org, "limits/"))
    assert anonymous.status_code == 401 and anonymous.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_any_version_and_an_optional_trailing_slash_are_accepted(org, http):
    for path in ("sobjects", "sobjects/", "limits", "limits/"):
        for version in ("45.0", "59.0", "62.0"):
            assert http.get(data_url(org, path, version)).status_code == 200
    assert http.get(f"{org.instance_url}/services/data/v59/sobjects").status_code == 404


def test_versions_list_needs_no_token(org):
    versions = org.http_session().get(f"{org.instance_url}/services/data/").json()
    assert {"label", "url", "version"} <= set(versions[0])
    assert any(v["version"] == "59.0" for v in versions)


def test_oauth_password_flow_returns_the_server_token(org):
    response = org.http_session().post(
        f"{org.instance_url}/services/oauth2/token",
        data={"grant_type": "password", "username": "u", "password": "p"},
    )
    body = response.json()
    assert response.status_code == 200
    assert body["access_token"] == org.token and body["instance_url"] == org.instance_url
    assert body["token_type"] == "Bearer" and {"id", "issued_at", "signature"} <= set(body)


def test_username_password_logins_work_through_the_login_host(org):
    soap = Salesforce(
        username="a@b.c", password="pw", security_token="t", session=org.http_session()
    )
    oauth = Salesforce(
        username="a@b.c",
        password="pw",
        consumer_key="k",
        consumer_secret="s",
        session=org.http_session(),
    )
    for client in (soap, oauth):
        assert client.session_id == org.token
        assert client.query("SELECT COUNT() FROM Account")["totalSize"] >= 5


# ------------------------------------------------------------------ describe and limits


def test_global_describe_lists_the_objects_with_key_prefixes(sf):
    described = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert sf.describe()["maxBatchSize"] == 200
    expected = {
        "Account": "001",
        "Contact": "003",
        "Lead": "00Q",
        "Case": "500",
        "Task": "00T",
        "VoiceCall": "0LQ",
        "Call_Event__e": "e01",
    }
    assert {name: described[name]["keyPrefix"] for name in expected} == expected


def test_describe_reports_field_properties(sf):
    fields = {f["name"]: f for f in sf.VoiceCall.describe()["fields"]}
    call_id = fields["Call_Id__c"]
    assert call_id["externalId"] and call_id["unique"] and call_id["type"] == "string"
    assert call_id["length"] == 64
    for required in (
        "CallType",
        "CallStartDateTime",
        "CallEndDateTime",
        "FromPhoneNumber",
        "ToPhoneNumber",
    ):
        assert not fields[required]["nillable"] and fields[required]["createable"]
    intents = [p["value"] for p in fields["Intent__c"]["picklistValues"]]
    assert "BookDemo" in intents and "SpeakToHuman" in intents
    assert not fields["CreatedDate"]["createable"] and fields["IsRecorded"]["defaultedOnCreate"]
    assert {
        "name",
        "type",
        "length",
        "nillable",
        "createable",
        "updateable",
        "defaultedOnCreate",
        "externalId",
        "idLookup",
        "unique",
        "picklistValues",
    } <= set(call_id)


def test_basic_info_and_limits(sf):
    assert sf.Case.metadata()["objectDescribe"]["keyPrefix"] == "500"
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15000
    assert 0 < limits["DailyApiRequests"]["Remaining"] < 15000


def test_an_unknown_object_is_invalid_type(sf):
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Spaceship__c.create({"Name": "x"})
    assert caught.value.content[0]["errorCode"] == "INVALID_TYPE"


# ------------------------------------------------------------------ create / get / update / delete


def test_create_returns_201_with_an_18_character_id(org, http):
    response = http.post(data_url(org, "sobjects/Contact/"), json={"LastName": "Lovelace"})
    assert response.status_code == 201
    body = response.json()
    assert (
        body["success"] is True
        and body["errors"] == []
        and set(body) == {"id", "success", "errors"}
    )
    assert body["id"].startswith("003") and len(body["id"]) == 18


def test_required_fields_missing_lists_them(sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.VoiceCall.create({"FromPhoneNumber": "+14155550101", "ToPhoneNumber": "+18005550100"})
    assert caught.value.content == [
        {
            "message": "Required fields are missing: [CallType, CallStartDateTime, CallEndDateTime]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["CallType", "CallStartDateTime", "CallEndDateTime"],
        }
    ]


def test_get_update_delete_round_trip_with_system_fields(sf):
    created = sf.VoiceCall.create({**CALL, "Call_Id__c": key(), "Intent__c": "OpeningHours"})
    record = sf.VoiceCall.get(created["id"])
    assert record["attributes"] == {
        "type": "VoiceCall",
        "url": f"/services/data/v59.0/sobjects/VoiceCall/{created['id']}",
    }
    assert record["CallStartDateTime"] == "2026-03-01T09:00:00.000+0000"
    assert record["CallEndDateTime"] == "2026-03-01T09:02:30.000+0000"
    assert record["Name"].startswith("VC-") and record["IsDeleted"] is False
    assert len(record["CreatedDate"]) == len("2026-03-01T09:00:00.000+0000")
    assert record["CreatedDate"].endswith("+0000")
    assert sf.VoiceCall.update(created["id"], {"Disposition__c": "Resolved"}) == 204
    assert sf.VoiceCall.get(created["id"])["Disposition__c"] == "Resolved"
    assert sf.VoiceCall.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.VoiceCall.get(created["id"])


def test_a_case_keeps_the_web_to_case_fields_the_agent_writes(sf):
    # The agent records who opened a case and what kind it is (SuppliedName, Type), as
    # Salesforce's standard Case allows; a missing field would be dropped from the write.
    fields = {f["name"] for f in sf.Case.describe()["fields"]}
    assert {"Type", "SuppliedName", "SuppliedEmail", "SuppliedPhone"} <= fields
    created = sf.Case.create(
        {"Subject": "Cancellation request", "Type": "Cancellation", "SuppliedName": "James Wu"}
    )
    record = sf.Case.get(created["id"])
    assert (record["Type"], record["SuppliedName"]) == ("Cancellation", "James Wu")


def test_get_with_fields_returns_only_those(sf):
    created = sf.Lead.create({"LastName": "Hopper", "Company": "Navy"})
    record = sf.Lead.get(created["id"], params={"fields": "Id,Name,Company"})
    assert list(record) == ["attributes", "Id", "Name", "Company"]
    assert record["Name"] == "Hopper" and record["Company"] == "Navy"


def test_a_15_character_id_is_accepted_and_18_returned(sf):
    created = sf.Account.create({"Name": "Short Id Co"})
    record = sf.Account.get(created["id"][:15])
    assert record["Id"] == created["id"]


def test_unknown_and_malformed_ids(sf):
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Contact.get("003LO0000099999")
    assert missing.value.content[0]["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.Contact.get("not-an-id")
    assert malformed.value.content[0]["errorCode"] == "MALFORMED_ID"


def test_unknown_and_read_only_fields_are_refused(sf):
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.Contact.create({"LastName": "X", "Shoe_Size__c": 44})
    assert unknown.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert unknown.value.content[0]["fields"] == ["Shoe_Size__c"]
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Contact.create({"LastName": "X", "CreatedDate": "2020-01-01T00:00:00Z"})
    assert read_only.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"Intent__c": "Dancing"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Consent_Record__c": "x" * 256}, "STRING_TOO_LONG"),
        ({"Intent_Confidence__c": "high"}, "JSON_PARSER_ERROR"),
        ({"IsRecorded": "maybe"}, "JSON_PARSER_ERROR"),
        ({"CallStartDateTime": "yesterday"}, "JSON_PARSER_ERROR"),
        ({"CallDurationInSeconds": 12.5}, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        ({"RelatedRecordId": "001LO0000099999"}, "INVALID_CROSS_REFERENCE_KEY"),
    ],
)
def test_values_are_type_checked(sf, fields, code):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.VoiceCall.create({**CALL, **fields})
    assert caught.value.content[0]["errorCode"] == code
    assert caught.value.content[0]["fields"] in ([], list(fields))


def test_a_body_that_is_not_json_is_a_parser_error(org, http):
    response = http.post(data_url(org, "sobjects/Contact/"), data="{not json")
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_a_unique_external_id_cannot_be_duplicated(sf):
    call_id = key()
    sf.VoiceCall.create({**CALL, "Call_Id__c": call_id})
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.VoiceCall.create({**CALL, "Call_Id__c": call_id})
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_updated_and_deleted_windows(sf):
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) - timedelta(minutes=1)
    kept = sf.Lead.create({"LastName": "Kept", "Company": "K"})["id"]
    gone = sf.Lead.create({"LastName": "Gone", "Company": "G"})["id"]
    sf.Lead.delete(gone)
    end = datetime.now(UTC) + timedelta(minutes=1)
    assert kept in sf.Lead.updated(start, end)["ids"]
    assert gone not in sf.Lead.updated(start, end)["ids"]
    assert gone in [r["id"] for r in sf.Lead.deleted(start, end)["deletedRecords"]]


# ------------------------------------------------------------------ upsert by external id


def test_upsert_creates_then_updates_one_record(sf, org, http):
    call_id = key()
    first = sf.VoiceCall.upsert(f"Call_Id__c/{call_id}", CALL, raw_response=True)
    assert first.status_code == 201 and first.json()["created"] is True
    second = sf.VoiceCall.upsert(
        f"Call_Id__c/{call_id}", {"Intent__c": "BookDemo"}, raw_response=True
    )
    assert second.status_code == 200
    assert second.json() == {
        "id": first.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    found = sf.query(f"SELECT Id, Intent__c FROM VoiceCall WHERE Call_Id__c = '{call_id}'")
    assert found["totalSize"] == 1 and found["records"][0]["Intent__c"] == "BookDemo"
    old = http.patch(data_url(org, f"sobjects/VoiceCall/Call_Id__c/{call_id}", "45.0"), json={})
    assert old.status_code == 204 and old.content == b""


def test_get_by_external_id_decodes_the_value(sf):
    call_id = f"{key()}/a:b"  # sent as %2F and %3A by get_by_custom_id (quote_plus)
    created = sf.Case.create({"Subject": "Call back", "Call_Id__c": call_id})
    record = sf.Case.get_by_custom_id("Call_Id__c", call_id)
    assert record["Id"] == created["id"] and record["Call_Id__c"] == call_id


def test_several_matches_answer_300_with_the_record_urls(sf):
    # Two seeded contacts share one line; Phone is not an external id, so use VendorCallKey.
    vendor_key = key()
    a = sf.VoiceCall.create({**CALL, "VendorCallKey": vendor_key})
    b = sf.VoiceCall.create({**CALL, "VendorCallKey": vendor_key})
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.VoiceCall.upsert(f"VendorCallKey/{vendor_key}", {"Description": "x"})
    assert caught.value.status == 300
    assert sorted(caught.value.content) == sorted(
        f"/services/data/v59.0/sobjects/VoiceCall/{i}" for i in (a["id"], b["id"])
    )


def test_upsert_errors(sf, org, http):
    with pytest.raises(SalesforceResourceNotFound):
        sf.VoiceCall.upsert("No_Such_Field__c/1", CALL)
    with pytest.raises(SalesforceMalformedRequest) as differs:
        sf.VoiceCall.upsert(f"Call_Id__c/{key()}", {**CALL, "Call_Id__c": "other"})
    assert differs.value.content[0]["errorCode"] == "INVALID_FIELD"
    update_only = http.patch(
        data_url(org, f"sobjects/VoiceCall/Call_Id__c/{key()}?updateOnly=true"), json=CALL
    )
    assert update_only.status_code == 404


# ------------------------------------------------------------------ platform events


def test_publishing_an_event_is_201_with_operation_enqueued_and_the_event_is_listed(sf, org, http):
    before = org.published_events()[-1]["replayId"] if org.published_events() else 0
    result = sf.Call_Event__e.create(
        {"Call_Id__c": "c-1", "Type__c": "CALL_ENDED", "Payload__c": '{"turns": 4}'}
    )
    assert result["success"] is True and result["id"].startswith("e01")
    (error,) = result["errors"]
    assert error["statusCode"] == "OPERATION_ENQUEUED" and error["fields"] == []
    uuid.UUID(error["message"])
    listed = http.get(f"{org.instance_url}/__admin/events", params={"after": before}).json()
    assert [e["eventUuid"] for e in listed["events"]] == [error["message"]]
    event = listed["events"][0]
    assert event["payload"] == {
        "Call_Id__c": "c-1",
        "Type__c": "CALL_ENDED",
        "Payload__c": '{"turns": 4}',
    }
    assert listed["lastReplayId"] == event["replayId"] > before
    assert org.published_events(after=before)[0]["eventUuid"] == error["message"]


def test_events_cannot_be_read_updated_or_deleted(org, http, sf):
    event_id = sf.Call_Event__e.create({"Type__c": "X"})["id"]
    assert http.get(data_url(org, f"sobjects/Call_Event__e/{event_id}")).status_code == 405
    assert (
        http.patch(data_url(org, f"sobjects/Call_Event__e/{event_id}"), json={}).status_code == 405
    )
    assert http.delete(data_url(org, f"sobjects/Call_Event__e/{event_id}")).status_code == 405
    upsert = http.patch(data_url(org, "sobjects/Call_Event__e/Call_Id__c/x"), json={})
    assert upsert.status_code == 400


def test_events_long_poll_returns_when_nothing_is_new(org, http):
    last = http.get(f"{org.instance_url}/__admin/events").json()["lastReplayId"]
    empty = http.get(f"{org.instance_url}/__admin/events", params={"after": last, "timeout": 0.05})
    assert empty.status_code == 200 and empty.json()["events"] == []


def test_admin_routes_need_the_token(org):
    assert org.http_session().get(f"{org.instance_url}/__admin/events").status_code == 401


# ------------------------------------------------------------------ query


def test_caller_lookup_by_phone_with_relationship_fields(sf):
    result = sf.query(
        "SELECT Id, Name, Account.Name, Account.VIP__c FROM Contact WHERE Phone = '+14155550101'"
    )
    assert result["totalSize"] == 1 and result["done"] is True
    (dana,) = result["records"]
    assert dana["Name"] == "Dana Whitfield"
    assert dana["Account"]["Name"] == "Contoso Ltd" and dana["Account"]["VIP__c"] is True
    assert dana["attributes"]["type"] == "Contact"
    assert dana["attributes"]["url"] == f"/services/data/v59.0/sobjects/Contact/{dana['Id']}"


def test_where_order_limit_offset(sf):
    result = sf.query(
        "SELECT LastName, FirstName FROM Contact "
        "WHERE (Phone LIKE '+1415555014_' OR LastName IN ('Becker', 'garcia')) AND NOT FirstName = 'Sam' "
        "ORDER BY LastName DESC, FirstName ASC NULLS LAST LIMIT 2 OFFSET 1"
    )
    assert [r["LastName"] for r in result["records"]] == ["Garcia", "Becker"]
    assert (
        sf.query("SELECT Id FROM Lead WHERE Email = null AND Company != 'Navy'")["totalSize"] >= 3
    )
    vip = sf.query("SELECT Name FROM Account WHERE VIP__c = TRUE ORDER BY Name")
    assert [r["Name"] for r in vip["records"]] == ["Contoso Ltd", "Fabrikam Inc"]
    open_cases = sf.query(
        "SELECT Subject FROM Case WHERE Status != 'Closed' AND Contact.LastName = 'Becker'"
    )
    assert [r["Subject"] for r in open_cases["records"]] == ["Order 1042 delayed"]


def test_numbers_and_datetimes_in_where(sf):
    call_id = key()
    sf.VoiceCall.create(
        {
            **CALL,
            "Call_Id__c": call_id,
            "Intent_Confidence__c": 0.87,
            "CallStartDateTime": "2031-05-05T10:00:00Z",
        }
    )
    query = (
        "SELECT Call_Id__c FROM VoiceCall WHERE Intent_Confidence__c >= 0.8 "
        "AND CallStartDateTime > 2031-01-01T00:00:00Z"
    )
    assert [r["Call_Id__c"] for r in sf.query(query)["records"]] == [call_id]


def test_ids_in_where_may_have_15_characters(sf):
    account = sf.query("SELECT Id FROM Account WHERE Name = 'Northwind Traders'")["records"][0][
        "Id"
    ]
    by_short = sf.query(
        f"SELECT LastName FROM Contact WHERE AccountId = '{account[:15]}' ORDER BY LastName"
    )
    assert [r["LastName"] for r in by_short["records"]] == ["Becker", "Raman"]
    assert (
        sf.query(f"SELECT Id FROM Account WHERE Id = '{account[:15]}'")["records"][0]["Id"]
        == account
    )


def test_count(sf):
    assert sf.query("SELECT COUNT() FROM Account WHERE VIP__c = true") == {
        "totalSize": 2,
        "done": True,
        "records": [],
    }


def test_query_all_includes_deleted_records(sf):
    call_id = key()
    record_id = sf.Task.create({"Subject": "Follow up", "Call_Id__c": call_id})["id"]
    sf.Task.delete(record_id)
    soql = f"SELECT Id, IsDeleted FROM Task WHERE Call_Id__c = '{call_id}'"
    assert sf.query(soql)["totalSize"] == 0
    deleted = sf.query(soql, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in deleted] == [(record_id, True)]


def test_paging_follows_root_relative_next_records_urls(sf, org, http):
    tag = key()
    for chunk in range(3):
        body = {
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Task"}, "Subject": f"{tag}-{chunk}-{i}"}
                for i in range(150)
            ],
        }
        assert all(r["success"] for r in sf.restful("composite/sobjects", method="POST", json=body))
    soql = f"SELECT Subject FROM Task WHERE Subject LIKE '{tag}%'"
    first = http.get(
        data_url(org, "query/"),
        params={"q": soql},
        headers={"Sforce-Query-Options": "batchSize=200"},
    ).json()
    assert first["totalSize"] == 450 and first["done"] is False and len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    everything = sf.query_all(soql, headers={"Sforce-Query-Options": "batchSize=200"})
    assert everything["totalSize"] == 450 and len(everything["records"]) == 450
    assert len({r["Subject"] for r in everything["records"]}) == 450


@pytest.mark.parametrize(
    ("soql", "code", "words"),
    [
        ("SELECT Id FROM", "MALFORMED_QUERY", "expected an object name"),
        ("SELECT Id, COUNT(Id) FROM Contact", "MALFORMED_QUERY", "COUNT"),
        ("SELECT Name FROM Account GROUP BY Name", "MALFORMED_QUERY", "GROUP BY"),
        (
            "SELECT Id FROM Contact WHERE Id IN (SELECT ContactId FROM Case)",
            "MALFORMED_QUERY",
            "subqueries",
        ),
        (
            "SELECT Id FROM Contact WHERE A = 1 AND B = 2 OR C = 3",
            "INVALID_FIELD",
            "No such column 'A'",
        ),
        (
            "SELECT Id FROM Contact WHERE LastName = 'a' AND Phone = 'b' OR Email = 'c'",
            "MALFORMED_QUERY",
            "parentheses",
        ),
        ("SELECT Id FROM Contact WHERE CreatedDate = TODAY", "MALFORMED_QUERY", "TODAY"),
        ("SELECT Id FROM Contact WHERE LastName = 5", "INVALID_FIELD", "string"),
        ("SELECT Nope FROM Contact", "INVALID_FIELD", "Nope"),
        ("SELECT Id FROM Starship", "INVALID_TYPE", "Starship"),
        ("SELECT Id FROM Contact LIMIT x", "MALFORMED_QUERY", "LIMIT"),
        (
            "SELECT Id FROM Contact WHERE LastName = 'unterminated",
            "MALFORMED_QUERY",
            "unexpected character",
        ),
    ],
)
def test_unsupported_or_invalid_soql_is_a_400_naming_the_problem(sf, soql, code, words):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    assert caught.value.content[0]["errorCode"] == code
    assert words in caught.value.content[0]["message"]


# ------------------------------------------------------------------ sObject collections


def test_collection_create_reports_each_record(sf):
    result = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Case"}, "Subject": "ok"},
                {"attributes": {"type": "Case"}, "Priority": "Urgent!!", "Status": "x" * 300},
                {"attributes": {"type": "Call_Event__e"}, "Type__c": "CASE_OPENED"},
            ],
        },
    )
    assert result[0]["success"] is True and result[0]["id"].startswith("500")
    assert (
        result[1]["success"] is False and result[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    )
    assert "errorCode" not in result[1]["errors"][0]
    assert result[2]["errors"][0]["statusCode"] == "OPERATION_ENQUEUED"


def test_all_or_none_rolls_back_every_record(sf):
    subject = key()
    result = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Case"}, "Subject": subject},
                {"attributes": {"type": "VoiceCall"}, "CallType": "Inbound"},
            ],
        },
    )
    assert [r["success"] for r in result] == [False, False]
    assert result[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert result[0]["id"] is None
    assert result[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.query(f"SELECT Id FROM Case WHERE Subject = '{subject}'")["totalSize"] == 0


def test_collection_update_upsert_retrieve_and_delete(sf):
    a, b = key(), key()
    upserted = sf.restful(
        "composite/sobjects/VoiceCall/Call_Id__c",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "VoiceCall"}, "Call_Id__c": k, **CALL} for k in (a, b)
            ],
        },
    )
    assert [r["created"] for r in upserted] == [True, True]
    again = sf.restful(
        "composite/sobjects/VoiceCall/Call_Id__c",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "VoiceCall"}, "Call_Id__c": a, "Intent__c": "Unknown"}
            ],
        },
    )
    assert again == [{"id": upserted[0]["id"], "success": True, "errors": [], "created": False}]
    ids = [r["id"] for r in upserted]
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "VoiceCall"}, "id": i, "Disposition__c": "Transferred"}
                for i in ids
            ]
        },
    )
    assert all(r["success"] for r in updated)
    fetched = sf.restful(
        "composite/sobjects/VoiceCall", params={"ids": ",".join(ids), "fields": "Disposition__c"}
    )
    assert [r["Disposition__c"] for r in fetched] == ["Transferred", "Transferred"]
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(ids)})
    assert [r["success"] for r in deleted] == [True, True]


def test_a_collection_of_more_than_200_records_is_refused(sf):
    records = [{"attributes": {"type": "Task"}, "Subject": "x"}] * 201
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite/sobjects", method="POST", json={"records": records})


def test_unknown_routes_are_404_and_wrong_methods_405(org, http):
    assert http.get(data_url(org, "nothing/here")).status_code == 404
    response = http.put(data_url(org, "sobjects/Contact/"), json={})
    assert response.status_code == 405 and response.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_server_errors_surface_as_general_errors(org, sf):
    # A 5xx from the org maps to SalesforceGeneralError (fault injection is the usual source).
    org.set_faults("error503=1,route=limits")
    try:
        with pytest.raises(SalesforceGeneralError) as caught:
            sf.limits()
        assert caught.value.status == 503
    finally:
        org.set_faults("")


# ------------------------------------------------------------------ composite


def test_composite_runs_subrequests_with_references(sf):
    call_id = key()
    response = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "PATCH",
                    "url": f"/services/data/v59.0/sobjects/VoiceCall/Call_Id__c/{call_id}",
                    "referenceId": "call",
                    "body": CALL,
                },
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Task",
                    "referenceId": "task",
                    "body": {"Subject": "Call summary", "Call_Id__c": call_id},
                },
                {
                    "method": "PATCH",
                    "url": "/services/data/v59.0/sobjects/VoiceCall/@{call.id}",
                    "referenceId": "link",
                    "body": {"Description": "task @{task.id}"},
                },
                {
                    "method": "GET",
                    "url": "/services/data/v59.0/sobjects/VoiceCall/@{call.id}?fields=Description",
                    "referenceId": "read",
                },
            ],
        },
    )["compositeResponse"]
    assert [r["httpStatusCode"] for r in response] == [201, 201, 204, 200]
    task_id = response[1]["body"]["id"]
    assert response[1]["httpHeaders"]["Location"].endswith(f"/sobjects/Task/{task_id}")
    assert response[3]["body"]["Description"] == f"task {task_id}"


def test_composite_all_or_none_rolls_back_and_halts(sf):
    subject = key()
    response = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Case",
                    "referenceId": "case",
                    "body": {"Subject": subject},
                },
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/VoiceCall",
                    "referenceId": "call",
                    "body": {"CallType": "Inbound"},
                },
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Task",
                    "referenceId": "task",
                    "body": {"Subject": subject},
                },
            ],
        },
    )["compositeResponse"]
    assert [r["httpStatusCode"] for r in response] == [400, 400, 400]
    assert response[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert response[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert response[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query(f"SELECT Id FROM Case WHERE Subject = '{subject}'")["totalSize"] == 0
