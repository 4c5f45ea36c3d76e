"""Engine: the state of one open database directory, shared by every handle in the process.

The engine owns the log writer, the locks and one ``CollectionStore`` per collection.
Handles (``Database``, ``Collection``) validate arguments and call ``Engine.commit`` to make
a change durable and visible.

Several processes may open one directory read-write at once (SQLite's WAL mode is the
model, see docs/concurrency.md). Each process keeps its own in-memory state, and the log is
how they agree:

- Write (``writing()``): writer mutex -> the database writer lock (``<db>/LOCK``, held for
  one write operation or transaction, not for the handle's life) -> follow the log to its
  end, replaying what other processes committed (``catch_up``) -> write the new vectors into
  rows nobody reads -> append the record (fsync for durability ``full``) -> apply it in
  memory under the collection's exclusive latch -> release. A failure before the log append
  changes nothing. A failed fsync of the log or of a vector file (or a half frame that could
  not be cut off) makes the engine refuse writes (``write_failure``): what was written may
  not be on disk and an fsync is never retried, but memory is right, so reads go on. A
  logged record that fails to apply makes it unusable (``failure``: every later call raises),
  because memory and disk may disagree. Reopening recovers from the log either way.
- Background steps (a checkpoint a write triggered, compaction, index and columns saves)
  fail neither the write nor any read: the log keeps every record, and the step is tried
  again at the next trigger (``checkpoint_in_background``).
- Read (``refresh()``): one ``stat`` of the current log segment; when it grew, replay the new
  records (never writing a vector: the writer put the bytes in the shared file before it
  logged them). A search that ran while another process checkpointed is run again
  (``checkpoints_seen``): a checkpoint is what lets rows be reused. A process whose next
  record is in a deleted segment reloads from the checkpoint files, without the writer lock
  (readers never wait for writers).
- Collection creation, drop and compaction are logged too (``create`` / ``drop`` /
  ``compacted`` records without vectors), so other processes see them, and so replaying the
  log onto an older backup repeats them (``_replay_structure``).

Open: writer lock (read-write opens) -> load each collection's MANIFEST, vector file and
snapshot -> replay log records newer than each collection's checkpoint LSN -> cut a torn tail
off the last segment -> release the lock.

Checkpoint (by whichever process holds the writer lock): for every changed collection flush
the vector file, write a snapshot and commit the MANIFEST at the current LSN; save the
idempotency keys; seal the log segment and start a new one; delete the segments before the
previous checkpoint (one sealed segment stays, so a process that was idle across one
checkpoint catches up by replay instead of reloading its collections).
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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

from vectordb.concurrency.idempotency import IdempotencyKeys
from vectordb.concurrency.transaction import BufferedWrite, Transaction
from vectordb.config import CollectionConfig, DatabaseConfig, Durability
from vectordb.errors import (
    CollectionExistsError,
    CollectionFullError,
    CollectionNotFoundError,
    CorruptionError,
    DatabaseClosedError,
    InvalidArgumentError,
    InvalidConfigError,
    LockTimeoutError,
    ReadOnlyError,
    StorageError,
    TransactionError,
    UnsupportedFormatError,
    VectorDBError,
)
from vectordb.filters.columns import COLUMNS_FILE
from vectordb.index.base import RowSource, VectorIndex
from vectordb.lifecycle.compaction import (
    compact_collection,
    recover_interrupted,
    rewrite_compacted,
)
from vectordb.locking import FileLock, ReadWriteLatch, WriterMutex
from vectordb.observability.metrics import Metrics
from vectordb.results import Problem
from vectordb.storage import io
from vectordb.storage.atomic import atomic_write_bytes, detached, fsync_dir, os_error
from vectordb.storage.checksummed import read_checksummed_map, write_checksummed_map
from vectordb.storage.collection_store import CollectionStore
from vectordb.storage.headers import (
    COLUMNS_MAGIC,
    DATABASE_MAGIC,
    FORMAT_VERSION,
    HEADER,
    pack_header,
    unpack_header,
)
from vectordb.storage.layout import CollectionFiles, DatabaseFiles
from vectordb.storage.manifest import Manifest
from vectordb.storage.migrations import migrate
from vectordb.storage.records import (
    CollectionEvent,
    Decoded,
    Delete,
    IdempotencyStamp,
    Put,
    Record,
    Seal,
    SetMetadata,
    TransactionRecord,
    Write,
    decode,
    encode_event,
    encode_transaction,
    encode_write,
)
from vectordb.storage.vector_file import VectorFile
from vectordb.storage.wal import FellBehind, WalFollower, WalRecord, WalScan, WalWriter

__all__ = ["Engine", "validate_collection_name"]

#: log records that create, drop or compact a collection (no records of their own)
_STRUCTURE_OPS = frozenset({"create", "drop", "compacted"})
#: a reload without the writer lock starts over this often when files it reads are replaced
_RELOAD_ATTEMPTS = 8
#: after an automatic checkpoint failed, the next trigger tries again after this pause
_CHECKPOINT_RETRY_SECONDS = 1.0

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


class StoreSlot:
    """A collection's store, its latch and its index (None for unquantized flat collections).

    Every change to the records goes through ``put`` / ``delete`` / ``set_metadata`` (caller
    holds the exclusive latch), which apply it to the store and tell the index which rows were
    written and released. ``dropped`` is set when the collection goes away.
    """

    def __init__(self, store: CollectionStore, *, read_only: bool, threads: int = 1) -> None:
        self.latch = ReadWriteLatch()
        self.dropped = False
        self.read_only = read_only
        self.threads = threads
        #: (ef, nprobe) a search uses when it names neither; None: the index's own defaults
        self.search_defaults: tuple[int | None, int | None] | None = None
        self._attach(store)

    def _attach(self, store: CollectionStore) -> None:
        """Take ``store`` and build (load) its index."""
        from vectordb.filters.columns import MetadataColumns

        self.store = store
        self.columns = MetadataColumns()  # metadata columns for filters, built on demand
        _restore_columns(self.columns, store)
        from vectordb.filters.columns import parse_path

        for field in store.config.metadata_schema or ():  # declared fields are indexed
            self.columns.declare(parse_path(field))
        self.generation = 0  # bumped by every write: keys the filter-mask cache
        self.filter_masks: dict[str, tuple[int, Any]] = {}
        self.index: VectorIndex | None = None
        config = store.config
        quantization = config.quantization_config
        if config.index == "flat" and quantization is None:
            return
        source = RowSource(
            vectors=lambda: store.vectors.rows,
            live=lambda: store.live,
            sq_norms=lambda: store.sq_norms,
            n_rows=lambda: store.n_rows,
            latch=self.latch,
        )
        directory = store.files.directory / "index"
        if config.index == "hnsw":
            from vectordb.index.hnsw import HnswIndex

            self.index = HnswIndex(
                directory,
                store.dim,
                config.metric_enum,
                config.hnsw_config,
                source,
                read_only=self.read_only,
                threads=self.threads,
            )
        else:
            from vectordb.index.ivf import IvfIndex

            self.index = IvfIndex(
                directory,
                store.dim,
                config.metric_enum,
                source,
                ivf=config.ivf_config if config.index == "ivf" else None,
                quantization=quantization,
                read_only=self.read_only,
                threads=self.threads,
            )
        self.index.load(store.manifest.checkpoint_lsn, store.live[: store.n_rows].copy())

    def reopen(self, files: CollectionFiles, *, use_mmap: bool) -> None:
        """Load the collection again from ``files`` (after compaction rewrote them); caller
        holds the exclusive latch and has closed the old store."""
        self._attach(CollectionStore(files, read_only=self.read_only, use_mmap=use_mmap))

    @property
    def name(self) -> str:
        return self.store.manifest.name

    @property
    def uid(self) -> str:
        return self.store.manifest.uid

    def put(
        self,
        lsn: int,
        rows: npt.NDArray[np.int64],
        ids: list[str],
        vectors: npt.NDArray[np.float32],
        metadata: list[bytes] | None,
        *,
        ids_are_new: bool = False,
        vectors_in_file: bool = False,
    ) -> None:
        replaced = self.store.apply_put(
            lsn, rows, ids, vectors, metadata, ids_are_new=ids_are_new,
            vectors_in_file=vectors_in_file,
        )  # fmt: skip
        self.columns.rows_changed(rows)
        self.generation += 1
        if self.index is not None:
            if replaced:
                self.index.rows_released(np.asarray(replaced, np.int64))
            self.index.rows_written(rows)

    def delete(self, lsn: int, ids: list[str]) -> None:
        deleted = self.store.apply_delete(lsn, ids)
        self.generation += 1
        if self.index is not None and deleted:
            self.index.rows_released(np.asarray(deleted, np.int64))

    def set_metadata(self, lsn: int, ids: list[str], metadata: list[bytes]) -> None:
        row_of = self.store.row_of
        self.columns.rows_changed([row_of[i] for i in ids if i in row_of])
        self.generation += 1
        self.store.apply_metadata(lsn, ids, metadata)

    def start_background_work(self) -> None:
        if self.index is not None:
            self.index.start()

    def close(self) -> None:
        if self.index is not None:
            self.index.close()
        self.store.close()


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
        #: memory may disagree with the files (a logged record failed to apply): every
        #: later call raises until the database is reopened and recovered from the log
        self.failure: BaseException | None = None
        #: what was written may not be durable (a log or vector file fsync failed, or a half
        #: log frame could not be cut off): writes are refused until reopen, reads go on
        self.write_failure: BaseException | None = None
        #: the last automatic checkpoint (or compaction) that failed, kept for health();
        #: it is retried at the next trigger once ``_checkpoint_retry_at`` has passed
        self.checkpoint_error: BaseException | None = None
        self._checkpoint_retry_at = 0.0
        #: create / drop / compacted records whose append failed after the change was made
        #: on disk: logged before any later record (a restore replays them in order)
        self._pending_events: list[dict[str, Any]] = []
        self.writer_mutex = WriterMutex(config.lock_timeout)
        self.slots: dict[str, StoreSlot] = {}
        #: collections whose files are damaged: listed, refused on use, quarantined by
        #: check(repair=True); the rest of the database opens
        self.unavailable: dict[str, CorruptionError] = {}
        #: IDEMPOTENCY did not load at open: keys older than the log are forgotten
        self.idempotency_damage: CorruptionError | None = None
        self.wal: WalWriter | None = None
        self.records_since_checkpoint = 0
        self.bytes_since_checkpoint = 0
        self.low_disk = False  # writes refused for lack of disk space (ensure_disk_space)
        self.checkpoints_paused = 0  # > 0 while a backup copies checkpointed files
        self._compacting = False
        self.checkpoint_deferred = False
        self.recovered_records = 0
        self.torn_tail: str | None = None
        #: the database writer lock (<db>/LOCK), held per write operation or transaction
        self.db_lock: FileLock | None = None
        self._write_depth = 0  # nesting of writing() in the thread holding the writer mutex
        #: uids of collections written with durability "off" since the last checkpoint: their
        #: writes are not in the log, so this process keeps the writer lock until a checkpoint
        self.unlogged: set[str] = set()
        self.follower: WalFollower | None = None
        self._catch_up_mutex = threading.RLock()
        #: checkpoints seen (own and followed): a search that ran across one is run again
        self.checkpoints_seen = 0
        self.caught_up_records = 0
        self.reloads = 0
        self.idempotency = IdempotencyKeys(config.idempotency_window)
        self.transaction: Transaction | None = None
        self._pause_lock: FileLock | None = None
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

    # ----------------------------------------------------------------- open / recovery
    def _open(self) -> None:
        version = self._check_database_header()
        self.db_lock = FileLock(self.files.lock, create=not self.read_only)
        # a read-write open that finds the writer lock free recovers exclusively (writes
        # replayed vectors, cuts a torn tail, deletes leftovers); one that finds it taken, or a
        # read-only open, loads what is committed without waiting: another process is alive
        # and has recovered at its own open
        exclusive = not self.read_only and self.db_lock.try_acquire()
        attempts = 1 if exclusive or not self.db_lock.usable else 5
        for attempt in range(attempts):
            try:
                try:
                    self._load_collections(
                        exclusive=exclusive, tolerate_damage=attempt == attempts - 1
                    )
                    self._recover(exclusive=exclusive)
                    if exclusive:
                        self._delete_stray_files()
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
        for slot in self.slots.values():
            slot.start_background_work()
        if not self.read_only:
            from vectordb.index.jit import warm_up_in_background
            from vectordb.storage.collection_store import load_checksum_kernels

            warm_up_in_background(load_checksum_kernels)

    def _check_database_header(self) -> int:
        """Check (or write, for a new database) ``vectordb.meta``; returns the format
        version of the database."""
        meta = self.files.meta
        if meta.exists():
            data = meta.read_bytes()
            return unpack_header(data, DATABASE_MAGIC, meta, "database header (vectordb.meta)")
        # a config file may come before the database
        ours = {"LOCK", "PAUSE", "wal", "collections", "quarantine", "vectordb.yaml"}
        foreign = [
            entry.name
            for entry in self.root.iterdir()
            if entry.name not in ours and not entry.name.startswith(".vectordb.meta.tmp")
        ]
        if foreign:
            raise UnsupportedFormatError(
                f"{self.root} is not a vectordb database (it holds {sorted(foreign)[:5]} and no "
                "vectordb.meta); choose an empty or new directory",
                path=self.root,
            )
        if self.read_only:
            raise InvalidArgumentError(
                f"no database at {self.root}: open it once without read_only to create it"
            )
        # the header is written before anything else, so a creation cut short by a crash is
        # simply completed by the next open
        body = msgpack.packb({"created_at": time.time()}, use_bin_type=True)
        atomic_write_bytes(meta, pack_header(DATABASE_MAGIC) + body)
        fsync_dir(self.root.parent)
        io.mkdir(self.files.collections_dir, exist_ok=True)
        io.mkdir(self.files.wal_dir, exist_ok=True)
        fsync_dir(self.root)
        return FORMAT_VERSION

    def _load_collections(self, *, exclusive: bool, tolerate_damage: bool = True) -> None:
        """Load every collection directory. One whose files are damaged is set aside in
        ``unavailable`` (with ``tolerate_damage``; else the error propagates: an open
        without the lock tries again first, since a checkpoint elsewhere may have replaced
        a file it was reading)."""
        directory = self.files.collections_dir
        if not directory.is_dir():
            if self.read_only:
                return
            io.mkdir(directory)
        redirected = recover_interrupted(directory, read_only=not exclusive)
        for name, path in redirected.items():  # read-only: a compaction a crash interrupted
            store = CollectionStore(
                CollectionFiles(path), read_only=True, use_mmap=self.config.use_mmap
            )
            self.slots[name] = slot = StoreSlot(
                store, read_only=True, threads=self.config.thread_count
            )
            self.apply_search_defaults(slot)
        for entry in sorted(directory.iterdir()):
            if entry.name.startswith("."):
                if exclusive:  # a create or drop cut short by a crash
                    io.rmtree(entry, ignore_errors=True)
                continue
            if entry.name in self.slots:
                continue  # read from a compaction's directory above
            try:
                self.slots[entry.name] = self._load_slot(entry.name)
            except CorruptionError as error:
                # a file of a newer format is not damage: the database needs a newer vectordb
                if not tolerate_damage or isinstance(error, UnsupportedFormatError):
                    raise
                log.error("collection %r is unavailable, its files are damaged: %s "
                          "(check(repair=True) moves it to quarantine/)", entry.name, str(error))
                self.unavailable[entry.name] = _without_traceback(error)

    def _load_slot(self, name: str) -> StoreSlot:
        """Load collection ``name`` from its files (``CorruptionError`` if damaged)."""
        files = self.files.collection(name)
        if not files.manifest.exists():
            raise CorruptionError("collection directory has no MANIFEST", path=files.directory)
        store = CollectionStore(files, read_only=self.read_only, use_mmap=self.config.use_mmap)
        try:
            slot = StoreSlot(store, read_only=self.read_only, threads=self.config.thread_count)
        except BaseException:
            store.close()
            raise
        self.apply_search_defaults(slot)
        return slot

    def apply_search_defaults(self, slot: StoreSlot) -> None:
        """Give ``slot`` the default ``ef`` / ``nprobe`` the configuration names for it (only
        the knob its index has)."""
        overrides = self.config.overrides_for(slot.name)
        kind = slot.store.config.index
        ef = overrides.ef if kind == "hnsw" else None
        nprobe = overrides.nprobe if kind == "ivf" else None
        slot.search_defaults = None if ef is None and nprobe is None else (ef, nprobe)

    def _recover(self, *, exclusive: bool, locked: bool = False) -> None:
        """Replay the log into the loaded collections and place the follower at the log's
        end. ``exclusive``: opened with the writer lock free, so no other process is alive:
        replayed vectors are written again (an OS crash may have lost them) and a torn tail
        is cut. Otherwise the vectors are in the shared file already."""
        try:
            idempotency_lsn = self.idempotency.load(self.files.idempotency)
            self.idempotency_damage = None
        except CorruptionError as error:
            # the keys are rebuilt from the log (those older than it are forgotten); the
            # next checkpoint writes the file again
            log.warning("idempotency keys not loaded (%s): keys older than the log are "
                        "forgotten until the next checkpoint rewrites the file", str(error))
            self.idempotency_damage = _without_traceback(error)
            idempotency_lsn = 0
        by_uid = {slot.uid: slot for slot in self.slots.values()}
        scan = WalScan(self.files)
        checkpoint_lsns = [slot.store.manifest.checkpoint_lsn for slot in self.slots.values()]
        needed_from = min(checkpoint_lsns) + 1 if checkpoint_lsns else None
        start = min([*checkpoint_lsns, idempotency_lsn])
        self.records_since_checkpoint = self.bytes_since_checkpoint = 0
        for record in scan.records(after_lsn=start, needed_from=needed_from):
            decoded = _decoded(record)
            if isinstance(decoded.record, Seal):
                if decoded.record.checkpoint:
                    self.records_since_checkpoint = self.bytes_since_checkpoint = 0
                continue
            with _as_corruption(record):
                self._replay_record(record, decoded, by_uid, idempotency_lsn, exclusive=exclusive)
            self.records_since_checkpoint += 1
            self.bytes_since_checkpoint += record.size
        if scan.torn is not None:
            torn = scan.torn
            self.torn_tail = f"{torn.segment.name} at byte {torn.offset} ({torn.reason})"
            if exclusive:
                log.warning(
                    "log tail cut at %s: %s; that write was never acknowledged",
                    torn.segment,
                    self.torn_tail,
                )
                _truncate(torn.segment, torn.offset)
        next_lsn = max([scan.next_lsn_hint or 1, *(lsn + 1 for lsn in checkpoint_lsns)])
        self.last_lsn = next_lsn - 1
        if scan.end is not None:
            path, offset, _ = scan.end
        else:
            path, offset = self.files.segment(next_lsn), HEADER.size
        if self.follower is None:
            self.follower = WalFollower(self.files, path, offset, next_lsn)
        else:
            self.follower.move_to(path, offset, next_lsn)
        if exclusive:
            if self.wal is None:
                self.wal = WalWriter(self.files, next_lsn)
            self.wal.resume(path, offset, next_lsn)
        elif self.wal is not None and locked:  # a reload under the writer lock
            self.wal.resume(path, offset, next_lsn)

    def _replay_record(
        self,
        record: WalRecord,
        decoded: Decoded,
        by_uid: dict[str, StoreSlot],
        idempotency_lsn: int,
        *,
        exclusive: bool,
    ) -> None:
        """Apply one record at open to the collections whose checkpoint it is newer than."""
        if isinstance(decoded.record, CollectionEvent):
            self._replay_structure(record, decoded, by_uid, exclusive=exclusive)
            return
        if record.lsn > idempotency_lsn:
            self._remember_key(decoded)
        applied = False
        for slot, write in _targets(by_uid, decoded.record):
            if record.lsn > slot.store.manifest.checkpoint_lsn:
                apply_write(slot, record.lsn, write, vectors_in_file=not exclusive)
                applied = True
        if applied:
            self.recovered_records += 1

    def _replay_structure(
        self, record: WalRecord, decoded: Decoded, by_uid: dict[str, StoreSlot], *, exclusive: bool
    ) -> None:
        """Replay a collection's ``create``, ``drop`` or ``compacted`` record at open.

        Live operations change the files first and log the record after, so in an ordinary
        recovery the files already show the change and replay has nothing to do. A restored
        backup is older than the log it replays: there a collection created since the
        backup is created again (the record carries its configuration), one dropped since is
        dropped, and one compacted since is compacted again at the same point, so the rows
        of later records (which name rows of the packed layout) land where they belong.
        Compaction packs the live rows in row order, so repeating it on the same state gives
        the same rows; a collection without dead rows is already packed."""
        event = decoded.record
        assert isinstance(event, CollectionEvent)
        op, uid, name = event.kind, event.uid, event.name
        slot = by_uid.get(uid)
        if op == "create":
            # only onto an older backup: where the name is in use (this collection, one that
            # a later record drops and creates again, or a damaged one) there is nothing to do
            absent = (
                name not in self.slots
                and name not in self.unavailable
                and not self.files.collection(name).directory.exists()
            )
            if slot is None and absent and exclusive and event.config is not None:
                created_at = decoded.committed_at or time.time()
                slot = self._materialize_collection(
                    name, uid, event.config, created_at, checkpoint_lsn=record.lsn
                )
                by_uid[slot.uid] = slot
            return
        if slot is None or record.lsn <= slot.store.manifest.checkpoint_lsn:
            return
        if op == "drop":
            del by_uid[slot.uid]
            if exclusive:
                self._remove_collection(slot)
            else:  # a read-only view of a restore not yet opened for writing
                self._forget_slot(slot)
            return
        store = slot.store
        if store.n_rows == store.count:
            return  # no dead rows: the files are the packed layout already
        if not exclusive:
            raise CorruptionError(
                f"the log compacts collection {slot.name!r} (LSN {record.lsn}) after the "
                "checkpoint its files hold; only a read-write open can replay that: open the "
                "database once without read_only (or wait for the process compacting it)",
                path=record.segment, offset=record.offset,
            )  # fmt: skip
        prepared = store.prepare_checkpoint(record.lsn - 1)
        if prepared is not None:
            store.finish_checkpoint(prepared)
        rewrite_compacted(self, slot, start_background=False)

    def _remember_key(self, decoded: Decoded) -> None:
        stamp = decoded.stamp
        if stamp is not None:
            self.idempotency.remember(stamp.key, decoded.committed_at or 0.0, stamp.digest,
                                      stamp.result)  # fmt: skip

    # ----------------------------------------------------------------- following other processes
    def refresh(self) -> int:
        """Before a read: replay what other processes committed since this one last looked
        (one ``stat`` when nothing changed). Returns ``checkpoints_seen`` for ``stale``."""
        follower = self.follower
        if follower is not None and follower.changed() and self.pid == os.getpid():
            try:
                self.catch_up(locked=False)
            except FellBehind as behind:
                self._reload(wait_for_writer=behind.wait_for_writer)
        return self.checkpoints_seen

    def stale(self, seen: int) -> bool:
        """After a read that began at ``refresh() == seen``: True if another process
        checkpointed meanwhile, so a row the read trusted may have been reused: read again."""
        self.refresh()
        return self.checkpoints_seen != seen

    def catch_up(self, *, locked: bool) -> None:
        """Replay records other processes appended. ``locked``: the caller holds the writer
        lock, so a partial frame at the end is a crashed writer's torn tail (cut off here)."""
        follower = self.follower
        assert follower is not None
        with self._catch_up_mutex:
            for record in follower.read_new(at_end_is_torn=locked):
                try:
                    with _as_corruption(record):
                        self._apply_followed(record)
                except CorruptionError as error:
                    # the follower is past the record: going on would silently skip it
                    self.failure = detached(error)
                    raise
            self.last_lsn = follower.next_lsn - 1
            torn = follower.torn
            if torn is not None and locked and not self.read_only:
                log.warning("cut a crashed writer's unfinished log record at %s byte %d",
                            torn.segment, torn.offset)  # fmt: skip
                _truncate(torn.segment, torn.offset)
            if locked and self.wal is not None:
                self.wal.resume(follower.path, follower.offset, follower.next_lsn)

    def _apply_followed(self, record: WalRecord) -> None:
        """Apply one record another process committed (caller holds the catch-up mutex)."""
        decoded = _decoded(record)
        entry = decoded.record
        self.caught_up_records += 1
        self.records_since_checkpoint += 1
        self.bytes_since_checkpoint += record.size
        if isinstance(entry, Seal):
            if entry.checkpoint:
                self.checkpoints_seen += 1
                self.records_since_checkpoint = self.bytes_since_checkpoint = 0
            if entry.reload:
                # collections written with durability "off": their writes are not in the
                # log, only in the checkpoint being written; reload under the writer lock
                raise FellBehind("unlogged writes", wait_for_writer=True)
            return
        if isinstance(entry, CollectionEvent):
            self._follow_event(entry)
            return
        self._remember_key(decoded)
        targets = [
            (slot, write)
            for slot, write in _targets(self._uid_map(), entry)
            if record.lsn > slot.store.applied_lsn
        ]
        if not targets:
            return
        latches = sorted({id(slot): slot for slot, _ in targets}.values(), key=_slot_order)
        with contextlib.ExitStack() as stack:
            for slot in latches:
                stack.enter_context(slot.latch.write())
            try:
                for slot, write in targets:
                    apply_write(slot, record.lsn, write, vectors_in_file=True)
            except BaseException as error:
                self.failure = detached(error)
                raise

    def _follow_event(self, event: CollectionEvent) -> None:
        """Another process created, dropped or compacted a collection: its files show it."""
        slot = self._slot_by_uid(event.uid)
        if event.kind == "create":
            if slot is None:
                try:
                    self._load_created(event.name)
                except Exception as error:  # e.g. mid-compaction: reload from the files
                    raise FellBehind(f"collection {event.name!r}: {error}") from error
        elif event.kind == "drop":
            if slot is not None:
                self._forget_slot(slot)
        elif slot is not None:
            try:
                self._reopen_slot(slot)
            except Exception as error:
                raise FellBehind(f"collection {slot.name!r}: {error}") from error

    def _check_identities(self) -> None:
        """Under the writer lock: reopen a collection whose vector file another process
        replaced (a compaction whose ``compacted`` record a crash kept out of the log), and
        forget one whose directory is gone."""
        for slot in list(self.slots.values()):
            files = slot.store.files
            try:
                inode = os.stat(files.vectors).st_ino
            except FileNotFoundError:
                self._forget_slot(slot)
                continue
            if inode != slot.store.vectors.inode:
                if Manifest.load(files.manifest).uid == slot.uid:
                    log.warning("collection %r was rewritten by another process: reopening",
                                slot.name)  # fmt: skip
                    self._reopen_slot(slot)
                else:
                    self._forget_slot(slot)

    def _uid_map(self) -> dict[str, StoreSlot]:
        return {slot.uid: slot for slot in self.slots.values()}

    def _slot_by_uid(self, uid: str) -> StoreSlot | None:
        for slot in self.slots.values():
            if slot.uid == uid:
                return slot
        return None

    def _load_created(self, name: str) -> None:
        """Open a collection another process created (its directory is complete: the
        ``create`` record is logged after it is in place)."""
        files = self.files.collection(name)
        if not files.manifest.exists():
            # dropped again since (its drop record follows), or between the two renames of
            # a compaction: reloading from the files tells which
            raise FellBehind(f"collection {name!r} is not in place")
        self.slots[name] = slot = self._load_slot(name)
        slot.start_background_work()

    def _forget_slot(self, slot: StoreSlot) -> None:
        if slot.index is not None:
            slot.index.stop()
        with slot.latch.write():
            slot.dropped = True
            if self.slots.get(slot.name) is slot:
                del self.slots[slot.name]
            slot.close()

    def _reopen_slot(self, slot: StoreSlot) -> None:
        """Load ``slot`` again from its files (another process compacted or checkpointed
        writes the log does not hold); handles stay valid."""
        if slot.index is not None:
            slot.index.stop()
        with slot.latch.write():
            slot.close()
            slot.read_only = self.read_only
            slot.reopen(self.files.collection(slot.name), use_mmap=self.config.use_mmap)
        slot.start_background_work()

    def _reload(self, *, locked: bool = False, wait_for_writer: bool = False) -> None:
        """This process fell behind a deleted log segment: load every collection again from
        the checkpoint files on disk and replay the log from there.

        Readers never wait for writers, so this takes no writer lock: a checkpoint publishes
        its MANIFEST and snapshot by atomic replace and keeps the log from the oldest
        checkpoint on, so the files read are consistent unless another process checkpoints
        or compacts meanwhile and one of them goes away; then the reload starts over.
        ``locked``: the caller holds the writer lock (nothing changes meanwhile).
        ``wait_for_writer``: the writer wrote unlogged (durability "off") and its writes are
        only in the checkpoint it is writing under the writer lock: wait for that lock."""
        if wait_for_writer and not locked:
            with self.writer_mutex.hold():
                lock = self.db_lock
                assert lock is not None
                took = not lock.held
                if took:
                    lock.acquire(self.config.lock_timeout, f"catch up with {self.root}")
                try:
                    self._reload(locked=True)
                finally:
                    if took:
                        lock.release()
            return
        with self._catch_up_mutex:
            self.reloads += 1
            self.checkpoints_seen += 1
            log.info("fell behind the log of %s: reloading its collections", self.root)
            attempts = 1 if locked else _RELOAD_ATTEMPTS
            for attempt in range(attempts):
                try:
                    self._reload_from_files(locked=locked)
                    return
                except (FileNotFoundError, FellBehind, StorageError, CorruptionError):
                    if attempt == attempts - 1:
                        raise
                    time.sleep(0.01 * (attempt + 1))  # another process is replacing files

    def _reload_from_files(self, *, locked: bool) -> None:
        present = {e.name for e in self.files.collections_dir.iterdir()
                   if not e.name.startswith(".")}  # fmt: skip
        for name, slot in list(self.slots.items()):
            if (
                name in present
                and Manifest.load(self.files.collection(name).manifest).uid == slot.uid
            ):
                self._reopen_slot(slot)
            else:
                self._forget_slot(slot)
        for name in sorted(present - set(self.slots)):
            with contextlib.suppress(FellBehind):  # no MANIFEST: not a collection
                self._load_created(name)
        self._recover(exclusive=False, locked=locked)

    # ----------------------------------------------------------------- guards
    def ensure_usable(self, *, write: bool = False) -> None:
        if self.pid != os.getpid():
            raise DatabaseClosedError(
                "this database handle was inherited through fork(); open the database again "
                "in the child process"
            )
        if self.closed:
            raise DatabaseClosedError(f"database {self.root} is closed")
        if self.failure is not None:
            raise StorageError(
                f"database {self.root} is unusable after an earlier I/O failure "
                f"({self.failure}); close it and open it again to recover from the log"
            )
        if write and self.read_only:
            raise ReadOnlyError(f"database {self.root} is open read-only; writes are refused")
        if write and self.write_failure is not None:
            raise StorageError(
                f"database {self.root} refuses writes since an fsync, a log write or a file "
                f"swap failed ({self.write_failure}): what was written may not be on disk, and "
                "an fsync is never retried. Reads go on; close and open the database again to "
                "recover from the log and write again"
            )

    def slot(self, name: str) -> StoreSlot:
        slot = self.slots.get(name)
        damage = self.unavailable.get(name)
        if slot is None and damage is not None:
            raise CorruptionError(
                f"collection {name!r} is unavailable, its files are damaged ({damage.message}); "
                "the rest of the database works. check(repair=True) moves it to quarantine/ "
                "(then restore it from a backup)",
                path=damage.path,
                offset=damage.offset,
            )
        if slot is None or slot.dropped:
            raise CollectionNotFoundError(
                f"no collection named {name!r} in {self.root}; existing: {sorted(self.slots)}"
            )
        return slot

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
                self.catch_up(locked=True)
            except FellBehind:
                self._reload(locked=True)
                self.catch_up(locked=True)
            self._check_identities()
            if self.wal is None:  # opened while another process held the lock
                follower = self.follower
                assert follower is not None
                self.wal = WalWriter(self.files, follower.next_lsn)
                self.wal.resume(follower.path, follower.offset, follower.next_lsn)
            self.ensure_usable(write=True)
        except BaseException:
            lock.release()
            raise
        return True

    def _release_db_lock(self) -> None:
        lock = self.db_lock
        if lock is None or not lock.held or self.unlogged:
            return  # writes with durability "off" keep the lock until their checkpoint
        lock.release()

    # ----------------------------------------------------------------- transactions
    def begin_transaction(self, transaction: Transaction) -> None:
        current = self.transaction
        if current is not None and current._thread == threading.get_ident():
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
            transaction.opened(writing)
            self.transaction = transaction
        except BaseException:
            writing.__exit__(None, None, None)
            raise

    def end_transaction(self, transaction: Transaction) -> None:
        if self.transaction is not transaction:
            return
        self.transaction = None
        writing, transaction._writing = transaction._writing, None
        if writing is not None:
            writing.__exit__(None, None, None)

    def current_transaction(self) -> Transaction | None:
        """The transaction open in the calling thread, or None."""
        transaction = self.transaction
        if transaction is not None and transaction._thread == threading.get_ident():
            return transaction
        return None

    def commit_transaction(self, transaction: Transaction) -> None:
        """Log the transaction's writes as one ``txn`` record and apply them all at once."""
        from vectordb.concurrency.idempotency import request_digest

        writes = transaction.writes
        key = transaction.idempotency_key
        digest = None
        if key is not None:
            digest = request_digest(transaction.requests)
            found, _ = self.idempotency.lookup(key, digest)
            if found:
                return  # applied before: the retry's writes are discarded
        if not writes:
            return
        durabilities = {self._durability(write.slot) for write in writes}
        sync = Durability.FULL in durabilities
        now = time.time()
        stamp = None
        if key is not None:
            assert digest is not None
            stamp = IdempotencyStamp(key, digest, None)
        record = TransactionRecord([write.write for write in writes])
        lsn, size = self._append(encode_transaction(record, now, stamp), None, sync=sync)
        transaction.lsn = lsn
        if stamp is not None:
            self.idempotency.remember(stamp.key, now, stamp.digest, None)
        slots = sorted({id(w.slot): w.slot for w in writes}.values(), key=_slot_order)
        try:
            with contextlib.ExitStack() as stack:
                for slot in slots:
                    stack.enter_context(slot.latch.write())
                for buffered in writes:
                    apply_write(buffered.slot, lsn, buffered.write, vectors_in_file=True,
                                ids_are_new=buffered.ids_are_new)  # fmt: skip
                for slot in slots:
                    slot.store.clear_reservations()
        except BaseException as error:
            self.failure = detached(error)
            raise
        transaction.state = "committed"  # whatever the checkpoint below does
        self._count_commit(size)

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
        self, slot: StoreSlot, ids: list[str], ids_are_new: bool, pending: Any = None
    ) -> None:
        """Raise ``CollectionFullError`` if writing ``ids`` would pass the collection's
        ``max_vectors`` / ``max_bytes`` (caller holds the writer mutex); ``pending``: the
        open transaction's view of the collection."""
        store = slot.store
        overrides = self.config.overrides_for(slot.name)
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
                f"collection {slot.name!r} holds {store.count} records; {new} more would pass "
                f"max_vectors={max_vectors}; nothing was written (delete records, or raise "
                "max_vectors in the database or collection configuration)"
            )
        if max_bytes is not None and after * store.vectors.row_bytes > max_bytes:
            raise CollectionFullError(
                f"collection {slot.name!r} would hold {after * store.vectors.row_bytes} bytes of "
                f"vectors, over max_bytes={max_bytes}; nothing was written (delete records, or "
                "raise max_bytes in the database or collection configuration)"
            )

    # ----------------------------------------------------------------- commits
    def _durability(self, slot: StoreSlot) -> Durability:
        store = slot.store
        return Durability(
            self.config.overrides_for(store.manifest.name).durability
            or store.config.durability
            or self.config.durability
        )

    def commit(
        self,
        slot: StoreSlot,
        write: Write,
        stamp: IdempotencyStamp | None = None,
        *,
        ids_are_new: bool = False,
    ) -> int | None:
        """Log one write to ``slot`` and apply it (``apply_write``, the path replay takes
        too); caller holds ``writing()``. Returns its LSN, or None inside a transaction (the
        write is buffered until its commit). ``ids_are_new``: ``add`` checked that no id is
        stored, so the lookup of replaced rows is skipped."""
        if slot.dropped:
            raise CollectionNotFoundError(f"collection {slot.name!r} was dropped")
        transaction = self.current_transaction()
        if transaction is not None:
            # (keys on writes inside a transaction are refused by Collection._replayed; the
            # caller gives buffers it will not change before the commit: _put copies them)
            transaction.buffer(BufferedWrite(slot, write, ids_are_new))
            return None
        durability = self._durability(slot)
        assert self.wal is not None
        if durability is Durability.OFF and stamp is None:
            lsn = self.last_lsn
            size = 0
            self.unlogged.add(slot.uid)
        else:
            committed_at = time.time()
            fields, tail = encode_write(write, committed_at, stamp)
            lsn, size = self._append(fields, tail, sync=durability is Durability.FULL)
            if stamp is not None:
                self.idempotency.remember(stamp.key, committed_at, stamp.digest, stamp.result)
        try:
            with slot.latch.write():
                apply_write(slot, lsn, write, vectors_in_file=True, ids_are_new=ids_are_new)
        except BaseException as error:
            self.failure = detached(error)
            raise
        self._count_commit(size)
        return lsn

    def _append(
        self, fields: dict[str, Any], tail: tuple[str, memoryview] | None, *, sync: bool
    ) -> tuple[int, int]:
        """Append a record and move the follower past it, under the catch-up mutex so a
        reader thread of this process never replays this process's own record."""
        assert self.wal is not None and self.follower is not None
        with self._catch_up_mutex:
            self._log_pending_events()
            try:
                lsn, size = self.wal.append(fields, tail, sync=sync)
            except StorageError as error:
                if self.wal.broken is not None:  # fsync failed, or a half frame stayed behind
                    self.write_failure = detached(error)
                raise
            path = self.wal.segment_path
            assert path is not None
            self.follower.move_to(path, self.wal.segment_size, self.wal.next_lsn)
            self.last_lsn = lsn
        return lsn, size

    def _count_commit(self, size: int) -> None:
        self.records_since_checkpoint += 1
        self.bytes_since_checkpoint += size
        if (
            self.records_since_checkpoint >= self.config.checkpoint_records
            or self.bytes_since_checkpoint >= self.config.checkpoint_bytes
        ) and time.monotonic() >= self._checkpoint_retry_at:
            self.checkpoint_in_background()

    def checkpoint_in_background(self) -> bool:
        """A checkpoint nobody asked for (a write passed the thresholds, a backup ended):
        its failure fails neither the write that triggered it nor later reads. It is logged,
        kept for ``health()``, and retried at the next trigger after a pause (or by
        ``Database.checkpoint()``); the log keeps every record meanwhile. Returns whether
        it ran."""
        try:
            ran = self.checkpoint_locked()
        except StorageError as error:
            self.checkpoint_error = detached(error)
            self._checkpoint_retry_at = time.monotonic() + _CHECKPOINT_RETRY_SECONDS
            log.warning("checkpoint of %s failed (retried at the next trigger): %s",
                        self.root, str(error))  # fmt: skip
            return False
        return ran

    def log_event(self, event: CollectionEvent) -> None:
        """Log a change other processes must learn of that carries no records (a collection
        created, dropped or compacted) after it was made on disk; caller holds
        ``writing()``. If the append fails (a full disk) the change stands: the record is
        kept and logged before the next record (or checkpoint), which fails until it is."""
        self._pending_events.append(encode_event(event, time.time()))
        try:
            with self._catch_up_mutex:
                self._log_pending_events()
        except StorageError as error:
            log.warning("%s: a %s record is not logged yet (%s); it is logged before the next "
                        "write", self.root, event.kind, str(error))  # fmt: skip

    def _log_pending_events(self) -> None:
        """Append the structure records a failure kept back (caller holds the catch-up
        mutex and the writer lock)."""
        assert self.wal is not None and self.follower is not None
        sync = Durability(self.config.durability) is Durability.FULL
        while self._pending_events:
            try:
                lsn, _ = self.wal.append(self._pending_events[0], None, sync=sync)
            except StorageError as error:
                if self.wal.broken is not None:
                    self.write_failure = detached(error)
                raise
            self._pending_events.pop(0)
            path = self.wal.segment_path
            assert path is not None
            self.follower.move_to(path, self.wal.segment_size, self.wal.next_lsn)
            self.last_lsn = lsn

    def refuse_in_transaction(self, what: str) -> None:
        """Operations that change files or collections at once cannot be part of a
        transaction (they would not roll back, and would move rows it planned)."""
        if self.current_transaction() is not None:
            raise TransactionError(
                f"{what} cannot run inside a transaction; do it before or after the block"
            )

    def checkpoint(self) -> None:
        self.refuse_in_transaction("checkpoint()")
        with self.writing():
            self.checkpoint_locked()

    def checkpoint_locked(self) -> bool:
        """Checkpoint every collection at the current LSN, then seal the log segment and
        delete the segments before the previous checkpoint. While a backup (in any process)
        copies files it only notes that one is due; returns whether it ran."""
        if self.read_only or self.wal is None:
            return False
        if self.checkpoints_paused or not self._pause_lock_free():
            self.checkpoint_deferred = True
            return False
        self.checkpoint_deferred = False
        self.metrics.count_checkpoint()
        unlogged = set(self.unlogged)
        try:
            with self._catch_up_mutex:
                self._log_pending_events()  # before the seal: a restore replays in order
            self.wal.sync()
            old_segments = self.files.segments()
            sealed = None
            if self.wal.segment_size > HEADER.size or self.unlogged:
                # sealed first, so the checkpoint covers the sealed segment whole; another
                # process that reads the seal before the files below exist only re-checks
                sealed = self._seal()
            lsn = self.last_lsn
            for slot in list(self.slots.values()):
                self._checkpoint_collection(slot, lsn)
            self.idempotency.save(self.files.idempotency, lsn)
            if sealed is not None:
                self._drop_old_segments(old_segments, sealed)
        except (StorageError, OSError) as error:
            # Each collection's files change atomically (its MANIFEST names its state), and no
            # segment is deleted before every collection is checkpointed, so a checkpoint cut
            # short changes nothing a reader or a recovery relies on; it runs again later.
            # Only a failed fsync of the log or a vector file is final: its pages may be
            # lost, so nothing written before it may be trusted to be on disk.
            self.checkpoint_error = detached(error)
            self.unlogged |= unlogged  # their writes are in no checkpoint yet
            if self._durability_lost():
                self.write_failure = detached(error)
            if isinstance(error, StorageError):
                raise
            raise os_error(error, "checkpoint") from error
        self.checkpoint_error = None
        self.records_since_checkpoint = 0
        self.bytes_since_checkpoint = 0
        self.checkpoints_seen += 1
        self._compact_where_due()
        return True

    def _checkpoint_collection(self, slot: StoreSlot, lsn: int) -> None:
        """Write one collection's snapshot, MANIFEST, index and columns as of ``lsn``."""
        # heavy parts under the shared latch (searches go on), the swap under the exclusive
        # one; the swap right after the MANIFEST is committed, so memory names what the disk
        # does even if the index or columns save below fails
        with slot.latch.read():
            prepared = slot.store.prepare_checkpoint(lsn)
        if prepared is not None:
            with slot.latch.write():
                slot.store.finish_checkpoint(prepared)
        with slot.latch.read():
            if slot.index is not None:
                slot.index.save(lsn)
            state = slot.columns.saved_state(slot.store, lsn)
            if state is not None:
                try:
                    write_checksummed_map(
                        slot.store.files.directory / COLUMNS_FILE, COLUMNS_MAGIC, state
                    )
                except BaseException:
                    slot.columns.changed_since_save = True  # written again next time
                    raise

    def _durability_lost(self) -> bool:
        """True once an fsync of the log or of a vector file failed (or a half log frame
        could not be cut off): the handle must stop writing until it is reopened."""
        if self.wal is not None and self.wal.broken is not None:
            return True
        return any(slot.store.vectors.broken is not None for slot in self.slots.values())

    def _seal(self) -> Path:
        """End the current log segment with a ``seal`` record for a checkpoint (naming the
        collections written unlogged, which other processes must reload) and start the
        next; returns the sealed segment."""
        assert self.wal is not None and self.follower is not None
        reload = sorted(self.unlogged)
        self.unlogged.clear()
        with self._catch_up_mutex:
            sealed = self.wal.segment_path
            assert sealed is not None
            current = self.wal.seal_and_start_segment(checkpoint=True, reload=reload, sync=True)
            self.follower.move_to(current, HEADER.size, self.wal.next_lsn)
            self.last_lsn = self.wal.next_lsn - 1
        return sealed

    def _drop_old_segments(self, old_segments: list[tuple[int, Path]], sealed: Path) -> None:
        """Delete (or archive) the segments a checkpoint covers, all but the one it sealed:
        that one stays until the next checkpoint, so a process idle across this checkpoint
        replays it instead of reloading its collections."""
        archive = self.wal_archive_dir()
        needed = self._oldest_needed_lsn()
        for position, (_, path) in enumerate(old_segments):
            if path == sealed:
                if archive is not None:
                    archive_segment(path, archive, keep=True)
                continue
            following = old_segments[position + 1][0] if position + 1 < len(old_segments) else None
            if needed is None or following is None or following - 1 > needed:
                continue  # a collection's MANIFEST on disk still needs records in it
            if archive is not None:
                archive_segment(path, archive)
            else:
                io.unlink(path, missing_ok=True)
        fsync_dir(self.files.wal_dir)

    def _oldest_needed_lsn(self) -> int | None:
        """The lowest checkpoint LSN over every collection's MANIFEST on disk (None: one
        could not be read, so keep every segment); records after it are still needed."""
        lowest = self.last_lsn
        try:
            for entry in self.files.collections_dir.iterdir():
                if not entry.name.startswith("."):
                    lowest = min(lowest, Manifest.load(entry / "MANIFEST").checkpoint_lsn)
        except (OSError, CorruptionError):
            return None
        return lowest

    def _pause_lock_free(self) -> bool:
        """True unless a backup in another process holds checkpoints off (``PAUSE`` lock)."""
        pause = FileLock(self.files.checkpoint_pause, create=True)
        try:
            if not pause.try_acquire(exclusive=True):
                return False
            pause.release()
            return True
        finally:
            pause.close()

    def pause_checkpoints(self) -> None:
        """Hold checkpoints off in every process (a backup copies checkpointed files)."""
        if self.checkpoints_paused == 0:
            pause = FileLock(self.files.checkpoint_pause, create=True)
            pause.acquire(self.config.lock_timeout, "pause checkpoints", exclusive=False)
            self._pause_lock = pause
        self.checkpoints_paused += 1

    def resume_checkpoints(self) -> None:
        self.checkpoints_paused -= 1
        if self.checkpoints_paused == 0:
            pause = self._pause_lock
            if pause is not None:
                pause.close()
                self._pause_lock = None

    def wal_archive_dir(self) -> Path | None:
        """Where checkpoints move covered log segments (``wal_archive``), or None."""
        configured = self.config.wal_archive
        if configured is None:
            return None
        path = Path(configured)
        return path if path.is_absolute() else self.root / path

    def _compact_where_due(self) -> None:
        """After a checkpoint: compact each collection whose dead rows passed both the
        configured share and size (``compact_dead_share``, ``compact_min_dead_bytes``)."""
        share = self.config.compact_dead_share
        if share is None or self._compacting:
            return
        for name, slot in list(self.slots.items()):
            store = slot.store
            dead = store.n_rows - store.count
            dead_bytes = dead * store.vectors.row_bytes
            if dead_bytes >= self.config.compact_min_dead_bytes and dead >= share * max(
                store.n_rows, 1
            ):
                log.info("compacting %r: %d of %d rows are dead", name, dead, store.n_rows)
                try:
                    compact_collection(self, name)
                except StorageError as error:
                    if self.failure is not None:
                        raise  # the swap failed half way: nothing more may run
                    self.checkpoint_error = detached(error)
                    log.warning("compaction of %r failed (tried again at the next "
                                "checkpoint): %s", name, str(error))  # fmt: skip

    def compact(self, name: str) -> dict[str, Any]:
        self.refuse_in_transaction("compact()")
        with self.writing():
            return compact_collection(self, name)

    # ----------------------------------------------------------------- collections
    def create_collection(self, name: str, config: CollectionConfig) -> StoreSlot:
        validate_collection_name(name)
        self.refuse_in_transaction("create_collection()")
        with self.writing():
            lowered = {existing.lower(): existing for existing in [*self.slots, *self.unavailable]}
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
            slot = self._materialize_collection(
                name, uid, config.to_dict(), time.time(), checkpoint_lsn=self.last_lsn
            )
            slot.start_background_work()
            # the configuration travels with the record, so replaying the log onto a backup
            # older than this creation creates the collection again
            self.log_event(CollectionEvent("create", name, uid, config.to_dict()))
            return slot

    def _materialize_collection(
        self,
        name: str,
        uid: str,
        config: dict[str, Any],
        created_at: float,
        *,
        checkpoint_lsn: int,
    ) -> StoreSlot:
        """Write a new, empty collection directory (in a temporary directory renamed into
        place, so a crash leaves all or nothing) and load it; caller holds the writer lock.
        ``checkpoint_lsn``: log records up to it do not concern the collection."""
        collection_config = CollectionConfig.from_mapping(config)
        temp = self.files.collections_dir / f".tmp-{uid}"
        target = self.files.collections_dir / name
        try:
            io.mkdir(temp, parents=True)
            files = self.files.collection(temp.name)
            VectorFile.create(
                files.vectors,
                collection_config.dim,
                collection_config.initial_capacity or self.config.initial_capacity,
            )
            Manifest(
                uid=uid,
                name=name,
                config=collection_config.to_dict(),
                created_at=created_at,
                updated_at=created_at,
                checkpoint_lsn=checkpoint_lsn,
                snapshot=None,
                count=0,
            ).commit(files.manifest)
            fsync_dir(temp)
            io.replace(temp, target)
            fsync_dir(self.files.collections_dir)
        except OSError as error:
            io.rmtree(temp, ignore_errors=True)
            raise os_error(error, f"create collection {name!r}") from error
        except BaseException:
            io.rmtree(temp, ignore_errors=True)
            raise
        self.slots[name] = slot = self._load_slot(name)
        return slot

    def drop_collection(self, name: str) -> None:
        self.refuse_in_transaction("drop_collection()")
        with self.writing():
            if name in self.unavailable and name not in self.slots:
                # damaged files: what the user asks is to be rid of them (no uid to log)
                moved = self._quarantine(name)
                io.rmtree(moved, ignore_errors=True)
                return
            slot = self.slot(name)
            self._remove_collection(slot)
            self.unlogged.discard(slot.uid)
            self.log_event(CollectionEvent("drop", name, slot.uid))

    def _remove_collection(self, slot: StoreSlot) -> None:
        """Forget a collection and delete its directory (renamed away first, so a crash
        leaves it whole or gone); caller holds the writer lock."""
        if slot.index is not None:
            slot.index.stop()  # before the latch: the indexer may be waiting for it
        graveyard = self.files.collections_dir / f".dropped-{slot.uid}"
        with slot.latch.write():
            try:
                # renamed away before it is closed (POSIX keeps the open files working),
                # so a failure leaves the collection as it was
                io.replace(slot.store.files.directory, graveyard)
            except OSError as error:
                if slot.index is not None:
                    slot.index.start()
                raise os_error(error, f"drop collection {slot.name!r}") from error
            slot.dropped = True
            if self.slots.get(slot.name) is slot:
                del self.slots[slot.name]
            slot.close()
            try:
                fsync_dir(self.files.collections_dir)
            except OSError as error:
                # the drop stands; whether its rename is on disk is unknown: write no more
                # until reopened
                self.write_failure = detached(os_error(error, f"drop collection {slot.name!r}"))
            io.rmtree(graveyard, ignore_errors=True)

    # ----------------------------------------------------------------- integrity
    def check(self, *, repair: bool = False) -> list[Problem]:
        """Re-read every checksum of every file and look for stray files; return what is
        damaged (empty: all good). With ``repair``, rebuild damaged index files (the
        records are intact, only the derived index is rebuilt) and delete stray files; the
        problems found are still returned, each message ending in what was done."""
        problems: list[Problem] = []
        try:
            unpack_header(
                self.files.meta.read_bytes(), DATABASE_MAGIC, self.files.meta,
                "database header (vectordb.meta)",
            )  # fmt: skip
        except (CorruptionError, OSError) as error:
            problems.append(Problem(str(self.files.meta), 0, str(error)))
        problems.extend(self._check_idempotency(repair=repair))
        problems.extend(self._check_unavailable(repair=repair))
        from vectordb.lifecycle.backup import unfinished_backups

        problems.extend(unfinished_backups(self.root, repair=repair and not self.read_only))
        for slot in list(self.slots.values()):
            store = slot.store
            with slot.latch.read():
                problem = _check_checkpoint_files(store.files)
                if problem is not None:
                    problems.append(problem)
                problems.extend(store.check())
                damaged_index = [] if slot.index is None else slot.index.verify_files()
            # strays are listed holding the writer locks (this process's and every
            # process's): a checkpoint writes its new snapshot before the MANIFEST names it
            strays: list[Path] = []
            if repair and not self.read_only:
                with self.writing():
                    strays = self._stray_collection_files(slot)
                    _delete_files(strays)
            for path, message in damaged_index:
                if repair and slot.index is not None and not self.read_only:
                    slot.index.rebuild()
                    message += "; repaired: index rebuilt from the records"
                problems.append(Problem(str(path), 0, message))
            if repair and not self.read_only:
                # leftovers of a crash are not damage (nothing reads them; a read-write open
                # deletes them): reported only when a repair deleted them
                for path in strays:
                    message = "stray file (not named by MANIFEST or INDEX); repaired: deleted"
                    problems.append(Problem(str(path), None, message))
        problems.extend(self._check_log())
        return problems

    def _check_idempotency(self, *, repair: bool) -> list[Problem]:
        """A damaged IDEMPOTENCY file; ``repair`` writes it again from the keys the log
        holds (keys older than the log are forgotten: a retry of such a write would be
        applied again)."""
        path = self.files.idempotency
        try:
            IdempotencyKeys(self.config.idempotency_window).load(path)
            return []
        except CorruptionError as error:
            message = str(error)
        if repair and not self.read_only:
            with self.writing():
                self.idempotency.save(path, self.last_lsn)
                self.idempotency_damage = None
            message += "; repaired: written again from the keys in the log (older ones are lost)"
        return [Problem(str(path), None, message)]

    def _check_unavailable(self, *, repair: bool) -> list[Problem]:
        """Collections whose files did not load; ``repair`` moves each directory to
        ``<db>/quarantine/<name>-<time>/``, so the name is free and nothing is deleted."""
        problems = []
        for name, error in sorted(self.unavailable.items()):
            message = f"collection {name!r} is unavailable: {error}"
            if repair and not self.read_only:
                with self.writing():
                    moved = self._quarantine(name)
                message += f"; repaired: moved to {moved} (restore the collection from a backup)"
            problems.append(Problem(error.path or str(self.files.collection(name).directory),
                                    error.offset, message))  # fmt: skip
        return problems

    def _quarantine(self, name: str) -> Path:
        """Move a damaged collection's directory out of the database (writer lock held)."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.files.quarantine_dir / f"{name}-{stamp}"
        suffix = 1
        while target.exists():
            suffix += 1
            target = self.files.quarantine_dir / f"{name}-{stamp}-{suffix}"
        try:
            io.mkdir(self.files.quarantine_dir, exist_ok=True)
            io.rename(self.files.collection(name).directory, target)
            io.fsync_dir(self.files.collections_dir)
            io.fsync_dir(self.files.quarantine_dir)
        except OSError as error:
            raise os_error(error, f"move damaged collection {name!r} to {target}") from error
        self.unavailable.pop(name, None)
        log.warning("damaged collection %r moved to %s", name, target)
        return target

    def _check_log(self) -> list[Problem]:
        """Read the whole log. A partial last frame counts as damage only when this process
        holds the writer lock (otherwise another process may be appending it right now)."""
        if (
            not self.read_only
            and self.db_lock is not None
            and self.failure is None
            and self.write_failure is None
        ):
            with self.writer_mutex.hold():
                outermost = self._write_depth == 0
                # taken only if free now; catching up under it cuts a crashed writer's tail
                held = self._take_db_lock("check the log", wait=False)
                try:
                    return self._scan_log(judge_tail=held)
                finally:
                    if held and outermost:
                        self._release_db_lock()
        return self._scan_log(judge_tail=False)

    def _scan_log(self, *, judge_tail: bool) -> list[Problem]:
        for attempt in range(_RELOAD_ATTEMPTS):
            covered = [_disk_checkpoint_lsn(slot) for slot in self.slots.values()]
            needed_from = min(covered) + 1 if covered else None
            scan = WalScan(self.files)
            try:
                for _ in scan.records(needed_from=needed_from):
                    pass
                break
            except (CorruptionError, StorageError) as error:
                # without the writer lock, another process's checkpoint may delete a
                # segment between the listing and the read: look again at the new log
                if (
                    not judge_tail
                    and attempt < _RELOAD_ATTEMPTS - 1
                    and self.files.segments() != scan.segments
                ):
                    continue
                path = getattr(error, "path", None) or getattr(error, "filename", None) or ""
                return [Problem(str(path), getattr(error, "offset", None), str(error))]
        torn = scan.torn
        if torn is not None and judge_tail:
            # the lock holder has cut any torn tail when it caught up: one now is damage
            message = f"log ends in an unreadable frame ({torn.reason})"
            return [Problem(str(torn.segment), torn.offset, message)]
        return []

    def _delete_stray_files(self) -> None:
        """Orphan cleanup at a read-write open: old snapshots, index files INDEX does not
        name, temporary files of an atomic replace - a crash's leftovers, never read."""
        for slot in self.slots.values():
            _delete_files(self._stray_collection_files(slot))

    def _stray_collection_files(self, slot: StoreSlot) -> list[Path]:
        """Old snapshots and temporary files in a collection directory (a crash's leftovers)."""
        store = slot.store
        directory = store.files.directory
        known = {"MANIFEST", "vectors.bin", "index", COLUMNS_FILE}
        try:  # the MANIFEST on disk: another process may have checkpointed since this one
            snapshot = Manifest.load(store.files.manifest).snapshot
        except (CorruptionError, OSError):
            return []  # unreadable: delete nothing (check() reports the MANIFEST)
        if snapshot is not None:
            known.add(snapshot)
        strays = [p for p in directory.iterdir() if p.name not in known]
        if slot.index is not None:
            strays.extend(slot.index.stray_files())
        return sorted(strays)

    # ----------------------------------------------------------------- close
    def close(self) -> None:
        if self.closed:
            return
        if self.pid != os.getpid():  # inherited through fork: never touch the parent's files
            self.closed = True
            if self.db_lock is not None:
                self.db_lock.abandon()
            return
        try:
            if not self.read_only and self.failure is None and self.write_failure is None:
                self._checkpoint_at_close()
        except LockTimeoutError as error:
            # another process held the writer lock all along: this one's writes are in the
            # log already, and a later checkpoint (or open) covers them
            log.warning("no checkpoint at close of %s: %s", self.root, error)
        finally:
            self.unlogged.clear()
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
                ran = self.checkpoint_locked()
                deadline = time.monotonic() + max(60.0, self.config.lock_timeout)
                while not ran and self.unlogged and time.monotonic() < deadline:
                    time.sleep(0.05)  # a backup holds checkpoints off: wait for it
                    ran = self.checkpoint_locked()
                if not ran and self.unlogged:
                    log.error("%s: closed while a backup held checkpoints off; the writes made "
                              "with durability 'off' since the last checkpoint are lost",
                              self.root)  # fmt: skip
            finally:
                self.unlogged.clear()
                if outermost:
                    self._release_db_lock()

    def _close_resources(self, *, keep_lock_file: bool = False) -> None:
        if self.wal is not None:
            with contextlib.suppress(Exception):
                self.wal.close()
            self.wal = None
        for slot in self.slots.values():
            slot.close()
        self.slots = {}
        self.unavailable = {}
        lock = self.db_lock
        if lock is not None and not keep_lock_file:
            lock.close()
            self.db_lock = None


