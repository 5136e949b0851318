"""Fault injection: the spec syntax, and what a faulty org does to simple-salesforce calls."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from workbench.crm.org import LocalOrg
from workbench.crm.org.faults import FaultInjector, parse_fault_spec
from workbench.errors import ConfigError

CALL = {
    "CallType": "Inbound",
    "CallStartDateTime": "2026-03-01T09:00:00Z",
    "CallEndDateTime": "2026-03-01T09:02:30Z",
    "FromPhoneNumber": "+14155550101",
    "ToPhoneNumber": "+18005550100",
}

# ------------------------------------------------------------------ spec parsing


def test_a_full_spec_parses_and_prints_back():
    spec = parse_fault_spec(
        "limit=0.1, drop=5%, latency=200ms, error500=0.1, error503=0.1, lock=0.1, budget=1000, "
        "object=VoiceCall|Case, route=upsert|composite, seed=7"
    )
    assert spec.probabilities == pytest.approx(
        {"limit": 0.1, "drop": 0.05, "error500": 0.1, "error503": 0.1, "lock": 0.1}
    )
    assert spec.latency_ms == (200, 200) and spec.budget == 1000 and spec.seed == 7
    assert spec.objects == {"VoiceCall", "Case"} and spec.routes == {"upsert", "composite"}
    assert parse_fault_spec(str(spec)) == spec


@pytest.mark.parametrize("text", ["", None, "none", "off"])
def test_an_empty_spec_injects_nothing(text):
    spec = parse_fault_spec(text)
    assert str(spec) == "" and FaultInjector(spec).draw("query", None) is None


def test_latency_accepts_seconds_and_ranges():
    assert parse_fault_spec("latency=0.25s").latency_ms == (250, 250)
    assert parse_fault_spec("latency=100-300ms").latency_ms == (100, 300)
    assert parse_fault_spec("latency=150").latency_ms == (150, 150)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("transient", "key=value"),
        ("transient=lots", "not a probability"),
        ("limit=1.5", "outside 0..1"),
        ("limit=0.6,drop=0.6", "more than 1"),
        ("latency=fast", "duration"),
        ("budget=-3", "whole number"),
        ("route=bulk", "unknown route 'bulk'"),
        ("chaos=1", "unknown key 'chaos'"),
    ],
)
def test_a_bad_spec_is_a_config_error_naming_the_problem(text, words):
    with pytest.raises(ConfigError, match=words):
        parse_fault_spec(text)


def test_draws_are_reproducible_for_a_seed_and_respect_scope():
    spec = parse_fault_spec("transient=0.5,seed=3,object=VoiceCall")
    first = [FaultInjector(spec).draw("upsert", "VoiceCall") for _ in range(1)]
    a, b = FaultInjector(spec), FaultInjector(spec)
    assert [a.draw("upsert", "VoiceCall") for _ in range(50)] == [
        b.draw("upsert", "VoiceCall") for _ in range(50)
    ]
    assert first[0] in (None, "error503", "error500", "lock", "drop")
    kinds = {a.draw("upsert", "VoiceCall") for _ in range(200)}
    assert kinds == {None, "error503", "error500", "lock", "drop"}
    assert {a.draw("upsert", "Case") for _ in range(50)} == {None}


def test_a_bad_spec_given_to_the_org_fails_before_it_starts():
    with pytest.raises(ConfigError):
        LocalOrg(faults="limit=2")


# ------------------------------------------------------------------ faults over HTTP


@pytest.fixture(scope="module")
def org():
    with LocalOrg(seed_demo_data=False) as running:
        yield running


@pytest.fixture
def sf(org):
    org.set_faults("")
    yield org.salesforce()
    org.set_faults("")


@pytest.mark.network
def test_transient_faults_fail_with_salesforce_shapes(org, sf):
    org.set_faults("transient=1.0,seed=1")
    seen = set()
    for _ in range(30):
        try:
            sf.query("SELECT Id FROM Contact")
        except SalesforceGeneralError as error:
            seen.add((error.status, error.content[0]["errorCode"]))
        except SalesforceMalformedRequest as error:
            seen.add((error.status, error.content[0]["errorCode"]))
        except requests.ConnectionError:
            seen.add("dropped")
        else:
            pytest.fail("a request succeeded although transient=1.0")
    assert seen == {
        (503, "SERVER_UNAVAILABLE"),
        (500, "UNKNOWN_EXCEPTION"),
        (400, "UNABLE_TO_LOCK_ROW"),
        "dropped",
    }


@pytest.mark.network
def test_limit_fault_is_403_request_limit_exceeded(org, sf):
    org.set_faults("limit=1")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.Contact.create({"LastName": "Nobody"})
    assert caught.value.status == 403
    assert caught.value.content[0] == {
        "message": "TotalRequests Limit exceeded.",
        "errorCode": "REQUEST_LIMIT_EXCEEDED",
        "fields": [],
    }


@pytest.mark.network
def test_drop_closes_the_connection_and_writes_nothing(org, sf):
    org.set_faults("drop=1,object=VoiceCall")
    with pytest.raises(requests.ConnectionError):
        sf.VoiceCall.upsert("Call_Id__c/dropped-1", CALL)
    org.set_faults("")
    assert sf.query("SELECT Id FROM VoiceCall WHERE Call_Id__c = 'dropped-1'")["totalSize"] == 0


@pytest.mark.network
def test_drop_after_commit_makes_a_retried_upsert_idempotent(org, sf):
    org.set_faults("dropafter=1,route=upsert")
    with pytest.raises(requests.ConnectionError):
        sf.VoiceCall.upsert("Call_Id__c/dropped-after-1", CALL)
    org.set_faults("")
    assert sf.VoiceCall.upsert("Call_Id__c/dropped-after-1", CALL) == 200  # the retry updates
    assert (
        sf.query("SELECT Id FROM VoiceCall WHERE Call_Id__c = 'dropped-after-1'")["totalSize"] == 1
    )


@pytest.mark.network
def test_scoped_faults_leave_other_routes_alone(org, sf):
    org.set_faults("error500=1,route=composite")
    assert sf.query("SELECT COUNT() FROM Contact")["done"] is True
    with pytest.raises(SalesforceGeneralError):
        sf.restful("composite/sobjects", method="POST", json={"records": []})


@pytest.mark.network
def test_budget_counts_api_usage_and_then_refuses(org, sf):
    org.set_faults("budget=3")
    sf.query("SELECT Id FROM Contact")
    assert sf.api_usage["api-usage"].used == 1 and sf.api_usage["api-usage"].total == 3
    sf.query("SELECT Id FROM Contact")
    assert sf.limits()["DailyApiRequests"] == {"Max": 3, "Remaining": 0}
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Contact")
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


@pytest.mark.network
def test_faults_are_set_through_the_admin_endpoint_which_they_never_hit(org):
    http = org.http_session()
    http.headers["Authorization"] = f"Bearer {org.token}"
    url = f"{org.instance_url}/__admin/faults"
    assert http.post(url, json={"spec": "transient=1"}).json() == {"spec": "transient=1"}
    assert http.get(url).json() == {"spec": "transient=1"}
    assert org.faults == "transient=1"
    token = http.post(f"{org.instance_url}/services/oauth2/token", data={"grant_type": "password"})
    assert token.status_code == 200  # neither the admin routes nor login are faulted
    bad = http.post(url, json={"spec": "transient=9"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "BAD_FAULT_SPEC"
    assert http.post(url, json={"spec": ""}).json() == {"spec": ""}
    counts = http.get(f"{org.instance_url}/__admin/requests").json()
    assert counts["counts"]["admin 200"] >= 3 and "apiUsage" in counts
