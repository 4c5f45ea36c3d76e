"""Transactions: several writes, on one or several collections, committed as one log record.

``with db.transaction():`` takes the writer locks (the in-process mutex, then the database's
inter-process lock) for its whole body, so it is serializable: no other writer, in this
process or another, runs until it ends. Writes inside it are validated at once (a duplicate
id raises at the ``add`` call) against the committed state plus the transaction's own
earlier writes (``PendingWrites``), and buffered; the commit writes one ``txn`` record and
applies every write under the exclusive latches of all the collections it touched (taken in
name order), so no reader, here or in another process, ever sees part of it. An exception in
the body, or ``rollback()``, discards the writes.

Reads inside the body see the committed state: a transaction's own writes become visible at
its commit (there is no read-your-own-writes; validation does account for them).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from vectordb.errors import TransactionError

if TYPE_CHECKING:
    from vectordb.engine.state import CollectionState
    from vectordb.storage.collection_store import CollectionStore
    from vectordb.storage.records import Write

__all__ = ["BufferedWrite", "PendingWrites", "Transaction", "TransactionHost"]


class TransactionHost(Protocol):
    """What a transaction needs of the engine that runs it (``engine.Engine``)."""

    def begin_transaction(self, transaction: Transaction) -> None: ...

    def commit_transaction(self, transaction: Transaction) -> None: ...

    def end_transaction(self, transaction: Transaction) -> None: ...


_DELETED = object()


class PendingWrites:
    """One collection as a transaction's buffered writes will leave it: which ids exist and
    their metadata. Falls back to the committed store for ids the transaction did not touch."""

    def __init__(self, store: CollectionStore) -> None:
        self.store = store
        self._state: dict[str, Any] = {}  # id -> metadata bytes after the writes, or _DELETED
        self._documents: dict[str, bytes] = {}  # id -> document after the writes (b"": none)
        self.net_new = 0  # records added minus records deleted

    def exists(self, vector_id: str) -> bool:
        state = self._state.get(vector_id)
        if state is None:
            return vector_id in self.store.row_of
        return state is not _DELETED

    def metadata_bytes(self, vector_id: str) -> bytes:
        state = self._state.get(vector_id)
        if state is None:
            return self.store.metadata_bytes(self.store.row_of[vector_id])
        assert state is not _DELETED
        return bytes(state)

    def document_bytes(self, vector_id: str) -> bytes:
        """The document of a stored id as the transaction's writes leave it (b"": none)."""
        found = self._documents.get(vector_id)
        if found is not None:
            return found
        return self.store.documents.get(self.store.row_of[vector_id])

    def put(
        self, ids: list[str], blobs: list[bytes] | None, documents: list[bytes] | None = None
    ) -> None:
        for position, vector_id in enumerate(ids):
            if not self.exists(vector_id):
                self.net_new += 1
            self._state[vector_id] = b"" if blobs is None else blobs[position]
            self._documents[vector_id] = b"" if documents is None else documents[position]

    def delete(self, ids: list[str]) -> None:
        for vector_id in ids:
            if self.exists(vector_id):
                self.net_new -= 1
                self._state[vector_id] = _DELETED

    def set_metadata(
        self, ids: list[str], blobs: list[bytes], documents: list[bytes] | None = None
    ) -> None:
        for position, (vector_id, blob) in enumerate(zip(ids, blobs)):
            if self.exists(vector_id):
                self._state[vector_id] = blob
                if documents is not None:
                    self._documents[vector_id] = documents[position]

    def written(self) -> Iterator[tuple[str, bytes]]:
        """(id, metadata bytes) of every record the transaction put or changed."""
        for vector_id, state in self._state.items():
            if state is not _DELETED:
                yield vector_id, state

    def deleted(self) -> set[str]:
        return {vector_id for vector_id, state in self._state.items() if state is _DELETED}


@dataclass(slots=True)
class BufferedWrite:
    """A write made in a transaction, applied at its commit."""

    state: CollectionState
    write: Write
    ids_are_new: bool = False