@contextlib.contextmanager
def _as_corruption(record: WalRecord) -> Iterator[None]:
    """A log record whose checksum holds but whose contents make no sense (a wrong type, a
    missing key: a bug, or a file vectordb did not write) is corruption, never a raw
    ``KeyError`` or ``TypeError``."""
    try:
        yield
    except (VectorDBError, FellBehind):
        raise
    except Exception as error:
        raise CorruptionError(
            f"log record {record.lsn} cannot be applied: {error!r}",
            path=record.segment,
            offset=record.offset,
        ) from error


def _without_traceback(error: CorruptionError) -> CorruptionError:
    """``error``, to keep (an unavailable collection's reason): its traceback, cause and
    context dropped, since their frames may hold the memory map of a file."""
    error.__traceback__ = None
    error.__cause__ = error.__context__ = None
    return error


def _restore_columns(columns: Any, store: CollectionStore) -> None:
    """Load a collection's saved metadata columns (``columns.bin``) when they are as of its
    checkpoint; anything else leaves them to be built on first use (derived data)."""
    path = store.files.directory / COLUMNS_FILE
    try:
        body = read_checksummed_map(path, COLUMNS_MAGIC, "metadata columns")
        columns.restore(body, store.manifest.checkpoint_lsn, store.n_rows)
    except FileNotFoundError:
        return
    except (CorruptionError, OSError, ValueError, KeyError, TypeError) as error:
        log.warning("metadata columns %s not used (%s); they are rebuilt on use", path, error)


