"""The sandbox REST EHR's own SQLite store: patients and appointments as JSON records.

May import: stdlib (sqlite3, json). Ids are server-assigned ("p-000001", "a-000001") from an
AUTOINCREMENT sequence, so a deleted id is never handed out again.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, chart_number TEXT UNIQUE,
  last_name TEXT, first_name TEXT, date_of_birth TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS appointments (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, patient_id TEXT, day TEXT,
  status TEXT, data TEXT NOT NULL);
"""
# Columns a search can filter on, per table (values compared case-insensitively).
SEARCH_COLUMNS = {"patients": ("last_name", "first_name", "date_of_birth", "chart_number"),
                  "appointments": ("patient_id", "day", "status")}


def open_store(path: str | Path | None, schema: str) -> tuple[sqlite3.Connection, threading.Lock]:
    """A sandbox's SQLite store (a file, or in memory when `path` is None) with its schema, and
    the lock that makes one connection safe across the server's threads."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
    db.executescript(schema)
    return db, threading.Lock()


class DuplicateChartNumber(Exception):
    """Another patient already has this chart_number (the MRN is unique)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RestStore:
    """Patients and appointments; all methods are thread-safe."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._db, self._lock = open_store(path, _SCHEMA)

    def create(self, table: str, record: dict) -> dict:
        prefix = "p" if table == "patients" else "a"
        with self._lock:
            try:
                cur = self._db.execute(f"INSERT INTO {table} (data) VALUES ('{{}}')")
                record = {"id": f"{prefix}-{cur.lastrowid:06d}", **record, "updated_at": _now()}
                self._write(table, record, cur.lastrowid)
            except sqlite3.IntegrityError:
                self._db.rollback()
                raise DuplicateChartNumber(record.get("chart_number")) from None
            self._db.commit()
        return record

    def replace(self, table: str, record_id: str, record: dict) -> dict | None:
        with self._lock:
            row = self._db.execute(f"SELECT seq FROM {table} WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                return None
            record = {"id": record_id, **record, "updated_at": _now()}
            try:
                self._write(table, record, row[0])
            except sqlite3.IntegrityError:
                self._db.rollback()
                raise DuplicateChartNumber(record.get("chart_number")) from None
            self._db.commit()
        return record

    def _write(self, table: str, record: dict, seq: int) -> None:
        if table == "patients":
            columns = {"id": record["id"], "chart_number": record.get("chart_number"),
                       "last_name": (record.get("last_name") or "").lower(),
                       "first_name": (record.get("first_name") or "").lower(),
                       "date_of_birth": record.get("date_of_birth")}
        else:
            columns = {"id": record["id"], "patient_id": record.get("patient_id"),
                       "day": (record.get("start_time") or "")[:10],
                       "status": record.get("status")}
        columns["data"] = json.dumps(record)
        assignments = ", ".join(f"{c} = ?" for c in columns)
        self._db.execute(f"UPDATE {table} SET {assignments} WHERE seq = ?", [*columns.values(), seq])

    def get(self, table: str, record_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute(f"SELECT data FROM {table} WHERE id = ?", (record_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def delete(self, table: str, record_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(f"DELETE FROM {table} WHERE id = ?", (record_id,))
            self._db.commit()
        return cur.rowcount > 0

    def search(self, table: str, filters: dict[str, str], page: int, per_page: int) -> tuple[list[dict], int]:
        """(records of the page, total) for exact, case-insensitive filters, in id order."""
        where, params = [], []
        for column, value in filters.items():
            if column not in SEARCH_COLUMNS[table]:
                raise ValueError(column)
            where.append(f"lower({column}) = lower(?)")
            params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT count(*) FROM {table} {clause}", params).fetchone()[0]
            rows = self._db.execute(f"SELECT data FROM {table} {clause} ORDER BY seq LIMIT ? OFFSET ?",
                                    [*params, per_page, (page - 1) * per_page]).fetchall()
        return [json.loads(r[0]) for r in rows], total

    def all(self, table: str) -> list[dict]:
        with self._lock:
            rows = self._db.execute(f"SELECT data FROM {table} ORDER BY seq").fetchall()
        return [json.loads(r[0]) for r in rows]

    def reset(self) -> None:
        with self._lock:
            self._db.executescript("DELETE FROM patients; DELETE FROM appointments;")

    def close(self) -> None:
        with self._lock:
            self._db.close()
