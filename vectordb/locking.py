"""Locks: the inter-process writer lock, the in-process writer mutex, and collection latches.

Lock order (one global order, so no deadlock): writer mutex (one write transaction at a time
in the process) -> database writer lock (``<db>/LOCK``, one write transaction at a time
across processes) -> catch-up mutex (one thread replays other processes' records) ->
collection latch (exclusive only while a committed change is applied in memory). No lock is
held while user code runs, except a ``transaction()`` body, which holds the writer locks
until it ends (that is what makes it serializable).

``<db>/OPEN`` is held shared by every open engine for its whole life (an open waits for it,
before any other lock). Only the last process to close takes it exclusively, without
waiting, while it holds the writer lock, to delete the log its checkpoint covers and trim
``vectors.bin`` (``engine.py``): an open waits for that, and no open handle ever sees it.

``FileLock`` is an flock/LockFileEx lock through portalocker. flock locks belong to an open
file description, so one process shares one holder per database (see ``database.py``), and
a child created by fork() must never unlock it (its engine refuses to run, see
``engine.py``). Waiting polls with short, growing sleeps (as SQLite's busy handler does):
the OS offers no portable blocking lock with a timeout.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from vectordb.errors import LockTimeoutError
from vectordb.files import io
from vectordb.files.atomic import os_error

__all__ = ["FileLock", "ReadWriteLatch", "WriterMutex"]


class FileLock:
    """An inter-process lock on one file, taken and released many times by one process.

    The file stays open for the handle's life; ``acquire`` / ``release`` lock and unlock it.
    ``usable`` is False when the file cannot be opened (read-only media): no process can
    write there, so nothing needs locking.
    """

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        self.held = False
        self._file: IO[bytes] | None = None
        try:
            if create:  # created through the I/O seam, so the fault tests reach it
                flags = os.O_RDWR | os.O_CREAT | os.O_APPEND
                self._file = os.fdopen(io.open_fd(path, flags), "a+b")
            else:
                self._file = open(path, "rb")  # noqa: SIM115
        except OSError as error:
            if create:
                raise os_error(error, f"create lock file {path}") from error

    @property
    def usable(self) -> bool:
        return self._file is not None

    def try_acquire(self, *, exclusive: bool = True) -> bool:
        """Take the lock if it is free right now; True if taken."""
        if self._file is None:
            return True
        # imported here, not at module level: portalocker pulls in importlib.metadata (~30 ms),
        # a visible share of `import vectordb`
        import portalocker

        flags = portalocker.LockFlags.EXCLUSIVE if exclusive else portalocker.LockFlags.SHARED
        try:
            portalocker.lock(self._file, flags | portalocker.LockFlags.NON_BLOCKING)
        except (portalocker.exceptions.LockException, BlockingIOError):
            return False
        self.held = True
        return True

    def acquire(
        self,
        timeout: float,
        what: str,
        *,
        exclusive: bool = True,
        while_waiting: Callable[[], object] | None = None,
        held_by: str = "held the writer lock",
        hint: str = "a long transaction or a durability='off' bulk load",
    ) -> None:
        """Take the lock, waiting up to ``timeout`` seconds; ``LockTimeoutError`` names
        ``what``, says another process ``held_by`` it all that time and ``hint``s at what it
        may be doing. ``while_waiting`` runs between tries (the engine follows the log then,
        so little is left to replay once the lock is taken)."""
        if self.try_acquire(exclusive=exclusive):
            return
        deadline = time.monotonic() + timeout
        delay = 0.00005
        while True:
            if while_waiting is not None:
                while_waiting()
                if self.try_acquire(exclusive=exclusive):
                    return
            # jitter: waiters that slept alike do not all wake in the same instant
            time.sleep(delay * (0.5 + random.random()))
            if self.try_acquire(exclusive=exclusive):
                return
            if time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f"could not {what} within {timeout:g} s: another process {held_by} "
                    f"({self.path}) all that time. Retry, raise lock_timeout, or find the "
                    f"process that holds it ({hint})"
                )
            delay = min(delay * 2, 0.001)

    def release(self) -> None:
        if self._file is not None and self.held:
            import portalocker

            self.held = False
            with contextlib.suppress(Exception):
                portalocker.unlock(self._file)

    def close(self) -> None:
        self.release()
        handle, self._file = self._file, None
        if handle is not None:
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
    """Many readers or one writer; a waiting writer holds back new readers (no writer
    starvation), and readers waiting when a writer releases go first (no reader starvation:
    a writer that re-takes the latch in a loop, like the background indexer moving rows in
    chunks, would otherwise keep a search waiting for the whole loop)."""

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._readers_waiting = 0
        self._readers_turn = False  # set by a releasing writer while readers wait

    def acquire_read(self) -> None:
        """Take the latch shared (the hot search path calls this and ``release_read``
        directly: a generator-based context manager costs microseconds per query)."""
        with self._condition:
            if self._writer or (self._writers_waiting and not self._readers_turn):
                self._readers_waiting += 1
                while self._writer or (self._writers_waiting and not self._readers_turn):
                    self._condition.wait()
                self._readers_waiting -= 1
                if not self._readers_waiting:
                    self._readers_turn = False
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
            while self._writer or self._readers or self._readers_turn:
                self._condition.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._condition:
                self._writer = False
                if self._readers_waiting:
                    self._readers_turn = True
                self._condition.notify_all()
