"""``check()``: every checksum and invariant of a database, and what a repair can mend.

What is checked: the database header; the idempotency keys; collections whose files did not
load; leftovers of killed backups; per collection the MANIFEST and the snapshot it names,
every stored vector row against its checksum, the count / live rows / id map, and the index
files; the whole log. What a repair does: rebuild damaged index files from the records,
delete a crash's leftover files, move a damaged collection to ``quarantine/``, write a
damaged ``IDEMPOTENCY`` again from the log, delete killed backups' copies. Damage to the
records themselves needs a backup.

A crash's leftovers (old snapshots, index files INDEX does not name, temporary files of an
atomic replace) are not damage: nothing reads them, and an exclusive open deletes them
(``delete_stray_files``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from vectordb.concurrency.idempotency import IdempotencyKeys
from vectordb.engine.collections import CollectionSet
from vectordb.engine.log import EngineLog
from vectordb.engine.state import CollectionState
from vectordb.errors import CorruptionError, StorageError
from vectordb.files import io
from vectordb.files.headers import DATABASE_MAGIC, unpack_header
from vectordb.results import Problem
from vectordb.storage.layout import COLUMNS_FILE, CollectionFiles
from vectordb.storage.manifest import Manifest
from vectordb.storage.partial_copies import unfinished_backups
from vectordb.storage.snapshot import read_snapshot
from vectordb.storage.wal import WalScan

__all__ = ["Integrity", "delete_stray_files"]

log = logging.getLogger("vectordb")

#: a check without the writer lock looks again this often when a checkpoint replaces files
LOOKS = 8

Lock = Callable[[], contextlib.AbstractContextManager[object]]


class Integrity:
    """See the module docstring. ``writing``: holds the writer locks (for repairs);
    ``log_lock``: holds the writer lock if it is free now, yielding whether it does."""

    def __init__(
        self,
        collections: CollectionSet,
        engine_log: EngineLog,
        idempotency: IdempotencyKeys,
        writing: Lock,
        log_lock: Callable[[], contextlib.AbstractContextManager[bool]],
        *,
        read_only: bool,
    ) -> None:
        self.files = collections.files
        self.collections = collections
        self.log = engine_log
        self.idempotency = idempotency
        self.writing = writing
        self.log_lock = log_lock
        self.read_only = read_only

    def check(self, *, repair: bool = False) -> list[Problem]:
        """Every problem found (empty: all good); with ``repair``, what can be mended is,
        and each message ends in what was done."""
        repair = repair and not self.read_only
        problems: list[Problem] = []
        meta = self.files.meta
        try:
            unpack_header(meta.read_bytes(), DATABASE_MAGIC, meta,
                          "database header (vectordb.meta)")  # fmt: skip
        except (CorruptionError, OSError) as error:
            problems.append(Problem(str(meta), 0, str(error)))
        problems.extend(self._check_idempotency(repair=repair))
        problems.extend(self._check_unavailable(repair=repair))
        problems.extend(unfinished_backups(self.files.root, repair=repair))
        for state in self.collections:
            problems.extend(self._check_collection(state, repair=repair))
        problems.extend(self._check_log())
        return problems

    def _check_collection(self, state: CollectionState, *, repair: bool) -> list[Problem]:
        problems = []
        store = state.store
        with state.latch.read():
            problem = _check_checkpoint_files(store.files)
            if problem is not None:
                problems.append(problem)
            problems.extend(store.check())
            damaged_index = [] if state.index is None else state.index.verify_files()
        # strays are listed holding the writer locks (this process's and every
        # process's): a checkpoint writes its new snapshot before the MANIFEST names it
        strays: list[Path] = []
        if repair:
            with self.writing():
                strays = stray_collection_files(state)
                _delete_files(strays)
        for path, message in damaged_index:
            if repair and state.index is not None:
                state.index.rebuild()
                message += "; repaired: index rebuilt from the records"
            problems.append(Problem(str(path), 0, message))
        keyword_damage = state.keywords.check()
        if keyword_damage is not None:
            if repair:
                state.keywords.repair()
                keyword_damage += "; repaired: deleted, rebuilt from the documents on next use"
            problems.append(Problem(str(state.keywords.path), None, keyword_damage))
        # leftovers of a crash are not damage (nothing reads them; a read-write open
        # deletes them): reported only when a repair deleted them
        for path in strays:
            message = "stray file (not named by MANIFEST or INDEX); repaired: deleted"
            problems.append(Problem(str(path), None, message))
        return problems

    def _check_idempotency(self, *, repair: bool) -> list[Problem]:
        """A damaged IDEMPOTENCY file; ``repair`` writes it again from the keys the log
        holds (keys older than the log are forgotten: a retry of such a write would be
        applied again)."""
        path = self.files.idempotency
        try:
            IdempotencyKeys(self.idempotency.window).load(path)
            return []
        except CorruptionError as error:
            message = str(error)
        if repair:
            with self.writing():
                self.idempotency.save(path, self.log.last_lsn)
                self.collections.health.idempotency_damage = None
            message += "; repaired: written again from the keys in the log (older ones are lost)"
        return [Problem(str(path), None, message)]

    def _check_unavailable(self, *, repair: bool) -> list[Problem]:
        """Collections whose files did not load; ``repair`` moves each directory to
        ``<db>/quarantine/<name>-<time>/``, so the name is free and nothing is deleted."""
        problems = []
        for name, error in sorted(self.collections.unavailable.items()):
            message = f"collection {name!r} is unavailable: {error}"
            if repair:
                with self.writing():
                    moved = self.collections.quarantine(name)
                message += f"; repaired: moved to {moved} (restore the collection from a backup)"
            problems.append(Problem(error.path or str(self.files.collection(name).directory),
                                    error.offset, message))  # fmt: skip
        return problems

    def _check_log(self) -> list[Problem]:
        """Read the whole log. A partial last frame counts as damage only when this process
        holds the writer lock (otherwise another process may be appending it right now)."""
        with self.log_lock() as held:
            return self._scan_log(judge_tail=held)

    def _scan_log(self, *, judge_tail: bool) -> list[Problem]:
        for attempt in range(LOOKS):
            covered = [_disk_checkpoint_lsn(state) for state in self.collections]
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
                    and attempt < LOOKS - 1
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


def delete_stray_files(collections: CollectionSet) -> None:
    """Orphan cleanup at a read-write open: old snapshots, index files INDEX does not
    name, temporary files of an atomic replace - a crash's leftovers, never read."""
    for state in collections:
        _delete_files(stray_collection_files(state))