def _check_checkpoint_files(files: CollectionFiles) -> Problem | None:
    """Verify the MANIFEST on disk and the snapshot it names; a checkpoint in another
    process may replace both meanwhile, so a missing snapshot is looked for again."""
    from vectordb.storage.snapshot import read_snapshot

    for attempt in range(3):
        try:
            manifest = Manifest.load(files.manifest)
            if manifest.snapshot is not None:
                read_snapshot(files.directory / manifest.snapshot)
            return None
        except CorruptionError as error:
            if attempt < 2 and Manifest.load(files.manifest) != manifest:
                continue  # replaced by a checkpoint meanwhile: check the new one
            return Problem(error.path or "", error.offset, str(error))
        except FileNotFoundError as error:
            if attempt < 2:
                continue
            return Problem(str(error.filename or files.manifest), None, f"missing: {error}")
    return None


def _disk_checkpoint_lsn(slot: StoreSlot) -> int:
    try:
        return Manifest.load(slot.store.files.manifest).checkpoint_lsn
    except (CorruptionError, OSError):
        return slot.store.manifest.checkpoint_lsn


def _delete_files(paths: list[Path]) -> None:
    """Delete a crash's leftover files (or directories), logging each; a failure is logged,
    not raised: nothing reads them."""
    for path in paths:
        try:
            if path.is_dir():
                io.rmtree(path)
            else:
                io.unlink(path)
            log.info("deleted stray file %s", path)
        except OSError as error:
            log.warning("could not delete stray file %s: %s", path, error)


