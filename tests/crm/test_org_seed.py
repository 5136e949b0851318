"""The demo data: callers the agent can look up by phone, as documented in seed.py."""

from __future__ import annotations

import re

import pytest

from workbench.crm.org import LocalOrg, seed

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def sf():
    with LocalOrg() as org:
        yield org.salesforce()


def test_every_seeded_phone_number_is_e164_and_documented():
    phones = (
        [a[2] for a in seed.ACCOUNTS]
        + [c[4] for c in seed.CONTACTS]
        + [lead[3] for lead in seed.LEADS]
    )
    for phone in phones:
        assert re.fullmatch(r"\+[1-9]\d{7,14}", phone), phone
        assert phone in (seed.__doc__ or ""), f"{phone} missing from the seed docstring"


def test_a_vip_contact_with_an_open_case_is_found_by_phone(sf):
    (dana,) = sf.query(
        "SELECT Id, Name, Account.Name, Account.VIP__c FROM Contact WHERE Phone = '+14155550101'"
    )["records"]
    assert (dana["Name"], dana["Account"]["Name"], dana["Account"]["VIP__c"]) == (
        "Dana Whitfield",
        "Contoso Ltd",
        True,
    )
    cases = sf.query(
        f"SELECT Subject, Status FROM Case WHERE ContactId = '{dana['Id']}' AND Status != 'Closed'"
    )["records"]
    assert [(c["Subject"], c["Status"]) for c in cases] == [("Router not connecting", "Escalated")]


def test_leads_and_a_shared_line_and_an_unknown_caller(sf):
    lead = sf.query("SELECT Name, Company FROM Lead WHERE Phone = '+14155550150'")["records"]
    assert [(r["Name"], r["Company"]) for r in lead] == [("Chris Nolan", "Blue Yonder Airlines")]
    shared = sf.query(
        "SELECT FirstName FROM Contact WHERE Phone = '+14155550141' ORDER BY FirstName"
    )
    assert [r["FirstName"] for r in shared["records"]] == ["Jordan", "Sam"]
    for obj in ("Contact", "Lead", "Account"):
        assert sf.query(f"SELECT COUNT() FROM {obj} WHERE Phone = '+14155550199'")["totalSize"] == 0
