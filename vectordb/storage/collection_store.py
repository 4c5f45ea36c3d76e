"""CollectionStore: the in-memory and on-disk state of one collection.

State: a vector file of rows, and per row ``live`` (holds a record), ``row_ids``, metadata
(msgpack bytes), ``sq_norms`` and, for rows written before the last checkpoint, an xxh3-64
``checksums`` entry. ``n_rows`` is the high-water mark of rows ever used.

Invariants:
- Rows are reused only across a checkpoint: replacing or deleting a record frees its row when
  the next checkpoint completes, never before. So the rows a MANIFEST and snapshot describe
  stay intact on disk however the OS orders dirty pages (recovery = snapshot + log replay),
  and between two checkpoints a row is written at most once - which is what lets another
  process replay the log without rewriting vectors (the bytes in the shared file are the
  ones the record names) and lets its searches trust rows it believes live until it sees
  the next checkpoint.
- Vectors go into the file before their record is logged (``vectors_in_file``), into rows no
  one reads yet, so a process that sees the record also sees the bytes.
- Every mutation arrives with explicit rows (chosen by ``plan_rows`` under the writer lock and
  carried in the log record), so replay is deterministic and idempotent.
- Callers hold the collection latch: shared for reads, exclusive for ``apply_*``/``checkpoint``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

import msgpack
import numpy as np
import numpy.typing as npt
import xxhash

from vectordb.config import CollectionConfig
from vectordb.errors import CorruptionError
from vectordb.files import io
from vectordb.results import Problem
from vectordb.storage.layout import CollectionFiles
from vectordb.storage.manifest import Manifest
from vectordb.storage.snapshot import Snapshot, read_snapshot, write_snapshot
from vectordb.storage.vector_file import VectorFile

__all__ = ["CollectionStore", "load_checksum_kernels"]

log = logging.getLogger("vectordb.storage")


_checksum_kernels: ModuleType | None = None
_checksum_kernels_lock = threading.Lock()


def load_checksum_kernels() -> ModuleType:
    """Import (and compile, or load from numba's cache) the row checksum kernels; until
    then rows are hashed by the xxhash binding, one call per row. The engine loads them in
    the background at a read-write open, with the search kernels."""
    global _checksum_kernels
    with _checksum_kernels_lock:
        if _checksum_kernels is None:
            from vectordb.storage import checksum_kernels

            checksum_kernels.warm_up()
            _checksum_kernels = checksum_kernels
        return _checksum_kernels


class CollectionStore:
    """One collection's rows, ids, metadata and checksums; see the module docstring."""

    def __init__(self, files: CollectionFiles, *, read_only: bool, use_mmap: bool) -> None:
        self.files = files
        self.read_only = read_only
        self.manifest = Manifest.load(files.manifest)
        self.config = CollectionConfig.from_mapping(self.manifest.config)
        self.dim = self.config.dim
        self.vectors = VectorFile(files.vectors, self.dim, read_only=read_only, use_mmap=use_mmap)
        try:
            if self.manifest.snapshot is None:
                snapshot = Snapshot.empty(self.manifest.checkpoint_lsn)
            else:
                snapshot = read_snapshot(files.directory / self.manifest.snapshot)
            self._load_snapshot(snapshot)
        except BaseException:
            self.vectors.close()
            raise
        self.applied_lsn = self.manifest.checkpoint_lsn
        self.updated_at = self.manifest.updated_at

    # ----------------------------------------------------------------- loading
    def _load_snapshot(self, snapshot: Snapshot) -> None:
        n = snapshot.n_rows
        if n > self.vectors.capacity:
            raise CorruptionError(
                f"snapshot describes {n} rows but the vector file holds {self.vectors.capacity}",
                path=self.files.vectors,
            )
        capacity = self.vectors.capacity
        self.n_rows = n
        self.live = np.zeros(capacity, np.bool_)
        self.live[:n] = snapshot.live
        self.checksums = np.zeros(capacity, np.uint64)
        self.checksums[:n] = snapshot.checksums
        self.checksum_known = self.live.copy()
        self.sq_norms = np.zeros(capacity, np.float32)
        self.sq_norms[:n] = snapshot.sq_norms
        self.row_ids: list[str] = snapshot.ids
        self._row_of: dict[str, int] | None = None
        self._snapshot_meta = snapshot.meta
        self._snapshot_meta_offsets = snapshot.meta_offsets
        self._snapshot_rows = n
        self._meta_overlay: dict[int, bytes] = {}
        self.documents = DocumentColumn(snapshot.doc_offsets, snapshot.docs, n)
        self._free = np.flatnonzero(~self.live[:n]).astype(np.int64)
        self._reserved_free = 0  # rows a transaction's buffered writes will take
        self._reserved_fresh = 0
        self.count = int(self.live[:n].sum())
        self.dirty = False

    @property
    def row_of(self) -> dict[str, int]:
        """id -> row for live records; built on first use (open stays cheap)."""
        if self._row_of is None:
            rows = np.flatnonzero(self.live[: self.n_rows]).tolist()
            ids = self.row_ids
            self._row_of = {ids[row]: row for row in rows}
        return self._row_of

    # ----------------------------------------------------------------- rows
    def plan_rows(self, n: int, *, reserve: bool = False) -> npt.NDArray[np.int64]:
        """Rows the next ``n`` new records will take: free rows first, then fresh ones.

        ``reserve``: a transaction buffers the write, so later plans must skip these rows
        until ``clear_reservations``. Grows the vector file if needed (raises
        StorageFullError, changing nothing else).
        """
        first_free = self._reserved_free
        reuse = self._free[first_free : first_free + n]
        first_fresh = self.n_rows + self._reserved_fresh
        fresh = np.arange(first_fresh, first_fresh + (n - len(reuse)), dtype=np.int64)
        rows = np.concatenate([reuse, fresh]) if len(reuse) else fresh
        if len(fresh):
            self.ensure_capacity(int(fresh[-1]) + 1)
        if reserve:
            self._reserved_free += len(reuse)
            self._reserved_fresh += len(fresh)
        return rows

    def clear_reservations(self) -> None:
        """Forget the rows planned by a transaction (committed: now used; rolled back: free)."""
        self._reserved_free = self._reserved_fresh = 0

    def ensure_capacity(self, needed: int) -> None:
        old = self.vectors.capacity
        self.vectors.ensure_capacity(needed)
        capacity = self.vectors.capacity
        if capacity > old:
            for name in ("live", "checksums", "checksum_known", "sq_norms"):
                array = getattr(self, name)
                grown = np.zeros(capacity, array.dtype)
                grown[: len(array)] = array
                setattr(self, name, grown)

    def trim(self) -> bool:
        """Cut the vector file after row ``n_rows`` (at least one row stays); True if it
        was longer. Only for the last process with the database open, holding the writer
        lock and the exclusive latch, right after a checkpoint (``VectorFile.trim``)."""
        if self._reserved_free or self._reserved_fresh or not self.vectors.trim(self.n_rows):
            return False
        capacity = self.vectors.capacity
        for name in ("live", "checksums", "checksum_known", "sq_norms"):
            setattr(self, name, getattr(self, name)[:capacity].copy())
        return True

    def _release(self, rows: Sequence[int]) -> None:
        """Forget the records in ``rows`` (already known live); free what can be reused now."""
        if not rows:
            return
        row_array = np.asarray(rows, dtype=np.int64)
        self.live[row_array] = False
        self.checksum_known[row_array] = False
        row_of = self._row_of
        ids = self.row_ids
        overlay = self._meta_overlay
        snapshot_rows = self._snapshot_rows
        documents = self.documents
        for row in rows:
            if row_of is not None:
                row_of.pop(ids[row], None)
            ids[row] = ""
            if row < snapshot_rows:
                overlay[row] = b""
            else:
                overlay.pop(row, None)
            documents.release(row)
        # the rows become reusable at the next checkpoint (finish_checkpoint), not now
        self.count -= len(rows)

    # ----------------------------------------------------------------- mutations
    def apply_put(
        self,
        lsn: int,
        rows: npt.NDArray[np.int64],
        ids: Sequence[str],
        vectors: npt.NDArray[np.float32],
        metadata: Sequence[bytes] | None,
        documents: Sequence[bytes] | None = None,
        *,
        ids_are_new: bool = False,
        vectors_in_file: bool = False,
    ) -> list[int]:
        """Store records at ``rows`` (each id replaces its previous row, if any); returns the
        rows of the replaced records.

        ``ids_are_new``: the caller checked, under the writer lock, that no id is stored
        (``add``), so the lookup of rows to replace can be skipped. Replay never passes it.
        ``vectors_in_file``: the bytes are in the vector file already (written before the
        record was logged, by this process or another), so they are not written again.
        """
        if len(rows) == 0:
            self.applied_lsn = lsn
            return []
        if int(rows.max()) >= self.vectors.capacity:
            self.ensure_capacity(int(rows.max()) + 1)
        row_of = self.row_of
        row_list = rows.tolist()
        replaced = [] if ids_are_new else [old for old in map(row_of.get, ids) if old is not None]
        if replaced:
            self._release(replaced)
        if len(self._free):
            self._free = np.setdiff1d(self._free, rows, assume_unique=True)
        if vectors_in_file:
            self.vectors.adopt(rows, vectors)
        else:
            self.vectors.write(rows, vectors)
        self.live[rows] = True
        self.checksum_known[rows] = False
        self.sq_norms[rows] = np.einsum("ij,ij->i", vectors, vectors)
        high = int(rows.max()) + 1
        if high > self.n_rows:
            self.row_ids.extend([""] * (high - len(self.row_ids)))
            self.n_rows = high
        id_list = self.row_ids
        first = row_list[0]
        if _is_run(rows):
            id_list[first : first + len(row_list)] = ids
        else:
            for row, vector_id in zip(row_list, ids):
                id_list[row] = vector_id
        row_of.update(zip(ids, row_list))
        self._set_metadata(row_list, metadata)
        self.documents.set(row_list, documents)
        self.count += len(row_list)
        self._touch(lsn)
        return replaced

    def apply_delete(self, lsn: int, ids: Iterable[str]) -> list[int]:
        """Delete the records of ``ids`` that are stored; returns the rows they held."""
        row_of = self.row_of
        rows = [row for row in map(row_of.get, ids) if row is not None]
        self._release(rows)
        self._touch(lsn)
        return rows

    def apply_metadata(
        self,
        lsn: int,
        ids: Sequence[str],
        metadata: Sequence[bytes],
        documents: Sequence[bytes] | None = None,
    ) -> None:
        """New metadata (and, when ``documents`` is given, new documents) for the stored
        ``ids``; ids not stored are skipped."""
        row_of = self.row_of
        rows = list(map(row_of.get, ids))
        pairs = [(row, blob) for row, blob in zip(rows, metadata) if row is not None]
        self._set_metadata([row for row, _ in pairs], [blob for _, blob in pairs])
        if documents is not None:
            texts = [(row, text) for row, text in zip(rows, documents) if row is not None]
            self.documents.replace([row for row, _ in texts], [text for _, text in texts])
        self._touch(lsn)

    def _set_metadata(self, rows: list[int], metadata: Sequence[bytes] | None) -> None:
        overlay = self._meta_overlay
        if metadata is not None:
            overlay.update(zip(rows, metadata))
            return
        snapshot_rows = self._snapshot_rows
        if rows and rows[0] >= snapshot_rows and not overlay:
            return  # fresh rows with nothing recorded for them: the common append
        for row in rows:
            if row < snapshot_rows:
                overlay[row] = b""
            else:
                overlay.pop(row, None)

    def _touch(self, lsn: int) -> None:
        self.applied_lsn = max(self.applied_lsn, lsn)
        self.dirty = True
        self.updated_at = time.time()

    # ----------------------------------------------------------------- reads
    def metadata_bytes(self, row: int) -> bytes:
        blob = self._meta_overlay.get(row)
        if blob is not None:
            return blob
        if row >= self._snapshot_rows:
            return b""
        offsets = self._snapshot_meta_offsets
        return self._snapshot_meta[int(offsets[row]) : int(offsets[row + 1])]

    def metadata(self, row: int) -> dict[str, Any] | None:
        blob = self.metadata_bytes(row)
        if not blob:
            return None
        try:
            value: dict[str, Any] = msgpack.unpackb(blob, raw=False)
        except Exception as error:
            raise CorruptionError(
                f"metadata of row {row} does not decode: {error}", path=self.files.directory
            ) from error
        return value

    def document(self, row: int) -> str | None:
        """The document of ``row`` (None: it has none)."""
        blob = self.documents.get(row)
        if not blob:
            return None
        try:
            return blob.decode("utf-8")
        except UnicodeDecodeError as error:
            raise CorruptionError(
                f"document of row {row} is not UTF-8: {error}", path=self.files.directory
            ) from error

    @property
    def has_documents(self) -> bool:
        """Whether some record may have a document (cheap; may stay True after the last
        document is deleted, until the next checkpoint)."""
        return self.documents.any

    def row_checksum(self, row: int) -> int:
        return xxhash.xxh3_64_intdigest(self.vectors.rows[row])

    def verify_rows(self, rows: Sequence[int] | npt.NDArray[np.int64]) -> None:
        """Raise CorruptionError if any row's bytes differ from its checkpoint checksum.

        Every read that returns or ranks stored vectors calls it on its rows (a search on
        its hits), so it runs in compiled code once the kernels are loaded (~1 us for 10
        rows); before that, one xxhash call per row."""
        if not len(rows):
            return
        kernels = _checksum_kernels
        if kernels is not None:
            row_array = np.asarray(rows, dtype=np.int64)  # no copy for the searches' arrays
            raw = self.vectors.rows.view(np.uint8)
            position = int(kernels.verify_rows(raw, row_array, self.checksums,
                                               self.checksum_known))  # fmt: skip
            if position < 0:
                return
            bad = int(row_array[position])
        else:
            known, expected = self.checksum_known, self.checksums
            damaged = [row for row in map(int, rows)
                       if known[row] and self.row_checksum(row) != int(expected[row])]  # fmt: skip
            if not damaged:
                return
            bad = int(damaged[0])
        from vectordb.storage.vector_file import HEADER_BYTES

        raise CorruptionError(
            f"vector of id {self.row_ids[bad]!r} (row {bad}) fails its checksum: its bytes in "
            "the vector file changed since they were written (disk or memory damage); restore "
            "the collection from a backup, or delete and re-add the record",
            path=self.files.vectors,
            offset=HEADER_BYTES + bad * self.vectors.row_bytes,
        )

    def check(self) -> list[Problem]:
        """Verify every live row that has a checksum; return the problems found."""
        from vectordb.storage.vector_file import HEADER_BYTES

        problems = self._check_bookkeeping()
        rows = np.flatnonzero(self.live[: self.n_rows] & self.checksum_known[: self.n_rows])
        vectors = self.vectors.rows
        expected = self.checksums
        for row in rows.tolist():
            if xxhash.xxh3_64_intdigest(vectors[row]) != int(expected[row]):
                problems.append(
                    Problem(
                        str(self.files.vectors),
                        HEADER_BYTES + row * self.vectors.row_bytes,
                        f"vector of id {self.row_ids[row]!r} (row {row}) fails its checksum",
                    )
                )
        problems.extend(self._check_metadata())
        return problems

    def _check_metadata(self) -> list[Problem]:
        """Every live record's metadata must decode as stored metadata does (string keys at
        every depth): an older version accepted a nested non-string key, which reads fail on."""
        problems = []
        for row in np.flatnonzero(self.live[: self.n_rows]).tolist():
            blob = self.metadata_bytes(row)
            if not blob:
                continue
            try:
                msgpack.unpackb(blob, raw=False)
            except Exception as error:
                why = f"metadata of id {self.row_ids[row]!r} (row {row}) does not decode"
                fix = "replace it with update()"
                problems.append(Problem(str(self.files.directory), None, f"{why} ({error}); {fix}"))
        return problems

    def _check_bookkeeping(self) -> list[Problem]:
        """The record count, the live rows and the id map must agree: each live row holds
        a distinct, non-empty id, and ``count`` (what ``len()`` says) is their number."""
        where = str(self.files.directory)
        live_rows = np.flatnonzero(self.live[: self.n_rows]).tolist()
        ids = [self.row_ids[row] if row < len(self.row_ids) else "" for row in live_rows]
        problems = []
        if self.count != len(live_rows):
            problems.append(Problem(where, None, f"the collection counts {self.count} records "
                                    f"but {len(live_rows)} rows are live"))  # fmt: skip
        distinct = set(ids)
        if len(distinct) != len(ids) or "" in distinct:
            problems.append(Problem(where, None, f"{len(live_rows)} live rows hold "
                                    f"{len(distinct - {''})} distinct ids"))  # fmt: skip
        if self._row_of is not None and len(self._row_of) != len(live_rows):
            problems.append(Problem(where, None, f"the id map holds {len(self._row_of)} ids "
                                    f"for {len(live_rows)} live rows"))  # fmt: skip
        return problems

    # ----------------------------------------------------------------- checkpoint
    def checkpoint(self, lsn: int) -> None:
        """Make the current state the on-disk state as of ``lsn`` (both phases at once)."""
        prepared = self.prepare_checkpoint(lsn)
        if prepared is not None:
            self.finish_checkpoint(prepared)

    def prepare_checkpoint(self, lsn: int) -> _PreparedCheckpoint | None:
        """Write the snapshot and commit the MANIFEST for the state as of ``lsn``.

        Only reads the in-memory state, so readers may run meanwhile (the caller holds the
        writer mutex, so nothing changes); ``finish_checkpoint`` then swaps in the new
        baseline under the exclusive latch. None if there is nothing to do.
        """
        if not self.dirty and self.manifest.checkpoint_lsn >= lsn:
            return None
        n = self.n_rows
        self.vectors.flush()
        pending = np.flatnonzero(self.live[:n] & ~self.checksum_known[:n])
        checksums = self.checksums
        kernels = _checksum_kernels
        if kernels is not None and len(pending):
            rows = pending.astype(np.int64)
            checksums[rows] = kernels.row_checksums(self.vectors.rows.view(np.uint8), rows)
        else:
            row_bytes = self.vectors.row_bytes
            raw = self.vectors.rows[:n].reshape(-1).view(np.uint8).data
            digest = xxhash.xxh3_64_intdigest
            for row in pending.tolist():
                checksums[row] = digest(raw[row * row_bytes : (row + 1) * row_bytes])
        meta, meta_offsets = self._merged_metadata(n)
        docs, doc_offsets = self.documents.merged(n)
        old_snapshot = self.manifest.snapshot
        name = None
        if n:
            snapshot = Snapshot(
                lsn,
                n,
                self.live[:n],
                self.row_ids,
                meta_offsets,
                meta,
                checksums[:n],
                self.sq_norms[:n],
                doc_offsets,
                docs,
            )
            path = self.files.snapshot(lsn)
            try:
                write_snapshot(path, snapshot)
            except BaseException:  # renamed into place before its directory's fsync failed?
                if path.name != old_snapshot:
                    self._discard_unnamed_snapshot(path.name)
                raise
            name = path.name
        manifest = self.manifest.checkpointed(lsn, name, self.count, updated_at=self.updated_at)
        try:
            manifest.commit(self.files.manifest)
        except BaseException:
            if name is not None and name != old_snapshot:
                self._discard_unnamed_snapshot(name)
            raise
        # every other snapshot is garbage now: the one replaced, and any a checkpoint that
        # failed after renaming its MANIFEST (its directory's fsync) left behind
        for _, stale in self.files.snapshots():
            if stale.name != name:
                with contextlib.suppress(OSError):
                    io.unlink(stale)
        return _PreparedCheckpoint(manifest, n, pending, meta, meta_offsets, docs, doc_offsets)

    def _discard_unnamed_snapshot(self, name: str) -> None:
        """After a failed MANIFEST commit: delete the new snapshot unless the MANIFEST on disk
        names it (the failure came after its rename, from the directory's fsync)."""
        try:
            if Manifest.load(self.files.manifest).snapshot == name:
                return
            io.unlink(self.files.directory / name)
        except (OSError, CorruptionError):
            pass  # left for the next open's cleanup of stray files

    def finish_checkpoint(self, prepared: _PreparedCheckpoint) -> None:
        """Adopt the state written by ``prepare_checkpoint`` (caller holds the latch)."""
        n = prepared.n_rows
        self.manifest = prepared.manifest
        self.checksum_known[prepared.pending] = True
        meta, meta_offsets = prepared.meta, prepared.meta_offsets
        self._snapshot_meta, self._snapshot_meta_offsets = meta, meta_offsets
        self._snapshot_rows = n
        self._meta_overlay = {}
        self.documents = DocumentColumn(prepared.doc_offsets, prepared.docs, n)
        self._free = np.flatnonzero(~self.live[:n]).astype(np.int64)
        self.dirty = False

    def _merged_metadata(self, n: int) -> tuple[bytes, npt.NDArray[np.uint64]]:
        old_offsets = self._snapshot_meta_offsets
        old_rows = self._snapshot_rows
        lengths = np.zeros(n, np.int64)
        lengths[:old_rows] = np.diff(old_offsets.astype(np.int64))
        overlay = self._meta_overlay
        if not overlay:
            offsets = np.zeros(n + 1, np.uint64)
            offsets[1:] = np.cumsum(lengths)
            return self._snapshot_meta, offsets
        pieces = []
        previous = 0
        old_meta = self._snapshot_meta
        for row in sorted(overlay):
            stop = min(row, old_rows)
            if previous < stop:
                pieces.append(old_meta[int(old_offsets[previous]) : int(old_offsets[stop])])
            blob = overlay[row]
            pieces.append(blob)
            lengths[row] = len(blob)
            previous = row + 1
        if previous < old_rows:
            pieces.append(old_meta[int(old_offsets[previous]) : int(old_offsets[old_rows])])
        offsets = np.zeros(n + 1, np.uint64)
        offsets[1:] = np.cumsum(lengths)
        return b"".join(pieces), offsets

    # ----------------------------------------------------------------- info
    def disk_bytes(self) -> int:
        total = 0
        for entry in self.files.directory.rglob("*"):
            with contextlib.suppress(OSError):
                if entry.is_file():
                    total += entry.stat().st_size
        return total

    def close(self) -> None:
        self.vectors.close()


def _is_run(rows: npt.NDArray[np.int64]) -> bool:
    """True if ``rows`` is ascending and contiguous (r, r+1, r+2, ...)."""
    return len(rows) == 1 or bool(
        int(rows[-1]) - int(rows[0]) + 1 == len(rows) and np.all(np.diff(rows) == 1)
    )


@dataclasses.dataclass(slots=True)
class _PreparedCheckpoint:
    manifest: Manifest
    n_rows: int
    pending: npt.NDArray[np.intp]
    meta: bytes
    meta_offsets: npt.NDArray[np.uint64]
    docs: bytes
    doc_offsets: npt.NDArray[np.uint64] | None


class DocumentColumn:
    """The documents of a collection's rows (format 3): the snapshot's UTF-8 bytes
    (``docs[offsets[r]:offsets[r + 1]]``) under an overlay of rows changed since; b"": the
    row has no document. Kept like the metadata (``CollectionStore._meta_overlay``)."""

    __slots__ = ("_blob", "_offsets", "_snapshot_rows", "any", "overlay")

    def __init__(
        self, offsets: npt.NDArray[np.uint64] | None, blob: bytes, snapshot_rows: int
    ) -> None:
        self._offsets = offsets if blob else None
        self._blob = blob
        self._snapshot_rows = snapshot_rows if blob else 0
        self.overlay: dict[int, bytes] = {}
        self.any = bool(blob)  # some row may have a document (search's default include)

    def get(self, row: int) -> bytes:
        blob = self.overlay.get(row)
        if blob is not None:
            return blob
        offsets = self._offsets
        if offsets is None or row >= self._snapshot_rows:
            return b""
        return self._blob[int(offsets[row]) : int(offsets[row + 1])]

    def set(self, rows: list[int], documents: Sequence[bytes] | None) -> None:
        """Rows written whole: their documents (None: none of them has one)."""
        if documents is not None:
            self.replace(rows, documents)
            return
        if not self.overlay and (not rows or rows[0] >= self._snapshot_rows):
            return  # the common append: fresh rows, nothing recorded for them
        for row in rows:
            self.release(row)

    def replace(self, rows: list[int], documents: Sequence[bytes]) -> None:
        overlay = self.overlay
        for row, document in zip(rows, documents):
            if document:
                overlay[row] = document
                self.any = True
            else:
                self.release(row)

    def release(self, row: int) -> None:
        if row < self._snapshot_rows:
            self.overlay[row] = b""
        else:
            self.overlay.pop(row, None)

    def merged(self, n: int) -> tuple[bytes, npt.NDArray[np.uint64] | None]:
        """The documents of rows ``0 .. n-1`` as one blob and its offsets (None, b"": no
        row has a document)."""
        if not self.overlay and self._offsets is None:
            return b"", None
        pieces = [self.get(row) for row in range(n)]
        lengths = np.fromiter(map(len, pieces), np.int64, n)
        if not lengths.any():
            return b"", None
        offsets = np.zeros(n + 1, np.uint64)
        offsets[1:] = np.cumsum(lengths)
        return b"".join(pieces), offsets
