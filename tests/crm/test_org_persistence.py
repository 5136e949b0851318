"""The local org keeps its records in SQLite across restarts; demo data is seeded once."""

from __future__ import annotations

import pytest

from workbench.crm.org import LocalOrg

pytestmark = pytest.mark.network


def test_records_survive_a_restart_and_demo_data_is_not_seeded_twice(tmp_path):
    db_path = tmp_path / "org" / "org.sqlite"
    with LocalOrg(db_path=db_path, token="fixed-token") as org:
        sf = org.salesforce()
        contacts = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
        created = sf.Case.create({"Subject": "Survives", "Call_Id__c": "persist-1"})
        sf.Call_Event__e.create({"Type__c": "CALL_ENDED"})
        first_port = org.port
    assert db_path.exists()
    with LocalOrg(db_path=db_path) as again:
        sf = again.salesforce()
        assert again.token != "fixed-token"
        assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == contacts
        assert sf.Case.get_by_custom_id("Call_Id__c", "persist-1")["Id"] == created["id"]
        assert [e["payload"]["Type__c"] for e in again.published_events()] == ["CALL_ENDED"]
        newer = sf.Case.create({"Subject": "After restart"})
        assert newer["id"] != created["id"]  # id counters persist too
    assert first_port > 0


def test_a_temporary_org_is_empty_without_demo_data_and_removed_on_stop():
    with LocalOrg(seed_demo_data=False) as org:
        assert org.salesforce().query("SELECT COUNT() FROM Account")["totalSize"] == 0
        db_path = org.db_path
    assert not db_path.exists()
