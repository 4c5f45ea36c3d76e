"""The read half of ``Collection.update``'s read-modify-write, under the writer lock: what
the records store now (as an open transaction's writes leave them) and what they will store
after the update, so that the log record holds whole values and no other write is lost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from vectordb.inputs import merged_blobs

if TYPE_CHECKING:
    from vectordb.engine.state import CollectionState
    from vectordb.engine.transaction import PendingWrites

__all__ = ["UpdatedValues", "stored_documents", "stored_metadata", "updated_values"]


class UpdatedValues(NamedTuple):
    blobs: list[bytes]
    """Each record's metadata bytes after the update."""
    documents: list[bytes] | None
    """Each record's document after the update (b"": none), or None: all stay as they are."""


def stored_metadata(
    state: CollectionState, id_list: Sequence[str], pending: PendingWrites | None
) -> list[bytes]:
    """The metadata bytes stored for ``id_list`` (all stored; the caller holds the writer
    lock), as the open transaction's writes leave them."""
    if pending is not None:
        return [pending.metadata_bytes(vector_id) for vector_id in id_list]
    store = state.store
    row_of = store.row_of
    return [store.metadata_bytes(row_of[vector_id]) for vector_id in id_list]


def stored_documents(
    state: CollectionState, id_list: Sequence[str], pending: PendingWrites | None
) -> list[bytes]:
    """The documents stored for ``id_list`` (b"": none), as ``stored_metadata``."""
    if pending is not None:
        return [pending.document_bytes(vector_id) for vector_id in id_list]
    store = state.store
    row_of = store.row_of
    return [store.documents.get(row_of[vector_id]) for vector_id in id_list]


def updated_values(
    state: CollectionState,
    id_list: Sequence[str],
    pending: PendingWrites | None,
    *,
    given: list[dict[str, Any] | None] | None,
    unset: list[tuple[str, ...]],
    merge: bool,
    texts: Sequence[bytes | None] | None,
    new_vectors: bool,
    schema: Mapping[str, Any] | None,
) -> UpdatedValues:
    """The metadata and documents of ``id_list`` after an update: ``given`` (one entry for
    every record, or one per record, or None) merged into or replacing what is stored,
    ``unset`` paths removed, ``texts`` (None entries keep) over the stored documents. With
    ``new_vectors`` the documents are resolved even when ``texts`` is None (a ``put``
    record carries whole records)."""
    stored = stored_metadata(state, id_list, pending)
    if given is None and not unset:
        blobs = stored
    else:
        entries = given if given is None or len(given) > 1 else given * len(id_list)
        blobs = merged_blobs(stored, entries, unset, merge=merge, schema=schema, ids=id_list)
    documents = None  # every document stays as it is
    if texts is not None or new_vectors:
        kept = stored_documents(state, id_list, pending)
        documents = kept if texts is None else [
            old if new is None else new for old, new in zip(kept, texts)
        ]  # fmt: skip
    return UpdatedValues(blobs, documents)
