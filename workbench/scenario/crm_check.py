"""The `crm` expectation, checked for real: write the call's record, then read the org back.

`CrmVerifier` owns a throwaway local org (its own temporary SQLite database, never the
configured Salesforce org and never the user's local org) and an outbox beside it. For each
call it builds the `CallRecord` exactly as every other face does (`record_from_result`),
enqueues it through a `CrmSink`, drains the outbox synchronously, then queries each expected
object by the call's external id (`Call_Id__c` = the call id, or `<call id>-<suffix>` for the
records the conversation asked for) with simple-salesforce, and compares the fields.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from workbench.engine.virtual import CallResult
from workbench.scenario import schema as sc
from workbench.scenario.assertions import Outcome

log = logging.getLogger(__name__)


class CrmVerifier:
    """A local org + sink for checking `crm` expectations; start lazily, `close()` at the end."""

    def __init__(self) -> None:
        self._sink: Any = None
        self._client: Any = None
        self._dir: Path | None = None
        self.error: str | None = None

    def _start(self) -> bool:
        if self._sink is not None:
            return True
        if self.error is not None:
            return False
        try:
            from workbench.crm.sink import CrmSettings, CrmSink, local_org_client

            self._dir = Path(tempfile.mkdtemp(prefix="workbench-scenario-crm-"))
            settings = CrmSettings(
                org_db_path=self._dir / "org.sqlite", outbox_path=self._dir / "outbox.sqlite"
            )
            self._sink = CrmSink.from_settings(settings, start_worker=False)
            self._client = local_org_client(self._sink.org)
        except Exception as error:  # reported on every crm expectation, never a silent pass
            self.error = (
                f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            )
            log.warning("no CRM sink for scenario checks: %s", self.error)
            return False
        return True

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __call__(self, result: CallResult, checks: list[sc.CrmCheck]) -> list[Outcome]:
        if not self._start():
            return [
                Outcome(
                    f"crm {c.object}",
                    "call",
                    "skip",
                    c.object,
                    f"skipped: no CRM sink ({self.error})",
                )
                for c in checks
            ]
        from workbench.crm.from_call import record_from_result

        sink = self._sink
        sink.write_call(record_from_result(result))
        drained = sink.worker.drain(timeout_s=30.0)
        dead = [
            f"{item.object}: {item.dead_cause} ({(item.last_error or '')[:120]})"
            for item in sink.outbox.items(state="dead", call_id=result.call_id)
        ]
        trouble = ("" if drained else "outbox not drained in 30 s; ") + (
            f"dead letters: {'; '.join(dead)}" if dead else ""
        )
        return [self._check(result.call_id, check, trouble) for check in checks]

    def _check(self, call_id: str, check: sc.CrmCheck, trouble: str) -> Outcome:
        from simple_salesforce.exceptions import SalesforceError

        expected = check.expected_fields()
        name = f"crm {check.object}"
        shown = check.object + (f" {_show_fields(expected)}" if expected else "")
        columns = ", ".join(["Id", *expected])
        soql = f"SELECT {columns} FROM {check.object} WHERE Call_Id__c LIKE '{call_id}%'"
        try:
            records = self._client.query_all(soql)["records"]
        except SalesforceError as error:
            content = getattr(error, "content", None)
            message = content[0].get("message") if isinstance(content, list) and content else error
            return Outcome(name, "call", "fail", shown, f"query failed: {message}")
        if not records:
            why = f"no {check.object} record for this call"
            return Outcome(name, "call", "fail", shown, why + (f" ({trouble})" if trouble else ""))
        mismatches: list[str] = []
        best = None
        for record in records:
            wrong = [
                f"{field}={record.get(field)!r}"
                for field, want in expected.items()
                if not _field_matches(want, record.get(field))
            ]
            if not wrong:
                best = record
                break
            mismatches.append(", ".join(wrong))
        if best is not None:
            got = ", ".join(f"{f}={_clip(best.get(f))!r}" for f in expected) or f"Id {best['Id']}"
            return Outcome(name, "call", "pass", shown, got)
        return Outcome(
            name,
            "call",
            "fail",
            shown,
            f"{len(records)} record(s), none matching: " + " | ".join(mismatches),
        )


def _field_matches(want: Any, value: Any) -> bool:
    if want is None:
        return value not in (None, "")
    if isinstance(want, bool):
        return value is want or str(value).lower() == str(want).lower()
    if isinstance(want, int | float):
        try:
            return float(value) == float(want)
        except (TypeError, ValueError):
            return False
    if sc.is_regex(want):
        return value is not None and sc.text_matches(want, str(value))
    return value is not None and str(value).strip().lower() == str(want).strip().lower()


def _show_fields(fields: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {'<any>' if v is None else v}" for k, v in fields.items()) + "}"


def _clip(value: Any, limit: int = 80) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value
