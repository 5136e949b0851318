"""The delivery worker: sends outbox items to Salesforce with simple-salesforce.

Records are upserted by external id (`sf.VoiceCall.upsert("Call_Id__c/" + call_id, fields)`), so
sending an item twice — after a timeout, a dropped connection or a crash — updates the same
record. Platform events are published with `create` (at-least-once; see `outbox`). When several
claimed items share a kind and object, they go as one sObject Collections request (`PATCH
composite/sobjects/{O}/{ExtField}`, ≤ 200 records, allOrNone false — still upserts by external
id) with a result per record; `use_collections=False` sends one request per record.

Errors are sorted in two (`classify_error`):
- transient — connection errors and timeouts, 5xx, 429, 403 REQUEST_LIMIT_EXCEEDED, 400
  UNABLE_TO_LOCK_ROW, and anything unrecognised: retried after an exponential backoff with full
  jitter, `uniform(0, min(cap, base * 2**(attempt-1)))`, until `max_attempts`, then the item is a
  dead letter "retries exhausted";
- permanent — other 400s (REQUIRED_FIELD_MISSING, INVALID_FIELD, …), 401, 403 without
  REQUEST_LIMIT_EXCEEDED, 404 (INVALID_TYPE, NOT_FOUND), 300 (several records match): a dead
  letter at once, with the error code as its cause. `workbench outbox replay` retries them.

`DeliveryWorker.start()` runs `concurrency` threads; `deliver_pending(max_items)` is the same
work done synchronously in the caller's thread (tests, benches), and `drain(timeout_s)` repeats
it until nothing is pending.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from workbench.crm.mapping import coerce_payload
from workbench.crm.outbox import Outbox, OutboxItem

log = logging.getLogger(__name__)

RETRIES_EXHAUSTED = "retries exhausted"
_COLLECTION_LIMIT = 200  # records per sObject Collections request
_TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"}


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter; `seed` makes the delays reproducible."""

    base_s: float = 0.5
    cap_s: float = 60.0
    seed: int | None = None


@dataclass(frozen=True)
class Classified:
    """An error judged: retry it or not, a short cause (dead-letter group) and the detail."""

    transient: bool
    cause: str
    detail: str


def classify_error(error: BaseException) -> Classified:
    """Sort a delivery error into transient (retry) or permanent (dead letter)."""
    if isinstance(error, requests.RequestException):
        # Dropped connections, refused connections, timeouts: the request may or may not have
        # been applied; an upsert makes sending it again safe.
        return Classified(True, type(error).__name__, str(error)[:500])
    if isinstance(error, SalesforceAuthenticationFailed):
        # Wrong credentials do not fix themselves; replay after fixing them.
        return Classified(
            False, f"login failed ({error.code})", str(getattr(error, "auth_message", ""))[:300]
        )
    if isinstance(error, SalesforceError):
        status = getattr(error, "status", 0) or 0
        code, message = _error_code(error.content)
        detail = f"{status} {code}: {message}".strip()[:1000]
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return Classified(True, code or f"HTTP {status}", detail)
        return Classified(False, code or f"HTTP {status}", detail)
    if isinstance(error, RecordRejected):
        return Classified(error.code in _TRANSIENT_CODES, error.code, str(error)[:1000])
    # Unrecognised (a half-read response, a JSON error): retry; max_attempts bounds it.
    return Classified(True, type(error).__name__, str(error)[:500])


def _error_code(content: Any) -> tuple[str, str]:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return str(first.get("errorCode") or first.get("statusCode") or ""), str(
            first.get("message", "")
        )
    if isinstance(content, dict):
        return str(content.get("errorCode", "")), str(content.get("message", ""))
    return "", str(content)[:300]


class RecordRejected(Exception):
    """One record of a collection (or an event publish) answered `success: false`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class DeliveryStats:
    """What a worker did: items delivered, retried later, dead-lettered."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0

    def add(self, other: DeliveryStats) -> None:
        self.delivered += other.delivered
        self.retried += other.retried
        self.dead += other.dead


