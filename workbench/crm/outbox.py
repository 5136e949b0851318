"""The durable CRM outbox: every write a call produces is stored here before anything is sent.

A SQLite database in WAL mode (default `workbench_home()/crm/outbox.sqlite`). Enqueueing is one
local transaction — it never touches the network, so a call never waits on Salesforce. The
delivery worker (`workbench.crm.delivery`) claims due items, sends them and records the outcome.

Item life cycle::

    pending ──claim──► in_flight ──ok──► delivered
       ▲                  │  └──permanent error / retries exhausted──► dead ──replay──► pending
       └──transient error (next_attempt_at = now + backoff)
       └──lease expired or claiming process gone (recover)

Crash safety: an item is marked delivered only after Salesforce acknowledged it, in the same
transaction that stores the returned record id. A `kill -9` between the two leaves it in_flight;
`recover()` puts it back to pending (lease expired, or the claiming process no longer exists)
and it is sent again. Every record write is an upsert keyed by an external id, so the resend
updates the same record instead of creating a second one. Platform events are the exception
(Salesforce cannot upsert them): they are at-least-once and carry their own event uuid so a
subscriber can drop a repeat. `synchronous=NORMAL` in WAL mode survives a process kill; only a
power cut can lose the last committed transactions.

Dependencies: an item may refer to another item of the same call (e.g. VoiceCall.RelatedRecordId
→ the Case). Its payload holds `{"$ref": <item id>}` and it is not claimed until the item it
depends on is delivered (or dead, in which case the field is dropped).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.paths import workbench_home

log = logging.getLogger(__name__)

STATES = ("pending", "in_flight", "delivered", "dead")
BUSY_TIMEOUT_S = 30.0
KINDS = ("upsert", "create", "event")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    object TEXT NOT NULL,
    ext_field TEXT,
    ext_value TEXT,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    claimed_at REAL,
    claimed_by TEXT,
    last_error TEXT,
    dead_cause TEXT,
    result_id TEXT,
    enqueued_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS items_due ON items (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS items_call ON items (call_id);
CREATE TABLE IF NOT EXISTS deps (
    item_id INTEGER NOT NULL,
    dep_id INTEGER NOT NULL,
    PRIMARY KEY (item_id, dep_id)
);
CREATE INDEX IF NOT EXISTS deps_dep ON deps (dep_id);
"""

_COLUMNS = (
    "id, call_id, kind, object, ext_field, ext_value, payload, attempts, next_attempt_at, state, "
    "claimed_at, claimed_by, last_error, dead_cause, result_id, enqueued_at, delivered_at"
)


def default_outbox_path() -> Path:
    """`workbench_home()/crm/outbox.sqlite`."""
    path = workbench_home() / "crm"
    path.mkdir(parents=True, exist_ok=True)
    return path / "outbox.sqlite"


@dataclass(frozen=True)
class NewItem:
    """One write to enqueue.

    Parameters:
        kind: "upsert" (by `ext_field`/`ext_value`), "create" (not idempotent; avoid) or "event"
            (platform event publish).
        object: the sObject, e.g. "VoiceCall", "Case", "Call_Event__e".
        payload: the fields to send; a value `{"$ref": n}` refers to the item at index n of the
            same `enqueue` batch and is replaced by that item's Salesforce id at delivery.
        ext_field / ext_value: the external id field and its value for upserts.
    """

    kind: str
    object: str
    payload: dict[str, Any]
    ext_field: str | None = None
    ext_value: str | None = None


@dataclass(frozen=True)
class OutboxItem:
    """A stored item, as the worker and `status` see it."""

    id: int
    call_id: str
    kind: str
    object: str
    ext_field: str | None
    ext_value: str | None
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: float
    state: str
    claimed_at: float | None
    claimed_by: str | None
    last_error: str | None
    dead_cause: str | None
    result_id: str | None
    enqueued_at: float
    delivered_at: float | None


@dataclass(frozen=True)
class OutboxStatus:
    """Counts by state, dead letters by cause, and when the oldest pending item was enqueued."""

    counts: dict[str, int]
    dead_by_cause: dict[str, int] = field(default_factory=dict)
    oldest_pending_at: float | None = None

    def report(self, path: Path | None = None) -> str:
        """Human-readable: one line of counts, then dead letters by cause."""
        lines = [f"outbox {path}" if path else "outbox"]
        lines.append("  " + "  ".join(f"{state} {self.counts.get(state, 0)}" for state in STATES))
        if self.oldest_pending_at is not None:
            age = max(0.0, time.time() - self.oldest_pending_at)
            lines.append(f"  oldest undelivered item waiting {age:.1f} s")
        if self.dead_by_cause:
            lines.append("  dead letters by cause:")
            lines.extend(f"    {n:6d}  {cause}" for cause, n in self.dead_by_cause.items())
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "dead_by_cause": self.dead_by_cause,
            "oldest_pending_at": self.oldest_pending_at,
        }