def archive_segment(path: Path, archive: Path, *, keep: bool = False) -> None:
    """Move a log segment into the archive directory (copy + fsync across file systems);
    ``keep``: leave it in the log too (a hard link where possible)."""
    io.mkdir(archive, parents=True, exist_ok=True)
    target = archive / path.name
    if target.exists():
        if not keep:
            io.unlink(path, missing_ok=True)
        return
    try:
        if keep:
            io.link(path, target)
        else:
            io.replace(path, target)
    except OSError:
        io.copy_file(path, target)
        io.fsync_file(target)
        if not keep:
            io.unlink(path, missing_ok=True)
    fsync_dir(archive)


def apply_write(
    slot: StoreSlot, lsn: int, write: Write, *, vectors_in_file: bool, ids_are_new: bool = False
) -> None:
    """Apply one write to ``slot`` (caller holds its exclusive latch): the one path of live
    writes, transactions, replay at open and following other processes.
    ``vectors_in_file``: the vectors are in the vector file already (the writer put them there
    before it logged them); ``ids_are_new``: ``add`` checked no id is stored (live only)."""
    if isinstance(write, Put):
        slot.put(lsn, write.rows, write.ids, write.vector_array(slot.store.dim), write.metadata,
                 ids_are_new=ids_are_new, vectors_in_file=vectors_in_file)  # fmt: skip
    elif isinstance(write, Delete):
        slot.delete(lsn, write.ids)
    else:
        slot.set_metadata(lsn, write.ids, write.metadata)


def _targets(by_uid: Mapping[str, StoreSlot], entry: Record) -> list[tuple[StoreSlot, Write]]:
    """The (collection, write) pairs a record holds: one for a plain write, each write of a
    transaction, none for records about no open collection."""
    writes = entry.writes if isinstance(entry, TransactionRecord) else [entry]
    found = []
    for write in writes:
        if isinstance(write, (Put, Delete, SetMetadata)):
            slot = by_uid.get(write.collection)
            if slot is not None:
                found.append((slot, write))
    return found


def _decoded(record: WalRecord) -> Decoded:
    """``record``'s typed value; a map vectordb does not write is corruption, located."""
    try:
        return decode(record.payload)
    except CorruptionError as error:
        raise CorruptionError(
            f"log record {record.lsn} cannot be applied: {error.message}",
            path=record.segment,
            offset=record.offset,
        ) from error


def _slot_order(slot: StoreSlot) -> str:
    """The one order in which several collection latches are taken (no deadlock)."""
    return slot.uid


def _truncate(segment: Path, offset: int) -> None:
    try:
        io.truncate_file(segment, offset)
    except OSError as error:
        raise os_error(error, f"truncate torn log tail of {segment}") from error


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

_ = (HEADER, InvalidConfigError)
