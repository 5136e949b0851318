"""Salesforce write-back: what a call hands to the CRM, and how it gets there safely.

    call_record  CallRecord / CallEvent — the data a call produces
    redaction    card numbers, CVVs, national ids out of every text that leaves
    mapping      CallRecord artefacts → Salesforce fields (assets/crm/mapping.yaml), validated
                 against the org's describe()
    outbox       the durable SQLite outbox (pending → in_flight → delivered | dead)
    delivery     the worker sending outbox items with simple-salesforce (upserts, backoff)
    sink         CrmSink: outbox + worker + org (a real one, or the embedded local org)
    org_check    `workbench org check`;  bench: `workbench bench crm`
    org/         the local Salesforce-compatible org

The names below are imported lazily so `import workbench.crm.org` stays light.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "CallRecord": "workbench.crm.call_record",
    "CallEvent": "workbench.crm.call_record",
    "new_call_id": "workbench.crm.call_record",
    "CrmSink": "workbench.crm.sink",
    "CrmSettings": "workbench.crm.sink",
    "CallerInfo": "workbench.crm.sink",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'workbench.crm' has no attribute {name!r}")
