"""Opening a database: its header, and the replay of its log onto the loaded collections.

Open: check (or, for a new database, write) ``vectordb.meta`` -> load each collection's
MANIFEST, vector file and snapshot (``CollectionSet.load_all``) -> ``replay`` the log records
newer than each collection's checkpoint LSN -> cut a torn tail off the last segment -> place
the log's reader (and, holding the writer lock, its writer) at its end.

An *exclusive* open (a read-write open that found the writer lock free: no other process is
alive) writes replayed vectors into the vector file again (an OS crash may have lost them),
cuts a torn tail and deletes leftovers; otherwise the vectors are in the shared file already
and nothing is written.

Collection events replay too (``replay_event``): live operations change the files first and
log the record after, so in an ordinary recovery the files already show the change and there
is nothing to do; but a restored backup is older than the log it replays, and there a
collection created since is created again (the record carries its configuration), one
dropped since is dropped, and one compacted since is compacted again at the same point, so
the rows of later records (which name rows of the packed layout) land where they belong.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack

from vectordb.concurrency.idempotency import IdempotencyKeys
from vectordb.engine.collections import CollectionSet
from vectordb.engine.compaction import rewrite_compacted
from vectordb.engine.health import without_traceback
from vectordb.engine.log import EngineLog
from vectordb.engine.state import CollectionState, apply_write, decoded, write_targets
from vectordb.errors import (
    CorruptionError,
    FellBehind,
    InvalidArgumentError,
    UnsupportedFormatError,
    VectorDBError,
)
from vectordb.files import io
from vectordb.files.atomic import atomic_write_bytes, fsync_dir, os_error
from vectordb.files.headers import (
    DATABASE_MAGIC,
    FORMAT_VERSION,
    HEADER,
    pack_header,
    unpack_header,
)
from vectordb.storage.layout import DatabaseFiles
from vectordb.storage.records import CollectionEvent, Decoded, Seal
from vectordb.storage.wal import WalRecord, WalScan

__all__ = ["Replayed", "as_corruption", "check_database_header", "remember_key", "replay"]

log = logging.getLogger("vectordb")


def check_database_header(files: DatabaseFiles, *, read_only: bool) -> int:
    """Check (or write, for a new database) ``vectordb.meta``; returns the format version
    of the database."""
    meta = files.meta
    if meta.exists():
        data = meta.read_bytes()
        return unpack_header(data, DATABASE_MAGIC, meta, "database header (vectordb.meta)")
    root = files.root
    # a config file may come before the database
    ours = {"LOCK", "PAUSE", "OPEN", "wal", "collections", "quarantine", "vectordb.yaml"}
    foreign = [
        entry.name
        for entry in root.iterdir()
        if entry.name not in ours and not entry.name.startswith(".vectordb.meta.tmp")
    ]
    if foreign:
        raise UnsupportedFormatError(
            f"{root} is not a vectordb database (it holds {sorted(foreign)[:5]} and no "
            "vectordb.meta); choose an empty or new directory",
            path=root,
        )
    if read_only:
        raise InvalidArgumentError(
            f"no database at {root}: open it once without read_only to create it"
        )
    # the header is written before anything else, so a creation cut short by a crash is
    # simply completed by the next open
    body = msgpack.packb({"created_at": time.time()}, use_bin_type=True)
    atomic_write_bytes(meta, pack_header(DATABASE_MAGIC) + body)
    fsync_dir(root.parent)
    io.mkdir(files.collections_dir, exist_ok=True)
    io.mkdir(files.wal_dir, exist_ok=True)
    fsync_dir(root)
    return FORMAT_VERSION


@dataclasses.dataclass(slots=True)
class Replayed:
    """What a replay did: records applied to some collection, and the torn tail it found
    (``"<segment> at byte <offset> (<reason>)"``) or None."""

    records: int = 0
    torn_tail: str | None = None


def replay(
    files: DatabaseFiles,
    collections: CollectionSet,
    engine_log: EngineLog,
    idempotency: IdempotencyKeys,
    *,
    exclusive: bool,
    locked: bool = False,
) -> Replayed:
    """Replay the log into the loaded collections and place ``engine_log`` at its end (see
    the module docstring). ``locked``: a reload under the writer lock (the writer resumes
    at the end too)."""
    health = collections.health
    try:
        idempotency_lsn = idempotency.load(files.idempotency)
        health.idempotency_damage = None
    except CorruptionError as error:
        # the keys are rebuilt from the log (those older than it are forgotten); the
        # next checkpoint writes the file again
        log.warning(
            "idempotency keys not loaded (%s): keys older than the log are "
            "forgotten until the next checkpoint rewrites the file",
            str(error),
        )
        health.idempotency_damage = without_traceback(error)
        idempotency_lsn = 0
    by_uid = collections.uid_map()
    scan = WalScan(files)
    checkpoint_lsns = [state.store.manifest.checkpoint_lsn for state in collections]
    needed_from = min(checkpoint_lsns) + 1 if checkpoint_lsns else None
    start = min([*checkpoint_lsns, idempotency_lsn])
    outcome = Replayed()
    engine_log.checkpointed()
    for record in scan.records(after_lsn=start, needed_from=needed_from):
        entry = decoded(record)
        if isinstance(entry.record, Seal):
            if entry.record.checkpoint:
                engine_log.checkpointed()
            continue
        with as_corruption(record):
            if isinstance(entry.record, CollectionEvent):
                replay_event(record, entry, by_uid, collections, exclusive=exclusive)
            else:
                if record.lsn > idempotency_lsn:
                    remember_key(idempotency, entry)
                applied = False
                for state, write in write_targets(by_uid, entry.record):
                    if record.lsn > state.store.manifest.checkpoint_lsn:
                        apply_write(state, record.lsn, write, vectors_in_file=not exclusive)
                        applied = True
                outcome.records += applied
        engine_log.counted(record.size)
    if scan.torn is not None:
        torn = scan.torn
        outcome.torn_tail = f"{torn.segment.name} at byte {torn.offset} ({torn.reason})"
        if exclusive:
            log.warning("log tail cut at %s: %s; that write was never acknowledged",
                        torn.segment, outcome.torn_tail)  # fmt: skip
            truncate_torn_tail(torn.segment, torn.offset)
    next_lsn = max([scan.next_lsn_hint or 1, *(lsn + 1 for lsn in checkpoint_lsns)])
    if scan.end is not None:
        path, offset, _ = scan.end
    else:
        path, offset = files.segment(next_lsn), HEADER.size
    engine_log.place(path, offset, next_lsn,
                     writer=exclusive or (locked and engine_log.writer is not None))  # fmt: skip
    return outcome


def replay_event(
    record: WalRecord,
    entry: Decoded,
    by_uid: dict[str, CollectionState],
    collections: CollectionSet,
    *,
    exclusive: bool,
) -> None:
    """Replay a collection's ``create``, ``drop`` or ``compacted`` record at open (see the
    module docstring). Compaction packs the live rows in row order, so repeating it on the
    same state gives the same rows; a collection without dead rows is already packed."""
    event = entry.record
    assert isinstance(event, CollectionEvent)
    state = by_uid.get(event.uid)
    name = event.name
    if event.kind == "create":
        # only onto an older backup: where the name is in use (this collection, one that
        # a later record drops and creates again, or a damaged one) there is nothing to do
        absent = (
            name not in collections.states
            and name not in collections.unavailable
            and not collections.files.collection(name).directory.exists()
        )
        if state is None and absent and exclusive and event.config is not None:
            created_at = entry.committed_at or time.time()
            state = collections.materialize(
                name, event.uid, event.config, created_at, checkpoint_lsn=record.lsn
            )
            by_uid[state.uid] = state
        return
    if state is None or record.lsn <= state.store.manifest.checkpoint_lsn:
        return
    if event.kind == "drop":
        del by_uid[state.uid]
        if exclusive:
            collections.remove(state)
        else:  # a read-only view of a restore not yet opened for writing
            collections.forget(state)
        return
    store = state.store
    if store.n_rows == store.count:
        return  # no dead rows: the files are the packed layout already
    if not exclusive:
        raise CorruptionError(
            f"the log compacts collection {state.name!r} (LSN {record.lsn}) after the "
            "checkpoint its files hold; only a read-write open can replay that: open the "
            "database once without read_only (or wait for the process compacting it)",
            path=record.segment, offset=record.offset,
        )  # fmt: skip
    prepared = store.prepare_checkpoint(record.lsn - 1)
    if prepared is not None:
        store.finish_checkpoint(prepared)
    rewrite_compacted(state, collections.files, collections.health,
                      use_mmap=collections.config.use_mmap, start_background=False)  # fmt: skip


def remember_key(idempotency: IdempotencyKeys, entry: Decoded) -> None:
    """Learn the idempotency key a replayed write was made with (if any)."""
    stamp = entry.stamp
    if stamp is not None:
        idempotency.remember(stamp.key, entry.committed_at or 0.0, stamp.digest, stamp.result)


@contextlib.contextmanager
def as_corruption(record: WalRecord) -> Iterator[None]:
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


def truncate_torn_tail(segment: Path, offset: int) -> None:
    """Cut a crashed writer's unfinished record off the end of ``segment``."""
    try:
        io.truncate_file(segment, offset)
    except OSError as error:
        raise os_error(error, f"truncate torn log tail of {segment}") from error
