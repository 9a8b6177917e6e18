"""AuditDrainer: the background thread that moves journaled read AuditEvents into the chain.

May import: stdlib, gateway.store. Woken by each journal append (a counter bump; a thread is
started only when none runs in this process), it drains every `interval` seconds while there
is work and stops after `idle_rounds` rounds without any, so an idle process (or one of the
many apps a test session builds) keeps no thread. The thread holds only a weak reference to
its drainer: when the app goes away, so does the thread. Work left when a process dies is
final in its segment and is taken by the next drain anywhere (another worker, an AuditEvent
search, `fhir-gateway audit drain`).
"""
from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Callable

log = logging.getLogger("gateway.audit")


class AuditDrainer:
    def __init__(self, drain: Callable[[], object], interval: float, idle_rounds: int = 20) -> None:
        self.drain = drain
        self.interval = interval
        self.idle_rounds = idle_rounds
        self.appends = 0  # bumped without a lock: a lost bump only delays the next drain
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()  # the thread sleeps on it, so stop() ends a sleep
        self.stopped = False

    def wake(self) -> None:
        """Called after every journal append (hot path: one increment, one comparison)."""
        self.appends += 1
        thread = self._thread
        if thread is None or self._pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self.stopped or (self._thread is not None and self._pid == os.getpid()):
                return
            self._pid = os.getpid()  # after a fork the parent's thread does not exist here
            self._thread = threading.Thread(target=_run, args=(weakref.ref(self), self._stop),
                                            name="audit-drain", daemon=True)
            self._thread.start()

    def _should_exit(self, seen: int, idle: int) -> bool:
        """Under the lock, so that a wake() racing with the exit starts a new thread."""
        with self._lock:
            if self.stopped or (idle >= self.idle_rounds and self.appends == seen):
                self._thread = None
                return True
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """No more drains from this drainer; waits for one under way to finish."""
        with self._lock:
            self.stopped = True
            self._stop.set()
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


def _run(ref: "weakref.ReferenceType[AuditDrainer]", stop: threading.Event) -> None:
    idle, seen, failed = 0, -1, False
    while True:
        drainer = ref()
        if drainer is None:
            return
        interval = drainer.interval
        appends = drainer.appends
        if drainer.stopped:
            return
        if appends != seen or idle == 0 or failed:  # new events, more to come, or a retry
            try:
                result = drainer.drain()
                failed = False
                idle = 0 if getattr(result, "drained", 0) else idle + 1
            except Exception as exc:  # noqa: BLE001 - keep trying; the journal keeps the events
                log.error("audit journal drain failed: %s", type(exc).__name__)
                failed = True
                idle += 1
            seen = appends
        else:
            idle += 1
        if drainer._should_exit(seen, idle):
            return
        del drainer
        if stop.wait(interval):
            return
