"""SQLite storage for the local org: records as JSON, platform events, counters.

One connection, used only from the server's event-loop thread, so writes are serialized by
construction. Records of every type share one table (type, id, JSON data); the SOQL evaluator
filters in Python, and expression indexes make external-id lookups cheap.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.crm.org.schema import OBJECTS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_type ON records(type, is_deleted);
CREATE TABLE IF NOT EXISTS events (
    replay_id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    event_uuid TEXT NOT NULL,
    id TEXT NOT NULL,
    created TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def lookup_fields() -> list[str]:
    """Fields looked up by value (external ids, idLookup fields): each gets an index."""
    names = {
        f.name
        for obj in OBJECTS.values()
        for f in obj.fields
        if (f.external_id or f.id_lookup) and f.name != "Id"
    }
    return sorted(names)


class Store:
    """The org's database; every method runs on the server thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # isolation_level=None: we issue SAVEPOINTs ourselves, so nesting is uniform.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        for name in lookup_fields():
            self._db.execute(
                f"CREATE INDEX IF NOT EXISTS records_{name.lower()}_nocase "
                f"ON records(type, json_extract(data, '$.{name}') COLLATE NOCASE)"
            )
        self._depth = 0

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing block; nests (inner blocks are savepoints)."""
        name = f"sp{self._depth}"
        self._db.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._db.execute(f"ROLLBACK TO {name}")
            self._db.execute(f"RELEASE {name}")
            raise
        else:
            self._db.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    def next_number(self, counter: str) -> int:
        """1, 2, 3… per counter name; persistent, so ids never repeat across restarts."""
        self._db.execute(
            "INSERT INTO counters(name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (counter,),
        )
        return self._db.execute("SELECT value FROM counters WHERE name = ?", (counter,)).fetchone()[
            0
        ]

    def insert(self, type_: str, record_id: str, data: dict) -> None:
        self._db.execute(
            "INSERT INTO records(id, type, is_deleted, data) VALUES (?, ?, 0, ?)",
            (record_id, type_, json.dumps(data)),
        )

    def update(self, record_id: str, data: dict, *, is_deleted: bool = False) -> None:
        self._db.execute(
            "UPDATE records SET data = ?, is_deleted = ? WHERE id = ?",
            (json.dumps(data), int(is_deleted), record_id),
        )

    def get(self, record_id: str) -> tuple[str, dict, bool] | None:
        """(type, data, is_deleted) of the record, or None."""
        row = self._db.execute(
            "SELECT type, data, is_deleted FROM records WHERE id = ?", (record_id,)
        ).fetchone()
        if row is None:
            return None
        return row[0], json.loads(row[1]), bool(row[2])

    def find(
        self, type_: str, field: str, value: object, *, include_deleted: bool = False
    ) -> list[str]:
        """Ids of records of `type_` whose `field` equals `value`, oldest first.

        Text compares case-insensitively (ASCII), like Salesforce's default "unique
        case-insensitive" external ids; the NOCASE expression index makes this cheap.
        """
        deleted = "" if include_deleted else "AND is_deleted = 0 "
        rows = self._db.execute(
            f"SELECT id FROM records WHERE type = ? "
            f"AND json_extract(data, '$.{field}') = ? COLLATE NOCASE {deleted}ORDER BY rowid",
            (type_, value),
        ).fetchall()
        return [row[0] for row in rows]

    def rows_by_ids(
        self, type_: str, ids: list[str], *, include_deleted: bool = False
    ) -> list[dict]:
        """Like `rows`, restricted to these ids (insertion order)."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        sql = f"SELECT data, is_deleted FROM records WHERE type = ? AND id IN ({marks})"
        if not include_deleted:
            sql += " AND is_deleted = 0"
        result = []
        for data, deleted in self._db.execute(sql + " ORDER BY rowid", (type_, *ids)):
            record = json.loads(data)
            record["IsDeleted"] = bool(deleted)
            result.append(record)
        return result

    def rows(self, type_: str, *, include_deleted: bool = False) -> list[dict]:
        """Every record of `type_` in insertion order (with IsDeleted set)."""
        sql = "SELECT data, is_deleted FROM records WHERE type = ?"
        if not include_deleted:
            sql += " AND is_deleted = 0"
        result = []
        for data, deleted in self._db.execute(sql + " ORDER BY rowid", (type_,)):
            record = json.loads(data)
            record["IsDeleted"] = bool(deleted)
            result.append(record)
        return result

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def add_event(
        self, type_: str, event_uuid: str, event_id: str, created: str, payload: dict
    ) -> int:
        """Store a published platform event; returns its replay id."""
        cursor = self._db.execute(
            "INSERT INTO events(type, event_uuid, id, created, payload) VALUES (?, ?, ?, ?, ?)",
            (type_, event_uuid, event_id, created, json.dumps(payload)),
        )
        return int(cursor.lastrowid)

    def events_after(self, replay_id: int, limit: int = 1000) -> list[dict]:
        rows = self._db.execute(
            "SELECT replay_id, type, event_uuid, id, created, payload FROM events "
            "WHERE replay_id > ? ORDER BY replay_id LIMIT ?",
            (replay_id, limit),
        ).fetchall()
        return [
            {
                "replayId": row[0],
                "type": row[1],
                "eventUuid": row[2],
                "id": row[3],
                "createdDate": row[4],
                "payload": json.loads(row[5]),
            }
            for row in rows
        ]

    def last_replay_id(self) -> int:
        return self._db.execute("SELECT COALESCE(MAX(replay_id), 0) FROM events").fetchone()[0]
