"""`crm`, `topic` and `routed_to` checked in the agent's org by the callSid the caller chose,
with the real simple-salesforce client against the local org server."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from workbench.crm.org import LocalOrg
from workbench.scenario.schema import parse_scenario
from workbench.telephony.caller.org_expect import org_client, org_outcomes

pytestmark = pytest.mark.network

EXPECT = {
    "topic": "BookDemo",
    "routed_to": "ai_resolved",
    "crm": [
        {"object": "VoiceCall", "fields": {"Intent__c": "BookDemo"}},
        {"object": "Lead", "fields": {"Email": "{email}", "LastName": "/Lee/"}},
    ],
}


@pytest.fixture(scope="module")
def org():
    with LocalOrg() as running:
        yield running


def expectations(expect: dict):
    data = {
        "name": "org",
        "persona": {"email": "david@example.com"},
        "steps": [{"say": "hi"}],
        "expect": expect,
    }
    return parse_scenario(Path("org.yaml"), data, None).expect


def write_call(org, sid: str, delay_s: float = 0.0) -> threading.Timer:
    """What the agent's outbox writes for a call, keyed by its callSid (after `delay_s`)."""

    def write() -> None:
        sf = org.salesforce()
        sf.VoiceCall.create(
            {
                "Call_Id__c": sid,
                "CallType": "Inbound",
                "CallStartDateTime": "2026-03-01T09:00:00Z",
                "CallEndDateTime": "2026-03-01T09:02:00Z",
                "FromPhoneNumber": "+14155550101",
                "ToPhoneNumber": "+18005550100",
                "Intent__c": "BookDemo",
                "Disposition__c": "Resolved",
            }
        )
        sf.Lead.create(
            {
                "Call_Id__c": f"{sid}-lead",
                "LastName": "David Lee",
                "Company": "Unknown",
                "Email": "david@example.com",
            }
        )

    timer = threading.Timer(delay_s, write)
    timer.start()
    return timer


def test_records_the_call_wrote_are_found_by_its_call_sid_once_they_settle(org):
    sid = "CA" + uuid.uuid4().hex
    write_call(org, sid, delay_s=1.0)  # delivered a moment after the call ends
    client = org_client(org.instance_url, org.token)
    verdicts = [
        (o["expectation"], o["status"]) for o in org_outcomes(expectations(EXPECT), sid, client)
    ]
    assert verdicts == [
        ("crm VoiceCall", "pass"),
        ("crm Lead", "pass"),
        ("topic", "pass"),
        ("routed_to", "pass"),
    ]


def test_another_calls_records_and_wrong_values_fail_with_what_the_org_holds(org):
    sid = "CA" + uuid.uuid4().hex
    write_call(org, sid).join()
    client = org_client(org.instance_url, org.token)
    expect = expectations(
        {"topic": "OpeningHours", "routed_to": "human", "crm": [{"object": "Case"}]}
    )
    outcomes = org_outcomes(expect, sid, client, settle_s=1.0)
    assert [(o["expectation"], o["status"]) for o in outcomes] == [
        ("crm Case", "fail"),
        ("topic", "fail"),
        ("routed_to", "fail"),
    ]
    assert outcomes[1]["evidence"] == "Intent__c='BookDemo'"
    assert outcomes[2]["evidence"] == "Disposition__c='Resolved'"
    other = org_outcomes(expectations(EXPECT), "CA" + uuid.uuid4().hex, client, settle_s=0.5)
    assert other[0]["status"] == "fail" and "no VoiceCall record" in other[0]["evidence"]


def test_an_org_without_its_token_is_one_clear_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from workbench.cli import app
    from workbench.errors import ConfigError

    monkeypatch.delenv("SF_SESSION_ID", raising=False)
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nsteps:\n  - say: hi\n")
    result = CliRunner().invoke(
        app,
        ["call", "ws://127.0.0.1:9/media", "--scenario", str(scenario), "--org", "http://x"],
    )
    # (`workbench.cli.main` turns a ConfigError into this one line and exit code 2)
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception).startswith("--org and --org-token go together")
