"""After a load run: did every completed synthetic call reach the org exactly once?

For each completed call the harness knows its callSid, scenario and hang-up time. The org the
stack writes to (a local org from `workbench org serve`, or a sandbox) is queried with
simple-salesforce for `VoiceCall` records by `Call_Id__c` (= the callSid). Reported: missing
records, duplicated ones, wrong intents (against the scenario's expected topic, when it has
one), records created later than `late_s` after hang-up, and the hang-up → record delay.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workbench.loadreport import summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompletedCall:
    call_sid: str
    scenario: str
    hung_up_at: float  # Unix seconds
    expected_intent: str | None


def org_client(url: str, token: str) -> Any:
    """simple-salesforce for a local org (http://) or a real one (https:// + session id)."""
    if url.startswith("http://"):
        from workbench.crm.org.client import local_salesforce

        return local_salesforce(url, token)
    from simple_salesforce import Salesforce

    return Salesforce(instance_url=url, session_id=token)


def _created(value: str) -> float | None:
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt).timestamp()
        except (TypeError, ValueError):
            continue
    return None


def fetch_voice_calls(client: Any, call_sids: Sequence[str]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    for i in range(0, len(call_sids), 100):
        batch = ", ".join(f"'{sid}'" for sid in call_sids[i : i + 100])
        query = f"SELECT Id, Call_Id__c, Intent__c, CreatedDate FROM VoiceCall WHERE Call_Id__c IN ({batch})"
        for record in client.query_all(query)["records"]:
            found[record["Call_Id__c"]].append(record)
    return found


def reconcile(
    calls: Sequence[CompletedCall],
    client: Any,
    *,
    wait_s: float = 30.0,
    late_s: float = 10.0,
    poll_s: float = 1.0,
    sleep: Any = time.sleep,
) -> dict[str, Any]:
    """Poll the org (up to `wait_s`) until every call has a record, then judge them."""
    sids = [c.call_sid for c in calls]
    deadline = time.time() + wait_s
    found: dict[str, list[dict]] = {}
    while True:
        found = fetch_voice_calls(client, sids)
        if all(sid in found for sid in sids) or time.time() >= deadline:
            break
        sleep(poll_s)
    missing, duplicated, wrong_intent, late, delays = [], [], [], [], []
    for call in calls:
        records = found.get(call.call_sid, [])
        if not records:
            missing.append(call.call_sid)
            continue
        if len(records) > 1:
            duplicated.append(call.call_sid)
        record = records[0]
        if call.expected_intent and record.get("Intent__c") != call.expected_intent:
            wrong_intent.append(
                {
                    "call_sid": call.call_sid,
                    "scenario": call.scenario,
                    "expected": call.expected_intent,
                    "got": record.get("Intent__c"),
                }
            )
        created = _created(record.get("CreatedDate") or "")
        if created is not None:
            # Signed: a record may be written before the caller saw the socket close.
            delay = created - call.hung_up_at
            delays.append(delay * 1000.0)
            if delay > late_s:
                late.append(call.call_sid)
    problems = len(missing) + len(duplicated) + len(wrong_intent) + len(late)
    return {
        "checked": len(calls),
        "found": sum(1 for c in calls if c.call_sid in found),
        "missing": missing,
        "duplicated": duplicated,
        "wrong_intent": wrong_intent,
        "late": late,
        "late_after_s": late_s,
        "hangup_to_record_ms": summarize(delays),
        "problems": problems,
    }
