"""The sandbox v2 EHR's own SQLite store: received messages, patients, appointments.

May import: stdlib (sqlite3). One connection guarded by a lock: the MLLP threads and the
control API share it, and a sandbox never needs more throughput than that.
"""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

PATIENT_COLUMNS = ("mrn", "assigning_authority", "family", "given", "middle", "birth_date", "sex",
                   "street", "city", "state", "zip", "country", "phone", "merged_into",
                   "updated_at", "last_control_id")
APPOINTMENT_COLUMNS = ("appointment_id", "filler_id", "patient_mrn", "start", "end",
                       "duration", "duration_units", "reason", "appointment_type", "status",
                       "location", "provider", "updated_at", "last_control_id")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, message_type TEXT NOT NULL,
  control_id TEXT NOT NULL, charset TEXT NOT NULL, raw TEXT NOT NULL, ack_code TEXT,
  error_text TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS patients ({", ".join(
    c + (" TEXT PRIMARY KEY" if c == "mrn" else " TEXT") for c in PATIENT_COLUMNS)});
CREATE TABLE IF NOT EXISTS appointments ({", ".join(
    '"' + c + '"' + (" TEXT PRIMARY KEY" if c == "appointment_id" else " TEXT")
    for c in APPOINTMENT_COLUMNS)});
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class V2Store:
    """`V2Store(path_or_None)`; None keeps everything in memory for the process's life."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False,
                                   isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.executescript(_SCHEMA)

    @contextmanager
    def transaction(self):
        """Serialises writers; rolled back if the body raises."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add_message(self, message_type: str, control_id: str, charset: str, raw: str) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO messages (received_at, message_type, control_id, charset, raw) "
                "VALUES (?, ?, ?, ?, ?)", (now_iso(), message_type, control_id, charset, raw))
            return cur.lastrowid

    def set_ack(self, message_id: int, ack_code: str | None, error_text: str = "") -> None:
        with self._lock:
            self._db.execute("UPDATE messages SET ack_code = ?, error_text = ? WHERE id = ?",
                             (ack_code, error_text, message_id))

    def messages(self, since_id: int = 0) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM messages WHERE id > ? ORDER BY id", (since_id,))
            return [dict(r) for r in rows]

    def patient(self, mrn: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM patients WHERE mrn = ?", (mrn,)).fetchone()
            return dict(row) if row else None

    def patients(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in self._db.execute("SELECT * FROM patients ORDER BY mrn")]

    def put_patient(self, values: dict) -> None:
        """Insert or update the columns given (others keep their value)."""
        values = {**values, "updated_at": now_iso()}
        self._upsert("patients", "mrn", values)

    def appointment(self, appointment_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM appointments WHERE appointment_id = ?",
                                   (appointment_id,)).fetchone()
            return dict(row) if row else None

    def appointments(self) -> list[dict]:
        with self._lock:
            return [dict(r) for r in
                    self._db.execute("SELECT * FROM appointments ORDER BY appointment_id")]

    def put_appointment(self, values: dict) -> None:
        values = {**values, "updated_at": now_iso()}
        self._upsert("appointments", "appointment_id", values)

    def _upsert(self, table: str, key: str, values: dict) -> None:
        columns = list(values)
        quoted = ", ".join(f'"{c}"' for c in columns)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != key)
        with self._lock:
            self._db.execute(
                f"INSERT INTO {table} ({quoted}) VALUES ({', '.join('?' for _ in columns)}) "
                f"ON CONFLICT({key}) DO UPDATE SET {updates}", [values[c] for c in columns])

    def reset(self) -> None:
        with self._lock:
            self._db.executescript("DELETE FROM messages; DELETE FROM patients; "
                                   "DELETE FROM appointments;")

    def close(self) -> None:
        with self._lock:
            self._db.close()
