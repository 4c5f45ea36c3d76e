"""Compaction, the byte-level part: a collection rewritten with only its live rows, and the
directories a compaction cut short by a crash finished or undone.

How a compaction runs (``engine/compaction.py`` drives it, under the writer lock; writers
wait, searches wait only for the swap):

1. checkpoint, so the files hold exactly the in-memory state;
2. ``write_compacted``: the collection goes into ``collections/.compact-<name>/``:
   ``vectors.bin`` with the live rows packed in row order (capacity = live rows), a snapshot
   of them (ids, metadata, checksums and norms carried over, rows renumbered), the fields
   declared with ``create_index`` (``columns.bin``), a MANIFEST with the same uid and
   checkpoint LSN; everything fsynced;
3. swap directories: ``<name>`` -> ``.old-<name>``, ``.compact-<name>`` -> ``<name>``, fsync
   ``collections/``, delete ``.old-<name>``;
4. reopen the store in place (handles stay valid). The log holds no record of the collection
   after the checkpoint, so the renumbered rows never meet an old record;
5. log a ``compacted`` record: other processes reopen the collection when they replay it,
   and a restore onto an older backup compacts again at that point.

Crash safety (``recover_interrupted``, run at open before collections load): ``.compact-X``
alone was cut short in step 2 and is deleted; ``.old-X`` with no ``X`` means the crash fell
between the two renames, and ``.compact-X`` is complete, so it becomes ``X``; ``.old-X`` next
to ``X`` is a finished swap whose leftover is deleted. Index files are not carried over (an
HNSW graph's labels are row numbers): the index rebuilds in the background after a
compaction, and searches are exact until it has.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vectordb.files import io
from vectordb.files.checksummed import write_checksummed_map
from vectordb.files.headers import COLUMNS_MAGIC
from vectordb.storage.collection_store import CollectionStore
from vectordb.storage.layout import CollectionFiles
from vectordb.storage.snapshot import Snapshot, write_snapshot
from vectordb.storage.vector_file import HEADER_BYTES

__all__ = ["COMPACT_PREFIX", "OLD_PREFIX", "recover_interrupted", "write_compacted"]

COMPACT_PREFIX = ".compact-"
OLD_PREFIX = ".old-"
_CHUNK_ROWS = 65_536


def write_compacted(
    store: CollectionStore,
    live_rows: npt.NDArray[np.int64],
    target: Path,
    declared: list[tuple[str, ...]],
) -> None:
    """Write the collection of ``store`` with only ``live_rows`` (packed in row order) into
    the empty directory ``target``: vectors, snapshot, the ``declared`` metadata fields
    (``columns.bin``) and a MANIFEST with the same uid and checkpoint LSN, all fsynced."""
    files = CollectionFiles(target)
    count = len(live_rows)
    row_bytes = store.vectors.row_bytes
    with open(store.files.vectors, "rb") as source:
        header = source.read(HEADER_BYTES)
    vectors = store.vectors.rows
    fd = io.open_fd(files.vectors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        io.write_all(fd, header)
        for start in range(0, count, _CHUNK_ROWS):
            part = live_rows[start : start + _CHUNK_ROWS]
            io.write_all(fd, np.ascontiguousarray(vectors[part]).data.cast("B"))
        if count == 0:
            io.write_all(fd, b"\0" * row_bytes)  # capacity 1: a vector file is never empty
        io.fsync(fd)
    finally:
        os.close(fd)
    lsn = store.manifest.checkpoint_lsn
    snapshot_name = None
    if count:
        blobs = [store.metadata_bytes(int(row)) for row in live_rows.tolist()]
        offsets = np.zeros(count + 1, np.uint64)
        offsets[1:] = np.cumsum([len(blob) for blob in blobs])
        documents = [store.documents.get(int(row)) for row in live_rows.tolist()]
        doc_offsets = None
        if any(documents):
            doc_offsets = np.zeros(count + 1, np.uint64)
            doc_offsets[1:] = np.cumsum([len(text) for text in documents])
        snapshot = Snapshot(
            lsn,
            count,
            np.ones(count, np.bool_),
            [store.row_ids[int(row)] for row in live_rows.tolist()],
            offsets,
            b"".join(blobs),
            store.checksums[live_rows].copy(),
            store.sq_norms[live_rows].copy(),
            doc_offsets,
            b"".join(documents) if doc_offsets is not None else b"",
        )
        path = files.snapshot(lsn)
        write_snapshot(path, snapshot)
        snapshot_name = path.name
    if declared:
        write_checksummed_map(files.columns, COLUMNS_MAGIC, {
            "lsn": lsn, "n_rows": count, "declared": [".".join(path) for path in declared],
            "fields": {}, "arrays": {},
        })  # fmt: skip
    store.manifest.checkpointed(lsn, snapshot_name, count).commit(files.manifest)
    io.fsync_dir(target)


def recover_interrupted(collections_dir: Path, *, read_only: bool) -> dict[str, Path]:
    """Finish or undo compactions a crash interrupted (see the module docstring). Returns
    ``{name: directory}`` for collections a read-only open must read from a ``.compact-``
    directory (it may not rename)."""
    redirected: dict[str, Path] = {}
    if not collections_dir.is_dir():
        return redirected
    entries = {entry.name for entry in collections_dir.iterdir()}
    for entry in sorted(entries):
        if not entry.startswith(OLD_PREFIX):
            continue
        name = entry[len(OLD_PREFIX) :]
        compacted = collections_dir / f"{COMPACT_PREFIX}{name}"
        if name in entries:
            if not read_only:
                io.rmtree(collections_dir / entry, ignore_errors=True)
            continue
        if not compacted.is_dir():
            # the old copy is all there is (cannot happen by construction): keep it
            if read_only:
                redirected[name] = collections_dir / entry
            else:
                io.rename(collections_dir / entry, collections_dir / name)
            continue
        if read_only:
            redirected[name] = compacted
        else:
            io.rename(compacted, collections_dir / name)
            io.fsync_dir(collections_dir)
            io.rmtree(collections_dir / entry, ignore_errors=True)
    return redirected
