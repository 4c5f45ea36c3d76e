"""The state of one open collection, and the one path every write takes into it.

``CollectionState`` holds what the engine keeps per collection (store, latch, index, metadata
columns, filter cache). ``apply_write`` applies a logged write to it: live writes,
transactions, replay at open and following other processes all go through it, so the state a
process builds while writing is the state another builds by replaying the log
(``tests/test_apply_path.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.config import Metric
from vectordb.errors import CorruptionError
from vectordb.files.checksummed import read_checksummed_map
from vectordb.files.headers import COLUMNS_MAGIC
from vectordb.filters.columns import MetadataColumns, parse_path
from vectordb.index.base import RowSource, VectorIndex
from vectordb.index.keywords import DocumentSource, KeywordIndex
from vectordb.locking import ReadWriteLatch
from vectordb.results import CollectionInfo
from vectordb.storage.collection_store import CollectionStore
from vectordb.storage.layout import CollectionFiles
from vectordb.storage.records import (
    Decoded,
    Delete,
    Put,
    Record,
    SetMetadata,
    TransactionRecord,
    Write,
    decode,
)
from vectordb.storage.wal import WalRecord

__all__ = [
    "CollectionState",
    "apply_write",
    "decoded",
    "latch_order",
    "restore_columns",
    "write_targets",
]

log = logging.getLogger("vectordb")


class CollectionState:
    """One open collection: its store (rows, ids, metadata), its latch, its index (None for
    unquantized flat collections), its metadata columns and the filter cache.

    Every change to the records goes through ``apply_write`` (caller holds the exclusive
    latch), which applies it to the store, marks the changed rows in the columns and tells
    the index which rows were written and released. ``dropped`` is set when the collection
    goes away; handles that still hold the state then refuse to use it.
    """

    def __init__(self, store: CollectionStore, *, read_only: bool, threads: int = 1) -> None:
        self.latch = ReadWriteLatch()
        self.dropped = False
        self.read_only = read_only
        self.threads = threads
        #: (ef, nprobe) a search uses when it names neither; None: the index's own defaults
        self.search_defaults: tuple[int | None, int | None] | None = None
        self._attach(store)

    def _attach(self, store: CollectionStore) -> None:
        """Take ``store`` and build (load) its index."""
        self.store = store
        previous = getattr(self, "keywords", None)
        if previous is not None:  # compaction renumbered the rows: a new one compares hashes
            previous.close()
        self.keywords = KeywordIndex(
            store.files.keywords,
            store.manifest.uid,
            DocumentSource(
                n_rows=lambda: store.n_rows, document=lambda row: store.documents.get(row)
            ),
            read_only=self.read_only,
        )
        self.columns = MetadataColumns()  # metadata columns for filters, built on demand
        restore_columns(self.columns, store)
        for field in store.config.metadata_schema or ():  # declared fields are indexed
            self.columns.declare(parse_path(field))
        self.generation = 0  # bumped by every write: keys the filter-mask cache
        self.filter_masks: dict[str, tuple[int, Any]] = {}
        self.index: VectorIndex | None = None
        config = store.config
        quantization = config.quantization_config
        if config.index == "flat" and quantization is None:
            return
        source = RowSource(
            vectors=lambda: store.vectors.rows,
            live=lambda: store.live,
            sq_norms=lambda: store.sq_norms,
            n_rows=lambda: store.n_rows,
            latch=self.latch,
        )
        directory = store.files.index_dir
        if config.index == "hnsw":
            from vectordb.index.hnsw import HnswIndex

            self.index = HnswIndex(
                directory,
                store.dim,
                config.metric_enum,
                config.hnsw_config,
                source,
                read_only=self.read_only,
                threads=self.threads,
            )
        else:
            from vectordb.index.ivf import IvfIndex

            self.index = IvfIndex(
                directory,
                store.dim,
                config.metric_enum,
                source,
                ivf=config.ivf_config if config.index == "ivf" else None,
                quantization=quantization,
                read_only=self.read_only,
                threads=self.threads,
            )
        self.index.load(store.manifest.checkpoint_lsn, store.live[: store.n_rows].copy())

    def reopen(self, files: CollectionFiles, *, use_mmap: bool) -> None:
        """Load the collection again from ``files`` (after compaction rewrote them); caller
        holds the exclusive latch and has closed the old store."""
        self._attach(CollectionStore(files, read_only=self.read_only, use_mmap=use_mmap))

    @property
    def name(self) -> str:
        return self.store.manifest.name

    @property
    def uid(self) -> str:
        return self.store.manifest.uid

    def put(
        self,
        lsn: int,
        rows: npt.NDArray[np.int64],
        ids: list[str],
        vectors: npt.NDArray[np.float32],
        metadata: list[bytes] | None,
        documents: list[bytes] | None = None,
        *,
        ids_are_new: bool = False,
        vectors_in_file: bool = False,
    ) -> None:
        replaced = self.store.apply_put(
            lsn, rows, ids, vectors, metadata, documents, ids_are_new=ids_are_new,
            vectors_in_file=vectors_in_file,
        )  # fmt: skip
        self.columns.rows_changed(rows)
        self.generation += 1
        if self.keywords.active:
            self.keywords.rows_changed(rows)
            self.keywords.rows_changed(replaced or ())
        if self.index is not None:
            if replaced:
                self.index.rows_released(np.asarray(replaced, np.int64))
            self.index.rows_written(rows)

    def delete(self, lsn: int, ids: list[str]) -> None:
        deleted = self.store.apply_delete(lsn, ids)
        self.generation += 1
        self.keywords.rows_changed(deleted)
        if self.index is not None and deleted:
            self.index.rows_released(np.asarray(deleted, np.int64))

    def set_metadata(
        self,
        lsn: int,
        ids: list[str],
        metadata: list[bytes],
        documents: list[bytes] | None = None,
    ) -> None:
        row_of = self.store.row_of
        rows = [row_of[i] for i in ids if i in row_of]
        self.columns.rows_changed(rows)
        self.generation += 1
        self.store.apply_metadata(lsn, ids, metadata, documents)
        if documents is not None:
            self.keywords.rows_changed(rows)

    def info(self) -> CollectionInfo:
        """Counts, shape, times, and disk and memory bytes (``Collection.stats``)."""
        with self.latch.read():
            store = self.store
            config = store.config
            capacity = store.vectors.capacity
            memory = (
                capacity * (1 + 8 + 1 + 4)  # live, checksums, flags, norms
                + len(store.row_ids) * 8
                + store.count * 64
            )
            if not store.vectors.use_mmap:
                memory += capacity * store.vectors.row_bytes
            index_info = None if self.index is None else self.index.stats()
            if index_info is not None:
                memory += int(index_info["memory_bytes"])
            return CollectionInfo(
                name=self.name,
                count=store.count,
                dim=store.dim,
                metric=Metric(config.metric).value,
                index=config.index,
                normalize=config.normalize,
                created_at=store.manifest.created_at,
                updated_at=store.updated_at,
                disk_bytes=store.disk_bytes(),
                memory_bytes=memory,
                config=config.to_dict(),
                index_info=index_info,
                dead_rows=store.n_rows - store.count,
                dead_bytes=(store.n_rows - store.count) * store.vectors.row_bytes,
            )

    def warm_up(self) -> int:
        """Load the search and checksum kernels and read every row of the vector file once,
        64 MiB at a time under the shared latch (``Collection.warmup``); returns the bytes
        of vectors touched."""
        from vectordb.index.jit import load_kernels
        from vectordb.storage.collection_store import load_checksum_kernels

        load_kernels()
        load_checksum_kernels()
        touched = 0
        block = max(1, (64 << 20) // max(1, self.store.vectors.row_bytes))
        start = 0
        while True:
            with self.latch.read():
                store = self.store
                n = store.n_rows
                if start >= n:
                    break
                rows = store.vectors.rows[start : min(n, start + block)]
                # one read per 4 KiB page is enough to fault it in; summing them is cheap
                np.add.reduce(rows.reshape(-1)[:: max(1, 1024)], dtype=np.float64)
                touched += rows.nbytes
            start += block
        return touched

    def start_background_work(self) -> None:
        if self.index is not None:
            self.index.start()

    def close(self) -> None:
        if self.index is not None:
            self.index.close()
        self.keywords.close()
        self.store.close()


def restore_columns(columns: Any, store: CollectionStore) -> None:
    """Load a collection's saved metadata columns (``columns.bin``) when they are as of its
    checkpoint; anything else leaves them to be built on first use (derived data)."""
    path = store.files.columns
    try:
        body = read_checksummed_map(path, COLUMNS_MAGIC, "metadata columns")
        columns.restore(body, store.manifest.checkpoint_lsn, store.n_rows)
    except FileNotFoundError:
        return
    except (CorruptionError, OSError, ValueError, KeyError, TypeError) as error:
        log.warning("metadata columns %s not used (%s); they are rebuilt on use", path, error)


def apply_write(
    state: CollectionState,
    lsn: int,
    write: Write,
    *,
    vectors_in_file: bool,
    ids_are_new: bool = False,
) -> None:
    """Apply one write to ``state`` (caller holds its exclusive latch): the one path of live
    writes, transactions, replay at open and following other processes.
    ``vectors_in_file``: the vectors are in the vector file already (the writer put them there
    before it logged them); ``ids_are_new``: ``add`` checked no id is stored (live only)."""
    if isinstance(write, Put):
        state.put(lsn, write.rows, write.ids, write.vector_array(state.store.dim), write.metadata,
                  write.documents, ids_are_new=ids_are_new,
                  vectors_in_file=vectors_in_file)  # fmt: skip
    elif isinstance(write, Delete):
        state.delete(lsn, write.ids)
    else:
        state.set_metadata(lsn, write.ids, write.metadata, write.documents)


def write_targets(
    by_uid: Mapping[str, CollectionState], entry: Record
) -> list[tuple[CollectionState, Write]]:
    """The (collection, write) pairs a record holds: one for a plain write, each write of a
    transaction, none for records about no open collection."""
    writes = entry.writes if isinstance(entry, TransactionRecord) else [entry]
    found = []
    for write in writes:
        if isinstance(write, (Put, Delete, SetMetadata)):
            state = by_uid.get(write.collection)
            if state is not None:
                found.append((state, write))
    return found


def decoded(record: WalRecord) -> Decoded:
    """``record``'s typed value; a map vectordb does not write is corruption, located."""
    try:
        return decode(record.payload)
    except CorruptionError as error:
        raise CorruptionError(
            f"log record {record.lsn} cannot be applied: {error.message}",
            path=record.segment,
            offset=record.offset,
        ) from error


def latch_order(state: CollectionState) -> str:
    """The one order in which several collection latches are taken (no deadlock)."""
    return state.uid
