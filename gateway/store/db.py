"""The Database handle: one engine and session factory per app, created by create_app.

May import: sqlalchemy, stdlib. `transaction()` is the unit of work: the resource write, its
index rows and (later) its outbox and audit rows commit or roll back together.
"""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers run while a writer commits; foreign keys are off by default in SQLite;
    # busy_timeout makes concurrent gunicorn workers wait for the write lock instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """Engine + session factory for one SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        self.read_engine: Engine = self.engine
        if self.engine.dialect.name == "sqlite":
            # pysqlite's own transaction handling is switched off so that writes can start with
            # BEGIN IMMEDIATE: a deferred transaction that upgrades from read to write fails at
            # once with "database is locked" when another worker committed in between.
            self.engine = create_engine(url, connect_args={"isolation_level": None})
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            self.read_engine = create_engine(url, connect_args={"isolation_level": None})
            event.listen(self.read_engine, "connect", _sqlite_pragmas)
            event.listen(self.read_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        self._lock_path = f"{path}.writer-lock" if path and path != ":memory:" else None
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any exception."""
        session = self._sessions()
        try:
            with self._writer_lock(), session.begin():
                yield session
        finally:
            session.close()

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        # SQLite allows one writer; a waiting writer polls with sleeps of 1..100 ms (its busy
        # handler), which made p99 latency explode with two gunicorn workers. An exclusive
        # flock on a side file queues writers in the kernel and wakes the next one at once.
        if self._lock_path is None:
            yield
            return
        with open(self._lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads only (no commit)."""
        session = self._read_sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()
