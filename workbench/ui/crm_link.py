"""The GUI's link to the CRM: the sink opened on its own thread, a finished call written back
and read back from the org, and the status the CRM panel shows (no Qt here).

Apart from `engine_handle.py` because the CRM has its own thread and lifetime: the sink's
imports and org start-up hold the GIL for a while, and a call's write-back waits on delivery,
neither of which may hold up the engine thread. Everything goes to `post` as
`workbench.ui.messages` objects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from workbench.ui import messages as msg

log = logging.getLogger(__name__)


class CrmLink:
    """One single-worker `pool` for CRM work (and the OTLP export); `closing` ends waits."""

    def __init__(self, post: Callable[[Any], None]) -> None:
        self._post = post
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crm")
        self._sink: Any = None
        self.closing = False

    def refresh(self) -> Future:
        return self.pool.submit(self.post_status)

    def open_sink(self) -> Any:
        if self._sink is None:
            from workbench.crm.sink import CrmSink

            self._sink = CrmSink.from_settings()
        return self._sink

    def close_sink(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def _client(self, sink: Any) -> Any:
        from workbench.crm.sink import CrmSettings, local_org_client, real_org_client

        if sink.org is not None:
            return local_org_client(sink.org)
        return real_org_client(CrmSettings.from_env())

    def post_status(self, call_id: str = "", records=(), final: bool = False) -> None:
        try:
            sink = self.open_sink()
            events: list[dict[str, Any]] = []
            if sink.org is not None:
                events = sink.org.published_events(0)[-50:]
            self._post(
                msg.CrmUpdate(
                    sink.target,
                    call_id,
                    tuple(records),
                    tuple(events),
                    sink.status().as_dict(),
                    final=final,
                )
            )
        except Exception as error:
            log.warning("CRM status failed: %s", error)
            self._post(msg.CrmUpdate(error=f"CRM unavailable: {error}", final=final))

    def write_call(self, result: Any, wait_s: float = 15.0) -> None:
        from workbench.crm.from_call import call_events, record_from_result

        try:
            sink = self.open_sink()
            started = datetime.now(UTC)
            record = record_from_result(result, started_at=started)
            sink.write_call(record)
            for call_event in call_events(result.call_id, result.events, started):
                sink.publish_event(call_event)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and not self.closing:
                items = sink.outbox.items(call_id=result.call_id)
                if all(item.state in ("delivered", "dead") for item in items):
                    break
                self.post_status(result.call_id)
                time.sleep(0.2)  # the delivery worker runs on its own threads; poll its outbox
            records = self._read_back(sink, sink.outbox.items(call_id=result.call_id))
            self.post_status(result.call_id, records, final=True)
        except Exception as error:
            log.exception("CRM write-back failed")
            self._post(msg.CrmUpdate(call_id=result.call_id, error=str(error), final=True))
        self._post(msg.CallStateChanged(msg.ENDED, result.end_reason))

    def _read_back(self, sink: Any, items: list[Any]) -> list[dict[str, Any]]:
        """Each delivered record as the org has it now (fields this call wrote, plus Id)."""
        records: list[dict[str, Any]] = []
        sf = self._client(sink)
        for item in items:
            if item.kind == "event":
                continue
            row: dict[str, Any] = {
                "object": item.object,
                "Id": item.result_id or "",
                "state": item.state,
                "error": item.last_error or "",
            }
            if item.state == "delivered" and item.result_id:
                names = [k for k, v in item.payload.items() if not isinstance(v, dict)]
                if item.ext_field and item.ext_field not in names:
                    names.append(item.ext_field)
                fields = ", ".join(["Id", *[n for n in names if n != "Id"]])
                try:
                    found = sf.query(
                        f"SELECT {fields} FROM {item.object} WHERE Id = '{item.result_id}'"
                    )["records"]
                except Exception as error:  # shown beside the record, not fatal
                    row["error"] = f"read back failed: {error}"
                    found = []
                if found:
                    row["fields"] = {k: v for k, v in found[0].items() if k != "attributes"}
            else:
                row["fields"] = dict(item.payload)
            records.append(row)
        return records
