"""Compaction's swap: the compacted copy of a collection takes the place of its files, and
its state is reopened from them (``storage/compaction.py`` says how the copy is written and
how a crash between the steps is finished or undone).

A failure leaves the collection serving reads: a failed rename is undone (or, if even that
fails, the collection goes on from ``.old-<name>`` with writes refused until reopen); a
failed directory fsync after the swap keeps the swap and refuses writes (an fsync is never
retried); files that cannot be opened for writing afterwards are opened read-only.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from vectordb.engine.health import Health
from vectordb.engine.state import CollectionState
from vectordb.errors import StorageError
from vectordb.files import io
from vectordb.files.atomic import built_or_removed, detached, os_error
from vectordb.storage.compaction import COMPACT_PREFIX, OLD_PREFIX, write_compacted
from vectordb.storage.layout import CollectionFiles, DatabaseFiles

__all__ = ["rewrite_compacted"]


def rewrite_compacted(
    state: CollectionState,
    files: DatabaseFiles,
    health: Health,
    *,
    use_mmap: bool,
    start_background: bool = True,
) -> dict[str, Any]:
    """Steps 2-4 of a compaction (``storage/compaction.py``) for a collection whose files
    hold exactly its in-memory state (just checkpointed); also how recovery repeats a logged
    compaction on a restored backup (``start_background=False``: the open starts the indexer
    when it is done). Returns ``rows_before``, ``rows_after``, ``bytes_before``,
    ``bytes_after``."""
    name = state.name
    store = state.store
    n = store.n_rows
    live_rows = np.flatnonzero(store.live[:n]).astype(np.int64)
    bytes_before = store.disk_bytes()
    collections_dir = store.files.directory.parent
    target = collections_dir / f"{COMPACT_PREFIX}{name}"
    old = collections_dir / f"{OLD_PREFIX}{name}"
    io.rmtree(target, ignore_errors=True)
    # columns are derived and rebuilt for the packed rows; the fields declared with
    # create_index() are carried over (columns.bin), so they stay declared
    declared = sorted(state.columns.declared)
    with built_or_removed(target, f"compact collection {name!r}"):
        io.mkdir(target)
        write_compacted(store, live_rows, target, declared)
    # swap the directories. The store stays open across the renames (POSIX keeps open files
    # and mappings working), so a failed rename leaves the collection exactly as it was;
    # Windows cannot rename a directory whose files are open, so there it closes first
    if state.index is not None:
        state.index.stop()
    collection_files = files.collection(name)
    close_first = sys.platform == "win32"
    durable = True

    def keep_old(where: CollectionFiles) -> None:
        """A rename failed: the collection goes on from its old files (at ``where``)."""
        if close_first:
            _reopen(state, where, health, use_mmap, start_background)
        elif start_background:
            state.start_background_work()

    with state.latch.write():
        if close_first:
            state.close()
        try:
            io.rename(collection_files.directory, old)
        except OSError as error:  # nothing changed
            io.rmtree(target, ignore_errors=True)
            keep_old(collection_files)
            raise os_error(error, f"swap compacted collection {name!r}") from error
        try:
            io.rename(target, collection_files.directory)
        except OSError as error:
            try:
                io.rename(old, collection_files.directory)  # undo the first rename
            except OSError as undo_error:
                # the old files are whole under .old-<name>: reads go on from them, writes
                # wait for a reopen (which finds .old-<name> beside a complete
                # .compact-<name> and finishes the swap)
                message = f"undo the swap of compacted collection {name!r}"
                health.refuse_writes(os_error(undo_error, message))
                keep_old(CollectionFiles(old))
                raise os_error(error, f"swap compacted collection {name!r}") from error
            io.rmtree(target, ignore_errors=True)
            keep_old(collection_files)
            raise os_error(error, f"swap compacted collection {name!r}") from error
        try:
            io.fsync_dir(collections_dir)
        except OSError as error:
            # the swap stands, but whether it is on disk is unknown (an fsync is never
            # retried): finish it in memory, write no more until reopened (recovery
            # completes or undoes the swap from what the disk holds)
            message = f"fsync the swap of compacted collection {name!r}"
            health.refuse_writes(os_error(error, message))
            durable = False
        if not close_first:
            state.close()
        io.rmtree(old, ignore_errors=True)
        _reopen(state, collection_files, health, use_mmap, start_background=False)
        for path in declared:  # built now, saved by the next checkpoint
            state.columns.column(state.store, path)
    if start_background:
        state.start_background_work()
    if not durable:
        assert health.write_failure is not None
        raise detached(health.write_failure)  # a copy: the kept one stays without traceback
    return {
        "rows_before": n,
        "rows_after": len(live_rows),
        "bytes_before": bytes_before,
        "bytes_after": state.store.disk_bytes(),
    }


def _reopen(
    state: CollectionState,
    files: CollectionFiles,
    health: Health,
    use_mmap: bool,
    start_background: bool,
) -> None:
    """Load the collection from ``files`` again (caller holds its exclusive latch, the store
    is closed). If its files cannot be opened for writing, they are opened read-only and
    writes are refused until reopened (reads go on); if not even that works, the
    engine stops: memory would not match the files."""
    try:
        try:
            state.reopen(files, use_mmap=use_mmap)
        except (OSError, StorageError):
            state.reopen(files, use_mmap=use_mmap)  # once more: a passing fault
    except (OSError, StorageError) as error:
        health.refuse_writes(error)
        state.read_only = True
        try:
            state.reopen(files, use_mmap=use_mmap)
        except BaseException as last:
            health.fail(last)
            raise
    except BaseException as error:
        health.fail(error)
        raise
    if start_background:
        state.start_background_work()
