"""CrmSink: target selection, enqueue-only writes, caller lookup, and secrets kept out of sight."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime

import pytest

from workbench.crm.call_record import CallEvent, CallRecord
from workbench.crm.delivery import Backoff
from workbench.crm.org import LocalOrg
from workbench.crm.sink import CrmSettings, CrmSink, phone_variants, read_dotenv
from workbench.errors import ConfigError

pytestmark = pytest.mark.network

QUICK = Backoff(base_s=0.001, cap_s=0.01, seed=1)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    for key in (
        "SF_USERNAME",
        "SF_PASSWORD",
        "SF_SECURITY_TOKEN",
        "SF_DOMAIN",
        "SF_INSTANCE_URL",
        "SF_SESSION_ID",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return tmp_path


@pytest.fixture
def sink(home):
    crm = CrmSink.from_settings(CrmSettings.from_env(), start_worker=False, backoff=QUICK)
    yield crm
    crm.close()


def record(call_id: str = "CA" + "a" * 32) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        from_number="+14155550101",
        to_number="+18005550100",
        started_at=datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        ended_at=datetime(2026, 11, 22, 9, 1, tzinfo=UTC),
        duration_s=60.0,
        intent="support_request",
        disposition="ai_resolved",
        transcript=[("caller", "my router is broken")],
        consent=False,
        intended_actions=[{"object": "Case", "fields": {"Subject": "Router"}}],
    )


def test_without_credentials_the_embedded_local_org_is_used(sink, home):
    assert sink.target.startswith("local org at http://127.0.0.1:")
    assert sink.org.db_path == home / "org" / "org.sqlite"
    assert sink.outbox.path == home / "crm" / "outbox.sqlite"


def test_write_call_only_enqueues(sink):
    sink.org.stop()  # the org is gone: enqueueing must not care
    ids = sink.write_call(record())
    event_id = sink.publish_event(CallEvent(record().call_id, "intent_decided", {"intent": "x"}))
    assert len(ids) == 2 and event_id > ids[-1]
    assert sink.status().counts["pending"] == 3


def test_written_calls_are_delivered_by_the_worker(sink):
    sink.write_call(record())
    assert sink.worker.drain(timeout_s=30)
    sf = sink.org.salesforce()
    (voice_call,) = sf.query(
        f"SELECT Transcript__c, Consent_Record__c FROM VoiceCall WHERE Call_Id__c = '{record().call_id}'"
    )["records"]
    assert voice_call["Transcript__c"] is None  # no consent, no transcript
    assert voice_call["Consent_Record__c"] == "Declined"


def test_lookup_finds_a_seeded_contact_with_account_vip_flag_and_open_cases(sink):
    caller = sink.lookup_caller("+14155550101")
    assert caller.record_type == "Contact"
    assert caller.name == "Dana Whitfield"
    assert caller.account_name == "Contoso Ltd"
    assert caller.vip is True
    assert caller.open_cases == ("Router not connecting",)


def test_lookup_matches_the_number_however_it_is_written(sink):
    assert sink.lookup_caller("(415) 555-0101").name == "Dana Whitfield"
    assert sink.lookup_caller("+1 415 555 0103").name == "Marcus Lee"  # his mobile


def test_lookup_falls_back_to_leads_and_reports_unknown_and_shared_numbers(sink):
    lead = sink.lookup_caller("+14155550150")
    assert (lead.record_type, lead.name, lead.account_name) == (
        "Lead",
        "Chris Nolan",
        "Blue Yonder Airlines",
    )
    assert sink.lookup_caller("+14155550199") is None
    shared = sink.lookup_caller("+14155550141")
    assert shared.ambiguous and set(shared.candidates) == {"Sam Ortiz", "Jordan Ortiz"}


def test_lookup_returns_none_instead_of_raising_when_the_crm_is_down(sink, caplog):
    sink.org.stop()
    with caplog.at_level(logging.WARNING):
        assert sink.lookup_caller("+14155550101") is None
    assert "caller lookup failed" in caplog.text


def test_a_mapping_field_the_org_lacks_stops_the_sink_with_one_clear_error(home):
    from workbench.crm.mapping import DEFAULT_MAPPING_PATH

    custom = home / "mapping.yaml"
    text = DEFAULT_MAPPING_PATH.read_text().replace(
        "    Summary__c: summary\n\nevent:",
        "    Summary__c: summary\n    Sentiment__c: summary\n\nevent:",
    )
    custom.write_text(text)
    with pytest.raises(ConfigError, match=r"VoiceCall\.Sentiment__c \(missing\)"):
        CrmSink.from_settings(CrmSettings(mapping_path=custom), start_worker=False)


def test_credentials_come_from_a_dotenv_file_overridden_by_the_environment(home):
    (home / ".env").write_text(
        "# org\nexport SF_USERNAME=ops@example.com\nSF_PASSWORD='s3cret pass'\nSF_SECURITY_TOKEN=tok123 # note\n"
    )
    assert read_dotenv(home / ".env")["SF_PASSWORD"] == "s3cret pass"
    settings = CrmSettings.from_env(environ={"SF_DOMAIN": "test"})
    assert settings.uses_real_org
    assert (settings.username, settings.password, settings.security_token, settings.domain) == (
        "ops@example.com",
        "s3cret pass",
        "tok123",
        "test",
    )


def test_secrets_never_appear_in_reprs_or_logs(home, caplog):
    with LocalOrg(host="127.0.0.1", token="SESSION-SECRET-42") as org:
        settings = CrmSettings(
            instance_url=org.instance_url,
            session_id="SESSION-SECRET-42",
            username="ops@example.com",
            password="PASSWORD-SECRET",
            security_token="TOKEN-SECRET",
        )
        with caplog.at_level(logging.DEBUG):
            crm = CrmSink.from_settings(settings, start_worker=False, backoff=QUICK)
            crm.write_call(record())
            assert crm.worker.drain(timeout_s=30)
            crm.lookup_caller("+14155550101")
            crm.close()
        seen = "\n".join([repr(settings), str(settings), repr(crm), str(crm), caplog.text])
    for secret in ("SESSION-SECRET-42", "PASSWORD-SECRET", "TOKEN-SECRET", "ops@example.com"):
        assert secret not in seen
    assert "http://127.0.0.1" in repr(crm)  # the target itself is fine to show


def test_phone_variants_cover_common_north_american_formats():
    variants = phone_variants("+14155550101")
    for form in ("+14155550101", "4155550101", "(415) 555-0101", "415-555-0101"):
        assert form in variants


def test_an_unreachable_configured_org_still_queues_writes(home, caplog):
    with LocalOrg(host="127.0.0.1") as org:
        gone = org.instance_url  # a port nobody listens on once the org stops
    settings = CrmSettings(
        instance_url=gone, session_id="s", request_timeout_s=1, lookup_timeout_s=1
    )
    with caplog.at_level(logging.WARNING):
        crm = CrmSink.from_settings(settings, start_worker=False)
    try:
        assert "could not check the CRM mapping" in caplog.text
        assert len(crm.write_call(record())) == 2
        assert crm.lookup_caller("+14155550101") is None
        assert crm.status().counts["pending"] == 2
    finally:
        crm.close()


def test_a_booking_an_agent_declares_becomes_an_event_with_its_start_time(sink):
    """An agent's `crm:` step may write an Event (e.g. an appointment) beside Case/Lead/Task."""
    booking = {
        "object": "Event",
        "fields": {
            "Subject": "Check-up: Maria Lopez",
            "StartDateTime": "2026-12-08T14:00:00Z",
            "DurationInMinutes": 30,
        },
    }
    booked = dataclasses.replace(record("CA" + "e" * 32), intended_actions=[booking])
    sink.write_call(booked)
    assert sink.worker.drain(timeout_s=30)
    (event,) = sink.org.salesforce().query(
        "SELECT Subject, StartDateTime, DurationInMinutes, Call_Id__c FROM Event"
        f" WHERE Call_Id__c = '{booked.call_id}-event'"
    )["records"]
    assert event["Subject"] == "Check-up: Maria Lopez"
    assert event["StartDateTime"].startswith("2026-12-08T14:00:00")
    assert event["DurationInMinutes"] == 30