class DeliveryWorker:
    """Delivers outbox items; `client_factory()` builds one simple-salesforce client per thread."""

    def __init__(
        self,
        outbox: Outbox,
        client_factory: Callable[[], Salesforce],
        *,
        concurrency: int = 2,
        max_attempts: int = 10,
        backoff: Backoff | None = None,
        batch_size: int = 50,
        use_collections: bool = True,
        idle_poll_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self._client_factory = client_factory
        self.concurrency = max(1, concurrency)
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.batch_size = batch_size
        self.use_collections = use_collections
        self.idle_poll_s = idle_poll_s
        self._clock = clock
        self._rng = random.Random(self.backoff.seed)
        self._rng_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self.stats = DeliveryStats()
        self._stats_lock = threading.Lock()
        self._fields: dict[str, dict[str, dict[str, Any]]] = {}  # describe cache per object
        outbox.add_listener(self._wake.set)

    # -- public ----------------------------------------------------------------------------

    def start(self) -> DeliveryWorker:
        """Recover in-flight items a dead process left behind, then deliver in the background."""
        if self._threads:
            return self
        self.outbox.recover()
        self._stop.clear()
        for n in range(self.concurrency):
            thread = threading.Thread(target=self._run, name=f"crm-delivery-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the items in hand; unsent items stay in the outbox for next time."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = []

    def wake(self) -> None:
        self._wake.set()

    def deliver_pending(self, max_items: int | None = None) -> DeliveryStats:
        """Deliver the items due now (up to `max_items`) in this thread; returns what happened."""
        stats = DeliveryStats()
        while max_items is None or stats.delivered + stats.retried + stats.dead < max_items:
            room = (
                self.batch_size
                if max_items is None
                else max_items - (stats.delivered + stats.retried + stats.dead)
            )
            items = self.outbox.claim(min(self.batch_size, room))
            if not items:
                break
            stats.add(self._deliver_batch(items))
        return stats

    def drain(self, timeout_s: float = 60.0) -> bool:
        """Deliver until nothing is pending or in flight (True) or `timeout_s` passes (False).

        Waits for backoff delays in between, so keep `Backoff` short where this is used.
        """
        deadline = time.monotonic() + timeout_s
        self.outbox.recover()
        while time.monotonic() < deadline:
            self.deliver_pending()
            counts = self.outbox.status().counts
            if counts["pending"] == 0 and counts["in_flight"] == 0:
                return True
            next_due = self.outbox.next_due_at()
            wait = 0.05 if next_due is None else max(0.0, next_due - self._clock())
            self._wake.wait(min(wait, 0.25, max(0.0, deadline - time.monotonic())))
            self._wake.clear()
        return False

    # -- internals -------------------------------------------------------------------------

    def _run(self) -> None:
        last_recover = time.monotonic()
        while not self._stop.is_set():
            try:
                stats = self.deliver_pending(self.batch_size)
                if stats.delivered + stats.retried + stats.dead:
                    continue
                if time.monotonic() - last_recover > self.outbox.lease_s / 2:
                    self.outbox.recover()
                    last_recover = time.monotonic()
                next_due = self.outbox.next_due_at()
                wait = self.idle_poll_s if next_due is None else next_due - self._clock()
                self._wake.wait(min(max(wait, 0.005), self.idle_poll_s))
                self._wake.clear()
            except Exception:  # the worker must outlive a bad moment (disk full, locked db)
                log.exception("CRM delivery loop error; continuing")
                self._stop.wait(self.idle_poll_s)
        self.outbox.close()  # this thread's connection

    def _client(self) -> Salesforce:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._client_factory()
            self._local.client = client
        return client

    def _deliver_batch(self, items: list[OutboxItem]) -> DeliveryStats:
        """Send claimed items: same-kind, same-object groups as one sObject Collections request.

        `PATCH composite/sobjects/{O}/{ExtField}` upserts up to 200 records by external id in
        one API call (as idempotent as single upserts, and 1/200th of the API budget); events
        go through `POST composite/sobjects`. A group of one uses the plain per-record call.
        """
        stats = DeliveryStats()
        groups: dict[tuple[str, str, str | None], list[OutboxItem]] = {}
        for item in items:
            groups.setdefault((item.kind, item.object, item.ext_field), []).append(item)
        for (kind, _, _), group in groups.items():
            if len(group) == 1 or not self.use_collections or kind == "create":
                for item in group:
                    stats.add(self._deliver(item))
                continue
            for start in range(0, len(group), _COLLECTION_LIMIT):
                stats.add(self._deliver_collection(group[start : start + _COLLECTION_LIMIT]))
        return stats

    def _deliver(self, item: OutboxItem) -> DeliveryStats:
        try:
            result_id = self._send(item)
        except Exception as error:  # sorted in _failed: every failure is retried or dead
            return self._failed(item, error)
        self.outbox.mark_delivered(item.id, result_id)
        return self._count(DeliveryStats(delivered=1))

    def _deliver_collection(self, items: list[OutboxItem]) -> DeliveryStats:
        first = items[0]
        try:
            sf = self._client()
            records = []
            for item in items:
                payload = self._payload(sf, item)
                record = {"attributes": {"type": item.object}, **payload}
                if item.kind == "upsert":
                    record[str(item.ext_field)] = item.ext_value
                records.append(record)
            body = {"allOrNone": False, "records": records}
            if first.kind == "upsert":
                path = f"composite/sobjects/{first.object}/{first.ext_field}"
                results = sf.restful(path, method="PATCH", json=body)
            else:
                results = sf.restful("composite/sobjects", method="POST", json=body)
            if not isinstance(results, list) or len(results) != len(items):
                raise ValueError(
                    f"collection answered {len(results or [])} results for {len(items)}"
                )
        except Exception as error:  # the whole request failed: each item is judged alike
            stats = DeliveryStats()
            for item in items:
                stats.add(self._failed(item, error))
            return stats
        stats = DeliveryStats()
        for item, result in zip(items, results, strict=True):
            if result.get("success"):
                self.outbox.mark_delivered(item.id, _result_id(first.kind, result))
                stats.add(self._count(DeliveryStats(delivered=1)))
            else:
                errors = result.get("errors") or [{}]
                code = str(errors[0].get("statusCode") or errors[0].get("errorCode") or "REJECTED")
                stats.add(
                    self._failed(item, RecordRejected(code, str(errors[0].get("message", ""))))
                )
        return stats

    def _failed(self, item: OutboxItem, error: BaseException) -> DeliveryStats:
        verdict = classify_error(error)
        attempt = item.attempts + 1
        if verdict.transient and attempt < self.max_attempts:
            delay = self._delay(attempt)
            self.outbox.mark_retry(item.id, verdict.detail, self._clock() + delay)
            log.debug(
                "item %s attempt %d failed (%s); retry in %.2fs",
                item.id,
                attempt,
                verdict.cause,
                delay,
            )
            return self._count(DeliveryStats(retried=1))
        cause = verdict.cause if not verdict.transient else RETRIES_EXHAUSTED
        self.outbox.mark_dead(item.id, cause, verdict.detail)
        return self._count(DeliveryStats(dead=1))

    def _count(self, stats: DeliveryStats) -> DeliveryStats:
        with self._stats_lock:
            self.stats.add(stats)
        return stats

    def _delay(self, attempt: int) -> float:
        ceiling = min(self.backoff.cap_s, self.backoff.base_s * 2 ** (attempt - 1))
        with self._rng_lock:
            return self._rng.uniform(0.0, ceiling)

    def _payload(self, sf: Salesforce, item: OutboxItem) -> dict[str, Any]:
        """The item's payload with links resolved, fitted to the org's fields (describe, cached)."""
        fields = self._fields.get(item.object)
        if fields is None:
            described = getattr(sf, item.object).describe()
            fields = {f["name"].lower(): f for f in described.get("fields", [])}
            self._fields[item.object] = fields
        payload = coerce_payload(item.object, self.outbox.resolved_payload(item), fields)
        return self._resolve_lookups(sf, payload)

    def _send(self, item: OutboxItem) -> str | None:
        sf = self._client()
        payload = self._payload(sf, item)
        sobject = getattr(sf, item.object)
        if item.kind == "upsert":
            key = f"{item.ext_field}/{item.ext_value}"
            response = sobject.upsert(key, payload, raw_response=True)
            body = _json_or_none(response)
            if body and body.get("id"):
                return str(body["id"])
            # API < 46 answers 204 without a body; ask for the id.
            record = sobject.get_by_custom_id(item.ext_field, item.ext_value)
            return str(record.get("Id")) if record else None
        if item.kind == "event":
            result = sobject.create(payload)
            if not result.get("success"):
                errors = result.get("errors") or [{}]
                raise RecordRejected(
                    str(errors[0].get("statusCode", "EVENT_REJECTED")),
                    str(errors[0].get("message", "")),
                )
            return _result_id("event", result)
        result = sobject.create(payload)
        return str(result.get("id"))

    @staticmethod
    def _resolve_lookups(sf: Salesforce, payload: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in payload.items():
            if isinstance(value, dict) and "$lookup" in value:
                spec = value["$lookup"]
                literal = str(spec["value"]).replace("\\", "\\\\").replace("'", "\\'")
                found = sf.query(
                    f"SELECT Id FROM {spec['object']} WHERE {spec['by']} = '{literal}' LIMIT 1"
                )
                if found.get("records"):
                    out[key] = found["records"][0]["Id"]
                continue  # not (yet) in the org: the link is dropped, the record still goes
            out[key] = value
        return out


def _result_id(kind: str, result: dict[str, Any]) -> str | None:
    if kind == "event":
        # The event's identity is the EventUuid in the OPERATION_ENQUEUED "error".
        for entry in result.get("errors") or []:
            if entry.get("statusCode") == "OPERATION_ENQUEUED":
                return str(entry.get("message"))
    return str(result["id"]) if result.get("id") else None


def _json_or_none(response: Any) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
