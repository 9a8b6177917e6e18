"""AuditJournal: the durable, append-only file journal that read AuditEvents are written to
before the response leaves, and that the drainer moves into the hash-chained audit table.

May import: stdlib, gateway.store.audit. Why a journal: committing each read's AuditEvent in a
write transaction of its own (BEGIN IMMEDIATE, chain head, two inserts, COMMIT) cost ~110 us of
a ~310 us Patient read on SQLite, and made every read in every worker queue on SQLite's single
writer. One write(2) of a line to a file opened O_APPEND puts the event in the kernel's page
cache before the response is sent: the durability SQLite itself gives a commit in WAL mode with
synchronous=NORMAL (it survives the process crashing; `audit_journal_fsync = true` adds an
fsync per event, which also survives a power loss). IHE BALP/ATNA sinks are asynchronous too;
unlike a syslog sink, nothing here is lost when the audit store is briefly unreachable.

Layout: one directory (on a local disk: flock must work). Each process writes its own segment
`<host>-<pid>-<ns>-<n>.jsonl`, one JSON line per event, and holds a shared flock on it while it
may still write. A segment whose flock can be taken exclusively is final (its writer rotated
away from it or died). The drainer (gateway.store.audit_drain) reads segments from the offset it
recorded in the database, and removes a final segment once it is drained.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.store.audit import AuditRecord

SUFFIX = ".jsonl"
_SEGMENT_BYTES = 16 * 1024 * 1024  # a writer starts a new segment past this size


def encode(record: AuditRecord) -> bytes:
    """One journal line: the AuditRecord's fields as a JSON array, newline-terminated."""
    return (json.dumps([record.id, record.recorded.isoformat(), record.action, record.outcome,
                        record.interaction, record.agent, record.content,
                        [list(e) for e in record.entities]],
                       ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def decode(line: bytes) -> AuditRecord:
    """The AuditRecord of one journal line; ValueError when the line is not one."""
    fields = json.loads(line)
    if not isinstance(fields, list) or len(fields) != 8:
        raise ValueError("not an audit journal line")
    event_id, recorded, action, outcome, interaction, agent, content, entities = fields
    return AuditRecord(event_id, datetime.fromisoformat(recorded), action, outcome, interaction,
                       agent, content, tuple((ref, patient) for ref, patient in entities))


@dataclass
class _Writer:
    """The segment this process appends to: its descriptor (holding LOCK_SH) and size."""

    pid: int
    fd: int
    path: Path
    size: int = 0


@dataclass(frozen=True)
class Chunk:
    """Complete lines read from a segment: the records, the offset after them, and how many
    lines could not be read (a torn last line of a writer that died mid-write)."""

    records: list[AuditRecord]
    end: int
    unreadable: int = 0


class AuditJournal:
    """Append (any thread of any process) and read back (the drainer) audit journal segments."""

    def __init__(self, directory: str | Path, *, fsync: bool = False,
                 segment_bytes: int = _SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._writer: _Writer | None = None
        self._sequence = 0

    # -- writing ------------------------------------------------------------------------------
    def append(self, record: AuditRecord) -> None:
        """Write one event; it is in the page cache (or on disk, with fsync) on return."""
        line = encode(record)
        with self._lock:
            writer = self._current()
            view = memoryview(line)
            while view:  # one writer per segment: a short write just continues where it stopped
                view = view[os.write(writer.fd, view):]
            if self.fsync:
                os.fsync(writer.fd)
            writer.size += len(line)
            if writer.size >= self.segment_bytes:
                self._rotate()

    def _current(self) -> _Writer:
        writer = self._writer
        if writer is None or writer.pid != os.getpid():  # first append, or a forked child
            if writer is not None:
                os.close(writer.fd)  # the parent's descriptor: the parent keeps its own lock
            writer = self._writer = self._open_segment()
        return writer

    def _open_segment(self) -> _Writer:
        # Locked under a temporary name, then renamed: a drainer never sees an unlocked new
        # segment (it would take it for final, find it empty and remove it).
        self._sequence += 1
        name = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}-{self._sequence}"
        temporary = self.directory / f".{name}.new"
        fd = os.open(temporary, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        path = self.directory / f"{name}{SUFFIX}"
        os.rename(temporary, path)
        return _Writer(os.getpid(), fd, path)

    def _rotate(self) -> None:
        old = self._writer
        self._writer = self._open_segment()
        if old is not None:
            os.close(old.fd)  # releases its LOCK_SH: the old segment is final

    def close(self) -> None:
        """Stop writing (the current segment becomes final)."""
        with self._lock:
            if self._writer is not None and self._writer.pid == os.getpid():
                os.close(self._writer.fd)
            self._writer = None

    # -- reading (the drainer) ----------------------------------------------------------------
    def segments(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{SUFFIX}"))

    @staticmethod
    def is_final(path: Path) -> bool:
        """True when no process may still append to the segment (nobody holds its LOCK_SH)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)  # closing also drops the exclusive lock, if it was taken

    @staticmethod
    def read(path: Path, offset: int, max_bytes: int, final: bool) -> Chunk:
        """The complete lines after `offset` (at most about `max_bytes`). A final segment's
        unterminated last line is skipped as unreadable; a live one's waits for its newline."""
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read(max_bytes)
                while b"\n" not in data and len(data) >= max_bytes:  # one line longer than that
                    piece = fh.read(max_bytes)
                    if not piece:
                        break
                    data += piece
                more = fh.read(1) != b""
        except FileNotFoundError:
            return Chunk([], offset)
        complete = data[:data.rfind(b"\n") + 1]
        tail_torn = final and not more and len(complete) < len(data)
        records, unreadable = [], 0
        for line in complete.splitlines():
            try:
                records.append(decode(line))
            except (ValueError, TypeError, KeyError):
                unreadable += 1
        end = offset + (len(data) if tail_torn else len(complete))
        return Chunk(records, end, unreadable + (1 if tail_torn else 0))

    @staticmethod
    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0
