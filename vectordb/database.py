"""Database: the handle a user gets from ``vectordb.open()``.

Handles on the same directory in one process share one ``Engine`` (and so one lock holder:
flock locks belong to an open file description, and a second exclusive lock from the same
process would wait for itself). Closing a handle releases its reference; the last one
checkpoints and closes the engine.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from vectordb.collection import Collection
from vectordb.config import CollectionConfig, DatabaseConfig, Metric
from vectordb.config_sources import resolve_database_config
from vectordb.embeddings.attached import AttachedEmbedder, Embedders, same_spec, spec_of
from vectordb.embeddings.base import Embeddings, embeddings_from_spec
from vectordb.engine import Engine, validate_collection_name
from vectordb.errors import (
    CollectionExistsError,
    DatabaseClosedError,
    DimensionMismatchError,
    InvalidConfigError,
    ReadOnlyError,
    VectorDBError,
)
from vectordb.observability.logs import apply_logging_config
from vectordb.results import CollectionInfo, Problem, database_html

if TYPE_CHECKING:
    from vectordb.engine.state import CollectionState
    from vectordb.engine.transaction import Transaction

__all__ = ["Database", "open", "restore"]

log = logging.getLogger("vectordb")
#: settings reload_config() applies to an open database
_RELOADABLE = frozenset({"log_level", "log_json", "slow_query_ms"})


class Database:
    """An open database directory. Use as a context manager or call :meth:`close`.

    Get one from :func:`vectordb.open`. Handles on the same directory in one process share
    one engine; closing the last of them checkpoints the database.

    Attributes
    ----------
    read_only : bool
        Whether this handle refuses writes.
    open_problems : list of Problem
        What ``check_on_open`` found at open (empty when it is off or found nothing).

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     _ = db.create_collection("docs", dim=3)
    ...     db, "docs" in db
    (<vectordb.Database '...' open>, True)
    >>> db.closed
    True
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        config: DatabaseConfig | Mapping[str, Any] | None = None,
        config_file: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(read_only, bool):
            raise InvalidConfigError(f"read_only must be True or False; got {read_only!r}")
        root = Path(os.path.abspath(os.fspath(path)))
        self._config_argument = config
        self._config_file = config_file
        self._resolved = resolve_database_config(root, config, config_file=config_file)
        resolved = self._resolved.config
        self._engine = Engine.acquire(path, read_only=read_only, config=resolved)
        self._closed = False
        self.read_only = read_only
        self._embedders = Embedders(self._engine.files.embedding_cache, read_only=read_only)
        apply_logging_config(resolved.log_level, resolved.log_json)
        #: what ``check_on_open`` found (empty when it is off or found nothing)
        self.open_problems: list[Problem] = []
        if resolved.check_on_open:
            self.open_problems = self._engine.check(repair=not read_only)
            for problem in self.open_problems:
                log.error("check at open: %s: %s", problem.path, problem.message)
        if resolved.warmup_on_open:
            self._warm_in_background()

    def _warm_in_background(self) -> None:
        collections = [Collection(self, state) for state in self._engine.collections]

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
        """The database directory, as an absolute path."""
        return str(self._engine.root)

    @property
    def config(self) -> DatabaseConfig:
        """The settings in force (as resolved at open, and by :meth:`reload_config`)."""
        return self._engine.config

    def config_sources(self) -> dict[str, str]:
        """For each setting not at its default: where its value came from (a file, an
        environment variable or the ``config=`` argument).

        Returns
        -------
        dict of str to str
            Setting name -> ``"file <path>"``, ``"environment VECTORDB_<KEY>"`` or
            ``"argument"``, as resolved at open or by the last :meth:`reload_config`.

        Raises
        ------
        Never raises: it reads what was resolved, on a closed handle too.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp(), config={"slow_query_ms": 50}) as db:
        ...     db.config_sources()["slow_query_ms"]
        'argument'
        """
        return dict(self._resolved.sources)

    def reload_config(self) -> dict[str, list[str]]:
        """Read the YAML file and the environment again and apply what can change while open:
        ``log_level``, ``log_json``, ``slow_query_ms`` and the per-collection ``ef`` /
        ``nprobe`` defaults.

        Returns
        -------
        dict
            ``{"applied": [...], "needs_reopen": [...]}``: keys whose new values took
            effect, and keys that changed but only take effect at the next open (their old
            values stay in force; a warning is logged).

        Raises
        ------
        InvalidConfigError
            If the new configuration is invalid; nothing is changed.
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import pathlib, tempfile, vectordb
        >>> path = pathlib.Path(tempfile.mkdtemp())
        >>> with vectordb.open(path) as db:
        ...     _ = (path / "vectordb.yaml").write_text("{slow_query_ms: 50, durability: normal}")
        ...     db.reload_config()
        ...     db.config.slow_query_ms
        {'applied': ['slow_query_ms'], 'needs_reopen': ['durability']}
        50
        """
        self._ensure_open()
        resolved = resolve_database_config(
            self._engine.root, self._config_argument, config_file=self._config_file
        )
        old, new = self._engine.config, resolved.config
        changed = [f.name for f in dataclasses.fields(DatabaseConfig)
                   if getattr(old, f.name) != getattr(new, f.name)]  # fmt: skip
        applied = [key for key in changed if key in _RELOADABLE]
        needs_reopen = [key for key in changed if key not in _RELOADABLE | {"collections"}]
        updates: dict[str, Any] = {key: getattr(new, key) for key in applied}
        if "collections" in changed:
            # durability overrides need a reopen; search defaults apply now
            merged = dict(old.collections)
            for name in new.collections:
                override, previous = new.overrides_for(name), old.overrides_for(name)
                merged[name] = dataclasses.replace(override, durability=previous.durability)
                if override.durability != previous.durability and "collections" not in needs_reopen:
                    needs_reopen.append("collections")
            updates["collections"] = merged
            applied.append("collections")
        self._engine.config = dataclasses.replace(old, **updates)
        for state in self._engine.collections:
            self._engine.collections.apply_search_defaults(state)
        config = self._engine.config
        apply_logging_config(config.log_level, config.log_json)
        self._resolved = resolved
        if needs_reopen:
            log.warning("configuration keys %s changed; they take effect at the next open",
                        needs_reopen)  # fmt: skip
        return {"applied": applied, "needs_reopen": needs_reopen}

    # ----------------------------------------------------------------- lifecycle
    def backup(
        self,
        dest: str | os.PathLike[str],
        *,
        incremental_from: str | os.PathLike[str] | None = None,
    ) -> dict[str, Any]:
        """Write a consistent copy of the database to the new directory ``dest`` while writers
        continue (they wait only for one checkpoint at the start). The copy holds the state
        as of that checkpoint, opens with :func:`vectordb.open`, and carries ``backup.json``
        (its LSN, time and every file's checksum), which is also returned.

        Parameters
        ----------
        dest
            A directory that does not exist or is empty, outside the database.
        incremental_from
            An earlier backup (full or incremental) of this database; only the log written
            since is copied (it needs ``wal_archive`` set, so checkpoints keep the log).
            Restore it with :func:`vectordb.restore`, which follows the chain of bases.

        Returns
        -------
        dict
            The contents of ``backup.json``: ``kind`` (``"full"`` or ``"incremental"``),
            ``lsn``, ``source``, ``created_at``, ``seconds``, ``files`` (each one's size and
            xxh3-64), and ``collections`` (full) or ``base`` / ``base_lsn`` (incremental).

        Raises
        ------
        InvalidArgumentError
            If ``dest`` exists and is not empty or lies inside the database; if
            ``incremental_from`` is not a backup of this database or ``wal_archive`` is unset.
        ReadOnlyError
            On a read-only handle (a backup needs a checkpoint).
        TransactionError
            Inside a transaction.
        StorageError
            If another backup is running, the log archive lacks records since
            ``incremental_from``, or the copy fails (nothing is left at ``dest``).
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import os, tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     _ = db.create_collection("docs", dim=3).add([[1, 0, 0]], ids=["a"])
        ...     dest = os.path.join(tempfile.mkdtemp(), "backup")
        ...     manifest = db.backup(dest)
        >>> manifest["kind"], manifest["collections"]
        ('full', ['docs'])
        >>> with vectordb.open(dest, read_only=True) as copy:
        ...     copy.get_collection("docs").ids()
        ['a']
        """
        self._ensure_open()
        if self.read_only:
            raise ReadOnlyError(
                f"database {self.path} is open read-only; back it up from a read-write handle, "
                "or copy the directory while no one writes"
            )
        from vectordb.lifecycle.backup import backup_database

        self._engine.refuse_in_transaction("backup()")
        base = None if incremental_from is None else Path(incremental_from)
        return backup_database(self._engine, Path(dest), incremental_from=base)

    # ----------------------------------------------------------------- observability
    def metrics(self) -> dict[str, Any]:
        """Operation counts, errors, slow searches and latency histograms per collection and
        operation, and totals (vectors and bytes written, queries, checkpoints).

        Returns
        -------
        dict
            ``operations`` (one entry per collection and operation: ``collection``,
            ``operation``, ``count``, ``errors``, ``slow``, ``seconds_total``, ``mean_ms``,
            cumulative ``buckets``), ``vectors_written``, ``bytes_written``, ``queries``,
            ``checkpoints`` and ``uptime_s``, counted since the database was opened in this
            process; and ``embeddings``: one entry per collection whose embedding function
            ran through this handle (``collection``, ``model``, ``requests``, ``retries``,
            ``errors``, ``circuit_rejections``, ``texts``, ``tokens``,
            ``estimated_tokens``, ``latency_seconds_sum`` / ``_count``, ``cache_hits``,
            ``cache_misses``, and ``estimated_cost_usd`` when the provider has a price).

        Raises
        ------
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     _ = docs.add([[1, 0, 0]], ids=["a"])
        ...     _ = docs.search([1, 0, 0], k=1)
        ...     stats = db.metrics()
        >>> stats["queries"], [(op["operation"], op["count"]) for op in stats["operations"]]
        (1, [('add', 1), ('search', 1)])
        """
        self._ensure_open()
        snapshot = self._engine.metrics.snapshot()
        snapshot["embeddings"] = self._embedders.metrics(self._collection_names())
        return snapshot

    def _collection_names(self) -> dict[str, str]:
        return {state.uid: state.name for state in self._engine.collections}

    def metrics_prometheus(self) -> str:
        """:meth:`metrics` in the Prometheus text format, plus gauges of records and WAL size.

        Returns
        -------
        str
            The exposition text (``vectordb_operation_seconds`` histograms, error and slow
            query counters, ``vectordb_wal_bytes``, ``vectordb_records{collection=...}``).

        Raises
        ------
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     _ = db.create_collection("docs", dim=3).add([[1, 0, 0]], ids=["a"])
        ...     text = db.metrics_prometheus()
        >>> [line for line in text.splitlines() if line.startswith("vectordb_records")]
        ['vectordb_records{collection="docs"} 1.0']
        """
        self._ensure_open()
        gauges: dict[str, float] = {"vectordb_wal_bytes": float(self._wal_bytes()[0])}
        for state in sorted(self._engine.collections, key=lambda state: state.name):
            gauges[f'vectordb_records{{collection="{state.name}"}}'] = float(state.store.count)
        embeddings = self._embedders.metrics(self._collection_names())
        return self._engine.metrics.prometheus(gauges, embeddings)

    def _wal_bytes(self) -> tuple[int, int]:
        total = segments = 0
        for _first, path in self._engine.files.segments():
            try:
                total += path.stat().st_size
                segments += 1
            except OSError:
                continue
        return total, segments

    def health(self) -> dict[str, Any]:
        """A health report: ``status`` (``"ok"``, ``"degraded"`` when an index answers by
        exact fallback or its indexer failed or disk space is low, ``"failed"`` after an I/O
        failure), storage (WAL size, last LSN, records since the last checkpoint, free disk
        space) and each collection's count and index state.

        Returns
        -------
        dict
            ``status``, ``problems`` (one sentence each), ``path``, ``read_only``,
            ``last_lsn``, ``records_since_checkpoint``, ``wal_bytes``, ``wal_segments``,
            ``free_disk_bytes``, ``writes_refused_low_disk``, ``replayed_records`` and
            ``reloads`` (the cost of following other processes), and ``collections`` (name
            -> ``count``, ``index`` and the index's ``pending`` / ``fallback`` /
            ``indexer_error``, or ``unavailable`` for damaged files).

        Raises
        ------
        DatabaseClosedError
            If the handle is closed; an unhealthy database is reported, never raised.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     _ = db.create_collection("docs", dim=3).add([[1, 0, 0]], ids=["a"])
        ...     report = db.health()
        >>> report["status"], report["problems"], report["collections"]
        ('ok', [], {'docs': {'count': 1, 'index': 'flat'}})
        """
        if self._closed:
            raise DatabaseClosedError(f"database {self.path} is closed; open it again")
        engine = self._engine
        problems: list[str] = []
        wal_bytes, wal_segments = self._wal_bytes()
        try:
            free = engine.free_disk_bytes()
        except OSError:
            free = -1
        collections: dict[str, Any] = {}
        for state in sorted(engine.collections, key=lambda state: state.name):
            name = state.name
            entry: dict[str, Any] = {"count": state.store.count, "index": state.store.config.index}
            if state.index is not None:
                info = state.index.stats()
                entry.update(
                    pending=info["pending"],
                    fallback=info["fallback"],
                    indexer_error=info["indexer_error"],
                )
                if info["indexer_error"]:
                    problems.append(f"{name}: background indexer stopped: {info['indexer_error']}")
                elif info["fallback"]:
                    problems.append(f"{name}: {info['fallback']}")
            collections[name] = entry
        for name, damage in sorted(engine.collections.unavailable.items()):
            collections[name] = {"count": 0, "unavailable": str(damage)}
            problems.append(f"{name}: unavailable, its files are damaged: {damage}")
        if engine.health.idempotency_damage is not None:
            problems.append(f"idempotency keys older than the log are lost: "
                            f"{engine.health.idempotency_damage}")  # fmt: skip
        if engine.health.checkpoint_error is not None:
            problems.append(f"the last automatic checkpoint failed (retried at the next "
                            f"trigger): {engine.health.checkpoint_error}")  # fmt: skip
        threshold = engine.config.min_free_disk_bytes
        if 0 <= free < max(threshold, 64 * 1024 * 1024):
            problems.append(
                f"only {free} bytes free on the database's disk"
                + ("; writes are refused until space returns" if free < threshold else "")
            )
        status = "ok"
        if problems:
            status = "degraded"
        if engine.health.write_failure is not None:
            status = "failed"
            problems.insert(0, f"writes refused until reopened: {engine.health.write_failure}")
        if engine.health.failure is not None:
            status = "failed"
            problems.insert(0, f"unusable after an I/O failure: {engine.health.failure}")
        return {
            "status": status,
            "problems": problems,
            "path": self.path,
            "read_only": self.read_only,
            "last_lsn": engine.log.last_lsn,
            "records_since_checkpoint": engine.log.records_since_checkpoint,
            "wal_bytes": wal_bytes,
            "wal_segments": wal_segments,
            "free_disk_bytes": free,
            "writes_refused_low_disk": threshold > 0 and 0 <= free < threshold,
            # what following other processes cost this one: records replayed, reloads
            "replayed_records": engine.follower.caught_up_records,
            "reloads": engine.follower.reloads,
            "collections": collections,
        }

    def _ensure_open(self, *, refresh: bool = True) -> None:
        """Raise if closed; then catch up with what other processes committed (unless the
        caller just did)."""
        if self._closed:
            raise DatabaseClosedError(f"database {self.path} is closed; open it again")
        self._engine.ensure_usable()
        if refresh:
            self._engine.refresh()

    def _ensure_writable(self, what: str) -> None:
        """Refuse a write through a read-only handle, also when this process holds the same
        database read-write through another handle (they share one engine)."""
        if self.read_only:
            raise ReadOnlyError(
                f"database {self.path} is open read-only through this handle; {what} is "
                "refused (open it without read_only=True to write)"
            )

    def close(self) -> None:
        """Checkpoint (when this is the last handle) and close. Safe to call twice.

        Raises
        ------
        StorageError
            If the checkpoint at close fails; the handle is closed anyway and the writes
            stay in the log, replayed at the next open.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> db = vectordb.open(tempfile.mkdtemp())
        >>> db.close()
        >>> db.close()
        >>> db
        <vectordb.Database '...' closed>
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._embedders.close()
        finally:
            self._engine.release()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
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

    def _repr_html_(self) -> str:
        """A notebook's view: the path, the state, the bytes on disk and a table of the
        collections with their counts and sizes (all text escaped)."""
        state = "closed" if self._closed else ("read-only" if self.read_only else "open")
        infos = [] if self._closed else self.list_collections()
        return database_html(str(self.path), state, infos, _bytes_under(Path(self.path)),
                             repr(self))  # fmt: skip

    # ----------------------------------------------------------------- collections
    def create_collection(
        self,
        name: str,
        dim: int | None = None,
        metric: Metric | str = "cosine",
        *,
        index: str = "flat",
        normalize: bool = False,
        exist_ok: bool = False,
        embedding: Embeddings | Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Collection:
        """Create a collection and return its handle.

        Parameters
        ----------
        name
            1-128 letters, digits, ``_``, ``-`` or ``.``, starting with a letter or digit.
        dim, metric, index, normalize
            See :class:`vectordb.CollectionConfig`. ``dim`` may be left out when
            ``embedding`` is given: it is the model's.
        exist_ok
            Return the existing collection instead of raising, if its dim / metric / index /
            normalize / embedding are the same (``InvalidConfigError`` if they differ).
        embedding
            The collection's embedding function (``vectordb.embeddings``, e.g.
            ``LocalEmbeddings()``): ``add(documents=...)`` without vectors computes them and
            ``search("text")`` embeds the query. Its spec (class and non-secret parameters)
            is stored, so the collection gets the same function when reopened; secrets come
            from environment variables or arguments, never from disk.
        **overrides
            ``durability=``, ``initial_capacity=``, ``hnsw=``, ``ivf=``, ``quantization=`` and
            ``metadata_schema=`` (see :class:`vectordb.CollectionConfig`).

        Returns
        -------
        Collection
            A handle on the new (or, with ``exist_ok``, the existing) collection.

        Raises
        ------
        CollectionExistsError
            If a collection of that name (or one differing only in case) exists and
            ``exist_ok`` is false.
        InvalidArgumentError
            If ``name`` is not a valid collection name.
        InvalidConfigError
            If a setting is invalid, or with ``exist_ok`` the existing collection's differ.
        DimensionMismatchError
            If ``dim`` is given and is not the length of the embedding model's vectors.
        ReadOnlyError
            On a read-only handle.
        TransactionError
            Inside a transaction.
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     db.create_collection("docs", dim=3, metric="cosine")
        ...     db.create_collection("docs", dim=3, exist_ok=True).name
        <vectordb.Collection 'docs' count=0 dim=3 metric=cosine>
        'docs'
        """
        self._ensure_open()
        self._ensure_writable("create_collection()")
        validate_collection_name(name)
        given = embedding if isinstance(embedding, Embeddings) else None
        spec = None if embedding is None else spec_of(embedding)
        if spec is not None:
            dim = _embedding_dim(embedding, spec, dim)
        elif dim is None:
            raise InvalidConfigError("create_collection() needs dim= (or embedding=)")
        config = CollectionConfig.from_mapping(
            {"dim": dim, "metric": metric, "index": index, "normalize": normalize,
             **overrides, **({"embedding": spec} if spec is not None else {})}
        )  # fmt: skip
        if not exist_ok or name not in self._engine.collections:
            try:
                state = self._engine.create_collection(name, config)
            except CollectionExistsError:
                if not exist_ok:
                    raise  # (with exist_ok: another process created it first)
            else:
                if given is not None:
                    self._embedders.attach(state.uid, name, spec or {}, state.store.dim, given)
                return Collection(self, state)
        existing = self.get_collection(name, embedding=given)
        mine = config.to_dict()
        theirs = existing.config.to_dict()
        differ = [k for k in ("dim", "metric", "index", "normalize") if mine[k] != theirs[k]]
        ours, stored = mine.get("embedding"), theirs.get("embedding")
        if (ours is None) != (stored is None) or (
            ours is not None and stored is not None and not same_spec(ours, stored)
        ):
            differ.append("embedding")
        if differ:
            raise InvalidConfigError(
                f"collection {name!r} exists with { ({k: theirs.get(k) for k in differ}) }, "
                f"not { ({k: mine.get(k) for k in differ}) }"
            )
        return existing

    def get_collection(
        self, name: str, *, embedding: Embeddings | None = None
    ) -> Collection:
        """The collection called ``name``.

        Parameters
        ----------
        name
            The collection's name.
        embedding
            The embedding function to use, e.g. one built with an ``api_key=`` or another
            timeout; it must compute the same vectors as the one the collection was created
            with (the same spec but for timeouts, retries, batch sizes and prices). Default:
            the one built from the stored spec on first use (nothing is built or contacted
            before).

        Returns
        -------
        Collection
            A handle on it.

        Raises
        ------
        CollectionNotFoundError
            If there is none.
        CorruptionError
            If its files are damaged (see :meth:`list_collections`).
        InvalidConfigError
            If ``embedding`` is not the collection's (another spec, or it has none).
        InvalidArgumentError
            If ``name`` is not a valid collection name.
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     _ = db.create_collection("docs", dim=3).add([[1, 0, 0]], ids=["a"])
        ...     db.get_collection("docs")
        <vectordb.Collection 'docs' count=1 dim=3 metric=cosine>
        """
        self._ensure_open()
        validate_collection_name(name)
        state = self._engine.collections.get(name)
        if embedding is not None:
            stored = state.store.config.embedding
            if not isinstance(embedding, Embeddings):
                raise InvalidConfigError(
                    f"embedding must be an Embeddings; got {type(embedding).__name__}"
                )
            if stored is None or not same_spec(stored, embedding.spec()):
                raise InvalidConfigError(
                    f"collection {name!r} was created with embedding {stored!r}, not "
                    f"{embedding.spec()!r}"
                )
            self._embedders.attach(state.uid, name, stored, state.store.dim, embedding)
        return Collection(self, state)

    def _embedder(self, state: CollectionState) -> AttachedEmbedder | None:
        """The embedding function of the collection ``state`` is, or None without one."""
        spec = state.store.config.embedding
        if spec is None:
            return None
        return self._embedders.attach(state.uid, state.name, spec, state.store.dim, None)

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection with its count and stats, sorted by name.

        Returns
        -------
        list of CollectionInfo
            One per collection. A collection whose files are damaged is listed too, with
            ``available`` False and the reason in ``problem`` (the rest of the database
            works; ``check(repair=True)`` moves it to ``quarantine/``).

        Raises
        ------
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     _ = db.create_collection("docs", dim=3).add([[1, 0, 0]], ids=["a"])
        ...     _ = db.create_collection("chunks", dim=2)
        ...     [(info.name, info.count, info.available) for info in db.list_collections()]
        [('chunks', 0, True), ('docs', 1, True)]
        """
        self._ensure_open()
        engine = self._engine
        infos = [Collection(self, state).stats() for state in engine.collections]
        for name, damage in list(engine.collections.unavailable.items()):
            infos.append(CollectionInfo(
                name=name, count=0, dim=0, metric="", index="", normalize=False,
                created_at=0.0, updated_at=0.0, disk_bytes=0, memory_bytes=0, config={},
                problem=str(damage),
            ))  # fmt: skip
        return sorted(infos, key=lambda info: info.name)

    def drop_collection(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete a collection and every file of it.

        Parameters
        ----------
        name
            The collection's name.
        missing_ok
            Do nothing, instead of raising, when there is no such collection.

        Raises
        ------
        CollectionNotFoundError
            If there is no such collection and ``missing_ok`` is false.
        InvalidArgumentError
            If ``name`` is not a valid collection name.
        ReadOnlyError
            On a read-only handle.
        TransactionError
            Inside a transaction.
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     _ = db.create_collection("docs", dim=3)
        ...     db.drop_collection("docs")
        ...     db.drop_collection("docs", missing_ok=True)
        ...     "docs" in db
        False
        """
        self._ensure_open()
        self._ensure_writable("drop_collection()")
        validate_collection_name(name)
        if missing_ok and name not in self._engine.collections:
            return
        self._engine.drop_collection(name)

    def __contains__(self, name: object) -> bool:
        self._ensure_open()
        return isinstance(name, str) and (
            name in self._engine.collections or name in self._engine.collections.unavailable
        )

    # ----------------------------------------------------------------- transactions
    def transaction(self, *, idempotency_key: str | None = None) -> Transaction:
        """Group writes to one or several collections into one atomic commit::

            with db.transaction():
                docs.add(vectors, ids=ids)
                chunks.delete(old_ids)

        All the writes in the block happen, or none: an exception in the block (or a crash
        before its end) discards them. The block holds the writer locks, so it is
        serializable (no other thread or process writes meanwhile; theirs wait up to
        ``lock_timeout``) - keep it short. Reads in the block see the committed state, not
        the block's own writes; validation (duplicate ids, missing ids) does count them.

        Parameters
        ----------
        idempotency_key
            A retried transaction with the same key is applied once; ``already_applied`` on
            the returned object says whether it was, before the body runs.

        Returns
        -------
        Transaction
            Enter it with ``with``; the block's end commits.

        Raises
        ------
        TransactionError
            At the ``with``, when nested in another transaction of this thread; when used
            from another thread.
        InvalidArgumentError
            If ``idempotency_key`` is not a non-empty string of at most 256 characters.
        IdempotencyKeyReuseError
            At the block's end, if ``idempotency_key`` names an earlier transaction whose
            writes differ.
        LockTimeoutError
            At the ``with``, if the writer lock is not free within ``lock_timeout``.
        ReadOnlyError
            On a read-only handle.
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     with db.transaction():
        ...         _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"])
        ...         _ = docs.delete(["a"])
        ...     docs.ids()
        ['b']
        """
        from vectordb.concurrency.idempotency import check_key
        from vectordb.engine.transaction import Transaction

        self._ensure_open()
        self._ensure_writable("transaction()")
        key = None if idempotency_key is None else check_key(idempotency_key)
        return Transaction(self._engine, key)

    # ----------------------------------------------------------------- maintenance
    def checkpoint(self) -> None:
        """Write every collection's state to its files and drop the log they cover.

        Raises
        ------
        ReadOnlyError
            On a read-only handle.
        TransactionError
            Inside a transaction.
        LockTimeoutError
            If the writer lock is not free within ``lock_timeout``.
        StorageError
            If writing the files fails.
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     _ = db.create_collection("docs", dim=3).add([[1, 0, 0]], ids=["a"])
        ...     db.checkpoint()
        ...     db.health()["records_since_checkpoint"]
        0
        """
        self._ensure_open()
        self._ensure_writable("checkpoint()")
        self._engine.checkpoint()

    def check(self, *, repair: bool = False) -> list[Problem]:
        """Verify every checksum in every file (database header, MANIFESTs, snapshots, vector
        rows, log segments, index files, idempotency keys) and each collection's count, live
        rows and id map.

        Parameters
        ----------
        repair
            (Read-write handles.) Mend what can be mended: damaged index files are rebuilt
            from the records in the background (searches are exact meanwhile), a damaged
            collection is moved to ``quarantine/``, a damaged ``IDEMPOTENCY`` file is written
            again from the log, and a crash's stray files are deleted (and reported; they are
            not damage, so a plain check does not list them). Damage to the records
            themselves cannot be repaired here: restore from a backup.

        Returns
        -------
        list of Problem
            The problems found (empty if none), each with ``path``, ``offset`` and
            ``message`` (ending in what the repair did).

        Raises
        ------
        ReadOnlyError
            For ``repair=True`` on a read-only handle.
        DatabaseClosedError
            If the handle is closed.

        Examples
        --------
        >>> import os, tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     _ = db.create_collection("docs", dim=3).add([[1, 0, 0]], ids=["a"])
        ...     db.check()
        ...     open(os.path.join(db.path, "collections", "docs", "stray.tmp"), "wb").close()
        ...     db.check(repair=True)
        []
        [Problem(path='...stray.tmp', offset=None,
                 message='stray file (not named by MANIFEST or INDEX); repaired: deleted')]
        """
        self._ensure_open()
        if repair:
            self._ensure_writable("check(repair=True)")
        return self._engine.check(repair=repair)


def restore(
    backup: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    until: int | float | datetime.datetime | None = None,
    wal_archive: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
) -> dict[str, Any]:
    """Restore a backup made by :meth:`Database.backup` into the new directory ``dest``.

    Every file is verified against the backup's ``backup.json`` first (``StorageError`` if
    damaged; nothing is created). An incremental backup brings its chain of bases. Log
    segments from ``wal_archive`` (the database's ``wal_archive`` directory, and its live
    ``wal/`` directory to include the newest records) are added, so the restored database
    holds every change after the backup too; ``until`` stops that at an LSN (int) or at a
    time (``datetime``, or Unix seconds as float; each record carries its commit time): the
    result is exactly the state after the last record at or before it.

    Parameters
    ----------
    backup
        A directory written by :meth:`Database.backup` (full or incremental).
    dest
        A directory that does not exist or is empty.
    until
        The last LSN (int) or commit time (``datetime``, or Unix seconds as float) to
        replay up to; None replays every record found.
    wal_archive
        A directory of log segments, or several (e.g. the ``wal_archive`` and the live
        ``wal/``); records the backup holds already are skipped. Collections created,
        dropped or compacted in the replayed log are created, dropped or compacted again.

    Returns
    -------
    dict
        The backup's manifest (see :meth:`Database.backup`) plus ``restored_lsn``, the last
        LSN the result holds.

    Raises
    ------
    StorageError
        If a file of the backup (or of its chain) fails its checksum; nothing is created.
    InvalidArgumentError
        If ``backup`` is not a backup, ``dest`` exists and is not empty, ``until`` is an
        LSN before the full backup or of another type, or a time and a record lacks one.
    LogGapError
        If log records needed up to ``until`` are in none of the given directories.

    Examples
    --------
    >>> import os, tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=3)
    ...     _ = docs.add([[1, 0, 0]], ids=["a"])
    ...     _ = db.backup(backup := os.path.join(tempfile.mkdtemp(), "backup"))
    ...     _ = docs.add([[0, 1, 0]], ids=["b"])  # after the backup: only in the log
    ...     dest = os.path.join(tempfile.mkdtemp(), "restored")
    ...     _ = vectordb.restore(backup, dest, wal_archive=os.path.join(db.path, "wal"))
    >>> with vectordb.open(dest) as restored:
    ...     restored.get_collection("docs").ids()
    ['a', 'b']
    """
    from vectordb.lifecycle.backup import restore_database

    archive: Path | list[Path] | None
    if wal_archive is None:
        archive = None
    elif isinstance(wal_archive, (str, os.PathLike)):
        archive = Path(wal_archive)
    else:
        archive = [Path(p) for p in wal_archive]
    return restore_database(Path(backup), Path(dest), until=until, wal_archive=archive)


def open(
    path: str | os.PathLike[str],
    *,
    read_only: bool = False,
    config: DatabaseConfig | Mapping[str, Any] | None = None,
    config_file: str | os.PathLike[str] | None = None,
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
        A :class:`DatabaseConfig` or a mapping such as ``{"durability": "normal"}``. A mapping
        is layered over the YAML file and ``VECTORDB_*`` environment variables (see
        ``docs/configuration.md``); a ``DatabaseConfig`` is used as it is.
    config_file
        A YAML file of settings (default: ``$VECTORDB_CONFIG``, else ``vectordb.yaml`` in the
        database directory when it exists).

    Returns
    -------
    Database
        The open handle; close it (or use it in a ``with`` statement).

    Raises
    ------
    InvalidArgumentError
        If ``path`` exists and is not a directory, or holds no database and ``read_only``
        is set.
    InvalidConfigError
        If a setting is invalid (the message names its source).
    ReadOnlyError
        If this process has ``path`` open read-only and this open would write.
    LockTimeoutError
        If another process keeps the database busy (closing it, say) past ``lock_timeout``.
    UnsupportedFormatError
        If the database was written by a newer vectordb, or ``path`` holds other files and
        no database.
    CorruptionError
        If the database header is damaged, or ``verify_checksums_on_open`` finds damage.
    StorageError
        If the operating system refuses to create or read the files.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=3)
    ...     _ = docs.add([[1, 0, 0], [0, 1, 0]], ids=["a", "b"])
    ...     docs.search([1, 0.1, 0], k=1)[0].id
    'a'
    """
    return Database(path, read_only=read_only, config=config, config_file=config_file)


def _bytes_under(path: Path) -> int:
    """The bytes of every file under ``path`` (0 for what vanished meanwhile)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _embedding_dim(embedding: object, spec: Mapping[str, Any], dim: int | None) -> int:
    """The dim of a collection created with ``embedding``: the model's (built from ``spec``
    when only a spec is given), which ``dim``, when given, must equal."""
    function = embedding if isinstance(embedding, Embeddings) else embeddings_from_spec(spec)
    try:
        model_dim = function.dim  # a provider that does not know it asks once
    finally:
        closer = getattr(function, "close", None)
        if callable(closer):  # HTTP providers open their client again on next use
            closer()
    if dim is not None and dim != model_dim:
        raise DimensionMismatchError(
            f"dim={dim} but embedding model {function.name!r} returns vectors of length "
            f"{model_dim}; leave dim out to take the model's"
        )
    return int(model_dim)
