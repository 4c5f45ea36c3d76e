"""Engine: the state of one open database directory, shared by every handle in the process.

Handles (``Database``, ``Collection``) validate arguments and call the engine to make a
change durable and visible. The engine holds the locks and the registry of open engines and
runs writes and transactions; its parts hold the rest:

- ``collections.CollectionSet``: the open collections (``state.CollectionState`` each);
- ``log.EngineLog``: where the log ends, appending to it, what it counts;
- ``recovery``: the header check and the replay at open;
- ``following.Follower``: replaying other processes' records, reloading;
- ``checkpoints.Checkpointer``: checkpoints, backups' pauses, compaction;
- ``integrity.Integrity``: ``check()`` and its repairs;
- ``health.Health``: what went wrong, and so what may still run.

Several processes may open one directory read-write at once (SQLite's WAL mode is the
model, see docs/concurrency.md). Each process keeps its own in-memory state, and the log is
how they agree. A write (``writing()``): writer mutex -> the database writer lock
(``<db>/LOCK``, held for one write operation or transaction, not for the handle's life) ->
follow the log to its end, replaying what other processes committed -> write the new vectors
into rows nobody reads -> append the record (fsync for durability ``full``) -> apply it in
memory under the collection's exclusive latch (``state.apply_write``, the path replay takes
too) -> release. A failure before the log append changes nothing; what a later failure does
is ``health.py``'s business. A read (``refresh()``) only follows the log: readers never take
the writer lock.

Every open engine holds ``<db>/OPEN`` shared. The close of the last one (it gets ``OPEN``
exclusively without waiting) also deletes the log segments its checkpoint covers and trims
each ``vectors.bin`` to its used rows (``_tidy_if_last``); while any other process has the
database open, a close leaves both as they are (that process may still follow the log).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.concurrency.idempotency import IdempotencyKeys, RequestPart, check_key, request_digest
from vectordb.config import CollectionConfig, DatabaseConfig, Durability
from vectordb.engine.checkpoints import Checkpointer
from vectordb.engine.collections import CollectionSet
from vectordb.engine.following import Follower
from vectordb.engine.health import Health
from vectordb.engine.integrity import Integrity, delete_stray_files
from vectordb.engine.log import EngineLog
from vectordb.engine.recovery import check_database_header, replay
from vectordb.engine.state import CollectionState, apply_write, latch_order
from vectordb.engine.transaction import BufferedWrite, PendingWrites, Transaction
from vectordb.errors import (
    CollectionExistsError,
    CollectionFullError,
    CollectionNotFoundError,
    CorruptionError,
    DatabaseClosedError,
    FellBehind,
    InvalidArgumentError,
    LockTimeoutError,
    ReadOnlyError,
    StorageError,
    TransactionError,
)
from vectordb.files import io
from vectordb.files.atomic import os_error
from vectordb.locking import FileLock, WriterMutex
from vectordb.observability.metrics import Metrics
from vectordb.results import Problem
from vectordb.storage.layout import DatabaseFiles
from vectordb.storage.migrations import migrate
from vectordb.storage.records import (
    CollectionEvent,
    Delete,
    IdempotencyStamp,
    Put,
    SetMetadata,
    TransactionRecord,
    Write,
    encode_transaction,
    encode_write,
)

__all__ = ["Engine", "validate_collection_name"]

log = logging.getLogger("vectordb")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}


def validate_collection_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidArgumentError(f"collection name must be a string; got {type(name).__name__}")
    if not _NAME_RE.match(name) or name.endswith(".") or ".." in name:
        raise InvalidArgumentError(
            f"invalid collection name {name!r}: use 1-128 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, not ending with '.'"
        )
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        raise InvalidArgumentError(
            f"invalid collection name {name!r}: it is a reserved device name on Windows"
        )
    return name


class Engine:
    """See the module docstring. Use ``Engine.acquire`` / ``release`` (reference counted)."""

    _registry: dict[str, Engine] = {}
    _registry_lock = threading.Lock()

    def __init__(self, root: Path, *, read_only: bool, config: DatabaseConfig) -> None:
        self.root = root
        self.files = DatabaseFiles(root)
        self.read_only = read_only
        self.config = config
        self.metrics = Metrics()
        self.pid = os.getpid()
        self.refs = 0
        self.closed = False
        self.low_disk = False  # writes refused for lack of disk space (ensure_disk_space)
        self.torn_tail: str | None = None
        self.health = Health(root)
        self.collections = CollectionSet(self.files, config, self.health, read_only=read_only)
        self.log = EngineLog(self.files, config, self.health)
        self.idempotency = IdempotencyKeys(config.idempotency_window)
        self.follower = Follower(self.files, self.collections, self.log, self.idempotency,
                                 self._writer_lock_held, read_only=read_only)  # fmt: skip
        self.checkpoints = Checkpointer(config, self.collections, self.log, self.idempotency,
                                        self.metrics, read_only=read_only)  # fmt: skip
        self.integrity = Integrity(self.collections, self.log, self.idempotency, self.writing,
                                   self._writer_lock_if_free, read_only=read_only)  # fmt: skip
        self.writer_mutex = WriterMutex(config.lock_timeout)
        #: the database writer lock (<db>/LOCK), held per write operation or transaction
        self.db_lock: FileLock | None = None
        #: <db>/OPEN, held shared while open: the last process to close gets it exclusively
        #: and tidies (deletes the log its checkpoint covers, trims vectors.bin)
        self.open_lock: FileLock | None = None
        self._write_depth = 0  # nesting of writing() in the thread holding the writer mutex
        self.transaction: Transaction | None = None
        self._open()

    # ----------------------------------------------------------------- sharing
    @classmethod
    def acquire(
        cls, path: str | os.PathLike[str], *, read_only: bool, config: DatabaseConfig
    ) -> Engine:
        root = Path(os.path.abspath(os.fspath(path)))
        if not read_only:
            try:
                io.mkdir(root, parents=True, exist_ok=True)
            except FileExistsError as error:
                raise InvalidArgumentError(f"{root} exists and is not a directory") from error
            except OSError as error:
                raise os_error(error, f"create database directory {root}") from error
        elif not root.is_dir():
            raise InvalidArgumentError(
                f"no database at {root}: a read-only open needs an existing database directory"
            )
        key = os.path.realpath(root)
        with cls._registry_lock:
            engine = cls._registry.get(key)
            if engine is not None and (engine.closed or engine.pid != os.getpid()):
                engine = None
            if engine is not None:
                if engine.read_only and not read_only:
                    raise ReadOnlyError(
                        f"{root} is already open read-only in this process; close that handle "
                        "before opening it for writing"
                    )
            else:
                engine = cls(root, read_only=read_only, config=config)
                cls._registry[key] = engine
                _OPEN_ENGINES.add(engine)
            engine.refs += 1
            return engine

    def release(self) -> None:
        with self._registry_lock:
            self.refs -= 1
            if self.refs > 0:
                return
            key = os.path.realpath(self.root)
            if self._registry.get(key) is self:
                del self._registry[key]
        self.close()

    # ----------------------------------------------------------------- open
    def _open(self) -> None:
        version = check_database_header(self.files, read_only=self.read_only)
        self._hold_open_lock()
        try:
            self.db_lock = FileLock(self.files.lock, create=not self.read_only)
        except BaseException:
            self._close_resources()
            raise
        # a read-write open that finds the writer lock free recovers exclusively (writes
        # replayed vectors, cuts a torn tail, deletes leftovers); one that finds it taken, or a
        # read-only open, loads what is committed without waiting: another process is alive
        # and has recovered at its own open
        exclusive = not self.read_only and self.db_lock.try_acquire()
        attempts = 1 if exclusive or not self.db_lock.usable else 5
        for attempt in range(attempts):
            try:
                try:
                    self.collections.load_all(
                        exclusive=exclusive, tolerate_damage=attempt == attempts - 1
                    )
                    replayed = replay(self.files, self.collections, self.log, self.idempotency,
                                      exclusive=exclusive)  # fmt: skip
                    self.follower.replayed.records += replayed.records
                    self.torn_tail = replayed.torn_tail
                    if exclusive:
                        delete_stray_files(self.collections)
                        migrate(self.files, version)
                finally:
                    self.db_lock.release()
                if self.config.verify_checksums_on_open:
                    problems = self.check()
                    if problems:
                        first = problems[0]
                        raise CorruptionError(
                            f"{len(problems)} problem(s) found at open; first: {first.message}",
                            path=first.path,
                            offset=first.offset,
                        )
                break
            except (FileNotFoundError, StorageError, CorruptionError):
                # an open without the lock: a checkpoint in a writing process may have
                # replaced a file it was reading. Start over (a real problem persists).
                self._close_resources(keep_lock_file=True)
                if attempt == attempts - 1:
                    self._close_resources()
                    raise
                time.sleep(0.01 * (attempt + 1))
            except BaseException:
                self._close_resources()
                raise
        for state in self.collections:
            state.start_background_work()
        if not self.read_only:
            from vectordb.index.jit import warm_up_in_background
            from vectordb.storage.collection_store import load_checksum_kernels

            warm_up_in_background(load_checksum_kernels)

    def _hold_open_lock(self) -> None:
        """Hold ``<db>/OPEN`` shared for the engine's life, before anything is read: waits
        while the last process to close tidies (it holds it exclusively for a moment, see
        ``_tidy_if_last``). A read-only open does not create the file; without it (read-only
        media, or a database no read-write open of this version has touched) it locks
        nothing."""
        lock = FileLock(self.files.open_lock, create=not self.read_only)
        try:
            lock.acquire(self.config.lock_timeout, f"open {self.root}", exclusive=False,
                         held_by="was closing the database and tidying its files",
                         hint="deleting covered log segments, trimming vectors.bin")  # fmt: skip
        except BaseException:
            lock.close()
            raise
        self.open_lock = lock

    # ----------------------------------------------------------------- reading
    def refresh(self) -> int:
        """Before a read: replay what other processes committed since this one last looked
        (one ``stat`` when nothing changed). Returns ``checkpoints_seen`` for ``stale``.
        Runs before every read: the common case is one call and one ``stat``."""
        reader = self.log.follower
        if reader is not None and reader.changed() and self.pid == os.getpid():
            self.follower.follow_changes()
        return self.log.checkpoints_seen

    def stale(self, seen: int) -> bool:
        """After a read that began at ``refresh() == seen``: True if another process
        checkpointed meanwhile, so a row the read trusted may have been reused: read again."""
        self.refresh()
        return self.log.checkpoints_seen != seen

    # ----------------------------------------------------------------- guards
    def ensure_usable(self, *, write: bool = False) -> None:
        if self.pid != os.getpid():
            raise DatabaseClosedError(
                "this database handle was inherited through fork(); open the database again "
                "in the child process"
            )
        if self.closed:
            raise DatabaseClosedError(f"database {self.root} is closed")
        if write and self.read_only:
            self.health.check(write=False)
            raise ReadOnlyError(f"database {self.root} is open read-only; writes are refused")
        health = self.health
        if health.failure is not None or (write and health.write_failure is not None):
            health.check(write=write)  # raises; the common case (healthy) is just the test

    def free_disk_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def ensure_disk_space(self) -> None:
        """Refuse writes while free space is under ``min_free_disk_bytes`` (the low-disk
        read-only mode: entered and left by this check, one statvfs per write)."""
        threshold = self.config.min_free_disk_bytes
        if not threshold:
            return
        try:
            free = self.free_disk_bytes()
        except OSError:
            return
        if free < threshold:
            if not self.low_disk:
                log.warning("free disk space %d < min_free_disk_bytes %d: writes refused",
                            free, threshold)  # fmt: skip
            self.low_disk = True
            raise ReadOnlyError(
                f"only {free} bytes free on the file system of {self.root} (under "
                f"min_free_disk_bytes={threshold}): writes are refused until space returns; "
                "reads go on"
            )
        if self.low_disk:
            log.warning("free disk space back to %d: writes accepted again", free)
            self.low_disk = False

    def check_limits(
        self, state: CollectionState, ids: list[str], ids_are_new: bool, pending: Any = None
    ) -> None:
        """Raise ``CollectionFullError`` if writing ``ids`` would pass the collection's
        ``max_vectors`` / ``max_bytes`` (caller holds the writer mutex); ``pending``: the
        open transaction's view of the collection."""
        store = state.store
        overrides = self.config.overrides_for(state.name)
        max_vectors = overrides.max_vectors or self.config.max_vectors
        max_bytes = overrides.max_bytes or self.config.max_bytes
        if max_vectors is None and max_bytes is None:
            return
        exists = store.row_of.__contains__ if pending is None else pending.exists
        if ids_are_new:
            new = len(ids)
        else:
            new = sum(1 for vector_id in dict.fromkeys(ids) if not exists(vector_id))
        after = store.count + new + (0 if pending is None else pending.net_new)
        if max_vectors is not None and after > max_vectors:
            raise CollectionFullError(
                f"collection {state.name!r} holds {store.count} records; {new} more would pass "
                f"max_vectors={max_vectors}; nothing was written (delete records, or raise "
                "max_vectors in the database or collection configuration)"
            )
        if max_bytes is not None and after * store.vectors.row_bytes > max_bytes:
            raise CollectionFullError(
                f"collection {state.name!r} would hold {after * store.vectors.row_bytes} bytes "
                f"of vectors, over max_bytes={max_bytes}; nothing was written (delete records, "
                "or raise max_bytes in the database or collection configuration)"
            )

    # ----------------------------------------------------------------- the writer lock
    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer locks for one write operation (validate, log, apply): the writer
        mutex, then the database writer lock, then follow the log to its end so the
        operation validates against every process's commits. Nested calls (a transaction's
        writes) take nothing more."""
        self.ensure_usable(write=True)
        self.ensure_disk_space()
        with self.writer_mutex.hold():
            self.ensure_usable(write=True)
            outermost = self._write_depth == 0
            if outermost:
                self._take_db_lock(f"write to {self.root}")
            self._write_depth += 1
            try:
                yield
            finally:
                self._write_depth -= 1
                if outermost:
                    self._release_db_lock()

    def _take_db_lock(self, what: str, *, wait: bool = True) -> bool:
        """Take the database writer lock (unless a durability "off" write kept it) and catch
        up with the log under it (caller holds the writer mutex). ``wait=False``: only if it
        is free now; returns whether it is held."""
        lock = self.db_lock
        assert lock is not None
        if lock.held:
            return True  # kept since an unlogged write: nobody else can have written
        if wait:
            # replay what others commit while waiting, outside the lock: under it, only the
            # records committed since remain
            lock.acquire(self.config.lock_timeout, what, while_waiting=self.refresh)
        elif not lock.try_acquire():
            return False
        try:
            try:
                self.follower.catch_up(locked=True)
            except FellBehind:
                self.follower.reload(locked=True)
                self.follower.catch_up(locked=True)
            self.collections.check_identities()
            self.log.writer_to_follower()
            self.ensure_usable(write=True)
        except BaseException:
            lock.release()
            raise
        return True

    def _release_db_lock(self) -> None:
        lock = self.db_lock
        if lock is None or not lock.held or self.log.unlogged:
            return  # writes with durability "off" keep the lock until their checkpoint
        lock.release()

    @contextlib.contextmanager
    def _writer_lock_held(self) -> Iterator[None]:
        """The writer mutex and the database writer lock, waiting for them (a reload that
        must see a durability "off" writer's checkpoint), without following the log."""
        with self.writer_mutex.hold():
            lock = self.db_lock
            assert lock is not None
            took = not lock.held
            if took:
                lock.acquire(self.config.lock_timeout, f"catch up with {self.root}")
            try:
                yield
            finally:
                if took:
                    lock.release()

    @contextlib.contextmanager
    def _writer_lock_if_free(self) -> Iterator[bool]:
        """The writer lock if it is free now (caught up under it, which cuts a crashed
        writer's torn tail); yields whether it is held."""
        if self.read_only or self.db_lock is None or not self.health.writable:
            yield False
            return
        with self.writer_mutex.hold():
            outermost = self._write_depth == 0
            held = self._take_db_lock("check the log", wait=False)
            try:
                yield held
            finally:
                if held and outermost:
                    self._release_db_lock()

    # ----------------------------------------------------------------- transactions
    def begin_transaction(self, transaction: Transaction) -> None:
        current = self.transaction
        if current is not None and current.belongs_to_current_thread():
            raise TransactionError(
                "a transaction is already open in this thread; nested transactions are not "
                "supported (put the writes in the outer one)"
            )
        writing = self.writing()
        writing.__enter__()
        try:
            if transaction.idempotency_key is not None:
                entry = self.idempotency.keys.get(transaction.idempotency_key)
                transaction.already_applied = entry is not None and entry[0] >= (
                    time.time() - self.idempotency.window
                )
            transaction.attach(writing)
            self.transaction = transaction
        except BaseException:
            writing.__exit__(None, None, None)
            raise

    def end_transaction(self, transaction: Transaction) -> None:
        if self.transaction is not transaction:
            return
        self.transaction = None
        writing = transaction.detach()
        if writing is not None:
            writing.__exit__(None, None, None)

    def current_transaction(self) -> Transaction | None:
        """The transaction open in the calling thread, or None."""
        transaction = self.transaction
        if transaction is not None and transaction.belongs_to_current_thread():
            return transaction
        return None

    def refuse_in_transaction(self, what: str) -> None:
        """Operations that change files or collections at once cannot be part of a
        transaction (they would not roll back, and would move rows it planned)."""
        if self.current_transaction() is not None:
            raise TransactionError(
                f"{what} cannot run inside a transaction; do it before or after the block"
            )

    def commit_transaction(self, transaction: Transaction) -> None:
        """Log the transaction's writes as one ``txn`` record and apply them all at once."""
        writes = transaction.writes
        key = transaction.idempotency_key
        stamp = None
        if key is not None:
            stamp = IdempotencyStamp(key, request_digest(transaction.requests), None)
            found, _ = self.idempotency.lookup(key, stamp.digest)
            if found:
                return  # applied before: the retry's writes are discarded
        if not writes:
            return
        sync = Durability.FULL in {self._durability(write.state) for write in writes}
        now = time.time()
        record = TransactionRecord([write.write for write in writes])
        lsn, size = self.log.append(encode_transaction(record, now, stamp), None, sync=sync)
        transaction.lsn = lsn
        if stamp is not None:
            self.idempotency.remember(stamp.key, now, stamp.digest, None)
        states = sorted({id(w.state): w.state for w in writes}.values(), key=latch_order)
        try:
            with contextlib.ExitStack() as stack:
                for state in states:
                    stack.enter_context(state.latch.write())
                for buffered in writes:
                    apply_write(buffered.state, lsn, buffered.write, vectors_in_file=True,
                                ids_are_new=buffered.ids_are_new)  # fmt: skip
                for state in states:
                    state.store.clear_reservations()
        except BaseException as error:
            self.health.fail(error)
            raise
        transaction.state = "committed"  # whatever the checkpoint below does
        self._counted(size)

    # ----------------------------------------------------------------- commits
    def _durability(self, state: CollectionState) -> Durability:
        store = state.store
        return Durability(
            self.config.overrides_for(store.manifest.name).durability
            or store.config.durability
            or self.config.durability
        )

    def commit(
        self,
        state: CollectionState,
        write: Write,
        stamp: IdempotencyStamp | None = None,
        *,
        ids_are_new: bool = False,
    ) -> int | None:
        """Log one write to ``state`` and apply it (``apply_write``, the path replay takes
        too); caller holds ``writing()``. Returns its LSN, or None inside a transaction (the
        write is buffered until its commit). ``ids_are_new``: ``add`` checked that no id is
        stored, so the lookup of replaced rows is skipped."""
        if state.dropped:
            raise CollectionNotFoundError(f"collection {state.name!r} was dropped")
        transaction = self.current_transaction()
        if transaction is not None:
            # (keys on writes inside a transaction are refused by Collection._replayed; the
            # caller gives buffers it will not change before the commit: _put copies them)
            transaction.buffer(BufferedWrite(state, write, ids_are_new))
            return None
        durability = self._durability(state)
        if durability is Durability.OFF and stamp is None:
            lsn = self.log.last_lsn
            size = 0
            self.log.unlogged.add(state.uid)
        else:
            committed_at = time.time()
            fields, vector_bytes = encode_write(write, committed_at, stamp)
            lsn, size = self.log.append(fields, vector_bytes, sync=durability is Durability.FULL)
            if stamp is not None:
                self.idempotency.remember(stamp.key, committed_at, stamp.digest, stamp.result)
        try:
            with state.latch.write():
                apply_write(state, lsn, write, vectors_in_file=True, ids_are_new=ids_are_new)
        except BaseException as error:
            self.health.fail(error)
            raise
        self._counted(size)
        return lsn

    # ----------------------------------------------------------------- writes to a collection
    def pending_view(self, state: CollectionState) -> PendingWrites | None:
        """The open transaction's view of ``state``, or None outside a transaction (caller
        holds ``writing()``)."""
        transaction = self.current_transaction()
        return None if transaction is None else transaction.view(state)

    def applied_before(
        self, state: CollectionState, idempotency_key: str | None, *parts: RequestPart
    ) -> tuple[bool, Any, tuple[str, bytes] | None]:
        """Whether this write was applied before (an idempotency lookup); caller holds
        ``writing()``, so the log has been followed to its end. Returns ``(applied before,
        its first result, (key, digest) to log with the write)``. ``parts`` describe the
        request.

        Inside a transaction with a key, the request joins the transaction's digest, and
        once the transaction was applied before, every write in it is a no-op."""
        transaction = self.current_transaction()
        if transaction is not None:
            if idempotency_key is not None:
                raise TransactionError(
                    "idempotency_key on a write inside a transaction: give the key to "
                    "transaction() instead"
                )
            if transaction.idempotency_key is not None:
                transaction.requests.append(request_digest([state.uid, *parts]))
                return transaction.already_applied, None, None
            return False, None, None
        if idempotency_key is None:
            return False, None, None
        keyed = check_key(idempotency_key), request_digest([state.uid, *parts])
        found, result = self.idempotency.lookup(*keyed)
        return found, result, keyed

    def put(
        self,
        state: CollectionState,
        ids: list[str],
        matrix: npt.NDArray[np.float32],
        blobs: list[bytes] | None,
        *,
        documents: list[bytes] | None = None,
        ids_are_new: bool = False,
        keyed: tuple[str, bytes] | None = None,
        result: Any = None,
    ) -> None:
        """Plan rows, write the vectors into them (nobody reads them yet, so before the log:
        a process that sees the record sees the bytes), then log and apply the record
        (caller holds ``writing()`` and validated everything)."""
        store = state.store
        pending = self.pending_view(state)
        self.check_limits(state, ids, ids_are_new, pending)
        rows = store.plan_rows(len(ids), reserve=pending is not None)
        if pending is not None:
            matrix = np.array(matrix, dtype="<f4", copy=True)  # applied at the commit
        store.vectors.write(rows, matrix)
        put = Put(state.uid, ids, rows, matrix, blobs, documents)
        self.commit(state, put, _stamp(keyed, result), ids_are_new=ids_are_new)
        if pending is not None:
            pending.put(ids, blobs, documents)

    def delete(
        self, state: CollectionState, ids: list[str], keyed: tuple[str, bytes] | None
    ) -> int:
        """Log and apply the deletion of ``ids`` (all stored; caller holds ``writing()``)."""
        if not ids:
            return 0
        self.commit(state, Delete(state.uid, ids), _stamp(keyed, len(ids)))
        pending = self.pending_view(state)
        if pending is not None:
            pending.delete(ids)
        return len(ids)

    def set_metadata(
        self,
        state: CollectionState,
        ids: list[str],
        blobs: list[bytes],
        keyed: tuple[str, bytes] | None,
        *,
        documents: list[bytes] | None = None,
        result: Any = None,
    ) -> None:
        """Log and apply new metadata (and documents, unless None) for ``ids`` (all stored;
        caller holds ``writing()``); ``result``: what a retry with the same idempotency key
        returns."""
        write = SetMetadata(state.uid, ids, blobs, documents)
        self.commit(state, write, _stamp(keyed, result))
        pending = self.pending_view(state)
        if pending is not None:
            pending.set_metadata(ids, blobs, documents)

    def _counted(self, size: int) -> None:
        if self.log.counted(size) and self.checkpoints.due():
            self.checkpoints.in_background()

    # ----------------------------------------------------------------- maintenance
    def checkpoint(self) -> None:
        self.refuse_in_transaction("checkpoint()")
        with self.writing():
            self.checkpoints.run()

    def compact(self, name: str) -> dict[str, Any]:
        self.refuse_in_transaction("compact()")
        with self.writing():
            return self.checkpoints.compact(name)

    def check(self, *, repair: bool = False) -> list[Problem]:
        """Every checksum and invariant of the database (``integrity.py``)."""
        return self.integrity.check(repair=repair)

    # ----------------------------------------------------------------- collections
    def create_collection(self, name: str, config: CollectionConfig) -> CollectionState:
        validate_collection_name(name)
        self.refuse_in_transaction("create_collection()")
        with self.writing():
            lowered = {existing.lower(): existing for existing in self.collections.names_in_use()}
            if name.lower() in lowered:
                existing = lowered[name.lower()]
                raise CollectionExistsError(
                    f"collection {existing!r} already exists"
                    + (
                        ""
                        if existing == name
                        else " (names differ only in case, which "
                        "Windows and macOS file systems treat as the same)"
                    )
                    + "; use get_collection() or pass exist_ok=True"
                )
            uid = uuid.uuid4().hex
            state = self.collections.materialize(
                name, uid, config.to_dict(), time.time(), checkpoint_lsn=self.log.last_lsn
            )
            state.start_background_work()
            # the configuration travels with the record, so replaying the log onto a backup
            # older than this creation creates the collection again
            self.log.append_event(CollectionEvent("create", name, uid, config.to_dict()))
            return state

    def drop_collection(self, name: str) -> None:
        self.refuse_in_transaction("drop_collection()")
        with self.writing():
            collections = self.collections
            if name in collections.unavailable and name not in collections:
                # damaged files: what the user asks is to be rid of them (no uid to log)
                moved = collections.quarantine(name)
                io.rmtree(moved, ignore_errors=True)
                return
            state = collections.get(name)
            collections.remove(state)
            self.log.unlogged.discard(state.uid)
            self.log.append_event(CollectionEvent("drop", name, state.uid))

    # ----------------------------------------------------------------- close
    def close(self) -> None:
        if self.closed:
            return
        if self.pid != os.getpid():  # inherited through fork: never touch the parent's files
            self.closed = True
            for lock in (self.db_lock, self.open_lock):
                if lock is not None:
                    lock.abandon()  # an unlock would release the parent's lock
            return
        try:
            if not self.read_only and self.health.writable:
                self._checkpoint_at_close()
        except LockTimeoutError as error:
            # another process held the writer lock all along: this one's writes are in the
            # log already, and a later checkpoint (or open) covers them
            log.warning("no checkpoint at close of %s: %s", self.root, error)
        finally:
            self.log.unlogged.clear()
            self.closed = True
            self._close_resources()
            _OPEN_ENGINES.discard(self)

    def _checkpoint_at_close(self) -> None:
        """Checkpoint (collections and the index work done since), unless another process
        holds the writer lock: this one's records are in the log, and a later checkpoint
        or open covers them."""
        with self.writer_mutex.hold():
            outermost = self._write_depth == 0
            if outermost and not self._take_db_lock("checkpoint at close", wait=False):
                log.info("%s: another process holds the writer lock; no checkpoint at close",
                         self.root)  # fmt: skip
                return
            try:
                ran = self.checkpoints.run()
                deadline = time.monotonic() + max(60.0, self.config.lock_timeout)
                while not ran and self.log.unlogged and time.monotonic() < deadline:
                    time.sleep(0.05)  # a backup holds checkpoints off: wait for it
                    ran = self.checkpoints.run()
                if not ran and self.log.unlogged:
                    log.error("%s: closed while a backup held checkpoints off; the writes made "
                              "with durability 'off' since the last checkpoint are lost",
                              self.root)  # fmt: skip
                if ran and outermost and self.transaction is None:
                    self._tidy_if_last()
            finally:
                self.log.unlogged.clear()
                if outermost:
                    self._release_db_lock()

    def _tidy_if_last(self) -> None:
        """Right after the checkpoint at close (writer lock held): if no other process has
        the database open, delete every log segment the checkpoint covers and cut each
        ``vectors.bin`` after its last used row. "No other process": ``OPEN``, which every
        open holds shared, is free for an exclusive lock now (taken without waiting: the
        shared hold is given up first, and taken again after, until the files are closed;
        flock cannot upgrade in place). Opens that come meanwhile wait for ``OPEN``, so
        nobody follows a segment or maps a row that goes."""
        lock = self.open_lock
        if lock is None or not lock.usable or self.checkpoints.paused:
            return
        lock.release()
        if not lock.try_acquire(exclusive=True):
            # open elsewhere: hold it shared again until this engine's files are closed
            # (nobody else takes it exclusively meanwhile: that needs the writer lock)
            lock.try_acquire(exclusive=False)
            return
        try:
            self.checkpoints.drop_covered_segments()
            self.collections.trim_vector_files()
        finally:
            lock.release()
            lock.try_acquire(exclusive=False)  # downgraded: the close releases it last

    def _close_resources(self, *, keep_lock_file: bool = False) -> None:
        self.log.close()
        self.collections.close_all()
        for name in ("db_lock", "open_lock"):
            lock = getattr(self, name)
            if lock is not None and not keep_lock_file:
                lock.close()
                setattr(self, name, None)


def _stamp(keyed: tuple[str, bytes] | None, result: Any) -> IdempotencyStamp | None:
    """What a write made with an idempotency key logs (None without one)."""
    return None if keyed is None else IdempotencyStamp(keyed[0], keyed[1], result)


_OPEN_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for engine in list(_OPEN_ENGINES):
        with contextlib.suppress(Exception):
            if engine.pid == os.getpid():
                engine.close()


def _after_fork_in_child() -> None:
    # handles in the child are dead (engine.pid differs); forget them so a fresh open works
    Engine._registry_lock = threading.Lock()
    Engine._registry = {}


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
