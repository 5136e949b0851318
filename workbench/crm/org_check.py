"""`workbench org check`: does the configured org have what the CRM mapping writes?

Describes every object the mapping uses, checks VoiceCall access (createable and updateable:
an upsert needs both) and lists the fields to deploy, with their definitions, when any are
missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from workbench.crm.mapping import CrmMapping, MissingField, load_mapping, mapping_problems
from workbench.errors import ConfigError

# Definitions of the canonical custom fields, as a Salesforce admin creates them.
FIELD_DEFINITIONS: dict[str, str] = {
    "Call_Id__c": "Text(64), External ID, Unique (case-sensitive) — the idempotency key",
    "Intent__c": "Picklist (BookDemo, OpeningHours, SupportRequest, BillingQuestion, ChangeAddress, "
    "OrderStatus, CancelSubscription, SpeakToHuman, Unknown)",
    "Intent_Confidence__c": "Number(3, 2)",
    "Disposition__c": "Picklist (Resolved, Transferred, CallbackRequested, Voicemail, Abandoned, "
    "Failed, Unknown)",
    "Transcript__c": "Long Text Area(131072)",
    "Recording_URL__c": "URL(255)",
    "Duration__c": "Number(8, 2)",
    "StartTime__c": "Date/Time",
    "EndTime__c": "Date/Time",
    "Consent_Record__c": "Text(255)",
    "PII_Redaction_Confidence__c": "Number(3, 4)",
    "Summary__c": "Long Text Area(32000)",
    "Type__c": "Text(80) (platform event field)",
    "Payload__c": "Long Text Area(131072) (platform event field)",
    "Occurred_At__c": "Date/Time (platform event field)",
}
_BY_ARTEFACT = {
    "started_at": "Date/Time",
    "ended_at": "Date/Time",
    "event_at": "Date/Time",
    "duration_s": "Number(8, 2)",
    "duration_whole_s": "Number(8, 0)",
    "intent_confidence": "Number(3, 2)",
    "redaction_confidence": "Number(3, 4)",
    "consent": "Checkbox",
    "transcript": "Long Text Area(131072)",
    "captured": "Long Text Area(32000)",
    "summary": "Long Text Area(32000)",
    "event_payload": "Long Text Area(131072)",
    "recording_url": "URL(255)",
}


@dataclass(frozen=True)
class OrgCheck:
    """What `org check` found: missing fields/objects, access problems, definitions to deploy."""

    target: str
    objects: dict[str, int]  # object -> number of mapped fields present
    missing: list[MissingField] = field(default_factory=list)
    access_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.access_problems

    def definitions(self) -> list[str]:
        """One line per missing field: `Object.Field: definition`."""
        lines = []
        for problem in self.missing:
            if problem.field is None:
                lines.append(f"{problem.object}: the object itself (or access to it) is missing")
                continue
            definition = FIELD_DEFINITIONS.get(problem.field) or _BY_ARTEFACT.get(
                problem.source or "", "Text(255)"
            )
            lines.append(f"{problem.object}.{problem.field}: {definition} [{problem.problem}]")
        return lines

    def report(self) -> str:
        """The human-readable report the command prints."""
        lines = [f"org: {self.target}"]
        for name, present in self.objects.items():
            lines.append(f"  {name}: {present} mapped fields present")
        lines.extend(f"  access: {problem}" for problem in self.access_problems)
        if self.ok:
            lines.append("all objects and fields the mapping needs are present")
        else:
            lines.append(
                f"missing ({len(self.missing)}): " + ", ".join(str(m) for m in self.missing)
            )
            lines.append("field definitions to deploy:")
            lines.extend(f"  {line}" for line in self.definitions())
        return "\n".join(lines)


def check_org(
    mapping: CrmMapping,
    describe: Callable[[str], dict[str, Any] | None],
    global_describe: Callable[[], dict[str, Any]] | None = None,
    *,
    target: str = "",
) -> OrgCheck:
    """Check the org behind `describe` against `mapping` (see `mapping_problems`)."""
    missing, schemas = mapping_problems(mapping, describe)
    objects = {}
    for obj in mapping.objects():
        if obj.object in schemas:
            objects[obj.object] = sum(
                1 for r in obj.fields if r.field.lower() in schemas[obj.object]
            )
    access = []
    if global_describe is not None:
        listed = {o["name"]: o for o in global_describe().get("sobjects", [])}
        for obj in mapping.objects():
            info = listed.get(obj.object)
            if info is None:
                continue  # reported as missing above
            needs = ("createable",) if obj.object.endswith("__e") else ("createable", "updateable")
            lacking = [flag for flag in needs if not info.get(flag)]
            if lacking:
                access.append(f"{obj.object} is not {' or '.join(lacking)} for this user")
    return OrgCheck(target=target, objects=objects, missing=missing, access_problems=access)


def run_org_check(
    *, instance_url: str | None = None, token: str | None = None, mapping_path: Path | None = None
) -> tuple[str, bool]:
    """`workbench org check`: the report text and whether everything is present.

    The org is `--instance-url/--token` when given, else the configured one (`CrmSettings`),
    else a temporary embedded local org.
    """
    from workbench.crm.sink import CrmSettings, describer, real_org_client

    mapping = load_mapping(mapping_path)
    settings = CrmSettings.from_env()
    if instance_url:
        if not token:
            raise ConfigError("--instance-url needs --token (the org's session id)")
        settings = CrmSettings(instance_url=instance_url, session_id=token)
    org = None
    try:
        if settings.uses_real_org:
            target = settings.instance_url or f"{settings.domain}.salesforce.com"
            sf = real_org_client(settings)
        else:
            from workbench.crm.org import LocalOrg

            org = LocalOrg(host="127.0.0.1").start()
            target = f"embedded local org at {org.instance_url} (no org configured)"
            sf = org.salesforce()
        try:
            result = check_org(mapping, describer(sf), sf.describe, target=target)
        except (requests.RequestException, SalesforceError) as error:
            raise ConfigError(
                f"cannot describe the org at {target}: {type(error).__name__}"
            ) from None
    finally:
        if org is not None:
            org.stop()
    return result.report(), result.ok
