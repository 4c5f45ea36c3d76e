"""Database: the handle a user gets from ``vectordb.open()``.

Handles on the same directory in one process share one ``Engine`` (and so one lock holder:
flock locks belong to an open file description, and a second exclusive lock from the same
process would wait for itself). Closing a handle releases its reference; the last one
checkpoints and closes the engine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from vectordb.collection import Collection
from vectordb.config import CollectionConfig, DatabaseConfig, Metric
from vectordb.engine import Engine, validate_collection_name
from vectordb.errors import DatabaseClosedError, InvalidConfigError, ReadOnlyError, VectorDBError
from vectordb.results import CollectionInfo, Problem

__all__ = ["Database", "open"]


class Database:
    """An open database directory. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        config: DatabaseConfig | Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(read_only, bool):
            raise InvalidConfigError(f"read_only must be True or False; got {read_only!r}")
        resolved = DatabaseConfig.coerce(config)
        self._engine = Engine.acquire(path, read_only=read_only, config=resolved)
        self._closed = False
        self.read_only = read_only
        if resolved.warmup_on_open:
            self._warm_in_background()

    def _warm_in_background(self) -> None:
        collections = [Collection(self, slot) for slot in list(self._engine.slots.values())]

        def warm() -> None:
            for collection in collections:
                try:
                    collection.warmup()
                except VectorDBError:  # closed or dropped meanwhile: nothing left to warm
                    return

        threading.Thread(target=warm, name="vectordb-warmup", daemon=True).start()

    # ----------------------------------------------------------------- lifecycle
    @property
    def path(self) -> str:
        return str(self._engine.root)

    @property
    def config(self) -> DatabaseConfig:
        return self._engine.config

    def _ensure_open(self) -> None:
        if self._closed:
            raise DatabaseClosedError(f"database {self.path} is closed; open it again")
        self._engine.ensure_usable()

    def close(self) -> None:
        """Checkpoint (when this is the last handle) and close. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._engine.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Database:
        self._ensure_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("read-only" if self.read_only else "open")
        return f"<vectordb.Database {self.path!r} {state}>"

    # ----------------------------------------------------------------- collections
    def create_collection(
        self,
        name: str,
        dim: int,
        metric: Metric | str = "cosine",
        *,
        index: str = "flat",
        normalize: bool = False,
        exist_ok: bool = False,
        **overrides: Any,
    ) -> Collection:
        """Create a collection and return its handle.

        Parameters
        ----------
        name
            1-128 letters, digits, ``_``, ``-`` or ``.``, starting with a letter or digit.
        dim, metric, index, normalize
            See :class:`vectordb.CollectionConfig`.
        exist_ok
            Return the existing collection instead of raising, if its dim / metric / index /
            normalize are the same (``InvalidConfigError`` if they differ).
        **overrides
            ``durability=`` and ``initial_capacity=`` for this collection.

        Raises
        ------
        CollectionExistsError, InvalidArgumentError, InvalidConfigError, ReadOnlyError
        """
        self._ensure_open()
        if self.read_only:
            raise ReadOnlyError(
                f"database {self.path} is open read-only; cannot create collections"
            )
        validate_collection_name(name)
        config = CollectionConfig.from_mapping(
            {"dim": dim, "metric": metric, "index": index, "normalize": normalize, **overrides}
        )
        if exist_ok and name in self._engine.slots:
            existing = self.get_collection(name)
            mine = config.to_dict()
            theirs = existing.config.to_dict()
            differ = [
                key for key in ("dim", "metric", "index", "normalize") if mine[key] != theirs[key]
            ]
            if differ:
                raise InvalidConfigError(
                    f"collection {name!r} exists with { ({k: theirs[k] for k in differ}) }, not "
                    f"{ ({k: mine[k] for k in differ}) }"
                )
            return existing
        return Collection(self, self._engine.create_collection(name, config))

    def get_collection(self, name: str) -> Collection:
        """The collection called ``name``; raises CollectionNotFoundError if there is none."""
        self._ensure_open()
        validate_collection_name(name)
        return Collection(self, self._engine.slot(name))

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection with its count and stats, sorted by name."""
        self._ensure_open()
        return [Collection(self, slot).stats() for _, slot in sorted(self._engine.slots.items())]

    def drop_collection(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete a collection and every file of it."""
        self._ensure_open()
        validate_collection_name(name)
        if missing_ok and name not in self._engine.slots:
            return
        self._engine.drop_collection(name)

    def __contains__(self, name: object) -> bool:
        self._ensure_open()
        return isinstance(name, str) and name in self._engine.slots

    # ----------------------------------------------------------------- maintenance
    def checkpoint(self) -> None:
        """Write every collection's state to its files and drop the log they cover."""
        self._ensure_open()
        if self.read_only:
            raise ReadOnlyError(f"database {self.path} is open read-only")
        self._engine.checkpoint()

    def check(self) -> list[Problem]:
        """Verify every checksum in every file; returns the problems found (empty if none)."""
        self._ensure_open()
        return self._engine.check()


def open(
    path: str | os.PathLike[str],
    *,
    read_only: bool = False,
    config: DatabaseConfig | Mapping[str, Any] | None = None,
) -> Database:
    """Open (creating it if missing) the database directory ``path``.

    Parameters
    ----------
    path
        A directory; created, with parents, when missing (unless ``read_only``).
    read_only
        Take no writer lock and refuse writes; other processes may read too, but a process
        writing to the database must close it first.
    config
        A :class:`DatabaseConfig` or a mapping such as ``{"durability": "normal"}``.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=3)
    ...     _ = docs.add([[1, 0, 0], [0, 1, 0]], ids=["a", "b"])
    ...     docs.search([1, 0.1, 0], k=1)[0].id
    'a'
    """
    return Database(path, read_only=read_only, config=config)