def stray_collection_files(state: CollectionState) -> list[Path]:
    """Old snapshots and temporary files in a collection directory (a crash's leftovers)."""
    files = state.store.files
    known = {files.manifest.name, files.vectors.name, files.index_dir.name, COLUMNS_FILE}
    # the keyword index and SQLite's files beside it (a hot journal rolls back a crash)
    known.update(files.keywords.name + suffix for suffix in ("", "-journal", "-wal", "-shm"))
    try:  # the MANIFEST on disk: another process may have checkpointed since this one
        snapshot = Manifest.load(files.manifest).snapshot
    except (CorruptionError, OSError):
        return []  # unreadable: delete nothing (check() reports the MANIFEST)
    if snapshot is not None:
        known.add(snapshot)
    strays = [p for p in files.directory.iterdir() if p.name not in known]
    if state.index is not None:
        strays.extend(state.index.stray_files())
    return sorted(strays)


def _check_checkpoint_files(files: CollectionFiles) -> Problem | None:
    """Verify the MANIFEST on disk and the snapshot it names; a checkpoint in another
    process may replace both meanwhile, so a missing snapshot is looked for again."""
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


def _disk_checkpoint_lsn(state: CollectionState) -> int:
    try:
        return Manifest.load(state.store.files.manifest).checkpoint_lsn
    except (CorruptionError, OSError):
        return state.store.manifest.checkpoint_lsn


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
