"""Engine: the state of one open database directory, shared by every handle in the process.

The engine owns the process lock, the log writer, the writer mutex and one
``CollectionStore`` per collection. Handles (``Database``, ``Collection``) validate arguments
and call ``Engine.commit`` to make a change durable and visible.

Write path (``commit``): writer mutex -> append the record to the log (fsync for durability
``full``) -> apply it to the store under the collection's exclusive latch -> maybe checkpoint.
A failure before the log append changes nothing; an fsync failure, or a failure to apply a
logged record, makes the engine unusable (``StorageError`` on every later call) because memory
and disk may disagree - reopening recovers from the log.

Open path: lock -> load each collection's MANIFEST, vector file and snapshot -> replay log
records newer than each collection's checkpoint LSN -> cut a torn tail off the last segment.

Checkpoint: for every changed collection flush the vector file, write a snapshot and commit
the MANIFEST at the current LSN; then start a new log segment and delete the older ones.
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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt

from vectordb.config import CollectionConfig, DatabaseConfig, Durability
from vectordb.errors import (
    CollectionExistsError,
    CollectionFullError,
    CollectionNotFoundError,
    CorruptionError,
    DatabaseClosedError,
    InvalidArgumentError,
    InvalidConfigError,
    ReadOnlyError,
    StorageError,
    UnsupportedFormatError,
    VectorDBError,
)
from vectordb.index.background import BackgroundIndex, RowSource
from vectordb.lifecycle.compaction import compact_collection, recover_interrupted
from vectordb.locking import ProcessLock, ReadWriteLatch, WriterMutex
from vectordb.observability.metrics import Metrics
from vectordb.results import Problem
from vectordb.storage.atomic import atomic_write_bytes, fsync_dir, os_error
from vectordb.storage.collection_store import CollectionStore
from vectordb.storage.headers import DATABASE_MAGIC, HEADER, pack_header, unpack_header
from vectordb.storage.layout import CollectionFiles, DatabaseFiles
from vectordb.storage.manifest import Manifest
from vectordb.storage.vector_file import VectorFile
from vectordb.storage.wal import WalScan, WalWriter

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
        self.generation = 0  # bumped by every write: keys the filter-mask cache
        self.filter_masks: dict[str, tuple[int, Any]] = {}
        self.index: BackgroundIndex | None = None
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

    def put(
        self,
        lsn: int,
        rows: npt.NDArray[np.int64],
        ids: list[str],
        vectors: npt.NDArray[np.float32],
        metadata: list[bytes] | None,
        *,
        ids_are_new: bool = False,
    ) -> None:
        replaced = self.store.apply_put(lsn, rows, ids, vectors, metadata, ids_are_new=ids_are_new)
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
        self.failure: BaseException | None = None
        self.writer_mutex = WriterMutex(config.lock_timeout)
        self.slots: dict[str, StoreSlot] = {}
        self.wal: WalWriter | None = None
        self.records_since_checkpoint = 0
        self.bytes_since_checkpoint = 0
        self.low_disk = False  # writes refused for lack of disk space (ensure_disk_space)
        self.checkpoints_paused = 0  # > 0 while a backup copies checkpointed files
        self._compacting = False
        self.checkpoint_deferred = False
        self.recovered_records = 0
        self.torn_tail: str | None = None
        self._open()

    # ----------------------------------------------------------------- sharing
    @classmethod
    def acquire(
        cls, path: str | os.PathLike[str], *, read_only: bool, config: DatabaseConfig
    ) -> Engine:
        root = Path(os.path.abspath(os.fspath(path)))
        if not read_only:
            try:
                root.mkdir(parents=True, exist_ok=True)
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
        self._check_database_header()
        self.lock = ProcessLock(
            self.files.lock, exclusive=not self.read_only, timeout=self.config.lock_timeout
        )
        try:
            self._load_collections()
            self._recover()
            if self.config.verify_checksums_on_open:
                problems = self.check()
                if problems:
                    first = problems[0]
                    raise CorruptionError(
                        f"{len(problems)} problem(s) found at open; first: {first.message}",
                        path=first.path,
                        offset=first.offset,
                    )
        except BaseException:
            self._close_resources()
            raise
        if not self.read_only:
            self._delete_stray_files()
        for slot in self.slots.values():
            slot.start_background_work()
        if not self.read_only:
            from vectordb.index.flat import warm_up_in_background

            warm_up_in_background()

    def _check_database_header(self) -> None:
        meta = self.files.meta
        if meta.exists():
            data = meta.read_bytes()
            unpack_header(data, DATABASE_MAGIC, meta, "database header (vectordb.meta)")
            return
        ours = {"LOCK", "wal", "collections", "vectordb.yaml"}  # a config file may come first
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
        self.files.collections_dir.mkdir(exist_ok=True)
        self.files.wal_dir.mkdir(exist_ok=True)
        fsync_dir(self.root)

    def _load_collections(self) -> None:
        directory = self.files.collections_dir
        if not directory.is_dir():
            if self.read_only:
                return
            directory.mkdir()
        redirected = recover_interrupted(directory, read_only=self.read_only)
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
                if not self.read_only:  # a create or drop cut short by a crash
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            if not (entry / "MANIFEST").exists():
                raise CorruptionError("collection directory has no MANIFEST", path=entry)
            store = CollectionStore(
                self.files.collection(entry.name),
                read_only=self.read_only,
                use_mmap=self.config.use_mmap,
            )
            try:
                self.slots[entry.name] = slot = StoreSlot(
                    store, read_only=self.read_only, threads=self.config.thread_count
                )
            except BaseException:
                store.close()
                raise
            self.apply_search_defaults(slot)

    def apply_search_defaults(self, slot: StoreSlot) -> None:
        """Give ``slot`` the default ``ef`` / ``nprobe`` the configuration names for it (only
        the knob its index has)."""
        overrides = self.config.overrides_for(slot.name)
        kind = slot.store.config.index
        ef = overrides.ef if kind == "hnsw" else None
        nprobe = overrides.nprobe if kind == "ivf" else None
        slot.search_defaults = None if ef is None and nprobe is None else (ef, nprobe)

    def _recover(self) -> None:
        by_uid = {slot.store.manifest.uid: slot for slot in self.slots.values()}
        scan = WalScan(self.files)
        checkpoint_lsns = [slot.store.manifest.checkpoint_lsn for slot in self.slots.values()]
        start = min(checkpoint_lsns) if checkpoint_lsns else 0
        needed_from = start + 1 if checkpoint_lsns else None
        for record in scan.records(after_lsn=start, needed_from=needed_from):
            target = by_uid.get(record.payload.get("c", ""))
            if target is None or record.lsn <= target.store.manifest.checkpoint_lsn:
                continue
            try:
                apply_record(target, record.lsn, record.payload)
            except VectorDBError:
                raise
            except Exception as error:
                raise CorruptionError(
                    f"log record {record.lsn} cannot be applied: {error!r}",
                    path=record.segment,
                    offset=record.offset,
                ) from error
            self.recovered_records += 1
            self.records_since_checkpoint += 1
            self.bytes_since_checkpoint += record.size
        if scan.torn is not None:
            torn = scan.torn
            self.torn_tail = f"{torn.segment.name} at byte {torn.offset} ({torn.reason})"
            log.warning(
                "log tail cut at %s: %s; that write was never acknowledged",
                torn.segment,
                self.torn_tail,
            )
            if not self.read_only:
                try:
                    with open(torn.segment, "r+b") as handle:
                        handle.truncate(torn.offset)
                        handle.flush()
                        os.fsync(handle.fileno())
                except OSError as error:
                    raise os_error(error, f"truncate torn log tail of {torn.segment}") from error
        next_lsn = max([scan.next_lsn_hint or 1, *(lsn + 1 for lsn in checkpoint_lsns)])
        self.last_lsn = next_lsn - 1
        if not self.read_only:
            self.wal = WalWriter(self.files, next_lsn)

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

    def slot(self, name: str) -> StoreSlot:
        slot = self.slots.get(name)
        if slot is None or slot.dropped:
            raise CollectionNotFoundError(
                f"no collection named {name!r} in {self.root}; existing: {sorted(self.slots)}"
            )
        return slot

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer mutex for one write operation (validate, log, apply)."""
        self.ensure_usable(write=True)
        self.ensure_disk_space()
        with self.writer_mutex.hold():
            self.ensure_usable(write=True)
            yield

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

    def check_limits(self, slot: StoreSlot, ids: list[str], ids_are_new: bool) -> None:
        """Raise ``CollectionFullError`` if writing ``ids`` would pass the collection's
        ``max_vectors`` / ``max_bytes`` (caller holds the writer mutex)."""
        store = slot.store
        overrides = self.config.overrides_for(slot.name)
        max_vectors = overrides.max_vectors or self.config.max_vectors
        max_bytes = overrides.max_bytes or self.config.max_bytes
        if max_vectors is None and max_bytes is None:
            return
        if ids_are_new:
            new = len(ids)
        else:
            row_of = store.row_of
            new = sum(1 for vector_id in dict.fromkeys(ids) if vector_id not in row_of)
        after = store.count + new
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
    def commit(
        self,
        slot: StoreSlot,
        fields: dict[str, Any],
        tail: tuple[str, memoryview] | None,
        apply: Callable[[int], None],
    ) -> int:
        """Log one record for ``slot`` and apply it; caller holds ``writing()``. Returns its LSN."""
        store = slot.store
        durability = Durability(
            self.config.overrides_for(store.manifest.name).durability
            or store.config.durability
            or self.config.durability
        )
        assert self.wal is not None
        if durability is Durability.OFF:
            lsn = self.last_lsn
            size = 0
        else:
            payload = {"c": store.manifest.uid, "t": time.time(), **fields}
            try:
                lsn, size = self.wal.append(payload, tail, sync=durability is Durability.FULL)
            except StorageError as error:
                if self.wal.broken is not None:  # fsync failed, or a half frame stayed behind
                    self.failure = error
                raise
            self.last_lsn = lsn
        try:
            with slot.latch.write():
                apply(lsn)
        except BaseException as error:
            self.failure = error
            raise
        self.records_since_checkpoint += 1
        self.bytes_since_checkpoint += size
        if (
            self.records_since_checkpoint >= self.config.checkpoint_records
            or self.bytes_since_checkpoint >= self.config.checkpoint_bytes
        ):
            self.checkpoint_locked()
        return lsn

    def checkpoint(self) -> None:
        with self.writing():
            self.checkpoint_locked()

    def checkpoint_locked(self) -> None:
        """Checkpoint every collection at the current LSN, then drop covered log segments.
        While a backup copies files (``checkpoints_paused``) it only notes that one is due."""
        if self.read_only or self.wal is None:
            return
        if self.checkpoints_paused:
            self.checkpoint_deferred = True
            return
        self.checkpoint_deferred = False
        lsn = self.last_lsn
        self.metrics.count_checkpoint()
        try:
            self.wal.sync()
            for slot in list(self.slots.values()):
                # heavy part under the shared latch (searches go on), swap under the exclusive
                with slot.latch.read():
                    prepared = slot.store.prepare_checkpoint(lsn)
                    if slot.index is not None:
                        slot.index.save(lsn)
                if prepared is not None:
                    with slot.latch.write():
                        slot.store.finish_checkpoint(prepared)
            old_segments = self.files.segments()
            if self.wal.segment_size > 16 or len(old_segments) > 1:
                self.wal.next_lsn = lsn + 1
                current = self.wal.start_segment()
                archive = self.wal_archive_dir()
                for _, path in old_segments:
                    if path != current:
                        if archive is not None:
                            archive_segment(path, archive)
                        else:
                            path.unlink(missing_ok=True)
                fsync_dir(self.files.wal_dir)
        except StorageError as error:
            self.failure = error
            raise
        except OSError as error:
            self.failure = os_error(error, "checkpoint")
            raise self.failure from error
        self.records_since_checkpoint = 0
        self.bytes_since_checkpoint = 0
        self._compact_where_due()

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
                compact_collection(self, name)

    def compact(self, name: str) -> dict[str, Any]:
        with self.writing():
            return compact_collection(self, name)

    # ----------------------------------------------------------------- collections
    def create_collection(self, name: str, config: CollectionConfig) -> StoreSlot:
        validate_collection_name(name)
        with self.writing():
            lowered = {existing.lower(): existing for existing in self.slots}
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
            temp = self.files.collections_dir / f".tmp-{uid}"
            target = self.files.collections_dir / name
            now = time.time()
            try:
                temp.mkdir(parents=True)
                files = self.files.collection(temp.name)
                VectorFile.create(
                    files.vectors,
                    config.dim,
                    config.initial_capacity or self.config.initial_capacity,
                )
                Manifest(
                    uid=uid,
                    name=name,
                    config=config.to_dict(),
                    created_at=now,
                    updated_at=now,
                    checkpoint_lsn=self.last_lsn,
                    snapshot=None,
                    count=0,
                ).commit(files.manifest)
                fsync_dir(temp)
                os.replace(temp, target)
                fsync_dir(self.files.collections_dir)
            except OSError as error:
                shutil.rmtree(temp, ignore_errors=True)
                raise os_error(error, f"create collection {name!r}") from error
            except BaseException:
                shutil.rmtree(temp, ignore_errors=True)
                raise
            store = CollectionStore(
                self.files.collection(name), read_only=False, use_mmap=self.config.use_mmap
            )
            slot = StoreSlot(store, read_only=False, threads=self.config.thread_count)
            self.slots[name] = slot
            self.apply_search_defaults(slot)
            slot.start_background_work()
            return slot

    def drop_collection(self, name: str) -> None:
        with self.writing():
            slot = self.slot(name)
            if slot.index is not None:
                slot.index.stop()  # before the latch: the indexer may be waiting for it
            with slot.latch.write():
                slot.dropped = True
                del self.slots[name]
                slot.close()
                graveyard = self.files.collections_dir / f".dropped-{slot.store.manifest.uid}"
                try:
                    os.replace(slot.store.files.directory, graveyard)
                    fsync_dir(self.files.collections_dir)
                except OSError as error:
                    self.failure = os_error(error, f"drop collection {name!r}")
                    raise self.failure from error
                shutil.rmtree(graveyard, ignore_errors=True)

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
        for slot in list(self.slots.values()):
            store = slot.store
            with slot.latch.read():
                try:
                    Manifest.load(store.files.manifest)
                    if store.manifest.snapshot is not None:
                        from vectordb.storage.snapshot import read_snapshot

                        read_snapshot(store.files.directory / store.manifest.snapshot)
                except CorruptionError as error:
                    problems.append(Problem(error.path or "", error.offset, str(error)))
                problems.extend(store.check())
                damaged_index = [] if slot.index is None else slot.index.verify_files()
            # strays are listed holding the writer mutex (taken before any latch, as writers
            # do): a checkpoint writes its new snapshot before the MANIFEST names it
            strays: list[Path] = []
            if repair and not self.read_only:
                with self.writer_mutex.hold():
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
        covered = [slot.store.manifest.checkpoint_lsn for slot in self.slots.values()]
        needed_from = min(covered) + 1 if covered else None
        scan = WalScan(self.files)
        try:
            for _ in scan.records(needed_from=needed_from):
                pass
        except CorruptionError as error:
            problems.append(Problem(error.path or "", error.offset, str(error)))
        else:
            torn = scan.torn
            if torn is not None and not self.read_only:
                # an open read-write database has cut any torn tail: one now is damage
                message = f"log ends in an unreadable frame ({torn.reason})"
                problems.append(Problem(str(torn.segment), torn.offset, message))
        return problems

    def _delete_stray_files(self) -> None:
        """Orphan cleanup at a read-write open: old snapshots, index files INDEX does not
        name, temporary files of an atomic replace - a crash's leftovers, never read."""
        for slot in self.slots.values():
            _delete_files(self._stray_collection_files(slot))

    def _stray_collection_files(self, slot: StoreSlot) -> list[Path]:
        """Old snapshots and temporary files in a collection directory (a crash's leftovers)."""
        store = slot.store
        directory = store.files.directory
        known = {"MANIFEST", "vectors.bin", "index"}
        if store.manifest.snapshot is not None:
            known.add(store.manifest.snapshot)
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
            self.lock.abandon()
            return
        try:
            if not self.read_only and self.failure is None:
                with self.writer_mutex.hold():
                    self.checkpoint_locked()
        finally:
            self.closed = True
            self._close_resources()
            _OPEN_ENGINES.discard(self)

    def _close_resources(self) -> None:
        if self.wal is not None:
            with contextlib.suppress(Exception):
                self.wal.close()
            self.wal = None
        for slot in self.slots.values():
            slot.close()
        lock = getattr(self, "lock", None)
        if lock is not None:
            lock.release()


