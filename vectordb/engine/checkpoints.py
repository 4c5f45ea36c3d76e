"""Checkpoints and compaction, by whichever process holds the writer lock.

Checkpoint: sync the log and seal its segment (so the checkpoint covers the sealed segment
whole) -> for every changed collection flush the vector file, write a snapshot and commit the
MANIFEST at the current LSN, then save its index and metadata columns -> save the
idempotency keys -> delete (or archive, with ``wal_archive``) the segments before the
previous checkpoint. One sealed segment stays, so a process idle across one checkpoint
catches up by replay instead of reloading its collections. The last process to close the
database (``Engine._checkpoint_at_close``) deletes that one too (``drop_covered_segments``):
nobody is left to replay it.

Each collection's files change atomically (its MANIFEST names its state) and no segment is
deleted before every collection is checkpointed, so a checkpoint cut short changes nothing a
reader or a recovery relies on, and runs again later: a failed checkpoint that a write
triggered fails neither the write nor any read (``in_background``). Only a failed fsync of
the log or of a vector file is final: its pages may be lost, so nothing written before it
may be trusted to be on disk, and the engine refuses writes until reopened.

A backup (in any process) holds checkpoints off while it copies files (``PAUSE``): a
checkpoint due meanwhile is only noted (``deferred``) and runs when the copy ends.

Compaction (``compact``): a checkpoint, then ``engine/compaction.rewrite_compacted``, then a
``compacted`` record; it also runs after a checkpoint for every collection whose dead rows
pass ``compact_dead_share`` and ``compact_min_dead_bytes``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from vectordb.concurrency.idempotency import IdempotencyKeys
from vectordb.config import DatabaseConfig
from vectordb.engine.collections import CollectionSet
from vectordb.engine.compaction import rewrite_compacted
from vectordb.engine.log import EngineLog
from vectordb.engine.state import CollectionState
from vectordb.errors import CorruptionError, StorageError
from vectordb.files import io
from vectordb.files.atomic import detached, fsync_dir, os_error
from vectordb.files.checksummed import write_checksummed_map
from vectordb.files.headers import COLUMNS_MAGIC, HEADER
from vectordb.locking import FileLock
from vectordb.observability.metrics import Metrics
from vectordb.storage.layout import CollectionFiles
from vectordb.storage.manifest import Manifest
from vectordb.storage.records import CollectionEvent
from vectordb.storage.segments import archive_segment, covered_segments

__all__ = ["Checkpointer"]

log = logging.getLogger("vectordb")

#: after an automatic checkpoint failed, the next trigger tries again after this pause
RETRY_SECONDS = 1.0


class Checkpointer:
    """See the module docstring. Every method runs with the writer lock held."""

    def __init__(
        self,
        config: DatabaseConfig,
        collections: CollectionSet,
        engine_log: EngineLog,
        idempotency: IdempotencyKeys,
        metrics: Metrics,
        *,
        read_only: bool,
    ) -> None:
        self.files = collections.files
        self.config = config
        self.collections = collections
        self.health = collections.health
        self.log = engine_log
        self.idempotency = idempotency
        self.metrics = metrics
        self.read_only = read_only
        self.paused = 0  # > 0 while a backup in this process copies checkpointed files
        self.deferred = False  # one was due while paused: it runs when the copy ends
        self._pause_lock: FileLock | None = None
        self._compacting = False
        self._retry_at = 0.0

    # ----------------------------------------------------------------- checkpoints
    def due(self) -> bool:
        """A write passed the thresholds: is it time to try (not right after a failure)?"""
        return time.monotonic() >= self._retry_at

    def run(self) -> bool:
        """Checkpoint every collection at the current LSN, then seal the log segment and
        delete the segments before the previous checkpoint. While a backup (in any process)
        copies files it only notes that one is due; returns whether it ran."""
        if self.read_only or self.log.writer is None:
            return False
        if self.paused or not self._pause_lock_free():
            self.deferred = True
            return False
        self.deferred = False
        self.metrics.count_checkpoint()
        unlogged = set(self.log.unlogged)
        writer = self.log.writer
        try:
            with self.log.mutex:
                self.log.append_pending()  # before the seal: a restore replays in order
            writer.sync()
            old_segments = self.files.segments()
            sealed = None
            if writer.segment_size > HEADER.size or self.log.unlogged:
                # sealed first, so the checkpoint covers the sealed segment whole; another
                # process that reads the seal before the files below exist only re-checks
                sealed = self.log.seal()
            lsn = self.log.last_lsn
            for state in self.collections:
                self._checkpoint_collection(state, lsn)
            self.idempotency.save(self.files.idempotency, lsn)
            if sealed is not None:
                self._drop_old_segments(old_segments, sealed)
        except (StorageError, OSError) as error:
            self._failed(error, unlogged)
            if isinstance(error, StorageError):
                raise
            raise os_error(error, "checkpoint") from error
        self.health.checkpoint_error = None
        self.log.checkpointed()
        self.log.checkpoints_seen += 1
        self._compact_where_due()
        return True

    def _failed(self, error: BaseException, unlogged: set[str]) -> None:
        self.health.checkpoint_error = detached(error)
        self.log.unlogged |= unlogged  # their writes are in no checkpoint yet
        if self.log.broken or self.collections.vectors_broken():
            self.health.refuse_writes(error)

    def in_background(self) -> bool:
        """A checkpoint nobody asked for (a write passed the thresholds, a backup ended):
        its failure fails neither the write that triggered it nor later reads. It is logged,
        kept for ``health()``, and retried at the next trigger after a pause (or by
        ``Database.checkpoint()``); the log keeps every record meanwhile. Returns whether
        it ran."""
        try:
            return self.run()
        except StorageError as error:
            self.health.checkpoint_error = detached(error)
            self._retry_at = time.monotonic() + RETRY_SECONDS
            log.warning("checkpoint of %s failed (retried at the next trigger): %s",
                        self.files.root, str(error))  # fmt: skip
            return False

    def _checkpoint_collection(self, state: CollectionState, lsn: int) -> None:
        """Write one collection's snapshot, MANIFEST, index and columns as of ``lsn``."""
        # heavy parts under the shared latch (searches go on), the swap under the exclusive
        # one; the swap right after the MANIFEST is committed, so memory names what the disk
        # does even if the index or columns save below fails
        with state.latch.read():
            prepared = state.store.prepare_checkpoint(lsn)
        if prepared is not None:
            with state.latch.write():
                state.store.finish_checkpoint(prepared)
        with state.latch.read():
            if state.index is not None:
                state.index.save(lsn)
            saved = state.columns.saved_state(state.store, lsn)
            if saved is not None:
                try:
                    write_checksummed_map(state.store.files.columns, COLUMNS_MAGIC, saved)
                except BaseException:
                    state.columns.changed_since_save = True  # written again next time
                    raise

    def _drop_old_segments(self, old_segments: list[tuple[int, Path]], sealed: Path) -> None:
        """Delete (or archive) the segments a checkpoint covers, all but the one it sealed:
        that one stays until the next checkpoint, so a process idle across this checkpoint
        replays it instead of reloading its collections."""
        archive = self.archive_dir()
        if archive is not None:
            archive_segment(sealed, archive, keep=True)
        for path in covered_segments(old_segments, self._oldest_needed_lsn(), keep=sealed):
            if archive is not None:
                archive_segment(path, archive)
            else:
                io.unlink(path, missing_ok=True)
        fsync_dir(self.files.wal_dir)

    def drop_covered_segments(self) -> list[Path]:
        """Delete (or archive) every segment the checkpoints on disk cover, the one the last
        checkpoint sealed included (``_drop_old_segments`` keeps that one); returns them.

        Only for the last process with the database open (it holds ``OPEN`` exclusively and
        the writer lock), right after a checkpoint that ran: no process is left to replay
        the kept segment, and any process that opens later waits for ``OPEN``. A failure is
        logged, not raised: the segments are only kept longer (the next such close retries).
        """
        if self.read_only or self.paused:
            return []
        archive = self.archive_dir()
        dropped = []
        try:
            # listed now, after the seal: the current segment is last, so never covered
            for path in covered_segments(self.files.segments(), self._oldest_needed_lsn()):
                if archive is not None:
                    archive_segment(path, archive)
                else:
                    io.unlink(path, missing_ok=True)
                dropped.append(path)
            if dropped:
                fsync_dir(self.files.wal_dir)
        except OSError as error:
            log.warning("%s: covered log segments not deleted at close: %s",
                        self.files.root, error)  # fmt: skip
        return dropped

    def _oldest_needed_lsn(self) -> int | None:
        """The lowest checkpoint LSN over every collection's MANIFEST on disk (None: one
        could not be read, so keep every segment); records after it are still needed."""
        lowest = self.log.last_lsn
        try:
            for entry in self.files.collections_dir.iterdir():
                if not entry.name.startswith("."):
                    lowest = min(
                        lowest, Manifest.load(CollectionFiles(entry).manifest).checkpoint_lsn
                    )
        except (OSError, CorruptionError):
            return None
        return lowest

    # ----------------------------------------------------------------- backups hold them off
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

    def pause(self) -> None:
        """Hold checkpoints off in every process (a backup copies checkpointed files)."""
        if self.paused == 0:
            pause = FileLock(self.files.checkpoint_pause, create=True)
            pause.acquire(self.config.lock_timeout, "pause checkpoints", exclusive=False)
            self._pause_lock = pause
        self.paused += 1

    def resume(self) -> None:
        self.paused -= 1
        if self.paused == 0:
            pause = self._pause_lock
            if pause is not None:
                pause.close()
                self._pause_lock = None

    def archive_dir(self) -> Path | None:
        """Where checkpoints move covered log segments (``wal_archive``), or None."""
        configured = self.config.wal_archive
        if configured is None:
            return None
        path = Path(configured)
        return path if path.is_absolute() else self.files.root / path

    # ----------------------------------------------------------------- compaction
    def compact(self, name: str) -> dict[str, Any]:
        """Compact collection ``name`` (see the module docstring); returns ``rows_before``,
        ``rows_after``, ``bytes_before``, ``bytes_after``."""
        if self.paused:
            raise StorageError("a backup is copying the database; compact after it has finished")
        self._compacting = True
        try:
            if not self.run():
                raise StorageError(
                    "a backup is copying the database; compact after it has finished"
                )
            state = self.collections.get(name)
            result = rewrite_compacted(state, self.files, self.health,
                                       use_mmap=self.config.use_mmap)  # fmt: skip
            # other processes reopen the collection when they replay this record (or, if a
            # crash keeps it out of the log, when their next write sees the new vector file);
            # a restore repeats the compaction where the record stands in the log
            self.log.append_event(CollectionEvent("compacted", name, state.uid))
            return result
        finally:
            self._compacting = False

    def _compact_where_due(self) -> None:
        """After a checkpoint: compact each collection whose dead rows passed both the
        configured share and size (``compact_dead_share``, ``compact_min_dead_bytes``)."""
        share = self.config.compact_dead_share
        if share is None or self._compacting:
            return
        for state in self.collections:
            store = state.store
            dead = store.n_rows - store.count
            dead_bytes = dead * store.vectors.row_bytes
            if dead_bytes >= self.config.compact_min_dead_bytes and dead >= share * max(
                store.n_rows, 1
            ):
                log.info("compacting %r: %d of %d rows are dead", state.name, dead,
                         store.n_rows)  # fmt: skip
                try:
                    self.compact(state.name)
                except StorageError as error:
                    if self.health.failure is not None:
                        raise  # the swap failed half way: nothing more may run
                    self.health.checkpoint_error = detached(error)
                    log.warning("compaction of %r failed (tried again at the next "
                                "checkpoint): %s", state.name, str(error))  # fmt: skip
