"""Seed files for the fuzz targets, made by the real writer.

``make_seeds`` creates a small database with ``vectordb.open`` in a temporary directory: a flat
collection with a metadata schema (so ``columns.bin`` holds a declared column, its derived
arrays and categories), an HNSW, an IVF and a PQ-quantized flat collection, writes through
every log operation (put with metadata, metadata update, delete, a transaction over two
collections, a write with an idempotency key), copies the log segment while the database is
open (no checkpoint has sealed or replaced it yet), checkpoints, and keeps every file's bytes
plus what the index targets need to load a structure (dim, configs, the checkpoint's ``live``
rows and vectors). The HNSW index is also kept as earlier versions wrote it (``graph_v1``:
hnswlib's own graph file and a version 1 INDEX), which is still read.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

__all__ = ["DIM", "IndexSeed", "Seeds", "make_seeds"]

DIM = 4
_ROWS = 48


@dataclasses.dataclass
class IndexSeed:
    """One collection's saved index: the INDEX body, the structure file, and its context."""

    kind: str  # "hnsw", "ivf" or "flat" (a quantized flat scan)
    config: dict[str, Any]  # the collection's config as the MANIFEST holds it
    index_body: dict[str, Any]
    index_file: bytes  # the INDEX file as written
    structure: bytes  # hnsw-/ivf-/flat-<lsn>.bin
    lsn: int
    live: Any  # bool array over n_rows
    vectors: Any  # float32 (n_rows, DIM)


@dataclasses.dataclass
class Seeds:
    wal: bytes  # segment 000000000001.log: create records and every write operation
    wal_sealed: bytes  # the same segment after the checkpoint sealed it (ends in a seal)
    snapshot: bytes
    manifest: bytes
    columns: bytes
    idempotency: bytes
    database_header: bytes  # vectordb.meta
    vector_file: bytes  # the header page and the first rows of vectors.bin
    columns_context: tuple[int, int]  # (checkpoint LSN, n_rows) columns.bin is as of
    indexes: dict[str, IndexSeed]


def make_seeds() -> Seeds:
    """Build the seed database in a temporary directory and return its files' bytes."""
    os.environ.setdefault("VECTORDB_NO_WARMUP", "1")
    import vectordb

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="vectordb-fuzz-seeds-") as scratch:
        root = Path(scratch) / "db"
        db = vectordb.open(root)
        try:
            flat = db.create_collection("flat", DIM, metadata_schema={"tag": "str"})
            graph = db.create_collection("graph", DIM, index="hnsw", hnsw={"M": 4})
            cells = db.create_collection(
                "cells", DIM, index="ivf", ivf={"nlist": 2, "train_after": 8}
            )
            coded = db.create_collection("coded", DIM, quantization={"kind": "pq", "m": 2})
            collections = (flat, graph, cells, coded)
            for collection in collections:
                collection.add(
                    rng.standard_normal((_ROWS, DIM)).astype(np.float32),
                    ids=[f"id{k}" for k in range(_ROWS)],
                    metadata=[
                        {"tag": f"t{k % 3}", "n": k, "deep": {"x": [k, None, "s"]}}
                        for k in range(_ROWS)
                    ]
                    if collection is flat
                    else None,
                )
            flat.update(["id1", "id2"], metadata=[{"tag": "t9", "n": 2**40}, None])
            flat.delete(["id3"])
            with db.transaction():
                flat.add(rng.standard_normal((2, DIM)).astype(np.float32), ids=["tx1", "tx2"])
                graph.delete(["id4"])
            flat.add(
                rng.standard_normal((1, DIM)).astype(np.float32), ids=["keyed"],
                idempotency_key="request-1",
            )  # fmt: skip
            flat.search(rng.standard_normal(DIM).astype(np.float32), k=3, where={"n": {"$gt": 5}})
            wal = (root / "wal" / "000000000001.log").read_bytes()
            for collection in (graph, cells, coded):
                collection.wait_indexed()
            db.checkpoint()
            sealed = sorted((root / "wal").iterdir())
            wal_sealed = sealed[0].read_bytes() if len(sealed) > 1 else wal
            seeds = _collect(root, wal, wal_sealed)
            seeds.indexes["graph_v1"] = _format_1(seeds.indexes["graph"], root / "graph-v1")
        finally:
            db.close()
            shutil.rmtree(root, ignore_errors=True)
    return seeds


