"""Following other processes: replaying what they commit, and reloading when this process
fell too far behind.

Before a read, ``refresh`` makes one ``stat`` of the current log segment; when it grew, the
new records are replayed (never writing a vector: the writer put the bytes in the shared
file before it logged them). A search that ran while another process checkpointed is run
again (``EngineLog.checkpoints_seen``): a checkpoint is what lets rows be reused.

A process whose next record is in a segment a checkpoint deleted reloads from the published
checkpoint files, without the writer lock (readers never wait for writers): a checkpoint
replaces its MANIFEST and snapshot atomically and keeps the log from the oldest checkpoint
on, so what is read is consistent unless another process checkpoints or compacts meanwhile
and a file goes away; then the reload starts over. The one exception is durability "off":
those writes are in no log, only in the checkpoint the writer writes under the writer lock,
so a process catching up with them waits for that lock.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from vectordb.concurrency.idempotency import IdempotencyKeys
from vectordb.engine.collections import CollectionSet
from vectordb.engine.log import EngineLog
from vectordb.engine.recovery import (
    Replayed,
    as_corruption,
    remember_key,
    replay,
    truncate_torn_tail,
)
from vectordb.engine.state import apply_write, decoded, latch_order, write_targets
from vectordb.errors import CorruptionError, FellBehind, StorageError
from vectordb.storage.layout import DatabaseFiles
from vectordb.storage.records import CollectionEvent, Seal
from vectordb.storage.wal import WalRecord

__all__ = ["Follower"]

log = logging.getLogger("vectordb")

#: a reload without the writer lock starts over this often when files it reads are replaced
RELOAD_ATTEMPTS = 8


class Follower:
    """Replays other processes' records into this process's collections (see the module
    docstring). ``hold_writer_lock``: a context manager that holds the database writer lock
    (the engine's), for the one case that must wait for it."""

    def __init__(
        self,
        files: DatabaseFiles,
        collections: CollectionSet,
        engine_log: EngineLog,
        idempotency: IdempotencyKeys,
        hold_writer_lock: Callable[[], contextlib.AbstractContextManager[object]],
        *,
        read_only: bool,
    ) -> None:
        self.files = files
        self.collections = collections
        self.log = engine_log
        self.idempotency = idempotency
        self.hold_writer_lock = hold_writer_lock
        self.read_only = read_only
        self.caught_up_records = 0
        self.reloads = 0
        self.replayed = Replayed()  # what the open and reloads replayed

    def follow_changes(self) -> None:
        """Replay what other processes appended since this one last looked (the log's
        reader saw it change): ``catch_up``, or a ``reload`` when the segments it needs are
        gone."""
        try:
            self.catch_up(locked=False)
        except FellBehind as behind:
            self.reload(wait_for_writer=behind.wait_for_writer)

    def catch_up(self, *, locked: bool) -> None:
        """Replay records other processes appended. ``locked``: the caller holds the writer
        lock, so a partial frame at the end is a crashed writer's torn tail (cut off here)."""
        follower = self.log.follower
        assert follower is not None
        with self.log.mutex:
            for record in follower.read_new(at_end_is_torn=locked):
                try:
                    with as_corruption(record):
                        self._apply(record)
                except CorruptionError as error:
                    # the follower is past the record: going on would silently skip it
                    self.collections.health.fail(error)
                    raise
            self.log.last_lsn = follower.next_lsn - 1
            torn = follower.torn
            if torn is not None and locked and not self.read_only:
                log.warning("cut a crashed writer's unfinished log record at %s byte %d",
                            torn.segment, torn.offset)  # fmt: skip
                truncate_torn_tail(torn.segment, torn.offset)
            if locked and self.log.writer is not None:
                self.log.writer.resume(follower.path, follower.offset, follower.next_lsn)

    def _apply(self, record: WalRecord) -> None:
        """Apply one record another process committed (caller holds the log's mutex)."""
        entry = decoded(record)
        value = entry.record
        self.caught_up_records += 1
        self.log.counted(record.size)
        if isinstance(value, Seal):
            if value.checkpoint:
                self.log.checkpoints_seen += 1
                self.log.checkpointed()
            if value.reload:
                # collections written with durability "off": their writes are not in the
                # log, only in the checkpoint being written; reload under the writer lock
                raise FellBehind("unlogged writes", wait_for_writer=True)
            return
        if isinstance(value, CollectionEvent):
            self._follow_event(value)
            return
        remember_key(self.idempotency, entry)
        targets = [
            (state, write)
            for state, write in write_targets(self.collections.uid_map(), value)
            if record.lsn > state.store.applied_lsn
        ]
        if not targets:
            return
        latches = sorted({id(state): state for state, _ in targets}.values(), key=latch_order)
        with contextlib.ExitStack() as stack:
            for state in latches:
                stack.enter_context(state.latch.write())
            try:
                for state, write in targets:
                    apply_write(state, record.lsn, write, vectors_in_file=True)
            except BaseException as error:
                self.collections.health.fail(error)
                raise

    def _follow_event(self, event: CollectionEvent) -> None:
        """Another process created, dropped or compacted a collection: its files show it."""
        state = self.collections.by_uid(event.uid)
        if event.kind == "create":
            if state is None:
                try:
                    self.collections.load_created(event.name)
                except Exception as error:  # e.g. mid-compaction: reload from the files
                    raise FellBehind(f"collection {event.name!r}: {error}") from error
        elif event.kind == "drop":
            if state is not None:
                self.collections.forget(state)
        elif state is not None:
            try:
                self.collections.reopen(state)
            except Exception as error:
                raise FellBehind(f"collection {state.name!r}: {error}") from error

    def reload(self, *, locked: bool = False, wait_for_writer: bool = False) -> None:
        """This process fell behind a deleted log segment: load every collection again from
        the checkpoint files on disk and replay the log from there (see the module
        docstring). ``locked``: the caller holds the writer lock (nothing changes meanwhile).
        ``wait_for_writer``: the writer wrote unlogged (durability "off") and its writes are
        only in the checkpoint it is writing under the writer lock: wait for that lock."""
        if wait_for_writer and not locked:
            with self.hold_writer_lock():
                self.reload(locked=True)
            return
        with self.log.mutex:
            self.reloads += 1
            self.log.checkpoints_seen += 1
            log.info("fell behind the log of %s: reloading its collections", self.files.root)
            attempts = 1 if locked else RELOAD_ATTEMPTS
            for attempt in range(attempts):
                try:
                    self.collections.reload_all()
                    replayed = replay(self.files, self.collections, self.log, self.idempotency,
                                      exclusive=False, locked=locked)  # fmt: skip
                    self.replayed.records += replayed.records
                    return
                except (FileNotFoundError, FellBehind, StorageError, CorruptionError):
                    if attempt == attempts - 1:
                        raise
                    time.sleep(0.01 * (attempt + 1))  # another process is replacing files