def _delete_files(paths: list[Path]) -> None:
    """Delete a crash's leftover files (or directories), logging each; a failure is logged,
    not raised: nothing reads them."""
    for path in paths:
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            log.info("deleted stray file %s", path)
        except OSError as error:
            log.warning("could not delete stray file %s: %s", path, error)


def archive_segment(path: Path, archive: Path) -> None:
    """Move a log segment into the archive directory (copy + fsync across file systems)."""
    archive.mkdir(parents=True, exist_ok=True)
    target = archive / path.name
    try:
        os.replace(path, target)
    except OSError:
        shutil.copyfile(path, target)
        with open(target, "rb+") as handle:
            os.fsync(handle.fileno())
        path.unlink(missing_ok=True)
    fsync_dir(archive)


def apply_record(slot: StoreSlot, lsn: int, payload: Mapping[str, Any]) -> None:
    """Apply one decoded log record to ``slot`` (recovery; the live path applies directly)."""
    op = payload["op"]
    if op == "put":
        rows = np.frombuffer(payload["rows"], dtype="<i8").astype(np.int64)
        vectors = np.frombuffer(payload["vec"], dtype="<f4").reshape(len(rows), slot.store.dim)
        slot.put(lsn, rows, payload["ids"], vectors, payload.get("meta"))
    elif op == "del":
        slot.delete(lsn, payload["ids"])
    elif op == "meta":
        slot.set_metadata(lsn, payload["ids"], payload["meta"])
    else:
        raise CorruptionError(f"unknown log operation {op!r} at LSN {lsn}")


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
