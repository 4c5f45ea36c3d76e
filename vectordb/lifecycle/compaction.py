"""Compaction: rewrite a collection with only its live rows, so deletes shrink the files.

Under the writer mutex (writers wait for the compaction; searches wait only for the swap):

1. checkpoint, so the files hold exactly the in-memory state;
2. write the compacted collection into ``collections/.compact-<name>/``: ``vectors.bin``
   with the live rows packed in row order (capacity = live rows), a snapshot of them (ids,
   metadata, checksums and norms carried over, rows renumbered), a MANIFEST with the same uid
   and checkpoint LSN; everything fsynced;
3. swap directories: ``<name>`` -> ``.old-<name>``, ``.compact-<name>`` -> ``<name>``, fsync
   ``collections/``, delete ``.old-<name>``;
4. reopen the store in place (handles stay valid). The log holds no record of the collection
   after the checkpoint, so the renumbered rows never meet an old record;
5. log a ``compacted`` record: other processes reopen the collection when they replay it.

Crash safety (``recover_interrupted``, run at open before collections load): ``.compact-X``
alone was cut short in step 2 and is deleted; ``.old-X`` with no ``X`` means the crash fell
between the two renames, and ``.compact-X`` is complete, so it becomes ``X``; ``.old-X`` next
to ``X`` is a finished swap whose leftover is deleted. Index files are not carried over (an
HNSW graph's labels are row numbers): the index rebuilds in the background after a
compaction, and searches are exact until it has.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectordb.errors import StorageError
from vectordb.filters.columns import COLUMNS_FILE
from vectordb.storage import io
from vectordb.storage.atomic import detached, os_error
from vectordb.storage.checksummed import write_checksummed_map
from vectordb.storage.headers import COLUMNS_MAGIC
from vectordb.storage.layout import CollectionFiles
from vectordb.storage.manifest import Manifest
from vectordb.storage.records import CollectionEvent
from vectordb.storage.snapshot import Snapshot, write_snapshot
from vectordb.storage.vector_file import HEADER_BYTES

if TYPE_CHECKING:
    from vectordb.engine import Engine, StoreSlot

__all__ = [
    "COMPACT_PREFIX",
    "OLD_PREFIX",
    "compact_collection",
    "recover_interrupted",
    "rewrite_compacted",
]

COMPACT_PREFIX = ".compact-"
OLD_PREFIX = ".old-"
_CHUNK_ROWS = 65_536


def compact_collection(engine: Engine, name: str) -> dict[str, Any]:
    """Compact collection ``name``; returns ``rows_before``, ``rows_after``,
    ``bytes_before``, ``bytes_after``. Caller holds the writer mutex (``engine.writing()``)."""
    if engine.checkpoints_paused:
        raise StorageError("a backup is copying the database; compact after it has finished")
    engine._compacting = True
    try:
        if not engine.checkpoint_locked():
            raise StorageError("a backup is copying the database; compact after it has finished")
        result = rewrite_compacted(engine, engine.slot(name))
        # other processes reopen the collection when they replay this record (or, if a
        # crash keeps it out of the log, when their next write sees the new vector file);
        # a restore repeats the compaction where the record stands in the log
        engine.log_event(CollectionEvent("compacted", name, engine.slot(name).uid))
        return result
    finally:
        engine._compacting = False


def rewrite_compacted(
    engine: Engine, slot: StoreSlot, *, start_background: bool = True
) -> dict[str, Any]:
    """Steps 2-4 for a collection whose files hold exactly its in-memory state (just
    checkpointed); also how recovery repeats a logged compaction on a restored backup
    (``start_background=False``: the open starts the indexer when it is done)."""
    name = slot.name
    store = slot.store
    n = store.n_rows
    live_rows = np.flatnonzero(store.live[:n]).astype(np.int64)
    bytes_before = store.disk_bytes()
    collections_dir = store.files.directory.parent
    target = collections_dir / f"{COMPACT_PREFIX}{name}"
    old = collections_dir / f"{OLD_PREFIX}{name}"
    io.rmtree(target, ignore_errors=True)
    # columns are derived and rebuilt for the packed rows; the fields declared with
    # create_index() are carried over (columns.bin), so they stay declared
    declared = sorted(slot.columns.declared)
    try:
        io.mkdir(target)
        _write_compacted(store, live_rows, target, declared)
    except OSError as error:
        io.rmtree(target, ignore_errors=True)
        raise os_error(error, f"compact collection {name!r}") from error
    except BaseException:
        io.rmtree(target, ignore_errors=True)
        raise
    # swap the directories. The store stays open across the renames (POSIX keeps open files
    # and mappings working), so a failed rename leaves the collection exactly as it was;
    # Windows cannot rename a directory whose files are open, so there it closes first
    if slot.index is not None:
        slot.index.stop()
    files = engine.files.collection(name)
    close_first = sys.platform == "win32"
    durable = True

    def keep_old(where: CollectionFiles) -> None:
        """A rename failed: the collection goes on from its old files (at ``where``)."""
        if close_first:
            _reopen(engine, slot, where, start_background)
        elif start_background:
            slot.start_background_work()

    with slot.latch.write():
        if close_first:
            slot.close()
        try:
            io.rename(files.directory, old)
        except OSError as error:  # nothing changed
            io.rmtree(target, ignore_errors=True)
            keep_old(files)
            raise os_error(error, f"swap compacted collection {name!r}") from error
        try:
            io.rename(target, files.directory)
        except OSError as error:
            try:
                io.rename(old, files.directory)  # undo the first rename
            except OSError as undo_error:
                # the old files are whole under .old-<name>: reads go on from them, writes
                # wait for a reopen (which finds .old-<name> beside a complete
                # .compact-<name> and finishes the swap)
                message = f"undo the swap of compacted collection {name!r}"
                engine.write_failure = detached(os_error(undo_error, message))
                keep_old(CollectionFiles(old))
                raise os_error(error, f"swap compacted collection {name!r}") from error
            io.rmtree(target, ignore_errors=True)
            keep_old(files)
            raise os_error(error, f"swap compacted collection {name!r}") from error
        try:
            io.fsync_dir(collections_dir)
        except OSError as error:
            # the swap stands, but whether it is on disk is unknown (an fsync is never
            # retried): finish it in memory, write no more until reopened (recovery
            # completes or undoes the swap from what the disk holds)
            message = f"fsync the swap of compacted collection {name!r}"
            engine.write_failure = detached(os_error(error, message))
            durable = False
        if not close_first:
            slot.close()
        io.rmtree(old, ignore_errors=True)
        _reopen(engine, slot, files, start_background=False)
        for path in declared:  # built now, saved by the next checkpoint
            slot.columns.column(slot.store, path)
    if start_background:
        slot.start_background_work()
    if not durable:
        assert engine.write_failure is not None
        raise detached(engine.write_failure)  # a copy: the kept one stays without traceback
    return {
        "rows_before": n,
        "rows_after": len(live_rows),
        "bytes_before": bytes_before,
        "bytes_after": slot.store.disk_bytes(),
    }


def _reopen(
    engine: Engine, slot: StoreSlot, files: CollectionFiles, start_background: bool
) -> None:
    """Load the collection from ``files`` again (caller holds its exclusive latch, the store
    is closed). If its files cannot be opened for writing, they are opened read-only and the
    engine refuses writes until reopened (reads go on); if not even that works, the engine
    stops: memory would not match the files."""
    try:
        try:
            slot.reopen(files, use_mmap=engine.config.use_mmap)
        except (OSError, StorageError):
            slot.reopen(files, use_mmap=engine.config.use_mmap)  # once more: a passing fault
    except (OSError, StorageError) as error:
        engine.write_failure = detached(error)
        slot.read_only = True
        try:
            slot.reopen(files, use_mmap=engine.config.use_mmap)
        except BaseException as last:
            engine.failure = detached(last)
            raise
    except BaseException as error:
        engine.failure = detached(error)
        raise
    if start_background:
        slot.start_background_work()


def _write_compacted(
    store: Any, live_rows: np.ndarray, target: Path, declared: list[tuple[str, ...]]
) -> None:
    files = CollectionFiles(target)
    count = len(live_rows)
    row_bytes = store.vectors.row_bytes
    with open(store.files.vectors, "rb") as source:
        header = source.read(HEADER_BYTES)
    vectors = store.vectors.rows
    fd = io.open_fd(files.vectors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        io.write_all(fd, header)
        for start in range(0, count, _CHUNK_ROWS):
            part = live_rows[start : start + _CHUNK_ROWS]
            io.write_all(fd, np.ascontiguousarray(vectors[part]).data.cast("B"))
        if count == 0:
            io.write_all(fd, b"\0" * row_bytes)  # capacity 1: a vector file is never empty
        io.fsync(fd)
    finally:
        os.close(fd)
    lsn = store.manifest.checkpoint_lsn
    snapshot_name = None
    if count:
        blobs = [store.metadata_bytes(int(row)) for row in live_rows.tolist()]
        offsets = np.zeros(count + 1, np.uint64)
        offsets[1:] = np.cumsum([len(blob) for blob in blobs])
        snapshot = Snapshot(
            lsn,
            count,
            np.ones(count, np.bool_),
            [store.row_ids[int(row)] for row in live_rows.tolist()],
            offsets,
            b"".join(blobs),
            store.checksums[live_rows].copy(),
            store.sq_norms[live_rows].copy(),
        )
        path = files.snapshot(lsn)
        write_snapshot(path, snapshot)
        snapshot_name = path.name
    if declared:
        write_checksummed_map(target / COLUMNS_FILE, COLUMNS_MAGIC, {
            "lsn": lsn, "n_rows": count, "declared": [".".join(path) for path in declared],
            "fields": {}, "arrays": {},
        })  # fmt: skip
    manifest = store.manifest
    Manifest(
        uid=manifest.uid,
        name=manifest.name,
        config=manifest.config,
        created_at=manifest.created_at,
        updated_at=manifest.updated_at,
        checkpoint_lsn=lsn,
        snapshot=snapshot_name,
        count=count,
    ).commit(files.manifest)
    io.fsync_dir(target)


def recover_interrupted(collections_dir: Path, *, read_only: bool) -> dict[str, Path]:
    """Finish or undo compactions a crash interrupted (see the module docstring). Returns
    ``{name: directory}`` for collections a read-only open must read from a ``.compact-``
    directory (it may not rename)."""
    redirected: dict[str, Path] = {}
    if not collections_dir.is_dir():
        return redirected
    entries = {entry.name for entry in collections_dir.iterdir()}
    for entry in sorted(entries):
        if not entry.startswith(OLD_PREFIX):
            continue
        name = entry[len(OLD_PREFIX) :]
        compacted = collections_dir / f"{COMPACT_PREFIX}{name}"
        if name in entries:
            if not read_only:
                io.rmtree(collections_dir / entry, ignore_errors=True)
            continue
        if not compacted.is_dir():
            # the old copy is all there is (cannot happen by construction): keep it
            if read_only:
                redirected[name] = collections_dir / entry
            else:
                io.rename(collections_dir / entry, collections_dir / name)
            continue
        if read_only:
            redirected[name] = compacted
        else:
            io.rename(compacted, collections_dir / name)
            io.fsync_dir(collections_dir)
            io.rmtree(collections_dir / entry, ignore_errors=True)
    return redirected
