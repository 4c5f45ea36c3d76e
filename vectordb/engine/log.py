"""The engine's side of the log: where it ends, appending to it, and what it counts.

One ``EngineLog`` per engine holds the ``WalWriter`` (created at an exclusive open, or at the
first write of a process that opened while another held the writer lock) and the
``WalFollower`` (where this process has read the log up to). Both move under ``mutex``, so a
reader thread of this process never replays this process's own record.

A ``create`` / ``drop`` / ``compacted`` record is logged after its change was made on disk;
if the append fails (a full disk) the record is kept and appended before the next record or
seal, so the log's order stays the order of the changes (a restore replays them in order).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from vectordb.config import DatabaseConfig, Durability
from vectordb.engine.health import Health
from vectordb.errors import StorageError
from vectordb.files.headers import HEADER
from vectordb.storage.layout import DatabaseFiles
from vectordb.storage.records import CollectionEvent, encode_event
from vectordb.storage.wal import WalFollower, WalWriter

__all__ = ["EngineLog"]

log = logging.getLogger("vectordb")


class EngineLog:
    """See the module docstring."""

    def __init__(self, files: DatabaseFiles, config: DatabaseConfig, health: Health) -> None:
        self.files = files
        self.config = config
        self.health = health
        self.writer: WalWriter | None = None
        self.follower: WalFollower | None = None
        #: guards ``writer``, ``follower`` and the replay of other processes' records
        self.mutex = threading.RLock()
        self.last_lsn = 0
        self.records_since_checkpoint = 0
        self.bytes_since_checkpoint = 0
        #: checkpoints seen (own and followed): a search that ran across one is run again
        self.checkpoints_seen = 0
        #: uids of collections written with durability "off" since the last checkpoint: their
        #: writes are not in the log, so this process keeps the writer lock until a checkpoint
        self.unlogged: set[str] = set()
        self._pending_events: list[dict[str, Any]] = []

    # ----------------------------------------------------------------- position
    def place(self, path: Path, offset: int, next_lsn: int, *, writer: bool) -> None:
        """The log ends at byte ``offset`` of segment ``path``, with ``next_lsn`` next (a
        recovery found it). ``writer``: this process holds the writer lock, so its writer
        appends there (created if it has none yet)."""
        self.last_lsn = next_lsn - 1
        if self.follower is None:
            self.follower = WalFollower(self.files, path, offset, next_lsn)
        else:
            self.follower.move_to(path, offset, next_lsn)
        if writer:
            if self.writer is None:
                self.writer = WalWriter(self.files, next_lsn)
            self.writer.resume(path, offset, next_lsn)

    def writer_to_follower(self) -> None:
        """Under the writer lock, after catching up: append where the follower stands."""
        follower = self.follower
        assert follower is not None
        if self.writer is None:  # opened while another process held the lock
            self.writer = WalWriter(self.files, follower.next_lsn)
        self.writer.resume(follower.path, follower.offset, follower.next_lsn)

    @property
    def broken(self) -> bool:
        """An fsync of the log failed (or a half frame could not be cut off)."""
        return self.writer is not None and self.writer.broken is not None

    # ----------------------------------------------------------------- appending
    def append(
        self, fields: dict[str, Any], vector_bytes: tuple[str, memoryview] | None, *, sync: bool
    ) -> tuple[int, int]:
        """Append a record (after any kept-back event records) and move the follower past
        it; returns ``(lsn, bytes)``. Caller holds the writer lock."""
        assert self.writer is not None and self.follower is not None
        with self.mutex:
            self.append_pending()
            lsn, size = self._append_one(fields, vector_bytes, sync=sync)
        return lsn, size

    def _append_one(
        self, fields: dict[str, Any], vector_bytes: tuple[str, memoryview] | None, *, sync: bool
    ) -> tuple[int, int]:
        writer, follower = self.writer, self.follower
        assert writer is not None and follower is not None
        try:
            lsn, size = writer.append(fields, vector_bytes, sync=sync)
        except StorageError as error:
            if writer.broken is not None:  # fsync failed, or a half frame stayed behind
                self.health.refuse_writes(error)
            raise
        path = writer.segment_path
        assert path is not None
        follower.move_to(path, writer.segment_size, writer.next_lsn)
        self.last_lsn = lsn
        return lsn, size

    def append_event(self, event: CollectionEvent) -> None:
        """Log a change other processes must learn of that carries no records (a collection
        created, dropped or compacted) after it was made on disk; caller holds the writer
        lock. If the append fails (a full disk) the change stands: the record is kept and
        appended before the next record (or seal), which fails until it is."""
        self._pending_events.append(encode_event(event, time.time()))
        try:
            with self.mutex:
                self.append_pending()
        except StorageError as error:
            log.warning("%s: a %s record is not logged yet (%s); it is logged before the next "
                        "write", self.files.root, event.kind, str(error))  # fmt: skip

    def append_pending(self) -> None:
        """Append the event records a failure kept back (caller holds the mutex and the
        writer lock)."""
        sync = Durability(self.config.durability) is Durability.FULL
        while self._pending_events:
            self._append_one(self._pending_events[0], None, sync=sync)
            self._pending_events.pop(0)

    def seal(self) -> Path:
        """End the current segment with a checkpoint's ``seal`` record (naming the
        collections written unlogged, which other processes must reload) and start the
        next; returns the sealed segment."""
        writer, follower = self.writer, self.follower
        assert writer is not None and follower is not None
        reload = sorted(self.unlogged)
        self.unlogged.clear()
        with self.mutex:
            sealed = writer.segment_path
            assert sealed is not None
            current = writer.seal_and_start_segment(checkpoint=True, reload=reload, sync=True)
            follower.move_to(current, HEADER.size, writer.next_lsn)
            self.last_lsn = writer.next_lsn - 1
        return sealed

    # ----------------------------------------------------------------- counting
    def counted(self, size: int) -> bool:
        """Count one more record of ``size`` bytes; True once a checkpoint is due."""
        self.records_since_checkpoint += 1
        self.bytes_since_checkpoint += size
        return (
            self.records_since_checkpoint >= self.config.checkpoint_records
            or self.bytes_since_checkpoint >= self.config.checkpoint_bytes
        )

    def checkpointed(self) -> None:
        self.records_since_checkpoint = self.bytes_since_checkpoint = 0

    def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception as error:  # closing: nothing more is written anyway
                log.debug("closing the log writer: %s", error)
            self.writer = None
