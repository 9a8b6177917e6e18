"""The Database handle: one engine and session factory per app, created by create_app.

May import: sqlalchemy, stdlib, gateway.store.direct. `transaction()` is the unit of work: the
resource write, its index rows, its outbox and audit rows commit or roll back together;
`direct()` is the bare connection of the read hot path.
"""
from __future__ import annotations

import fcntl
import os
import struct
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from gateway.store.direct import Direct, Statements


_CHECKPOINT_FRAMES = 16000  # pending WAL frames (64 MB of pages) that start a checkpoint


def _wal_pending_frames(shm_fd: int) -> int:
    """Frames in the WAL not yet checkpointed, from the WAL-index header in the -shm file
    (sqlite.org/walformat.html 2.2: mxFrame at byte 16, nBackfill at byte 96, native byte
    order); 0 when it cannot be read: then nothing is done."""
    try:
        header = os.pread(shm_fd, 100, 0)
    except OSError:
        return 0
    if len(header) < 100:
        return 0
    mx_frame, = struct.unpack_from("=I", header, 16)
    backfilled, = struct.unpack_from("=I", header, 96)
    return max(mx_frame - backfilled, 0)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers run while a writer commits; foreign keys are off by default in SQLite;
    # busy_timeout makes concurrent gunicorn workers wait for the write lock instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Every PHI read appends an AuditEvent, so the WAL grows fast. SQLite's own checkpoint runs
    # inside a COMMIT, under the writer lock: its copy back plus fsync stalled every other
    # writer (create p99 ~5 x p50). Database checkpoints after the lock instead (see
    # _checkpoint_if_due); the automatic one is only a far-off safety net.
    cursor.execute(f"PRAGMA wal_autocheckpoint={4 * _CHECKPOINT_FRAMES}")
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
        self.statement_engine: Engine = self.engine
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
            # no BEGIN at all: each statement reads the latest commit, as on PostgreSQL
            self.statement_engine = create_engine(url, connect_args={"isolation_level": None})
            event.listen(self.statement_engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        self._lock_path = f"{path}.writer-lock" if path and path != ":memory:" else None
        self._lock_handles: dict[tuple[int, int], object] = {}
        self._shm_path = f"{path}-shm"
        self._shm: dict[int, int] = {}  # pid -> fd of the -shm file
        self._writes_since_look = 0  # per process after a fork; a race only delays a look
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._statements = Statements(self.engine.dialect)
        self._on_dispose: list[Callable[[], None]] = []  # users of this db that must stop first

    def on_dispose(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the database is disposed, before its pools close (a background
        drainer stops here, so it never writes into a database its app has let go of)."""
        self._on_dispose.append(callback)

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
        handle = self._lock_handle()
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
        self._checkpoint_if_due()

    def _checkpoint_if_due(self) -> None:
        """A PASSIVE checkpoint once enough of the WAL is pending, run after the writer lock
        is released: it proceeds beside other readers and writers instead of stalling them
        (a second worker trying at the same time just gets busy and goes on)."""
        # reading the -shm header costs ~30 us: look every 32nd write (a write adds ~7 frames,
        # so the WAL grows by at most ~250 frames past the threshold before it is seen)
        self._writes_since_look += 1
        if self._writes_since_look < 32:
            return
        self._writes_since_look = 0
        shm = self._shm_fd()
        if shm is None or _wal_pending_frames(shm) < _CHECKPOINT_FRAMES:
            return
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.close()
        finally:
            connection.close()

    def _shm_fd(self) -> int | None:
        # kept open per process (pread needs no shared file position, so a fork is harmless);
        # the -shm file exists once any connection opened the database in WAL mode
        pid = os.getpid()
        if self._shm.get(pid) is None:
            try:
                self._shm[pid] = os.open(self._shm_path, os.O_RDONLY)
            except OSError:
                return None
        return self._shm[pid]

    def _lock_handle(self):
        # One open file per thread and process, kept open (saves an open/close per write): a
        # flock belongs to the open file, so a handle shared by threads or inherited across a
        # fork would not exclude its sharers.
        key = (os.getpid(), threading.get_ident())
        handle = self._lock_handles.get(key)
        if handle is None:
            handle = self._lock_handles[key] = open(self._lock_path, "a+b")  # noqa: SIM115
        return handle

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads only (no commit)."""
        session = self._read_sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    @contextmanager
    def read_statements(self) -> Iterator[Connection]:
        """A Core connection for reads whose statements each see the latest commit (SQLite:
        autocommit, no BEGIN/ROLLBACK pair; PostgreSQL: READ COMMITTED, as everywhere). For
        search, whose first page is a single statement; no Session machinery."""
        with self.statement_engine.connect() as connection:
            try:
                yield connection
            finally:
                connection.rollback()

    @contextmanager
    def direct(self) -> Iterator[Direct]:
        """A bare pooled DB-API connection for the per-request hot path (see store.direct);
        whatever it did not commit is rolled back when it goes back to the pool."""
        connection = self.engine.raw_connection()
        try:
            yield Direct(connection, self._statements, self._writer_lock)
        finally:
            connection.close()

    def dispose(self) -> None:
        while self._on_dispose:
            self._on_dispose.pop()()
        self.engine.dispose()
        self.read_engine.dispose()
        self.statement_engine.dispose()
        for handle in self._lock_handles.values():
            handle.close()
        self._lock_handles.clear()
        if self._shm.get(os.getpid()) is not None:
            os.close(self._shm.pop(os.getpid()))
        self._shm.clear()
