"""Deterministic demo data for the local org, so caller lookup by phone finds people.

Phone numbers (E.164) seeded into a fresh org:

    Accounts
      +14155550100  Contoso Ltd           VIP (VIP__c = true, CustomerPriority__c = High)
      +14155550110  Northwind Traders
      +14155550120  Fabrikam Inc          VIP (VIP__c = true, CustomerPriority__c = High)
      +442079460130 Adventure Works       (UK)
      +14155550140  Tailspin Toys
    Contacts
      +14155550101  Dana Whitfield   at Contoso (VIP)     open case "Router not connecting" (Escalated)
      +14155550102  Marcus Lee       at Contoso (VIP)     closed case only; mobile +14155550103
      +14155550111  Priya Raman      at Northwind
      +14155550112  Tom Becker       at Northwind         open case "Order 1042 delayed" (Working)
      +14155550121  Elena Garcia     at Fabrikam (VIP)    open case "Invoice discrepancy" (New, High)
      +442079460131 Oliver Smith     at Adventure Works
      +14155550141  Sam Ortiz        at Tailspin Toys     shares the line with Jordan Ortiz
      +14155550141  Jordan Ortiz     at Tailspin Toys     (two contacts on one number: ambiguous caller)
    Leads
      +14155550150  Chris Nolan      Blue Yonder Airlines  (Open - Not Contacted)
      +14155550151  Aisha Khan       Litware               (Working - Contacted)
      +14155550152  Ben Carter       Proseware

    Any other number (e.g. +14155550199) is an unknown caller. The agent's own line, used as
    ToPhoneNumber for inbound calls in demos, is AGENT_LINE = +18005550100.
"""

from __future__ import annotations

from workbench.crm.org.records import Records

AGENT_LINE = "+18005550100"

ACCOUNTS = (
    # key, Name, Phone, VIP, priority, city
    ("contoso", "Contoso Ltd", "+14155550100", True, "High", "San Francisco"),
    ("northwind", "Northwind Traders", "+14155550110", False, "Medium", "Oakland"),
    ("fabrikam", "Fabrikam Inc", "+14155550120", True, "High", "San Jose"),
    ("adventure", "Adventure Works", "+442079460130", False, "Low", "London"),
    ("tailspin", "Tailspin Toys", "+14155550140", False, "Low", "Berkeley"),
)
CONTACTS = (
    # key, account, FirstName, LastName, Phone, MobilePhone, Email, Title
    ("dana", "contoso", "Dana", "Whitfield", "+14155550101", None, "dana@contoso.example", "CTO"),
    (
        "marcus",
        "contoso",
        "Marcus",
        "Lee",
        "+14155550102",
        "+14155550103",
        "marcus@contoso.example",
        "Office Manager",
    ),
    (
        "priya",
        "northwind",
        "Priya",
        "Raman",
        "+14155550111",
        None,
        "priya@northwind.example",
        "Buyer",
    ),
    (
        "tom",
        "northwind",
        "Tom",
        "Becker",
        "+14155550112",
        None,
        "tom@northwind.example",
        "Logistics Lead",
    ),
    (
        "elena",
        "fabrikam",
        "Elena",
        "Garcia",
        "+14155550121",
        None,
        "elena@fabrikam.example",
        "Finance Director",
    ),
    (
        "oliver",
        "adventure",
        "Oliver",
        "Smith",
        "+442079460131",
        None,
        "oliver@adventure.example",
        "Owner",
    ),
    ("sam", "tailspin", "Sam", "Ortiz", "+14155550141", None, "sam@tailspin.example", "Owner"),
    (
        "jordan",
        "tailspin",
        "Jordan",
        "Ortiz",
        "+14155550141",
        None,
        "jordan@tailspin.example",
        "Co-owner",
    ),
)
LEADS = (
    ("Chris", "Nolan", "Blue Yonder Airlines", "+14155550150", "Open - Not Contacted"),
    ("Aisha", "Khan", "Litware", "+14155550151", "Working - Contacted"),
    ("Ben", "Carter", "Proseware", "+14155550152", "Open - Not Contacted"),
)
CASES = (
    # contact, Subject, Status, Priority
    ("dana", "Router not connecting", "Escalated", "High"),
    ("tom", "Order 1042 delayed", "Working", "Medium"),
    ("elena", "Invoice discrepancy", "New", "High"),
    ("marcus", "Password reset", "Closed", "Low"),
)


def seed_demo_data(records: Records) -> None:
    """Create the demo accounts, contacts, leads and cases (call on an empty org)."""
    obj = records.object
    account_ids: dict[str, str] = {}
    for key, name, phone, vip, priority, city in ACCOUNTS:
        account_ids[key] = records.create(
            obj("Account"),
            {
                "Name": name,
                "Phone": phone,
                "VIP__c": vip,
                "CustomerPriority__c": priority,
                "BillingCity": city,
                "Type": "Customer - Direct",
            },
        )
    contact_ids: dict[str, tuple[str, str]] = {}
    for key, account, first, last, phone, mobile, email, title in CONTACTS:
        contact_id = records.create(
            obj("Contact"),
            {
                "AccountId": account_ids[account],
                "FirstName": first,
                "LastName": last,
                "Phone": phone,
                "MobilePhone": mobile,
                "Email": email,
                "Title": title,
            },
        )
        contact_ids[key] = (contact_id, account_ids[account])
    for first, last, company, phone, status in LEADS:
        records.create(
            obj("Lead"),
            {
                "FirstName": first,
                "LastName": last,
                "Company": company,
                "Phone": phone,
                "Status": status,
                "LeadSource": "Phone Inquiry",
            },
        )
    for contact, subject, status, priority in CASES:
        contact_id, account_id = contact_ids[contact]
        records.create(
            obj("Case"),
            {
                "ContactId": contact_id,
                "AccountId": account_id,
                "Subject": subject,
                "Status": status,
                "Priority": priority,
                "Origin": "Phone",
            },
        )
