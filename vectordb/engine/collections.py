"""The open collections of a database: loading them from their directories, creating,
dropping, reopening and quarantining them, and finding them by name or uid.

Directory changes are made so that a crash leaves all or nothing: a new collection is
written into ``.tmp-<uid>`` and renamed into place, a dropped one is renamed to
``.dropped-<uid>`` before it is deleted (an exclusive open deletes such leftovers). A
collection whose files do not load is set aside in ``unavailable`` (listed, refused on use);
``quarantine`` moves its directory out of the database.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vectordb.config import CollectionConfig, DatabaseConfig
from vectordb.engine.health import Health, without_traceback
from vectordb.engine.state import CollectionState
from vectordb.errors import (
    CollectionNotFoundError,
    CorruptionError,
    FellBehind,
    StorageError,
    UnsupportedFormatError,
)
from vectordb.files import io
from vectordb.files.atomic import built_or_removed, fsync_dir, os_error
from vectordb.storage.collection_store import CollectionStore
from vectordb.storage.compaction import recover_interrupted
from vectordb.storage.layout import CollectionFiles, DatabaseFiles
from vectordb.storage.manifest import Manifest
from vectordb.storage.vector_file import VectorFile

__all__ = ["CollectionSet"]

log = logging.getLogger("vectordb")


class CollectionSet:
    """The collections open in one engine, by name (see the module docstring)."""

    def __init__(
        self, files: DatabaseFiles, config: DatabaseConfig, health: Health, *, read_only: bool
    ) -> None:
        self.files = files
        self.config = config
        self.health = health
        self.read_only = read_only
        self.states: dict[str, CollectionState] = {}
        #: collections whose files are damaged: listed, refused on use, quarantined by
        #: check(repair=True); the rest of the database opens
        self.unavailable: dict[str, CorruptionError] = {}

    # ----------------------------------------------------------------- lookup
    def __iter__(self) -> Iterator[CollectionState]:
        return iter(list(self.states.values()))

    def __contains__(self, name: object) -> bool:
        return name in self.states

    def get(self, name: str) -> CollectionState:
        """The open collection ``name``; ``CorruptionError`` if its files are damaged,
        ``CollectionNotFoundError`` if there is none."""
        state = self.states.get(name)
        damage = self.unavailable.get(name)
        if state is None and damage is not None:
            raise CorruptionError(
                f"collection {name!r} is unavailable, its files are damaged ({damage.message}); "
                "the rest of the database works. check(repair=True) moves it to quarantine/ "
                "(then restore it from a backup)",
                path=damage.path,
                offset=damage.offset,
            )
        if state is None or state.dropped:
            raise CollectionNotFoundError(
                f"no collection named {name!r} in {self.files.root}; existing: "
                f"{sorted(self.states)}"
            )
        return state

    def by_uid(self, uid: str) -> CollectionState | None:
        for state in self.states.values():
            if state.uid == uid:
                return state
        return None

    def uid_map(self) -> dict[str, CollectionState]:
        return {state.uid: state for state in self.states.values()}

    def names_in_use(self) -> list[str]:
        """Every name a new collection may not take: open ones and damaged ones."""
        return [*self.states, *self.unavailable]

    # ----------------------------------------------------------------- loading
    def load_all(self, *, exclusive: bool, tolerate_damage: bool = True) -> None:
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
            self.states[name] = self._open_state(CollectionFiles(path), read_only=True)
        for entry in sorted(directory.iterdir()):
            if entry.name.startswith("."):
                if exclusive:  # a create or drop cut short by a crash
                    io.rmtree(entry, ignore_errors=True)
                continue
            if entry.name in self.states:
                continue  # read from a compaction's directory above
            try:
                self.states[entry.name] = self.load(entry.name)
            except CorruptionError as error:
                # a file of a newer format is not damage: the database needs a newer vectordb
                if not tolerate_damage or isinstance(error, UnsupportedFormatError):
                    raise
                log.error(
                    "collection %r is unavailable, its files are damaged: %s "
                    "(check(repair=True) moves it to quarantine/)",
                    entry.name,
                    str(error),
                )
                self.unavailable[entry.name] = without_traceback(error)

    def load(self, name: str) -> CollectionState:
        """Collection ``name`` loaded from its files (``CorruptionError`` if damaged)."""
        files = self.files.collection(name)
        if not files.manifest.exists():
            raise CorruptionError("collection directory has no MANIFEST", path=files.directory)
        return self._open_state(files, read_only=self.read_only)

    def _open_state(self, files: CollectionFiles, *, read_only: bool) -> CollectionState:
        store = CollectionStore(files, read_only=read_only, use_mmap=self.config.use_mmap)
        try:
            state = CollectionState(store, read_only=read_only, threads=self.config.thread_count)
        except BaseException:
            store.close()
            raise
        self.apply_search_defaults(state)
        return state

    def apply_search_defaults(self, state: CollectionState) -> None:
        """Give ``state`` the default ``ef`` / ``nprobe`` the configuration names for it (only
        the knob its index has)."""
        overrides = self.config.overrides_for(state.name)
        kind = state.store.config.index
        ef = overrides.ef if kind == "hnsw" else None
        nprobe = overrides.nprobe if kind == "ivf" else None
        state.search_defaults = None if ef is None and nprobe is None else (ef, nprobe)

    def load_created(self, name: str) -> None:
        """Open a collection another process created (its directory is complete: the
        ``create`` record is logged after it is in place)."""
        if not self.files.collection(name).manifest.exists():
            # dropped again since (its drop record follows), or between the two renames of
            # a compaction: reloading from the files tells which
            raise FellBehind(f"collection {name!r} is not in place")
        self.states[name] = state = self.load(name)
        state.start_background_work()

    def reopen(self, state: CollectionState) -> None:
        """Load ``state`` again from its files (another process compacted or checkpointed
        writes the log does not hold); handles stay valid."""
        if state.index is not None:
            state.index.stop()
        with state.latch.write():
            state.close()
            state.read_only = self.read_only
            state.reopen(self.files.collection(state.name), use_mmap=self.config.use_mmap)
        state.start_background_work()

    def forget(self, state: CollectionState) -> None:
        """Close a collection whose directory is gone (dropped, by this process or another)."""
        if state.index is not None:
            state.index.stop()
        with state.latch.write():
            state.dropped = True
            if self.states.get(state.name) is state:
                del self.states[state.name]
            state.close()

    def check_identities(self) -> None:
        """Under the writer lock: reopen a collection whose vector file another process
        replaced (a compaction whose ``compacted`` record a crash kept out of the log), and
        forget one whose directory is gone."""
        for state in list(self.states.values()):
            files = state.store.files
            try:
                inode = os.stat(files.vectors).st_ino
            except FileNotFoundError:
                self.forget(state)
                continue
            if inode != state.store.vectors.inode:
                if Manifest.load(files.manifest).uid == state.uid:
                    log.warning("collection %r was rewritten by another process: reopening",
                                state.name)  # fmt: skip
                    self.reopen(state)
                else:
                    self.forget(state)

    def reload_all(self) -> None:
        """Load every collection again from the files on disk (a reload): reopen the ones
        still there, forget the ones gone, open the ones created meanwhile."""
        present = {e.name for e in self.files.collections_dir.iterdir()
                   if not e.name.startswith(".")}  # fmt: skip
        for name, state in list(self.states.items()):
            if (
                name in present
                and Manifest.load(self.files.collection(name).manifest).uid == state.uid
            ):
                self.reopen(state)
            else:
                self.forget(state)
        for name in sorted(present - set(self.states)):
            try:
                self.load_created(name)
            except FellBehind:  # no MANIFEST: not a collection
                continue

    # ----------------------------------------------------------------- changes
    def materialize(
        self,
        name: str,
        uid: str,
        config: dict[str, Any],
        created_at: float,
        *,
        checkpoint_lsn: int,
    ) -> CollectionState:
        """Write a new, empty collection directory (in a temporary directory renamed into
        place, so a crash leaves all or nothing) and load it; caller holds the writer lock.
        ``checkpoint_lsn``: log records up to it do not concern the collection."""
        collection_config = CollectionConfig.from_mapping(config)
        temp = self.files.collections_dir / f".tmp-{uid}"
        target = self.files.collections_dir / name
        with built_or_removed(temp, f"create collection {name!r}"):
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
        self.states[name] = state = self.load(name)
        return state

    def remove(self, state: CollectionState) -> None:
        """Forget a collection and delete its directory (renamed away first, so a crash
        leaves it whole or gone); caller holds the writer lock."""
        if state.index is not None:
            state.index.stop()  # before the latch: the indexer may be waiting for it
        graveyard = self.files.collections_dir / f".dropped-{state.uid}"
        with state.latch.write():
            try:
                # renamed away before it is closed (POSIX keeps the open files working),
                # so a failure leaves the collection as it was
                io.replace(state.store.files.directory, graveyard)
            except OSError as error:
                if state.index is not None:
                    state.index.start()
                raise os_error(error, f"drop collection {state.name!r}") from error
            state.dropped = True
            if self.states.get(state.name) is state:
                del self.states[state.name]
            state.close()
            try:
                fsync_dir(self.files.collections_dir)
            except OSError as error:
                # the drop stands; whether its rename is on disk is unknown: write no more
                # until reopened
                self.health.refuse_writes(os_error(error, f"drop collection {state.name!r}"))
            io.rmtree(graveyard, ignore_errors=True)

    def quarantine(self, name: str) -> Path:
        """Move a damaged collection's directory out of the database, to
        ``<db>/quarantine/<name>-<time>/`` (writer lock held); returns where."""
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

    def vectors_broken(self) -> bool:
        """True once a vector file's flush failed (its pages may be lost)."""
        return any(state.store.vectors.broken is not None for state in self.states.values())

    def trim_vector_files(self) -> int:
        """Cut every collection's ``vectors.bin`` after its ``n_rows`` (the last process to
        close, holding the writer lock, right after a checkpoint); returns how many were
        cut. A failure is logged, not raised: the file is only longer than it must be."""
        trimmed = 0
        for state in self:
            try:
                with state.latch.write():
                    trimmed += state.store.trim()
            except (OSError, StorageError) as error:
                log.warning("could not trim %s: %s", state.store.files.vectors, error)
        return trimmed

    def close_all(self) -> None:
        for state in self.states.values():
            state.close()
        self.states = {}
        self.unavailable = {}