def _process_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_alive(token: str | None) -> bool:
    """Whether the process that claimed an item still runs (only decidable on this host)."""
    if not token:
        return False
    host, _, pid_text = token.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine's worker: trust its lease
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode=WAL`, waiting out another process's write to a new outbox.

    SQLite answers this pragma "database is locked" at once, without its busy timeout, while
    another connection writes to a database still in rollback mode: two processes opening one
    new outbox together (the workers of `workbench serve --workers N`) hit that.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class Outbox:
    """The outbox database. Thread-safe: each thread gets its own SQLite connection."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        lease_s: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path) if path is not None else default_outbox_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lease_s = lease_s
        self._clock = clock
        self._local = threading.local()
        self._listeners: list[Callable[[], None]] = []
        conn = self._conn()
        conn.executescript(_SCHEMA)

    # -- plumbing --------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            _switch_to_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def _tx(self) -> _Transaction:
        return _Transaction(self._conn())

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback()` after every enqueue (the worker uses it to wake up)."""
        self._listeners.append(callback)

    @staticmethod
    def _item(row: sqlite3.Row) -> OutboxItem:
        values = dict(row)
        values["payload"] = json.loads(values["payload"])
        return OutboxItem(**values)

    # -- producing -------------------------------------------------------------------------

    def enqueue(self, call_id: str, items: Sequence[NewItem]) -> list[int]:
        """Store a call's writes in one transaction; returns their item ids in order."""
        now = self._clock()
        ids: list[int] = []
        with self._tx() as conn:
            for item in items:
                if item.kind not in KINDS:
                    raise ValueError(f"unknown outbox item kind {item.kind!r}")
                payload, deps = _bind_refs(item.payload, ids)
                cursor = conn.execute(
                    "INSERT INTO items (call_id, kind, object, ext_field, ext_value, payload, "
                    "next_attempt_at, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        call_id,
                        item.kind,
                        item.object,
                        item.ext_field,
                        item.ext_value,
                        json.dumps(payload),
                        now,
                        now,
                    ),
                )
                item_id = int(cursor.lastrowid or 0)
                ids.append(item_id)
                conn.executemany(
                    "INSERT OR IGNORE INTO deps (item_id, dep_id) VALUES (?, ?)",
                    [(item_id, dep) for dep in deps],
                )
        for callback in self._listeners:
            callback()
        return ids

    # -- delivering ------------------------------------------------------------------------

    def claim(self, limit: int, *, now: float | None = None) -> list[OutboxItem]:
        """Mark up to `limit` due items in_flight (oldest first) and return them.

        An item is due when pending, its `next_attempt_at` has passed, and every item it
        depends on is delivered or dead.
        """
        now = self._clock() if now is None else now
        token = _process_token()
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM items WHERE state = 'pending' AND next_attempt_at <= ? "
                "AND NOT EXISTS (SELECT 1 FROM deps d JOIN items o ON o.id = d.dep_id "
                "WHERE d.item_id = items.id AND o.state IN ('pending', 'in_flight')) "
                "ORDER BY next_attempt_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE items SET state = 'in_flight', claimed_at = ?, claimed_by = ? WHERE id = ?",
                [(now, token, row["id"]) for row in rows],
            )
        return [self._item(row) for row in rows]

    def resolved_payload(self, item: OutboxItem) -> dict[str, Any]:
        """The payload with `{"$ref": id}` replaced by the referenced record's Salesforce id.

        A reference to a dead item (or one without a result id) drops the field: the record is
        still worth writing without its link.
        """
        refs = {
            key: value["$ref"]
            for key, value in item.payload.items()
            if isinstance(value, dict) and "$ref" in value
        }
        if not refs:
            return dict(item.payload)
        marks = ",".join("?" * len(refs))
        rows = self._conn().execute(
            f"SELECT id, state, result_id FROM items WHERE id IN ({marks})", tuple(refs.values())
        )
        ids = {row["id"]: row["result_id"] for row in rows if row["state"] == "delivered"}
        payload = {k: v for k, v in item.payload.items() if k not in refs}
        for key, ref in refs.items():
            if ids.get(ref):
                payload[key] = ids[ref]
        return payload

    def mark_delivered(self, item_id: int, result_id: str | None) -> None:
        now = self._clock()
        with self._tx() as conn:
            conn.execute(
                "UPDATE items SET state = 'delivered', attempts = attempts + 1, result_id = ?, "
                "delivered_at = ?, last_error = NULL, claimed_at = NULL WHERE id = ?",
                (result_id, now, item_id),
            )

    def mark_retry(self, item_id: int, error: str, next_attempt_at: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE items SET state = 'pending', attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, claimed_at = NULL WHERE id = ?",
                (error, next_attempt_at, item_id),
            )

    def mark_dead(self, item_id: int, cause: str, error: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE items SET state = 'dead', attempts = attempts + 1, dead_cause = ?, "
                "last_error = ?, claimed_at = NULL WHERE id = ?",
                (cause, error, item_id),
            )
        log.warning("outbox item %s is a dead letter: %s (%s)", item_id, cause, error)

    def recover(self, *, now: float | None = None) -> int:
        """Put back to pending the in_flight items whose claim lapsed or whose process died.

        Returns how many were recovered. Safe to call while workers run: an item a live worker
        of this process holds has a fresh claim and a live process.
        """
        now = self._clock() if now is None else now
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, claimed_at, claimed_by FROM items WHERE state = 'in_flight'"
            ).fetchall()
            stale = [
                row["id"]
                for row in rows
                if (row["claimed_at"] or 0) < now - self.lease_s
                or not _process_alive(row["claimed_by"])
            ]
            conn.executemany(
                "UPDATE items SET state = 'pending', claimed_at = NULL, next_attempt_at = ? "
                "WHERE id = ? AND state = 'in_flight'",
                [(now, item_id) for item_id in stale],
            )
        if stale:
            log.info("outbox: recovered %d in-flight items from a previous worker", len(stale))
        return len(stale)

    def next_due_at(self) -> float | None:
        """When the earliest pending item becomes due (None when nothing is pending)."""
        row = (
            self._conn()
            .execute("SELECT MIN(next_attempt_at) AS t FROM items WHERE state = 'pending'")
            .fetchone()
        )
        return row["t"]

    # -- inspecting and maintaining --------------------------------------------------------

    def status(self) -> OutboxStatus:
        conn = self._conn()
        counts = dict.fromkeys(STATES, 0)
        for row in conn.execute("SELECT state, COUNT(*) AS n FROM items GROUP BY state"):
            counts[row["state"]] = row["n"]
        dead = {
            row["dead_cause"] or "unknown": row["n"]
            for row in conn.execute(
                "SELECT dead_cause, COUNT(*) AS n FROM items WHERE state = 'dead' "
                "GROUP BY dead_cause ORDER BY n DESC"
            )
        }
        oldest = conn.execute(
            "SELECT MIN(enqueued_at) AS t FROM items WHERE state IN ('pending', 'in_flight')"
        ).fetchone()["t"]
        return OutboxStatus(counts, dead, oldest)

    def items(
        self, *, state: str | None = None, call_id: str | None = None, limit: int = 10_000
    ) -> list[OutboxItem]:
        where, args = [], []
        if state is not None:
            where.append("state = ?")
            args.append(state)
        if call_id is not None:
            where.append("call_id = ?")
            args.append(call_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._conn().execute(
            f"SELECT {_COLUMNS} FROM items {clause} ORDER BY id LIMIT ?", (*args, limit)
        )
        return [self._item(row) for row in rows]

    def replay(self, *, cause: str | None = None, ids: Iterable[int] | None = None) -> int:
        """Move dead letters (optionally only one cause or some ids) back to pending."""
        now = self._clock()
        where, args = ["state = 'dead'"], []
        if cause is not None:
            where.append("dead_cause = ?")
            args.append(cause)
        id_list = list(ids) if ids is not None else None
        if id_list is not None:
            where.append(f"id IN ({','.join('?' * len(id_list)) or 'NULL'})")
            args.extend(id_list)
        with self._tx() as conn:
            cursor = conn.execute(
                "UPDATE items SET state = 'pending', attempts = 0, dead_cause = NULL, "
                f"next_attempt_at = ? WHERE {' AND '.join(where)}",
                (now, *args),
            )
        for callback in self._listeners:
            callback()
        return cursor.rowcount

    def purge(self, *, older_than_days: float = 7.0, dead: bool = False) -> int:
        """Delete delivered items older than `older_than_days`, or (dead=True) all dead letters."""
        with self._tx() as conn:
            if dead:
                cursor = conn.execute("DELETE FROM items WHERE state = 'dead'")
            else:
                cutoff = self._clock() - older_than_days * 86400.0
                cursor = conn.execute(
                    "DELETE FROM items WHERE state = 'delivered' AND delivered_at < ?", (cutoff,)
                )
            conn.execute(
                "DELETE FROM deps WHERE item_id NOT IN (SELECT id FROM items) "
                "OR dep_id NOT IN (SELECT id FROM items)"
            )
        return cursor.rowcount


class _Transaction:
    """`BEGIN IMMEDIATE … COMMIT` (ROLLBACK on error): claims must not race between workers."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _bind_refs(payload: dict[str, Any], ids: list[int]) -> tuple[dict[str, Any], list[int]]:
    """Turn batch-index references into item-id references; return the item ids depended on."""
    bound: dict[str, Any] = {}
    deps: list[int] = []
    for key, value in payload.items():
        if isinstance(value, dict) and "$ref" in value:
            index = value["$ref"]
            if not isinstance(index, int) or not 0 <= index < len(ids):
                raise ValueError(
                    f"payload field {key!r} refers to item {index!r} not enqueued before it"
                )
            bound[key] = {"$ref": ids[index]}
            deps.append(ids[index])
        else:
            bound[key] = value
    return bound, deps
