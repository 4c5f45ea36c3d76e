"""Collection: the public handle for one collection's records.

Validates every argument completely *before* anything is logged (a failed call changes
nothing), turns the request into one log record with explicit rows, and lets the engine
commit it. Reads take the collection's shared latch, so they see whole batches only.
No raw file I/O here: storage lives in ``vectordb.storage``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from vectordb.config import CollectionConfig, Metric
from vectordb.display import flat_fields, html_fields, html_repr
from vectordb.engine.updates import updated_values
from vectordb.errors import (
    CorruptionError,
    DatabaseClosedError,
    DuplicateIdError,
    IdNotFoundError,
    InvalidArgumentError,
    VectorDBError,
)
from vectordb.filters.columns import parse_path
from vectordb.filters.diagnosis import filter_warnings
from vectordb.filters.parse import Expression, parse_filter
from vectordb.index.base import SearchKnobs
from vectordb.index.flat import SearchMode
from vectordb.inputs import MAX_ID_BYTES as MAX_ID_BYTES  # the id limit, as before
from vectordb.inputs import (
    checked_id,
    checked_ids,
    checked_query,
    checked_update,
    checked_vectors,
    document_blobs,
    metadata_blobs,
    non_negative_int,
    numeric_array,
    packed_metadata,
    positive_int,
    quoted_ids,
    texts_to_embed,
    texts_to_reembed,
    uuid4_strings,
)
from vectordb.results import (
    CollectionInfo,
    Record,
    Records,
    SearchResults,
    collection_html,
)
from vectordb.search import by_text, derived, execute
from vectordb.search.fusion import QueryType
from vectordb.search.options import (
    READ_INCLUDE,
    check_radius,
    include_set,
    search_knobs,
    search_options,
)
from vectordb.search.planner import allowed_rows, matching_mask, plan_filtered

if TYPE_CHECKING:
    from vectordb.embeddings.attached import AttachedEmbedder
    from vectordb.engine import CollectionState, Engine
    from vectordb.engine.transaction import PendingWrites, Transaction
    from vectordb.transfer.load import ImportReport

__all__ = ["Collection"]

slow_log = logging.getLogger("vectordb.slow")
_Method = TypeVar("_Method", bound=Callable[..., Any])
_Result = TypeVar("_Result")
_Params = ParamSpec("_Params")


def _measured(operation: str, *, search: bool = False) -> Callable[[_Method], _Method]:
    """Count calls, errors and latency of a public method in the database's metrics; searches
    over the ``slow_query_ms`` threshold are logged on ``vectordb.slow`` and counted."""

    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        def measured(self: Collection, *args: Any, **kwargs: Any) -> Any:
            metrics = self._engine.metrics
            started = time.perf_counter()
            try:
                result = method(self, *args, **kwargs)
            except BaseException:
                metrics.observe(self.name, operation, time.perf_counter() - started, error=True)
                raise
            elapsed = time.perf_counter() - started
            if search:
                threshold = self._engine.config.slow_query_ms
                slow = threshold is not None and elapsed * 1000.0 > threshold
                queries = 1 if operation == "search" else len(result)
                metrics.observe(self.name, operation, elapsed, slow=slow, queries=queries)
                if slow:
                    slow_log.warning(
                        "slow %s on %r: %.1f ms for %d quer%s (k=%s, threshold %s ms)",
                        operation,
                        self.name,
                        elapsed * 1000.0,
                        queries,
                        "y" if queries == 1 else "ies",
                        kwargs.get("k", args[1] if len(args) > 1 else 10),
                        threshold,
                        extra={"collection": self.name, "operation": operation,
                               "elapsed_ms": elapsed * 1000.0},
                    )  # fmt: skip
            elif operation in ("add", "upsert", "update"):
                count = len(result) if isinstance(result, list) else int(result or 0)
                metrics.observe(
                    self.name,
                    operation,
                    elapsed,
                    vectors=count,
                    bytes_written=count * 4 * self._state.store.dim,
                )
            else:
                metrics.observe(self.name, operation, elapsed)
            return result

        return measured  # type: ignore[return-value]

    return decorate


#: a read that ran while another process checkpointed (rows may have been reused) runs again
_READ_ATTEMPTS = 3
_READ_FIELDS = include_set(READ_INCLUDE)


class Owner(Protocol):
    """What a collection needs of the ``Database`` handle that gave it out (a Protocol, so
    this module does not import ``database.py``, which imports it)."""

    _engine: Engine

    def _ensure_open(self, *, refresh: bool = True) -> None: ...

    def _ensure_writable(self, what: str) -> None: ...

    def _embedder(self, state: CollectionState) -> AttachedEmbedder | None: ...

    def transaction(self, *, idempotency_key: str | None = None) -> Transaction: ...


class Collection:
    """A named set of records ``(id, vector, metadata)`` of one dimension and metric.

    Get one from :meth:`Database.create_collection` or :meth:`Database.get_collection`.
    Handles are cheap; they stay valid until the database is closed or the collection dropped.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=3)
    ...     docs.add([[1, 0, 0], [0, 1, 0]], ids=["a", "b"])
    ...     docs
    ['a', 'b']
    <vectordb.Collection 'docs' count=2 dim=3 metric=cosine>
    """

    def __init__(self, database: Owner, state: CollectionState) -> None:
        self._database = database
        self._state = state
        self._engine = database._engine
        # fixed for the collection's life (a compaction swaps its files, never these):
        # kept here, since a search reads them on its hot path
        self._name = state.name
        self._dim = state.store.dim
        self._metric = Metric(state.store.config.metric)

    # ----------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        return self._name

    @property
    def config(self) -> CollectionConfig:
        return self._state.store.config

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        return Metric(self.config.metric).value

    @property
    def has_documents(self) -> bool:
        """Whether some record may hold a document: False when none does; may stay True
        after the last document is removed, until the next checkpoint (cheap: no records
        are read). Export uses it to add a document column."""
        return self._live_state().store.has_documents

    def __repr__(self) -> str:
        try:
            count = f" count={self._live_state().store.count}"
        except VectorDBError:  # closed, dropped or damaged: the repr still answers
            count = ""
        return f"<vectordb.Collection {self.name!r}{count} dim={self.dim} metric={self.metric}>"

    def _repr_html_(self) -> str:
        """A notebook's view: count, shape, index and its parameters, sizes on disk and in
        memory, and the metadata keys of the first records (all text escaped)."""
        text = repr(self)
        try:
            info = self.stats()
            keys: dict[str, None] = {}
            for record in next(self.scroll(batch_size=20, include=("metadata",)), []):
                keys.update(dict.fromkeys(flat_fields(record.metadata)))
        except VectorDBError as error:
            fields = html_fields([("error", str(error))])
            return html_repr(f"Collection {self.name}", text, fields)
        return collection_html(info, list(keys)[:12], text)

    def _live_state(self, *, refresh: bool = True) -> CollectionState:
        """The collection's state, after catching up with other processes' commits (unless
        the caller's read loop just did, ``refresh=False``)."""
        self._database._ensure_open(refresh=refresh)
        if self._state.dropped:
            raise DatabaseClosedError(f"collection {self.name!r} was dropped")
        return self._state

    def _writing(self) -> contextlib.AbstractContextManager[None]:
        """The engine's writer locks for one write through this handle (``ReadOnlyError``
        for a read-only handle, even when the process holds the database read-write too)."""
        self._database._ensure_writable(f"writing to collection {self.name!r}")
        return self._engine.writing()

    def batch(self, *, idempotency_key: str | None = None) -> Transaction:
        """A transaction (see :meth:`Database.transaction`), for writes to this collection
        (and any other of the database) that must happen together or not at all.

        Parameters
        ----------
        idempotency_key
            A string naming the transaction: a retry with the same key is applied once.

        Returns
        -------
        Transaction
            Use it in a ``with`` statement: the block's writes commit together at its end.

        Raises
        ------
        DatabaseClosedError
            If the database is closed.
        ReadOnlyError
            If the database is open read-only.
        InvalidArgumentError
            If ``idempotency_key`` is not a non-empty string of bounded length.
        TransactionError
            On entering it inside another transaction, or from another thread.
        LockTimeoutError
            On entering it, if another process holds the writer lock past ``lock_timeout``.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     with docs.batch():
        ...         _ = docs.add([[1, 0]], ids=["a"])
        ...         _ = docs.delete("a")
        ...         _ = docs.add([[0, 1]], ids=["b"])
        ...     docs.ids()
        ['b']
        """
        return self._database.transaction(idempotency_key=idempotency_key)

    # ----------------------------------------------------------------- writes
    @_measured("add")
    def add(
        self,
        vectors: Any = None,
        *,
        ids: Sequence[str] | str | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | Mapping[str, Any] | None = None,
        documents: Sequence[str | None] | str | None = None,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Insert new records; returns their ids.

        Parameters
        ----------
        vectors
            ``(n, dim)`` array-like of numbers (one 1-D vector is accepted for n = 1); or
            None on a collection with an embedding function, which then embeds
            ``documents`` (every record needs one).
        ids
            ``n`` unique strings, or None for generated uuid4 strings.
        metadata
            ``n`` mappings (or None entries), or None; values must be storable by msgpack.
        documents
            ``n`` texts (``str``, or None entries: no document), or None: the records' text,
            returned by reads with ``include=("document",)`` (and by ``search`` by default
            once the collection holds any). An empty string is no document. At most 1 MiB
            of UTF-8 each.
        idempotency_key
            A string naming this request: a retry with the same key (after a timeout, a
            lost response, a restart) is applied once and returns the first call's ids, even
            generated ones (docs/concurrency.md).

        Returns
        -------
        list of str
            The ids of the records added, in the order of ``vectors``.

        Raises
        ------
        DuplicateIdError
            If any id is already stored or repeated in the batch; nothing is added.
        IdempotencyKeyReuseError
            If ``idempotency_key`` names an earlier, different request; nothing is added.
        DimensionMismatchError, InvalidVectorError, InvalidMetadataError, InvalidArgumentError
            For malformed input; nothing is added.
        EmbeddingError
            If the embedding function could not embed the documents; nothing is added.
        CollectionFullError
            If the records would pass the collection's ``max_vectors`` or ``max_bytes``.
        ReadOnlyError
            If the database is open read-only (or the disk is under ``min_free_disk_bytes``).
        LockTimeoutError
            If another process holds the writer lock past ``lock_timeout``.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     docs.add([[1, 0, 0], [0, 1, 0]], ids=["a", "b"], metadata=[{"lang": "en"}, None])
        ...     docs.add([0, 0, 1])  # one vector, a generated id
        ['a', 'b']
        ['...-...-...-...-...']
        """
        matrix, embedded = self._vectors_or_embedded(vectors, documents, "add")
        generated = ids is None
        id_list = uuid4_strings(len(matrix)) if ids is None else checked_ids(ids, len(matrix))
        # errors name generated records by position: their ids mean nothing to the caller yet
        blobs = metadata_blobs(
            metadata, len(matrix), self.config.metadata_schema, None if generated else id_list
        )
        texts = document_blobs(documents, len(matrix), None if generated else id_list)
        state = self._live_state()
        with self._writing():
            done_before, result, keyed = self._engine.applied_before(
                state, idempotency_key, "add", None if generated else "\x1f".join(id_list),
                b"embedded" if embedded else matrix.data.cast("B"), _joined(blobs),
                *_documents_part(texts),
            )  # fmt: skip
            if done_before:
                return id_list if result is None else list(result)
            store = state.store
            pending = self._engine.pending_view(state)
            # 122 random bits per generated id: a collision is not a practical concern
            if not generated:
                if pending is not None:
                    taken = {vector_id for vector_id in id_list if pending.exists(vector_id)}
                elif not store.row_of.keys().isdisjoint(id_list):
                    taken = store.row_of.keys() & id_list
                else:
                    taken = set()
                if taken:
                    example = quoted_ids(sorted(taken))
                    raise DuplicateIdError(
                        f"{len(taken)} id(s) already stored in {self.name!r}, e.g. {example}; "
                        "nothing was added. Use upsert() to replace records"
                    )
            self._engine.put(state, id_list, matrix, blobs, documents=texts, ids_are_new=True,
                             keyed=keyed, result=id_list)  # fmt: skip
        return id_list

    @_measured("upsert")
    def upsert(
        self,
        vectors: Any = None,
        *,
        ids: Sequence[str] | str,
        metadata: Sequence[Mapping[str, Any] | None] | Mapping[str, Any] | None = None,
        documents: Sequence[str | None] | str | None = None,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Insert records, or replace whole records (vector, metadata and document) whose id
        exists.

        ``metadata=None`` stores the records without metadata; to change only vectors or only
        metadata of existing records use :meth:`update`.

        Parameters
        ----------
        vectors
            ``(n, dim)`` array-like of numbers (one 1-D vector is accepted for n = 1); or
            None on a collection with an embedding function, which then embeds
            ``documents`` (every record needs one).
        ids
            ``n`` unique strings (required: they say which records to replace).
        metadata
            ``n`` mappings (or None entries), or None; as in :meth:`add`.
        documents
            ``n`` texts (or None entries), or None: as in :meth:`add` (a replaced record
            keeps no document it is not given).
        idempotency_key
            See :meth:`add`.

        Returns
        -------
        list of str
            The ids given, in their order.

        Raises
        ------
        DuplicateIdError
            If an id is repeated in the batch; nothing is written.
        IdempotencyKeyReuseError
            If ``idempotency_key`` names an earlier, different request; nothing is written.
        DimensionMismatchError, InvalidVectorError, InvalidMetadataError, InvalidArgumentError
            For malformed input; nothing is written.
        EmbeddingError
            If the embedding function could not embed the documents; nothing is written.
        CollectionFullError
            If the new records would pass the collection's ``max_vectors`` or ``max_bytes``.
        ReadOnlyError
            If the database is open read-only (or the disk is under ``min_free_disk_bytes``).
        LockTimeoutError
            If another process holds the writer lock past ``lock_timeout``.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     _ = docs.add([[1, 0, 0]], ids=["a"], metadata=[{"v": 1}])
        ...     docs.upsert([[0, 1, 0], [0, 0, 1]], ids=["a", "b"], metadata=[{"v": 2}, None])
        ...     docs.get("a")
        ['a', 'b']
        Record(id='a', vector=[0.00, 1.00, 0.00] (3), metadata={'v': 2})
        """
        matrix, embedded = self._vectors_or_embedded(vectors, documents, "upsert")
        id_list = checked_ids(ids, len(matrix))
        blobs = metadata_blobs(metadata, len(matrix), self.config.metadata_schema, id_list)
        texts = document_blobs(documents, len(matrix), id_list)
        state = self._live_state()
        with self._writing():
            done_before, result, keyed = self._engine.applied_before(
                state, idempotency_key, "upsert", "\x1f".join(id_list),
                b"embedded" if embedded else matrix.data.cast("B"), _joined(blobs),
                *_documents_part(texts),
            )  # fmt: skip
            if done_before:
                return id_list if result is None else list(result)
            self._engine.put(state, id_list, matrix, blobs, documents=texts, keyed=keyed,
                             result=id_list)  # fmt: skip
        return id_list

    @_measured("update")
    def update(
        self,
        ids: Sequence[str] | str | None = None,
        *,
        vectors: Any = None,
        metadata: Sequence[Mapping[str, Any] | None] | Mapping[str, Any] | None = None,
        where: Mapping[str, Any] | None = None,
        merge: bool = True,
        unset: Sequence[str] | None = None,
        documents: Sequence[str | None] | str | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Change stored records: their vectors, their metadata, or both; returns how many
        records were updated. One atomic write.

        The merge reads the stored metadata under the database's writer lock, after
        catching up with other processes, and logs the merged mappings whole: no write of
        another thread or process between the read and the write is lost.

        Parameters
        ----------
        ids
            The records to change (all must be stored), or None with ``where=``.
        vectors
            New vectors, one per id (the metadata is kept unless ``metadata=`` is given too).
            On a collection with an embedding function, ``documents=`` without ``vectors=``
            computes them from the new documents.
        metadata
            With ``merge=True`` (the default), the given keys are **merged** into each
            record's stored mapping: other keys are kept, a key given as None stores None. One
            mapping applies to every record; a list gives one entry per id, and a None entry
            leaves that record's metadata as it is. With ``merge=False`` the given mapping
            replaces the stored one whole.
        where
            A filter instead of ``ids``: every matching record is updated (``metadata=`` /
            ``unset=`` only; it cannot take vectors).
        merge
            False: replace each record's metadata instead of merging into it.
        unset
            Metadata keys to remove from every record updated; ``"a.b"`` removes key ``b``
            of the mapping under ``a``. Keys a record does not have are ignored.
        documents
            New documents, one per id (a ``str`` for one id): a None entry keeps that
            record's document, ``""`` removes it. Not with ``where=``. Without it (and with
            ``vectors=`` too) every record keeps its document.
        idempotency_key
            See :meth:`add` (a retry returns the first call's count).

        Returns
        -------
        int
            The number of records updated (0 when ``where`` matches none).

        Raises
        ------
        IdNotFoundError
            If any id is not stored; nothing is changed.
        InvalidArgumentError
            If both or neither of ``ids`` and ``where`` are given, if nothing is to change, or
            if ``where=`` comes with vectors.
        InvalidMetadataError
            If a value cannot be stored, or a merged mapping breaks the collection's schema.
        InvalidFilterError
            If ``where`` is malformed.
        DimensionMismatchError, InvalidVectorError
            For malformed ``vectors``; nothing is changed.
        IdempotencyKeyReuseError
            If ``idempotency_key`` names an earlier, different request; nothing is changed.
        ReadOnlyError
            If the database is open read-only (or the disk is under ``min_free_disk_bytes``).
        LockTimeoutError
            If another process holds the writer lock past ``lock_timeout``.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     _ = docs.add([[1, 0, 0]], ids=["a"], metadata=[{"lang": "en"}])
        ...     docs.update("a", metadata={"tag": "x"})
        ...     docs.update(where={"lang": "en"}, unset=["lang"])
        ...     docs.get("a", include=("metadata",))
        1
        1
        Record(id='a', vector=None, metadata={'tag': 'x'})
        """
        id_list, expression, paths, given, texts = checked_update(
            ids, where, vectors=vectors, metadata=metadata, unset=unset, documents=documents
        )
        matrix = None
        if id_list is not None and vectors is not None:
            matrix = self._vectors(vectors, expected=len(id_list))
        elif id_list is not None and documents is not None:
            matrix = self._reembedded(documents, len(id_list))
        request = _update_request(id_list, expression, matrix, given, merge, paths, texts)
        state = self._live_state()
        with self._writing():
            done_before, result, keyed = self._engine.applied_before(
                state, idempotency_key, *request
            )
            if done_before:
                return int(result) if result is not None else len(id_list or ())
            pending = self._engine.pending_view(state)
            if id_list is None:
                assert expression is not None
                id_list = execute.ids_to_write(state, expression, pending)
            else:
                self._require_ids(id_list, pending)
            if not id_list:
                return 0
            blobs, resolved = updated_values(
                state, id_list, pending, given=given, unset=paths, merge=merge, texts=texts,
                new_vectors=matrix is not None, schema=self.config.metadata_schema,
            )  # fmt: skip
            if matrix is None:
                self._engine.set_metadata(state, id_list, blobs, keyed, documents=resolved,
                                          result=len(id_list))  # fmt: skip
            else:
                self._engine.put(
                    state,
                    id_list,
                    matrix,
                    blobs,
                    keyed=keyed,
                    result=None,
                    documents=resolved if resolved and any(resolved) else None,
                )
            return len(id_list)

    @_measured("delete")
    def delete(
        self,
        ids: Sequence[str] | str | None = None,
        *,
        missing_ok: bool = False,
        where: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Delete records by id, or every record matching ``where``; returns how many were
        deleted. One atomic write either way.

        Parameters
        ----------
        ids
            The ids to delete (repeats are deleted once), or None with ``where=``.
        missing_ok
            True: pass over ids that are not stored instead of raising.
        where
            A filter instead of ``ids``: every matching record is deleted.
        idempotency_key
            See :meth:`add` (a retry returns the first call's count).

        Returns
        -------
        int
            The number of records deleted.

        Raises
        ------
        IdNotFoundError
            If an id is not stored and ``missing_ok`` is false; nothing is deleted.
        InvalidArgumentError
            If both or neither of ``ids`` and ``where`` are given, or an id is not a string.
        InvalidFilterError
            If ``where`` is malformed.
        IdempotencyKeyReuseError
            If ``idempotency_key`` names an earlier, different request; nothing is deleted.
        ReadOnlyError
            If the database is open read-only (or the disk is under ``min_free_disk_bytes``).
        LockTimeoutError
            If another process holds the writer lock past ``lock_timeout``.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1], [1, 1]], ids=["a", "b", "c"],
        ...                  metadata=[None, {"lang": "de"}, {"lang": "de"}])
        ...     docs.delete(["a", "x"], missing_ok=True), docs.delete(where={"lang": "de"})
        ...     len(docs)
        (1, 2)
        0
        """
        if (ids is None) == (where is None):
            raise InvalidArgumentError("delete() takes ids or where=, exactly one of them")
        if where is not None:
            expression = parse_filter(where)
            state = self._live_state()
            with self._writing():
                done_before, result, keyed = self._engine.applied_before(
                    state, idempotency_key, "delete-where", repr(expression)
                )
                if done_before:
                    return int(result or 0)
                pending = self._engine.pending_view(state)
                matching = execute.ids_to_write(state, expression, pending)
                return self._engine.delete(state, matching, keyed)
        assert ids is not None
        id_list = checked_ids(ids, None, allow_repeats=True)
        state = self._live_state()
        with self._writing():
            done_before, result, keyed = self._engine.applied_before(
                state, idempotency_key, "delete", "\x1f".join(id_list),
                "missing_ok" if missing_ok else "",
            )  # fmt: skip
            if done_before:
                return len(set(id_list)) if result is None else int(result)
            store = state.store
            pending = self._engine.pending_view(state)
            if missing_ok:
                exists = store.row_of.__contains__ if pending is None else pending.exists
                id_list = list(dict.fromkeys(i for i in id_list if exists(i)))
            else:
                self._require_ids(id_list, pending)
                id_list = list(dict.fromkeys(id_list))
            return self._engine.delete(state, id_list, keyed)

    def _require_ids(self, id_list: list[str], pending: PendingWrites | None = None) -> None:
        row_of = self._state.store.row_of
        exists = row_of.__contains__ if pending is None else pending.exists
        missing = [vector_id for vector_id in id_list if not exists(vector_id)]
        if missing:
            raise IdNotFoundError(
                f"{len(missing)} id(s) not stored in {self.name!r}, e.g. {quoted_ids(missing)}; "
                "nothing "
                "was changed"
            )

    # ----------------------------------------------------------------- reads
    @_measured("get")
    def get(self, id: str, *, include: Iterable[str] = READ_INCLUDE) -> Record | None:
        """The record stored under ``id``, or None.

        Parameters
        ----------
        id
            The record's id (a ``str``, or a subclass such as ``np.str_``).
        include
            The fields to read: ``"vector"`` and / or ``"metadata"`` (both by default); a
            field left out is None in the record.

        Returns
        -------
        Record or None
            The record, or None if ``id`` is not stored.

        Raises
        ------
        InvalidArgumentError
            If ``id`` is not a string (several ids: :meth:`get_many`), or for a bad ``include``.
        CorruptionError
            Rather than return a vector whose checksum fails.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     _ = docs.add([[1, 0, 0]], ids=["a"], metadata=[{"k": 1}])
        ...     docs.get("a")
        ...     docs.get("a", include=("metadata",)), docs.get("x")
        Record(id='a', vector=[1.00, 0.00, 0.00] (3), metadata={'k': 1})
        (Record(id='a', vector=None, metadata={'k': 1}), None)
        """
        return self._get_many([checked_id(id)], include_set(include))[0]

    @_measured("get_many")
    def get_many(
        self, ids: Sequence[str], *, include: Iterable[str] = READ_INCLUDE
    ) -> list[Record | None]:
        """Records for ``ids`` in the same order, None where an id is not stored.

        Parameters
        ----------
        ids
            The ids to read (repeats allowed).
        include
            As in :meth:`get`.

        Returns
        -------
        list of Record or None
            One entry per id of ``ids``.

        Raises
        ------
        InvalidArgumentError
            If ``ids`` is not a sequence of strings, or for a bad ``include``.
        CorruptionError
            Rather than return a vector whose checksum fails.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     _ = docs.add([[1, 0, 0], [0, 1, 0]], ids=["a", "b"], metadata=[{"k": 1}, None])
        ...     docs.get_many(["b", "x", "a"], include=("metadata",))
        [Record(id='b', vector=None, metadata=None), None,
         Record(id='a', vector=None, metadata={'k': 1})]
        """
        return self._get_many(ids, include_set(include))

    def _get_many(
        self, ids: Sequence[str], included: frozenset[str] = _READ_FIELDS
    ) -> list[Record | None]:
        id_list = checked_ids(ids, None, allow_repeats=True)
        return self._consistent(self._read_records, id_list, included)

    def _consistent(
        self, read: Callable[_Params, _Result], *args: _Params.args, **kwargs: _Params.kwargs
    ) -> _Result:
        """Run ``read`` (which must not refresh) until no other process checkpointed while
        it ran: a checkpoint lets rows be reused, so a row the read trusted may hold another
        record since. A row whose checksum fails right after such a checkpoint (reused by
        the other process) is read again once caught up."""
        engine = self._engine
        for attempt in range(_READ_ATTEMPTS):
            seen = engine.refresh()
            try:
                result = read(*args, **kwargs)
            except CorruptionError:
                if not engine.stale(seen) or attempt == _READ_ATTEMPTS - 1:
                    raise
                continue
            if not engine.stale(seen):
                break
        return result

    def _read_records(self, id_list: list[str], included: frozenset[str]) -> list[Record | None]:
        return execute.records(self._live_state(refresh=False), id_list, included)  # refreshed

    def __contains__(self, id: object) -> bool:
        if not isinstance(id, str):
            return False
        state = self._live_state()
        with state.latch.read():
            return id in state.store.row_of

    def __len__(self) -> int:
        return self.count()

    def count(self, where: Mapping[str, Any] | None = None) -> int:
        """Number of stored records (matching ``where``, when given).

        Parameters
        ----------
        where
            A filter (``docs/filters.md``), or None to count every record.

        Returns
        -------
        int
            The number of records (matching ``where``).

        Raises
        ------
        InvalidFilterError
            If ``where`` is malformed.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1], [1, 1]], ids=["a", "b", "c"],
        ...                  metadata=[{"year": 2020}, {"year": 2024}, None])
        ...     docs.count(), docs.count({"year": {"$gte": 2021}})
        (3, 1)
        """
        state = self._live_state()
        if where is None:
            return state.store.count
        expression = parse_filter(where)
        with state.latch.read():
            return int(np.count_nonzero(matching_mask(state, expression)))

    def scroll(
        self,
        where: Mapping[str, Any] | None = None,
        batch_size: int = 1000,
        *,
        include: Iterable[str] = READ_INCLUDE,
    ) -> Iterator[Records]:
        """Every record (matching ``where``) in batches of ``batch_size``, in storage order.

        The cursor is a row position, so a record is never returned twice, even when writes
        happen between batches; records written meanwhile may or may not be returned.

        Parameters
        ----------
        where
            A filter (``docs/filters.md``), or None for every record.
        batch_size
            Records per batch (the last one may hold fewer).
        include
            As in :meth:`get`.

        Returns
        -------
        Iterator of Records
            One :class:`Records` list per batch.

        Raises
        ------
        InvalidFilterError
            If ``where`` is malformed.
        InvalidArgumentError
            If ``batch_size`` is not a positive integer, or for a bad ``include``.
        CorruptionError
            Rather than return a vector whose checksum fails.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1], [1, 1]], ids=["a", "b", "c"])
        ...     [[record.id for record in batch] for batch in docs.scroll(batch_size=2)]
        [['a', 'b'], ['c']]
        """
        expression = None if where is None else parse_filter(where)
        positive_int("batch_size", batch_size)
        included = include_set(include)
        cursor = 0
        while True:
            state = self._live_state()
            ids, cursor = execute.matching_ids(state, expression, from_row=cursor, limit=batch_size)
            if not ids:
                return
            yield Records(r for r in self._get_many(ids, included) if r is not None)

    def explain(
        self,
        where: Mapping[str, Any] | None = None,
        k: int = 10,
        *,
        exact: bool = False,
        query: str | None = None,
        query_type: QueryType | None = None,
        fusion: str = "convex",
        vector_weight: float | None = None,
    ) -> dict[str, Any]:
        """How ``search(q, k, where=where)`` would run now, and why; with a text
        ``query``, also the hits it gives and where each came from.

        Parameters
        ----------
        where
            The filter, as :meth:`search` takes it.
        k
            The number of hits the search would ask for.
        exact
            As in :meth:`search`.
        query, query_type, fusion, vector_weight
            A text query and its options, as :meth:`search` takes them.

        Returns
        -------
        dict
            With ``where``: ``plan`` (an exact scan of the matching rows, or the index with
            over-fetch), ``reason``, ``matches``, ``selectivity`` and the ``candidates`` the
            index would be asked for; and ``warnings``: fields no record has and comparisons
            with a type the field never holds (``{"year": "2020"}`` where every year is an
            int), each of which makes a condition match nothing. With ``query``:
            ``query_type``, and ``hits``: one dict per hit (``id``, ``score``,
            ``vector_rank``, ``vector_score``, ``keyword_rank``, ``keyword_score``; ranks
            from 1, None where that side did not find it), plus ``fusion`` and
            ``vector_weight`` for a hybrid query.

        Raises
        ------
        InvalidFilterError
            If ``where`` is malformed.
        InvalidArgumentError
            If ``k`` is not a positive integer.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"year": 2020}, None])
        ...     plan = docs.explain({"year": "2020"}, k=1)
        ...     plan["plan"], plan["matches"], plan["warnings"]
        ('exact scan of the matching rows', 0,
         ["year $eq '2020': year holds number values, never a string, so this matches nothing"])
        """
        positive_int("k", k)
        if query is not None:
            return by_text.explain_text(self, query, int(k), where, query_type, fusion,
                                        vector_weight)  # fmt: skip
        if where is None:
            raise InvalidArgumentError("explain() needs where= or a text query=")
        expression = parse_filter(where)
        state = self._live_state()
        with state.latch.read():
            matches = allowed_rows(state, expression).count
            explained = plan_filtered(state, matches, int(k), exact, "auto").as_dict()
            store = state.store
            explained["warnings"] = filter_warnings(
                expression, state.columns, store, store.live[: store.n_rows]
            )
            return explained

    def similarity(self, id_a: str, id_b: str) -> float:
        """The metric's score between two stored records (the value ``search`` would give
        one for the other: cosine similarity, inner product or euclidean distance).

        Parameters
        ----------
        id_a, id_b
            The ids of two stored records.

        Returns
        -------
        float
            Their score under the collection's metric.

        Raises
        ------
        IdNotFoundError
            If either id is not stored.
        InvalidArgumentError
            If an id is not a string.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     points = db.create_collection("points", dim=2, metric="euclidean")
        ...     _ = points.add([[0, 0], [3, 4]], ids=["a", "b"])
        ...     points.similarity("a", "b")
        5.0
        """
        return derived.similarity(self, id_a, id_b)

    def recommend(
        self,
        positive: Sequence[str],
        negative: Sequence[str] = (),
        k: int = 10,
        *,
        where: Mapping[str, Any] | None = None,
        include: Iterable[str] | None = None,
    ) -> SearchResults:
        """Records like the ``positive`` ones and unlike the ``negative`` ones: a search for
        ``mean(positive) + (mean(positive) - mean(negative))`` (just the mean of the positive
        vectors without negatives), leaving out the given records themselves.

        Parameters
        ----------
        positive
            Ids of stored records to find more like (at least one).
        negative
            Ids of stored records to steer away from.
        k, where, include
            As in :meth:`search`.

        Returns
        -------
        SearchResults
            Up to ``k`` hits, best first, none of them a given record.

        Raises
        ------
        IdNotFoundError
            If a given id is not stored.
        InvalidArgumentError
            If ``positive`` is empty, an id is not a string, or for a bad ``k`` or ``include``.
        InvalidFilterError
            If ``where`` is malformed.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     _ = docs.add([[1, 0, 0], [1, 1, 0], [1, 0, 1], [0, 0, 1]], ids=["a", "b", "c", "d"])
        ...     [hit.id for hit in docs.recommend(["a"], negative=["d"], k=2)]
        ['b', 'c']
        """
        return derived.recommend(self, positive, negative, k, where=where, include=include)

    def find_duplicates(
        self,
        threshold: float,
        *,
        k: int = 10,
        where: Mapping[str, Any] | None = None,
        batch_size: int = 1024,
    ) -> list[tuple[str, str, float]]:
        """Pairs of records at least ``threshold`` alike: cosine / dot ``score >= threshold``,
        euclidean ``distance <= threshold``. Each pair once, ``(id_a, id_b, score)`` with
        ``id_a < id_b``, most alike first.

        Every record (matching ``where``) is searched for with its own vector, in batches of
        ``batch_size``, keeping up to ``k`` partners per record: exact on a flat collection
        (quadratic in the number of records), as approximate as the index otherwise.

        Parameters
        ----------
        threshold
            The least score (cosine, dot) or the greatest distance (euclidean) of a pair.
        k
            Partners kept per record at most.
        where
            A filter: only records it matches are compared.
        batch_size
            Records searched for at a time.

        Returns
        -------
        list of tuple of (str, str, float)
            The pairs ``(id_a, id_b, score)``, most alike first.

        Raises
        ------
        InvalidArgumentError
            If ``threshold`` is not a finite number, or ``k`` or ``batch_size`` is not a
            positive integer.
        InvalidFilterError
            If ``where`` is malformed.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1], [1, 0]], ids=["a", "b", "c"])
        ...     docs.find_duplicates(0.99)
        [('a', 'c', 1.0)]
        """
        return derived.find_duplicates(self, threshold, k=k, where=where, batch_size=batch_size)

    def search_groups(
        self,
        query: Any,
        group_by: str,
        k: int = 10,
        *,
        group_size: int = 1,
        where: Mapping[str, Any] | None = None,
        include: Iterable[str] | None = None,
    ) -> list[tuple[Any, SearchResults]]:
        """The best ``k`` groups of hits, grouped by the metadata field ``group_by`` (dotted
        paths work), each with its ``group_size`` best hits, best group first. Records
        without the field are left out; values that are lists or maps group by their text.

        Parameters
        ----------
        query
            One vector of length ``dim``.
        group_by
            The metadata field whose value names a record's group.
        k
            How many groups at most.
        group_size
            How many hits per group at most.
        where, include
            As in :meth:`search`.

        Returns
        -------
        list of tuple of (value, SearchResults)
            ``[(value, hits), ...]``, best group first.

        Raises
        ------
        InvalidArgumentError
            If ``group_by`` is not a field name, ``k`` or ``group_size`` is not a positive
            integer, or for a bad ``include``.
        DimensionMismatchError, InvalidVectorError
            For a malformed ``query``.
        InvalidFilterError
            If ``where`` is malformed.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [1, 1], [0, 1]], ids=["a", "b", "c"],
        ...                  metadata=[{"doc": 1}, {"doc": 1}, {"doc": 2}])
        ...     groups = docs.search_groups([1, 0], "doc", k=2, group_size=2)
        ...     [(value, [hit.id for hit in hits]) for value, hits in groups]
        [(1, ['a', 'b']), (2, ['c'])]
        """
        return derived.search_groups(self, query, group_by, k, group_size=group_size,
                                     where=where, include=include)  # fmt: skip

    def find(
        self,
        where: Mapping[str, Any],
        limit: int | None = None,
        *,
        offset: int = 0,
        include: Iterable[str] = READ_INCLUDE,
    ) -> Records:
        """Records whose metadata match ``where`` (no vector search), in storage order: at
        most ``limit`` of them after skipping the first ``offset`` matches.

        Parameters
        ----------
        where
            A filter (``docs/filters.md``), e.g. ``{"lang": "en"}``.
        limit
            The most records to return; None for all.
        offset
            Matches to skip first (for paging).
        include
            As in :meth:`get`.

        Returns
        -------
        Records
            A list of :class:`Record` that also gives ``to_pandas()``.

        Raises
        ------
        InvalidFilterError
            If ``where`` is malformed.
        InvalidArgumentError
            If ``limit`` or ``offset`` is not a non-negative integer, or for a bad ``include``.
        CorruptionError
            Rather than return a vector whose checksum fails.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1], [1, 1]], ids=["a", "b", "c"],
        ...                  metadata=[{"lang": "en"}, {"lang": "de"}, {"lang": "en"}])
        ...     docs.find({"lang": "en"}, limit=1, offset=1, include=("metadata",))
        [Record(id='c', vector=None, metadata={'lang': 'en'})]
        """
        expression = parse_filter(where)
        if limit is not None:
            non_negative_int("limit", limit)
        non_negative_int("offset", offset)
        included = include_set(include)
        ids, _ = execute.matching_ids(self._live_state(), expression, skip=offset, limit=limit)
        if not ids:
            return Records()  # nothing matches (or limit=0)
        return Records(r for r in self._get_many(ids, included) if r is not None)

    def create_index(self, field: str) -> None:
        """Keep a column of the metadata field ``field`` (dotted for nested keys) for filters:
        built now, kept current by every write, saved with each checkpoint and loaded at
        open, so no filter on it ever decodes every record. Fields used in a filter get a
        column anyway on first use; declaring one moves that cost here and keeps it after a
        restart. Idempotent.

        Parameters
        ----------
        field
            The metadata field, e.g. ``"year"`` or ``"author.name"``.

        Raises
        ------
        InvalidArgumentError
            If ``field`` is not a non-empty name (with no empty part between dots).
        ReadOnlyError
            If the database is open read-only.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0]], ids=["a"], metadata=[{"year": 2024}])
        ...     docs.create_index("year")
        ...     docs.indexed_fields()
        {'year': True}
        """
        path = parse_path(field)
        self._database._ensure_writable("create_index()")
        state = self._live_state()
        with state.latch.read():
            state.columns.declare(path)
            state.columns.column(state.store, path)

    def drop_index(self, field: str) -> bool:
        """Forget the column of ``field`` (rebuilt on its next use in a filter).

        Parameters
        ----------
        field
            The metadata field, as :meth:`create_index` takes it.

        Returns
        -------
        bool
            True if there was a column of ``field``.

        Raises
        ------
        InvalidArgumentError
            If ``field`` is not a non-empty name (with no empty part between dots).
        ReadOnlyError
            If the database is open read-only.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     docs.create_index("year")
        ...     docs.drop_index("year"), docs.drop_index("year")
        (True, False)
        """
        path = parse_path(field)
        self._database._ensure_writable("drop_index()")
        state = self._live_state()
        with state.latch.read():
            return state.columns.drop(path)

    def indexed_fields(self) -> dict[str, bool]:
        """Fields with a column now.

        Returns
        -------
        dict of str to bool
            ``{field: declared with create_index}``, sorted by field.

        Raises
        ------
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0]], ids=["a"], metadata=[{"lang": "en", "year": 2024}])
        ...     docs.create_index("lang")
        ...     _ = docs.count({"year": 2024})  # a filter builds a column too
        ...     docs.indexed_fields()
        {'lang': True, 'year': False}
        """
        state = self._live_state()
        with state.latch.read():
            columns = state.columns
            declared = set(columns.declared)
            fields = set(columns.paths()) | declared
            return {".".join(path): path in declared for path in sorted(fields)}

    def ids(self, offset: int = 0, limit: int | None = None) -> list[str]:
        """Stored ids in storage order, ``limit`` of them starting at ``offset``.

        The order is stable while nothing is written, so pages do not overlap.

        Parameters
        ----------
        offset
            Ids to skip first.
        limit
            The most ids to return; None for all the rest.

        Returns
        -------
        list of str
            The ids of the page.

        Raises
        ------
        InvalidArgumentError
            If ``offset`` or ``limit`` is not a non-negative integer.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1], [1, 1]], ids=["a", "b", "c"])
        ...     docs.ids(), docs.ids(offset=1, limit=1)
        (['a', 'b', 'c'], ['b'])
        """
        non_negative_int("offset", offset)
        if limit is not None:
            non_negative_int("limit", limit)
        state = self._live_state()
        with state.latch.read():
            store = state.store
            rows = np.flatnonzero(store.live[: store.n_rows])
            stop = None if limit is None else offset + limit
            ids = store.row_ids
            return [ids[row] for row in rows[offset:stop].tolist()]

    @_measured("search", search=True)
    def search(
        self,
        query: Any,
        k: int = 10,
        *,
        include: Iterable[str] | None = None,
        mode: SearchMode = "auto",
        ef: int | None = None,
        nprobe: int | None = None,
        exact: bool = False,
        where: Mapping[str, Any] | None = None,
        radius: float | None = None,
        query_type: QueryType | None = None,
        fusion: str = "convex",
        vector_weight: float | None = None,
    ) -> SearchResults:
        """The ``k`` stored records nearest to ``query``, best first.

        Parameters
        ----------
        query
            One vector of length ``dim``, or a text (``str``): searched by meaning, by
            keywords or both, as ``query_type`` says.
        k
            How many hits at most (fewer when fewer records are stored).
        include
            Any of ``"metadata"``, ``"vector"`` and ``"document"``: what the hits carry
            besides id and score. Default: the metadata, and the document once the
            collection holds any document.
        mode
            How exact scans run: ``"auto"`` (numba kernels once loaded, numpy before),
            ``"numba"``, ``"numpy"`` or ``"scalar"`` (slow reference).
        ef
            HNSW only: candidate list size for this query (default: the collection's
            ``ef_search``); larger is slower and finds more of the true neighbours.
        nprobe
            IVF only: cells scanned for this query (default: the collection's ``nprobe``);
            ``nprobe`` equal to the number of cells scans every vector.
        exact
            Scan every stored vector in full precision even on an approximate or quantized
            collection (the ground truth, for recall checks).
        where
            Only records whose metadata match this filter (``docs/filters.md``), e.g.
            ``{"lang": "en", "year": {"$gte": 2020}}``: the best ``k`` among them (fewer only
            when fewer match). ``InvalidFilterError`` for a malformed filter.
        radius
            Range search: only hits at least this similar (cosine, dot: ``score >= radius``)
            or this near (euclidean: ``score <= radius``); still at most ``k`` of them.
            Vector queries only.
        query_type
            For a text query: ``"vector"`` (embedded by the collection's embedding function),
            ``"keyword"`` (BM25 over the documents) or ``"hybrid"`` (both, fused). Default:
            ``"hybrid"`` when the collection has an embedding function and documents,
            ``"vector"`` when it has no documents, ``"keyword"`` without an embedding
            function.
        fusion
            Hybrid only: ``"convex"`` (min-max normalised scores, weighted; the default) or
            ``"rrf"`` (reciprocal rank fusion, k = 60). See ``docs/text.md``.
        vector_weight
            Hybrid only: the vector side's weight, 0..1 (default 0.6, chosen by
            measurement); the keyword side gets the rest.

        Returns
        -------
        SearchResults
            A list of :class:`Hit` (``id``, ``score``, and what ``include`` names), best
            first, that also gives ``to_pandas()``. Scores: the metric's for vector
            searches, BM25 (higher is better) for keyword searches, the fused score for
            hybrid ones.

        Raises
        ------
        DimensionMismatchError
            If ``query``'s length is not ``dim``.
        InvalidVectorError
            If ``query`` holds NaN or infinity (or is all zeros under cosine).
        InvalidArgumentError
            If ``query`` is not one vector (several: :meth:`search_batch`), for a bad ``k``,
            ``include``, ``mode`` or ``radius``, an ``ef`` / ``nprobe`` the collection's
            index does not have, a ``query_type`` the query or collection cannot take (a
            text searched by vector without an embedding function), or a bad ``fusion`` /
            ``vector_weight``.
        EmbeddingError
            If the embedding function fails to embed a text query (its subclasses say
            why: provider unavailable, rate limited, circuit open).
        InvalidFilterError
            If ``where`` is malformed.
        CorruptionError
            Rather than return a hit whose stored vector fails its checksum.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     _ = docs.add([[1, 0, 0], [0, 1, 0]], ids=["a", "b"], metadata=[{"k": 1}, None])
        ...     docs.search([1, 0, 0], k=2)
        ...     docs.search([1, 0, 0], where={"k": {"$gt": 1}})
        [Hit(id='a', score=1.0, metadata={'k': 1}), Hit(id='b', score=0.0, metadata=None)]
        []
        """
        if isinstance(query, str):
            return by_text.search_text(
                self, query, k, query_type, fusion, vector_weight, where=where,
                include=include, radius=radius, mode=mode, ef=ef, nprobe=nprobe, exact=exact,
            )  # fmt: skip
        if query_type not in (None, "vector"):
            raise InvalidArgumentError(
                f"query_type={query_type!r} needs a text query (a str); got a vector"
            )
        array = numeric_array(query, "query")
        if array.ndim != 1:
            raise InvalidArgumentError(
                f"search() takes one vector (1-D); got shape {array.shape}. Use search_batch() "
                "for several queries"
            )
        index = self._state.index
        if radius is not None:
            check_radius(radius)
        # the same checks as search_batch with fewer steps, since every microsecond here is
        # a share of a ~30 us graph search or a ~10 us scan of a selective filter's rows
        included = search_options(k, ef, include, mode)
        knobs = search_knobs(self._state, self._name, ef, nprobe, mode)
        matrix = checked_query(array, dim=self._dim, collection=self._name,
                               zero_undefined=self._zero_undefined(normalize=False))  # fmt: skip
        if index is None or exact or mode == "scalar" or where is not None or radius is not None:
            expression = None if where is None else parse_filter(where)
            hits = self._search_matrix(matrix, k, included, expression, knobs, exact, mode)[0]
            return hits if radius is None else execute.within(hits, radius, self._metric)
        return self._consistent(self._index_hits, matrix, int(k), knobs, included)

    def _text_sides(
        self,
        text: str,
        k: int,
        where: Mapping[str, Any] | None,
        include: Iterable[str] | None,
        vector: Any = None,
        **vector_options: Any,
    ) -> tuple[SearchResults | None, SearchResults]:
        """``(vector hits, keyword hits)`` of ``text`` among the records matching ``where``,
        both read in one snapshot (vector hits None without a ``vector``: keyword only)."""
        mode = vector_options.get("mode", "auto")
        ef, nprobe = vector_options.get("ef"), vector_options.get("nprobe")
        included = search_options(k, ef, include, mode)
        expression = None if where is None else parse_filter(where)
        matrix = knobs = None
        if vector is not None:
            knobs = search_knobs(self._state, self._name, ef, nprobe, mode)
            undefined = self._zero_undefined(normalize=False)
            matrix = checked_query(numeric_array(vector, "query"), dim=self._dim,
                                   collection=self._name, zero_undefined=undefined)  # fmt: skip
        exact = bool(vector_options.get("exact", False))
        return self._consistent(self._text_rows, text, int(k), included, expression, matrix,
                                knobs, exact, mode)  # fmt: skip

    def _text_rows(
        self,
        text: str,
        k: int,
        included: frozenset[str],
        expression: Expression | None,
        matrix: npt.NDArray[np.float32] | None,
        knobs: SearchKnobs | None,
        exact: bool,
        mode: SearchMode,
    ) -> tuple[SearchResults | None, SearchResults]:
        state = self._live_state(refresh=False)  # _consistent refreshed
        with state.latch.read():
            if state.dropped:
                raise DatabaseClosedError(f"collection {self.name!r} was dropped")
            return execute.text_hits(state, self._metric, text, k, included, expression,
                                     matrix, knobs, exact, mode)  # fmt: skip

    def _index_hits(
        self, matrix: npt.NDArray[np.float32], k: int, knobs: SearchKnobs, included: frozenset[str]
    ) -> SearchResults:
        state = self._live_state(refresh=False)  # _consistent refreshed
        latch = state.latch
        latch.acquire_read()
        try:
            if state.dropped:  # dropped between the check above and the latch
                raise DatabaseClosedError(f"collection {self.name!r} was dropped")
            # read under the latch: a compaction may have swapped in a new index meanwhile
            index = state.index
            assert index is not None  # the collection's kind has an index, before and after
            rows, scores = index.search_one(matrix, k, knobs)
            return execute.hits(state.store, rows, scores, included)
        finally:
            latch.release_read()

    @_measured("search_batch", search=True)
    def search_batch(
        self,
        queries: Any,
        k: int = 10,
        *,
        include: Iterable[str] | None = None,
        mode: SearchMode = "auto",
        ef: int | None = None,
        nprobe: int | None = None,
        exact: bool = False,
        where: Mapping[str, Any] | None = None,
        radius: float | None = None,
        query_type: QueryType | None = None,
        fusion: str = "convex",
        vector_weight: float | None = None,
    ) -> list[SearchResults]:
        """One list of hits per row of the ``(n, dim)`` ``queries``, or per text of a list
        of texts; see :meth:`search`.

        Parameters
        ----------
        queries
            ``(n, dim)`` array-like of numbers, one query per row; or a list of texts
            (embedded in one call to the embedding function).
        k, include, mode, ef, nprobe, exact, where, radius
            As in :meth:`search`, for every query.
        query_type, fusion, vector_weight
            As in :meth:`search`, for text queries.

        Returns
        -------
        list of SearchResults
            One list of hits per query, in the order of ``queries``.

        Raises
        ------
        DimensionMismatchError
            If the queries' length is not ``dim``.
        InvalidVectorError
            If a query holds NaN or infinity (or is all zeros under cosine).
        InvalidArgumentError
            For a bad ``k``, ``include``, ``mode``, ``radius``, or an ``ef`` / ``nprobe`` the
            collection's index does not have.
        InvalidFilterError
            If ``where`` is malformed.
        CorruptionError
            Rather than return a hit whose stored vector fails its checksum.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     _ = docs.add([[1, 0, 0], [0, 1, 0]], ids=["a", "b"])
        ...     docs.search_batch([[1, 0, 0], [0, 1, 0]], k=1)
        [[Hit(id='a', score=1.0, metadata=None)], [Hit(id='b', score=1.0, metadata=None)]]
        """
        if isinstance(queries, np.ndarray) and queries.dtype.kind in "UO" and queries.ndim == 1:
            queries = queries.tolist()  # texts in an array (a DataFrame column's values)
        if isinstance(queries, (list, tuple)) and queries and all(
            isinstance(query, str) for query in queries
        ):
            return by_text.search_texts(
                self, list(queries), k, query_type, fusion, vector_weight, where=where,
                include=include, radius=radius, mode=mode, ef=ef, nprobe=nprobe, exact=exact,
            )  # fmt: skip
        hits = self._search_batch(
            queries, k, include=include, mode=mode, ef=ef, nprobe=nprobe, exact=exact, where=where
        )
        if radius is None:
            return hits
        check_radius(radius)
        return [execute.within(line, radius, self._metric) for line in hits]

    def _search_batch(
        self,
        queries: Any,
        k: int,
        *,
        include: Iterable[str] | None,
        mode: SearchMode,
        ef: int | None,
        nprobe: int | None,
        exact: bool,
        where: Mapping[str, Any] | None = None,
    ) -> list[SearchResults]:
        included = search_options(k, ef, include, mode)
        expression = None if where is None else parse_filter(where)
        knobs = search_knobs(self._state, self._name, ef, nprobe, mode)
        matrix = self._vectors(queries, what="query", normalize=False)
        return self._search_matrix(matrix, k, included, expression, knobs, exact, mode)

    def _search_matrix(
        self,
        matrix: npt.NDArray[np.float32],
        k: int,
        included: frozenset[str],
        expression: Expression | None,
        knobs: SearchKnobs,
        exact: bool,
        mode: SearchMode,
    ) -> list[SearchResults]:
        """Search validated queries, run again if another process checkpointed meanwhile."""
        return self._consistent(
            self._search_rows, matrix, k, included, expression, knobs, exact, mode
        )

    def _search_rows(
        self,
        matrix: npt.NDArray[np.float32],
        k: int,
        included: frozenset[str],
        expression: Expression | None,
        knobs: SearchKnobs,
        exact: bool,
        mode: SearchMode,
    ) -> list[SearchResults]:
        state = self._live_state(refresh=False)  # _consistent refreshed
        latch = state.latch
        latch.acquire_read()
        try:
            if state.dropped:  # dropped between the check above and the latch
                raise DatabaseClosedError(f"collection {self.name!r} was dropped")
            return execute.search_rows(state, self._metric, matrix, int(k), included, expression,
                                       knobs, exact, mode)  # fmt: skip
        finally:
            latch.release_read()

    def warmup(self) -> int:
        """Fault the collection's vectors into memory and load the search kernels, so the next
        queries run at full speed.

        Reads every row of the memory-mapped vector file once (the OS page cache keeps them
        while memory allows) and compiles or loads the numba kernels. Searches and writes can
        run meanwhile.

        Returns
        -------
        int
            The bytes of vectors touched.

        Raises
        ------
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     _ = docs.add([[1, 0, 0], [0, 1, 0]], ids=["a", "b"])
        ...     docs.warmup()  # 2 rows of 3 float32
        24
        """
        return self._live_state().warm_up()

    def rebuild_index(self) -> None:
        """Build the collection's HNSW graph afresh from the stored vectors and swap it in.

        The current graph keeps answering searches, and writes go on, while the new one
        builds (this call returns when it is in place; writes made meanwhile are indexed
        by the background indexer right after). Use it after many deletes, which leave
        marked-deleted elements in the graph. A flat collection has nothing to rebuild.

        Raises
        ------
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2, index="hnsw")
        ...     _ = docs.add([[1, 0], [0, 1], [1, 1]], ids=["a", "b", "c"])
        ...     _ = docs.delete(["c"])
        ...     docs.rebuild_index()
        ...     docs.search([0, 1], k=1)
        [Hit(id='b', score=1.0, metadata=None)]
        """
        state = self._live_state()
        if state.index is not None:
            state.index.rebuild()

    def wait_indexed(self, timeout: float | None = None) -> bool:
        """Block until the background indexer has put every written vector into the index.

        Never needed for correctness (searches also scan what is not indexed yet); useful
        before measuring speed. A flat collection is always indexed.

        Parameters
        ----------
        timeout
            The most seconds to wait; None waits as long as it takes.

        Returns
        -------
        bool
            True once everything is indexed; False if ``timeout`` seconds passed first.

        Raises
        ------
        DatabaseClosedError
            If the database is closed or the collection dropped.
        VectorDBError
            The error that stopped the background indexer, if one did (StorageError, for one).

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2, index="hnsw")
        ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"])
        ...     docs.wait_indexed(timeout=30)
        True
        """
        state = self._live_state()
        if state.index is None:
            return True
        return state.index.wait_indexed(timeout)

    def stats(self) -> CollectionInfo:
        """Counts, shape, times, and disk and memory bytes of this collection.

        Returns
        -------
        CollectionInfo
            ``count``, ``dim``, ``metric``, ``index``, ``created_at`` / ``updated_at``,
            ``disk_bytes``, ``memory_bytes``, ``dead_rows`` and more.

        Raises
        ------
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=3)
        ...     _ = docs.add([[1, 0, 0], [0, 1, 0]], ids=["a", "b"])
        ...     info = docs.stats()
        ...     info.count, info.dim, info.metric, info.index
        (2, 3, 'cosine', 'flat')
        """
        return self._live_state().info()

    # ----------------------------------------------------------------- import / export
    def export(
        self,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        batch_size: int = 10_000,
        progress: bool = False,
        where: Mapping[str, Any] | None = None,
        overwrite: bool = False,
    ) -> int:
        """Write every record (or those matching ``where``) to a file, streaming in batches;
        the file appears whole or not at all. See ``docs/operations.md``.

        Parameters
        ----------
        path
            The file to write: ``.jsonl``, ``.csv``, ``.npy`` (+ ids and metadata files) or
            ``.parquet``.
        format
            ``"jsonl"``, ``"csv"``, ``"npy"`` or ``"parquet"``; None (the default) takes it
            from the suffix of ``path``.
        batch_size
            Records read and written at a time.
        progress
            Show a progress bar on stderr (needs tqdm).
        where
            A filter: only the records it matches are written.
        overwrite
            Replace an existing file; False (the default) refuses to.

        Returns
        -------
        int
            The number of records written.

        Raises
        ------
        InvalidArgumentError
            For an unknown format or suffix, a bad ``batch_size``, a ``path`` that is a
            directory, or an existing file without ``overwrite=True``.
        InvalidFilterError
            If ``where`` is malformed.
        PathNotFoundError
            If the directory of ``path`` does not exist.
        InvalidMetadataError
            If a record's metadata has no JSON form (it holds bytes, for one).
        MissingDependencyError
            For Parquet without pyarrow installed.
        StorageError
            If the file cannot be written (``StorageFullError`` for a full disk).

        Examples
        --------
        >>> import tempfile, pathlib, vectordb
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with vectordb.open(folder / "db") as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"n": 1}, None])
        ...     docs.export(folder / "docs.jsonl")
        2
        >>> print((folder / "docs.jsonl").read_text().splitlines()[0])
        {"id": "a", "vector": [1,0], "metadata": {"n": 1}}
        """
        from vectordb.transfer.export import export_collection

        return export_collection(self, path, format=format, batch_size=batch_size,
                                 progress=progress, where=where, overwrite=overwrite)  # fmt: skip

    def import_file(
        self,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        batch_size: int = 10_000,
        on_conflict: str = "error",
        progress: bool = False,
        start_at: int = 0,
        metadata_columns: Sequence[str] | None = None,
    ) -> ImportReport:
        """Add the records of a file written by :meth:`export`, or of a table with flat
        columns, all or nothing: the whole file is validated first (a bad row raises,
        naming its line or row, and nothing is stored).

        Every column (JSON Lines: key) other than ``id``, the vector and ``metadata`` is a
        metadata field, a dotted name nested (``a.b``), an empty or null cell no field.

        Parameters
        ----------
        path
            A ``.jsonl``, ``.csv``, ``.npy`` or ``.parquet`` file.
        format
            As in :meth:`export`; None (the default) takes it from the suffix of ``path``.
        batch_size
            Rows read, checked and stored at a time.
        on_conflict
            ``"error"`` (an id already stored raises), ``"skip"`` or ``"replace"``.
        progress
            Show progress bars on stderr (needs tqdm).
        start_at
            Data rows to pass over first: if storing fails midway, ``ImportInterruptedError``
            says how many rows are stored; ``start_at=`` that number resumes.
        metadata_columns
            The columns (keys) to read as metadata fields instead of every other one.

        Returns
        -------
        ImportReport
            Counts of rows imported, skipped and replaced, and of rows read.

        Raises
        ------
        InvalidArgumentError
            For a bad ``format``, ``batch_size``, ``on_conflict``, ``start_at`` or
            ``metadata_columns``, or a bad id in the file; nothing is imported.
        PathNotFoundError
            If the file does not exist.
        InvalidFileError
            If the file does not parse as its format (the message names the line or row).
        DimensionMismatchError, InvalidVectorError, InvalidMetadataError
            For a row with a bad vector or metadata; nothing is imported.
        DuplicateIdError
            If an id appears twice in the file, or (``on_conflict="error"``) is already stored.
        MissingDependencyError
            For Parquet without pyarrow installed.
        ImportInterruptedError
            If storing failed after some rows were stored; ``rows_applied`` says how many.

        Examples
        --------
        >>> import tempfile, pathlib, vectordb
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> with vectordb.open(folder / "db") as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"lang": "en"}, None])
        ...     _ = docs.export(folder / "docs.jsonl")
        ...     copy = db.create_collection("copy", dim=2)
        ...     copy.import_file(folder / "docs.jsonl").imported, copy.get("a").metadata
        (2, {'lang': 'en'})
        """
        from vectordb.transfer.load import import_records

        return import_records(
            self, path, format=format, batch_size=batch_size, on_conflict=on_conflict,
            progress=progress, start_at=start_at, metadata_columns=metadata_columns,
        )  # fmt: skip

    def to_dataframe(
        self,
        where: Mapping[str, Any] | None = None,
        include: Iterable[str] = ("vector", "metadata", "document"),
        flatten: bool = True,
        *,
        include_vectors: bool | None = None,
    ) -> Any:
        """The records (matching ``where``) as a pandas DataFrame.

        What field columns cannot carry (null values, ``{}``) goes to a ``metadata`` column,
        so :meth:`add_dataframe` of the frame stores the same records. Needs pandas
        (``pip install "vectordb[pandas]"``).

        Parameters
        ----------
        where
            A filter: only the records it matches; None for all.
        include
            As in :meth:`get`, but all three by default: a ``document`` column is there
            when "document" is included and some record has one.
        flatten
            True: one column per metadata field, nested fields under dotted names; False: one
            ``metadata`` column of dicts.
        include_vectors
            Deprecated (``include=("metadata",)``).

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``vector``, one per metadata field (or ``metadata``) and
            ``document`` when some record has one.

        Raises
        ------
        InvalidArgumentError
            For a bad ``include``, ``flatten`` or ``include_vectors``.
        InvalidFilterError
            If ``where`` is malformed.
        MissingDependencyError
            If pandas is not installed.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"n": 1}, {"n": 2}])
        ...     print(docs.to_dataframe(include=("metadata",)))
          id  n
        0  a  1
        1  b  2
        """
        from vectordb.transfer.dataframe import collection_to_dataframe

        return collection_to_dataframe(self, where=where, include=include, flatten=flatten,
                                       include_vectors=include_vectors, warn_depth=3)  # fmt: skip

    def add_dataframe(
        self,
        frame: Any,
        *,
        id_column: str = "id",
        vector_column: str = "vector",
        metadata_column: str | None = "metadata",
        metadata_columns: Sequence[str] | None = None,
        on_conflict: str = "error",
        progress: bool = False,
        document_column: str | None = "document",
    ) -> ImportReport:
        """Add a pandas DataFrame's rows, all or nothing, with :meth:`import_file`'s checks
        (errors name the row).

        Every column other than the id, vector and metadata columns is a metadata field (a
        dotted name nested, a None / NaN cell no field), merged with the ``metadata``
        column's dicts when there is one; a field set twice raises.

        Parameters
        ----------
        frame
            A ``pandas.DataFrame``, one record per row.
        id_column
            The column of ids.
        vector_column
            The column of vectors (one list or array per cell).
        metadata_column
            A column of metadata dicts, if the frame has it; None for none.
        metadata_columns
            The field columns to read instead of every other column.
        on_conflict
            ``"error"`` (an id already stored raises), ``"skip"`` or ``"replace"``.
        progress
            Show a progress bar on stderr while storing (needs tqdm).
        document_column
            A column of documents (str; None / NaN / "" for none), if the frame has it;
            None for none.

        Returns
        -------
        ImportReport
            Counts of rows imported, skipped and replaced.

        Raises
        ------
        InvalidArgumentError
            If ``frame`` is not a DataFrame, lacks a named column or has two of one name,
            or for a bad id or argument; nothing is imported.
        DimensionMismatchError, InvalidVectorError, InvalidMetadataError, DuplicateIdError
            For a bad row (as :meth:`import_file`); nothing is imported.
        MissingDependencyError
            If pandas is not installed.
        ImportInterruptedError
            If storing failed after some batches were stored; ``rows_applied`` says how many.

        Examples
        --------
        >>> import tempfile, pandas, vectordb
        >>> frame = pandas.DataFrame({"id": ["a", "b"], "vector": [[1, 0], [0, 1]],
        ...                           "lang": ["en", "de"]})
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     docs.add_dataframe(frame).imported, docs.get("b").metadata
        (2, {'lang': 'de'})
        """
        from vectordb.transfer.dataframe import add_dataframe

        return add_dataframe(
            self, frame, id_column=id_column, vector_column=vector_column,
            metadata_column=metadata_column, metadata_columns=metadata_columns,
            on_conflict=on_conflict, progress=progress, document_column=document_column,
        )  # fmt: skip

    def compact(self) -> dict[str, int]:
        """Rewrite the collection's files with only its live records, so the space of deleted
        and replaced records is returned to the file system.

        Writers wait while it runs (it copies every live vector once); searches wait only for
        the final swap. Crash-safe: an interrupted compaction is finished or undone at the next
        open. Afterwards an HNSW or IVF index rebuilds in the background (searches are exact
        until it has). Runs automatically at checkpoints when dead rows pass
        ``compact_dead_share`` (see ``docs/configuration.md``).

        Returns
        -------
        dict of str to int
            ``rows_before``, ``rows_after``, ``bytes_before`` and ``bytes_after``.

        Raises
        ------
        ReadOnlyError
            If the database is open read-only.
        TransactionError
            Inside a transaction.
        LockTimeoutError
            If another process holds the writer lock past ``lock_timeout``.
        DatabaseClosedError
            If the database is closed or the collection dropped.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1], [1, 1]], ids=["a", "b", "c"])
        ...     _ = docs.delete(["a", "b"])
        ...     sizes = docs.compact()
        ...     sizes["rows_before"], sizes["rows_after"], docs.ids()
        (3, 1, ['c'])
        """
        self._database._ensure_writable("compact()")
        self._live_state()
        result: dict[str, int] = self._engine.compact(self.name)
        return result

    # ----------------------------------------------------------------- validation
    def _vectors_or_embedded(
        self, vectors: Any, documents: Any, what: str
    ) -> tuple[npt.NDArray[np.float32], bool]:
        """The checked ``vectors`` of a write, or, when none are given, its ``documents``
        embedded by the collection's embedding function (before any lock is taken: a
        provider's latency never holds up other writers). Returns ``(matrix, embedded)``."""
        if vectors is not None:
            return self._vectors(vectors), False
        texts = texts_to_embed(documents, what)
        embedder = by_text.required_embedder(self, what)
        # refused before the provider is asked, not after
        self._live_state(refresh=False)
        self._database._ensure_writable(f"writing to collection {self.name!r}")
        return self._vectors(embedder.embed(texts)), True

    def _reembedded(self, documents: Any, count: int) -> npt.NDArray[np.float32] | None:
        """``update(documents=...)`` without vectors on a collection with an embedding
        function: the new documents' vectors; None for a collection without one."""
        embedder = self._attached_embedder()
        if embedder is None:
            return None
        texts = texts_to_reembed(documents, count, self.name)
        self._live_state(refresh=False)  # refused before the provider is asked, not after
        self._database._ensure_writable(f"writing to collection {self.name!r}")
        return self._vectors(embedder.embed(texts), expected=count)

    def _attached_embedder(self) -> AttachedEmbedder | None:
        return self._database._embedder(self._state)

    def _vectors(
        self,
        vectors: Any,
        *,
        expected: int | None = None,
        what: str = "vector",
        normalize: bool | None = None,
    ) -> npt.NDArray[np.float32]:
        if normalize is None:
            normalize = self.config.normalize
        return checked_vectors(
            vectors, dim=self.dim, collection=self.name, expected=expected, what=what,
            normalize=normalize, zero_undefined=self._zero_undefined(normalize=normalize),
        )  # fmt: skip

    def _zero_undefined(self, *, normalize: bool) -> str | None:
        """What an all-zero vector breaks here (None: nothing)."""
        if self._metric is Metric.COSINE:
            return "cosine similarity"
        return "normalization" if normalize else None


# --------------------------------------------------------------------- helpers
def _update_request(
    id_list: list[str] | None,
    expression: Expression | None,
    matrix: npt.NDArray[np.float32] | None,
    given: list[dict[str, Any] | None] | None,
    merge: bool,
    paths: list[tuple[str, ...]],
    texts: list[bytes | None] | None = None,
) -> tuple[Any, ...]:
    """What an ``update`` call asked for, for its idempotency key's digest."""
    documents = () if texts is None else (
        "documents", _joined([b"\xff" if text is None else b"\x00" + text for text in texts]),
    )  # fmt: skip
    return (
        "update", repr(expression) if id_list is None else "\x1f".join(id_list),
        None if matrix is None else matrix.data.cast("B"),
        None if given is None else _joined(packed_metadata(given)),
        "merge" if merge else "replace", "\x1f".join(".".join(p) for p in paths), *documents,
    )  # fmt: skip


def _documents_part(texts: list[bytes] | None) -> tuple[Any, ...]:
    """The documents of an ``add`` / ``upsert`` for its request digest: nothing when there
    are none (so the digests of requests without documents are as before format 3)."""
    return () if texts is None else ("documents", _joined(texts))


def _joined(blobs: list[bytes] | None) -> bytes | None:
    """Metadata blobs as one byte string for a request digest (each length-prefixed)."""
    if blobs is None:
        return None
    return b"".join(len(blob).to_bytes(4, "little") + blob for blob in blobs)
