"""Locks: the inter-process database lock, the in-process writer mutex, and collection latches.

Lock order (one global order, so no deadlock): process lock (taken at open, held for the
handle's life) -> writer mutex (one write operation at a time) -> collection latch
(exclusive only while a committed change is applied in memory). No lock is held while user
code runs.

The process lock is an flock/LockFileEx lock on ``<db>/LOCK`` through portalocker: exclusive
for a read-write open, shared for read-only opens. flock locks belong to an open file
description, so one process shares one lock holder per database (see ``database.py``), and a
child created by fork() must never unlock it (its engine refuses to run, see ``engine.py``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from vectordb.errors import LockTimeoutError

__all__ = ["ProcessLock", "ReadWriteLatch", "WriterMutex"]


class ProcessLock:
    """Holds ``<db>/LOCK`` exclusively (read-write) or shared (read-only) until released."""

    def __init__(self, path: Path, *, exclusive: bool, timeout: float) -> None:
        self.path = path
        self.exclusive = exclusive
        self._file: IO[bytes] | None = None
        try:
            handle: IO[bytes] = open(path, "a+b" if exclusive else "rb")  # noqa: SIM115
        except OSError:
            if exclusive:
                raise
            return  # read-only media without a LOCK file: no writer can exist there
        # imported here, not at module level: portalocker pulls in importlib.metadata (~30 ms),
        # a visible share of `import vectordb`
        import portalocker

        flags = portalocker.LockFlags.EXCLUSIVE if exclusive else portalocker.LockFlags.SHARED
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                portalocker.lock(handle, flags | portalocker.LockFlags.NON_BLOCKING)
                break
            except (portalocker.exceptions.LockException, BlockingIOError):
                if time.monotonic() >= deadline:
                    handle.close()
                    mode = "write to" if exclusive else "read"
                    other = "any other process" if exclusive else "a writing process"
                    raise LockTimeoutError(
                        f"could not {mode} {path.parent} within {timeout:g} s: it is open in "
                        f"{other}. Close the other handle, open with read_only=True to only "
                        f"read, or raise lock_timeout"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        self._file = handle

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            import portalocker

            with contextlib.suppress(Exception):
                portalocker.unlock(handle)
            handle.close()

    def abandon(self) -> None:
        """Drop the handle without unlocking: used in a fork()ed child, whose unlock would
        release the parent's lock (they share the open file description)."""
        handle, self._file = self._file, None
        if handle is not None:
            with contextlib.suppress(OSError):
                os.close(os.dup(handle.fileno()))  # keep the fd open in the child: no close


class WriterMutex:
    """One write operation at a time inside the process, with a timeout."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if not self._lock.acquire(timeout=self.timeout):
            raise LockTimeoutError(
                f"another thread held the writer lock for more than {self.timeout:g} s; "
                "raise lock_timeout or make write batches smaller"
            )
        try:
            yield
        finally:
            self._lock.release()


class ReadWriteLatch:
    """Many readers or one writer; a waiting writer holds back new readers (no starvation)."""

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    def acquire_read(self) -> None:
        """Take the latch shared (the hot search path calls this and ``release_read``
        directly: a generator-based context manager costs microseconds per query)."""
        with self._condition:
            while self._writer or self._writers_waiting:
                self._condition.wait()
            self._readers += 1

    def release_read(self) -> None:
        with self._condition:
            self._readers -= 1
            if not self._readers and self._writers_waiting:
                self._condition.notify_all()

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._condition:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._condition.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._condition:
                self._writer = False
                self._condition.notify_all()
