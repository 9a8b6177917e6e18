"""The OpenEMR-flavoured sandbox API's own SQLite store: patients, appointments, insurances.

May import: stdlib (json, uuid), conformance.sandbox.rest_store (open_store). Patients get a numeric `pid` and a `uuid` (as in
OpenEMR), appointments a numeric `pc_eid`, insurances a `uuid`; children keep their patient's
uuid in `puuid`. All methods are thread-safe.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from conformance.sandbox.rest_store import open_store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS oe_records (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL,
  puuid TEXT, data TEXT NOT NULL, UNIQUE (kind, key));
"""
KINDS = ("patient", "appointment", "insurance")


class OpenEmrStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self._db, self._lock = open_store(path, _SCHEMA)

    def create(self, kind: str, record: dict, puuid: str | None = None) -> dict:
        with self._lock:
            cur = self._db.execute("INSERT INTO oe_records (kind, key, puuid, data) VALUES (?, ?, ?, '{}')",
                                   (kind, uuid.uuid4().hex, puuid))
            seq = cur.lastrowid
            if kind == "patient":
                record = {**record, "pid": str(seq), "uuid": str(uuid.uuid4())}
                key = record["uuid"]
            elif kind == "appointment":
                record = {**record, "pc_eid": str(seq), "puuid": puuid}
                key = record["pc_eid"]
            else:
                record = {**record, "uuid": str(uuid.uuid4()), "puuid": puuid}
                key = record["uuid"]
            self._db.execute("UPDATE oe_records SET key = ?, data = ? WHERE seq = ?",
                             (key, json.dumps(record), seq))
            self._db.commit()
        return record

    def get(self, kind: str, key: str, puuid: str | None = None) -> dict | None:
        query, params = "SELECT data FROM oe_records WHERE kind = ? AND key = ?", [kind, key]
        if puuid is not None:
            query, params = query + " AND puuid = ?", params + [puuid]
        with self._lock:
            row = self._db.execute(query, params).fetchone()
        return json.loads(row[0]) if row else None

    def replace(self, kind: str, key: str, record: dict) -> None:
        with self._lock:
            self._db.execute("UPDATE oe_records SET data = ? WHERE kind = ? AND key = ?",
                             (json.dumps(record), kind, key))
            self._db.commit()

    def delete(self, kind: str, key: str, puuid: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM oe_records WHERE kind = ? AND key = ? AND puuid = ?",
                                   (kind, key, puuid))
            self._db.commit()
        return cur.rowcount > 0

    def all(self, kind: str, puuid: str | None = None) -> list[dict]:
        query, params = "SELECT data FROM oe_records WHERE kind = ?", [kind]
        if puuid is not None:
            query, params = query + " AND puuid = ?", params + [puuid]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", params).fetchall()
        return [json.loads(r[0]) for r in rows]

    def reset(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM oe_records")
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