def _collect(root: Path, wal: bytes, wal_sealed: bytes) -> Seeds:
    from vectordb.files.checksummed import read_checksummed_map
    from vectordb.files.headers import COLUMNS_MAGIC
    from vectordb.storage.manifest import Manifest
    from vectordb.storage.snapshot import read_snapshot
    from vectordb.storage.vector_file import HEADER_BYTES

    flat_dir = root / "collections" / "flat"
    manifest = Manifest.load(flat_dir / "MANIFEST")
    assert manifest.snapshot is not None
    columns_body = read_checksummed_map(flat_dir / "columns.bin", COLUMNS_MAGIC, "columns")
    indexes = {}
    for name in ("graph", "cells", "coded"):
        directory = root / "collections" / name
        collection_manifest = Manifest.load(directory / "MANIFEST")
        snapshot = read_snapshot(directory / str(collection_manifest.snapshot))
        n = snapshot.n_rows
        raw = (directory / "vectors.bin").read_bytes()
        vectors = np.frombuffer(raw, "<f4", count=n * DIM, offset=HEADER_BYTES).reshape(n, DIM)
        index_file = (directory / "index" / "INDEX").read_bytes()
        body = _index_body(directory / "index" / "INDEX")
        indexes[name] = IndexSeed(
            kind=body["kind"],
            config=collection_manifest.config,
            index_body=body,
            index_file=index_file,
            structure=(directory / "index" / body["file"]).read_bytes(),
            lsn=collection_manifest.checkpoint_lsn,
            live=snapshot.live.copy(),
            vectors=vectors.copy(),
        )
    vector_file = (flat_dir / "vectors.bin").read_bytes()[: HEADER_BYTES + 2 * DIM * 4]
    return Seeds(
        wal=wal,
        wal_sealed=wal_sealed,
        snapshot=(flat_dir / manifest.snapshot).read_bytes(),
        manifest=(flat_dir / "MANIFEST").read_bytes(),
        columns=(flat_dir / "columns.bin").read_bytes(),
        idempotency=(root / "IDEMPOTENCY").read_bytes(),
        database_header=(root / "vectordb.meta").read_bytes(),
        vector_file=vector_file,
        columns_context=(int(columns_body["lsn"]), int(columns_body["n_rows"])),
        indexes=indexes,
    )


def _format_1(seed: IndexSeed, scratch: Path) -> IndexSeed:
    """``seed`` (an HNSW index) as vectordb wrote it before graph format 2 and INDEX version 2:
    hnswlib's own graph file (with the vectors) and one byte per row for ``present`` and
    ``valid``."""
    import xxhash

    from vectordb.config import CollectionConfig
    from vectordb.files.checksummed import write_checksummed_map
    from vectordb.index.hnsw import HnswGraph
    from vectordb.index.saved import INDEX_MAGIC, saved_flags

    config = CollectionConfig.from_mapping(seed.config)
    scratch.mkdir()
    flags = saved_flags(seed.index_body, scratch / "INDEX")
    (scratch / "graph.bin").write_bytes(seed.structure)
    graph = HnswGraph.load(scratch / "graph.bin", DIM, config.metric_enum, config.hnsw_config,
                           1, flags, seed.vectors)  # fmt: skip
    graph.save_hnswlib(scratch / "graph.bin")
    structure = (scratch / "graph.bin").read_bytes()
    body = {key: value for key, value in seed.index_body.items()
            if key not in ("version", "rows", "present_bits", "valid_bits")}  # fmt: skip
    body.update(
        file_size=len(structure), file_checksum=xxhash.xxh3_64_intdigest(structure),
        present=flags.present.astype(np.uint8).tobytes(),
        valid=flags.valid.astype(np.uint8).tobytes(),
    )  # fmt: skip
    write_checksummed_map(scratch / "INDEX", INDEX_MAGIC, body)
    index_file = (scratch / "INDEX").read_bytes()
    return dataclasses.replace(seed, index_body=body, index_file=index_file, structure=structure)


def _index_body(path: Path) -> dict[str, Any]:
    from vectordb.files.checksummed import read_checksummed_map
    from vectordb.index.saved import INDEX_MAGIC

    return read_checksummed_map(path, INDEX_MAGIC, "INDEX")


def checksummed_body(data: bytes) -> bytes:
    """The msgpack body of a checksummed file (``checksummed.py``, snapshot) as written."""
    from vectordb.files.headers import HEADER

    length = int.from_bytes(data[HEADER.size : HEADER.size + 8], "little")
    start = HEADER.size + 16
    body = data[start : start + length]
    msgpack.unpackb(body, raw=False)  # a seed is well-formed
    return body