class Transaction:
    """What ``Database.transaction()`` returns; use it in a ``with`` statement.

    ``already_applied`` is True when an ``idempotency_key`` names a transaction committed
    before: the body still runs (Python cannot skip it) but its writes do nothing (no
    validation either: the state has moved on; they return the ids they were given), and a
    body that asks for different writes raises ``IdempotencyKeyReuseError`` at the end.

    Attributes
    ----------
    idempotency_key : str or None
        The key given to ``Database.transaction()``.
    already_applied : bool
        Whether the key names a transaction committed before (set when the block starts).
    state : str
        ``"new"``, ``"open"``, ``"committed"`` or ``"rolled back"``.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     for attempt in range(2):  # a retry with the same key is applied once
    ...         with db.transaction(idempotency_key="load-1") as txn:
    ...             _ = docs.add([[1, 0]], ids=["a"])
    ...         print(txn.already_applied, txn.state, len(docs))
    False committed 1
    True committed 1
    """

    def __init__(self, engine: TransactionHost, idempotency_key: str | None = None) -> None:
        self._engine = engine
        self.idempotency_key = idempotency_key
        self.already_applied = False
        self.state = "new"  # new -> open -> committed | rolled back
        self._thread: int | None = None
        self._writing: Any = None
        self.writes: list[BufferedWrite] = []
        self.pending: dict[int, PendingWrites] = {}
        #: digests of the write requests made in the body (with an idempotency key): what
        #: a retry must repeat
        self.requests: list[bytes] = []
        self.lsn: int | None = None

    def __repr__(self) -> str:
        return f"<vectordb.Transaction {self.state} writes={len(self.writes)}>"

    # ----------------------------------------------------------------- context manager
    def __enter__(self) -> Transaction:
        if self.state != "new":
            raise TransactionError(f"this transaction is {self.state}; start a new one")
        self._engine.begin_transaction(self)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._check_thread()
        try:
            if self.state == "open":
                if error is not None:
                    self._discard()
                else:
                    try:
                        self._engine.commit_transaction(self)
                    except BaseException:
                        if self.state != "committed":  # else: a checkpoint after it failed
                            self._discard()
                        raise
                    self.state = "committed"
                    self.writes = []
                    self.pending = {}
        finally:
            self._engine.end_transaction(self)

    def rollback(self) -> None:
        """Discard every write of the transaction now. The locks are held until the ``with``
        block ends; writes later in the block raise ``TransactionError``.

        Raises
        ------
        TransactionError
            If the transaction is not open (not entered yet, committed or rolled back
            already), or when called from another thread than the one that opened it.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     with db.transaction() as txn:
        ...         _ = docs.add([[1, 0]], ids=["a"])
        ...         txn.rollback()
        ...     txn.state, len(docs)
        ('rolled back', 0)
        """
        self._check_thread()
        if self.state != "open":
            raise TransactionError(f"this transaction is {self.state}; nothing to roll back")
        self._discard()

    # ----------------------------------------------------------------- engine side
    def attach(self, writing: Any) -> None:
        """The engine opened the transaction in the calling thread, holding ``writing`` (the
        writer locks' context) until ``detach``."""
        self._thread = threading.get_ident()
        self._writing = writing
        self.state = "open"

    def detach(self) -> Any:
        """The writer locks' context given to ``attach`` (None after the first call): the
        engine releases it as the transaction ends."""
        writing, self._writing = self._writing, None
        return writing

    def belongs_to_current_thread(self) -> bool:
        return self._thread == threading.get_ident()

    def _check_thread(self) -> None:
        if self._thread is not None and self._thread != threading.get_ident():
            raise TransactionError(
                "a transaction belongs to the thread that opened it; use it only there "
                "(other threads open their own)"
            )

    def view(self, state: CollectionState) -> PendingWrites:
        """The collection ``state`` as the writes buffered so far leave it."""
        view = self.pending.get(id(state))
        if view is None:
            view = self.pending[id(state)] = PendingWrites(state.store)
        return view

    def buffer(self, write: BufferedWrite) -> None:
        if self.state != "open":
            raise TransactionError(f"this transaction is {self.state}; no more writes")
        self.writes.append(write)

    def _discard(self) -> None:
        for view in self.pending.values():
            view.store.clear_reservations()
        self.writes = []
        self.pending = {}
        self.state = "rolled back"
