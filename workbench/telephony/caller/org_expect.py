"""Expectations a caller checks in the agent's org: what the call wrote, found by its callSid.

A deployed agent writes its calls to a Salesforce org; `workbench call` chose the call's
`CallSid`, and the workbench's CRM mapping keys every record of a call by it (`Call_Id__c` =
the callSid, or the callSid plus a suffix for the Case/Lead/Task the call asked for). So with
an org configured (`--org URL --org-token TOKEN`, or `SF_INSTANCE_URL` + `SF_SESSION_ID`)
the `crm` expectations query the org with the real simple-salesforce client, waiting up to
`settle_s` for the agent's outbox to deliver; `topic` and `routed_to` are read from the
call's VoiceCall (`Intent__c`, `Disposition__c`) where it has them.
"""

from __future__ import annotations

import time
from typing import Any

SETTLE_S = 30.0  # how long the agent may take to deliver its records after the call
POLL_S = 0.5
# The CRM mapping's dispositions (assets/crm/mapping.yaml) back to `routed_to`.
ROUTED_BY_DISPOSITION = {"Resolved": ("ai_resolved", "workflow"), "Transferred": ("human",)}


def org_client(instance_url: str, token: str) -> Any:
    """simple-salesforce on a session id (an `http://` URL is a local org)."""
    from workbench.crm.sink import CrmSettings, real_org_client

    return real_org_client(CrmSettings(instance_url=instance_url, session_id=token))


def org_outcomes(
    expect: Any, call_sid: str, client: Any, *, settle_s: float = SETTLE_S
) -> list[dict[str, str]]:
    """Verdicts for `crm`, `topic` and `routed_to` of `expect` from the org's records."""
    from workbench.scenario.crm_check import _field_matches, _show_fields

    out: list[dict[str, str]] = []
    deadline = time.monotonic() + settle_s
    for check in getattr(expect, "crm", None) or []:
        expected = check.expected_fields()
        shown = check.object + (f" {_show_fields(expected)}" if expected else "")
        soql = (
            f"SELECT {', '.join(['Id', *expected])} FROM {check.object} "
            f"WHERE Call_Id__c LIKE '{call_sid}%'"
        )
        verdict, evidence = "fail", ""
        while True:
            try:
                records = client.query_all(soql)["records"]
            except Exception as error:  # a query the org refuses is this check's failure
                evidence = f"query failed: {type(error).__name__}: {str(error)[:160]}"
                break
            wrong = [
                ", ".join(
                    f"{f}={r.get(f)!r}"
                    for f, want in expected.items()
                    if not _field_matches(want, r.get(f))
                )
                for r in records
            ]
            if any(not w for w in wrong):
                verdict, evidence = "pass", f"{len(records)} record(s) for {call_sid}"
                break
            evidence = (
                f"{len(records)} record(s), none matching: " + " | ".join(wrong)
                if records
                else f"no {check.object} record for {call_sid} within {settle_s:g} s"
            )
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        out.append(_verdict(f"crm {check.object}", verdict, shown, evidence))
    topic, routed = getattr(expect, "topic", None), getattr(expect, "routed_to", None)
    if topic is None and routed is None:
        return out
    call = _voice_call(client, call_sid, deadline)
    if topic is not None:
        got = call.get("Intent__c") if call else None
        out.append(
            _verdict("topic", "pass" if got == topic else "fail", topic, f"Intent__c={got!r}")
            if call and "Intent__c" in call
            else _verdict("topic", "skip", topic, "no VoiceCall with Intent__c for this call")
        )
    if routed is not None:
        got = call.get("Disposition__c") if call else None
        ok = routed in ROUTED_BY_DISPOSITION.get(str(got), ())
        out.append(
            _verdict("routed_to", "pass" if ok else "fail", routed, f"Disposition__c={got!r}")
            if call and "Disposition__c" in call
            else _verdict("routed_to", "skip", routed, "no VoiceCall with Disposition__c")
        )
    return out


def _voice_call(client: Any, call_sid: str, deadline: float) -> dict[str, Any] | None:
    soql = f"SELECT Id, Intent__c, Disposition__c FROM VoiceCall WHERE Call_Id__c = '{call_sid}'"
    while True:
        try:
            records = client.query_all(soql)["records"]
        except Exception:  # an org without those fields: the expectations are skipped
            return None
        if records:
            return records[0]
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_S)


def _verdict(name: str, status: str, expected: str, evidence: str) -> dict[str, str]:
    return {
        "expectation": name,
        "where": "call",
        "status": status,
        "expected": expected,
        "evidence": evidence,
    }
