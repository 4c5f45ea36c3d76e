"""Fuzz targets: one per decoder of bytes on disk, raw and structure-aware.

The rule every target checks: a decoder given bad bytes raises ``CorruptionError`` (or its
subclass ``UnsupportedFormatError``) and nothing else - no ``KeyError``, ``TypeError``,
``ValueError``, ``IndexError``, ``OverflowError``, ``MemoryError``, ``RecursionError``, no
crash of the process and no hang. Any other exception escapes the target, and atheris reports
it as a crash with the input that caused it.

Targets come in pairs for the checksummed formats: ``<name>`` feeds the raw file (so most
inputs fail the checksum or the header), ``<name>_body`` feeds the msgpack body, which the
target wraps in a valid header, length and xxh3 checksum, so the body decoding (missing,
mistyped, huge, negative or deeply nested fields) is what gets exercised; their mutator works
on the decoded msgpack value (``mutators.py``). Index structure files (the HNSW graph in
vectordb's format 2 and in hnswlib's own format 1 with a version 1 INDEX, ``.npz``) are written
next to an ``INDEX`` whose size and checksum match them, and a structure that loads is searched,
since that is where a bad graph would crash the process.

Each target is built by ``build(name, seeds, scratch)``: the seed corpus (files the real writer
produced, ``seeds.py``), the one-input function, and an optional custom mutator.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import xxhash

from tests.fuzz import mutators
from tests.fuzz.seeds import DIM, IndexSeed, Seeds, checksummed_body
from vectordb.errors import CorruptionError

__all__ = ["TARGETS", "FuzzTarget", "build"]

Mutator = Callable[[bytes, int, int, Callable[[bytes, int], bytes]], bytes]


@dataclasses.dataclass
class FuzzTarget:
    corpus: list[bytes]
    run: Callable[[bytes], None]
    mutator: Mutator | None = None


def _decodes(call: Callable[[], Any]) -> Any:
    """Run a decoder: CorruptionError (and UnsupportedFormatError) is the allowed outcome."""
    try:
        return call()
    except CorruptionError:
        return None


def _checksummed(magic: bytes, body: bytes) -> bytes:
    from vectordb.files.headers import pack_header

    return pack_header(magic) + struct.pack("<QQ", len(body), xxhash.xxh3_64_intdigest(body)) + body


def _reset(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


# ------------------------------------------------------------------------------------ log
def _frame(payload: bytes) -> bytes:
    from vectordb.storage.wal import frame_checksum

    length = struct.pack("<I", len(payload))
    return length + struct.pack("<Q", frame_checksum(length, [payload])) + payload


def _read_log(root: Path, first: tuple[int, Path] | None) -> None:
    from vectordb.errors import FellBehind
    from vectordb.files.headers import HEADER
    from vectordb.storage.layout import DatabaseFiles
    from vectordb.storage.wal import WalFollower, WalScan

    files = DatabaseFiles(root)
    scan = WalScan(files)
    _decodes(lambda: [record.lsn for record in scan.records()])
    scan = WalScan(files)
    _decodes(lambda: [record.lsn for record in scan.records(after_lsn=3, needed_from=1)])
    if first is None:
        return
    for torn in (False, True):
        follower = WalFollower(files, first[1], HEADER.size, first[0])
        try:
            _decodes(lambda: [r.lsn for r in follower.read_new(at_end_is_torn=torn)])  # noqa: B023
        except FellBehind:
            pass  # a control signal (reload), not a decoding error


def _wal_segment(seeds: Seeds, scratch: Path) -> FuzzTarget:
    root = scratch / "db"

    def run(data: bytes) -> None:
        wal = _reset(root / "wal")
        path = wal / "000000000001.log"
        path.write_bytes(data)
        _read_log(root, (1, path))

    return FuzzTarget([seeds.wal, seeds.wal_sealed], run)


def _sane_lsn(value: Any) -> bool:
    return type(value) is int and 0 <= value < 10**12


def _wal_records(seeds: Seeds, scratch: Path) -> FuzzTarget:
    """The input is a msgpack list of record payloads: each becomes a frame with a valid
    checksum; a seal whose ``next`` is a plausible LSN starts a new segment of that name.
    Input that is not such a list becomes one frame as it is."""
    from vectordb.files.headers import WAL_MAGIC, pack_header

    root = scratch / "db"

    def run(data: bytes) -> None:
        try:
            payloads = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception:
            payloads = None
        if not isinstance(payloads, list):
            segments = [(1, [data])]
        else:
            first_lsn = 1
            if payloads and isinstance(payloads[0], dict) and _sane_lsn(payloads[0].get("lsn")):
                first_lsn = max(payloads[0]["lsn"], 1)
            segments = [(first_lsn, [])]
            for payload in payloads:
                segments[-1][1].append(msgpack.packb(payload, use_bin_type=True))
                if isinstance(payload, dict) and payload.get("op") == "seal":
                    following = payload.get("next")
                    if _sane_lsn(following) and following > segments[-1][0]:
                        segments.append((following, []))
        wal = _reset(root / "wal")
        paths = []
        for lsn, frames in segments:
            path = wal / f"{lsn:012d}.log"
            path.write_bytes(pack_header(WAL_MAGIC) + b"".join(_frame(f) for f in frames))
            paths.append((lsn, path))
        _read_log(root, paths[0])

    corpus = []
    for seed in (seeds.wal, seeds.wal_sealed):
        corpus.append(msgpack.packb(_payloads(seed), use_bin_type=True))
    return FuzzTarget(corpus, run, mutators.mutate_msgpack)


def _payloads(segment: bytes) -> list[Any]:
    from vectordb.files.headers import HEADER
    from vectordb.storage.wal import FRAME

    found = []
    offset = HEADER.size
    while offset + FRAME.size <= len(segment):
        length, _ = FRAME.unpack_from(segment, offset)
        start = offset + FRAME.size
        found.append(msgpack.unpackb(segment[start : start + length], raw=False))
        offset = start + length
    return found


# ------------------------------------------------------------------------------------ snapshot
def _snapshot(raw: bool) -> Callable[[Seeds, Path], FuzzTarget]:
    def make(seeds: Seeds, scratch: Path) -> FuzzTarget:
        from vectordb.files.headers import SNAPSHOT_MAGIC
        from vectordb.storage.snapshot import read_snapshot

        path = scratch / "snapshot-000000000013.bin"

        def run(data: bytes) -> None:
            path.write_bytes(data if raw else _checksummed(SNAPSHOT_MAGIC, data))
            _decodes(lambda: read_snapshot(path))

        if raw:
            return FuzzTarget([seeds.snapshot], run)
        return FuzzTarget([checksummed_body(seeds.snapshot)], run, mutators.mutate_msgpack)

    return make


# ------------------------------------------------------------------------------------ MANIFEST
def _manifest(raw: bool) -> Callable[[Seeds, Path], FuzzTarget]:
    def make(seeds: Seeds, scratch: Path) -> FuzzTarget:
        from vectordb.files.headers import MANIFEST_MAGIC
        from vectordb.storage.manifest import Manifest

        path = scratch / "MANIFEST"

        def run(data: bytes) -> None:
            path.write_bytes(data if raw else _checksummed(MANIFEST_MAGIC, data))
            _decodes(lambda: Manifest.load(path))

        if raw:
            return FuzzTarget([seeds.manifest], run)
        return FuzzTarget([checksummed_body(seeds.manifest)], run, mutators.mutate_msgpack)

    return make


# ------------------------------------------------------------------------------------ columns.bin
class _RowsOnly:
    """What ``MetadataColumns.column`` reads of a store: rows, and no metadata for any."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows

    def metadata_bytes(self, row: int) -> bytes:
        return b""


_FILTERS: list[Callable[[str], dict[str, Any]]] = [
    lambda path: {path: "t1"},
    lambda path: {path: {"$gt": 3}},
    lambda path: {path: {"$lte": "t2"}},
    lambda path: {path: {"$exists": True}},
    lambda path: {path: {"$regex": "^t"}},
    lambda path: {path: {"$in": [None, True, [1], 2**60]}},
    lambda path: {path: {"$contains": "x"}},
    lambda path: {path: {"$ne": 2**53 + 1}},
]


def _columns(raw: bool) -> Callable[[Seeds, Path], FuzzTarget]:
    def make(seeds: Seeds, scratch: Path) -> FuzzTarget:
        from vectordb.errors import InvalidFilterError
        from vectordb.files.checksummed import read_checksummed_map
        from vectordb.files.headers import COLUMNS_MAGIC
        from vectordb.filters.columns import MetadataColumns
        from vectordb.filters.evaluate import evaluate
        from vectordb.filters.parse import parse_filter
        from vectordb.storage.layout import COLUMNS_FILE

        path = scratch / COLUMNS_FILE
        lsn, n_rows = seeds.columns_context

        def restore() -> MetadataColumns:
            body = read_checksummed_map(path, COLUMNS_MAGIC, "metadata columns")
            columns = MetadataColumns()
            columns.restore(body, lsn, n_rows)
            return columns

        def run(data: bytes) -> None:
            path.write_bytes(data if raw else _checksummed(COLUMNS_MAGIC, data))
            columns = _decodes(restore)
            if columns is None:
                return
            # restored columns must serve filters: their arrays are what evaluate() indexes
            store = _RowsOnly(n_rows)
            for field in columns.paths():
                for make_filter in _FILTERS:
                    try:  # a path such as "$x" is a column no filter can name
                        expression = parse_filter(make_filter(".".join(field)))
                    except InvalidFilterError:
                        continue
                    evaluate(expression, columns, store, n_rows)

        if raw:
            return FuzzTarget([seeds.columns], run)
        return FuzzTarget([checksummed_body(seeds.columns)], run, mutators.mutate_msgpack)

    return make


# ------------------------------------------------------------------------------------ IDEMPOTENCY
def _idempotency(raw: bool) -> Callable[[Seeds, Path], FuzzTarget]:
    def make(seeds: Seeds, scratch: Path) -> FuzzTarget:
        from vectordb.concurrency.idempotency import IdempotencyKeys
        from vectordb.files.headers import IDEMPOTENCY_MAGIC

        path = scratch / "IDEMPOTENCY"

        def run(data: bytes) -> None:
            path.write_bytes(data if raw else _checksummed(IDEMPOTENCY_MAGIC, data))
            keys = IdempotencyKeys(window=1e12)
            if _decodes(lambda: keys.load(path)) is not None:
                for key, (_, digest, _) in list(keys.keys.items())[:3]:
                    keys.lookup(key, digest)

        if raw:
            return FuzzTarget([seeds.idempotency], run)
        return FuzzTarget([checksummed_body(seeds.idempotency)], run, mutators.mutate_msgpack)

    return make


# ------------------------------------------------------------------------------------ indexes
def _load_index(seed: IndexSeed, directory: Path) -> None:
    """Open the saved index in ``directory`` as a collection would, and search it."""
    from vectordb.config import CollectionConfig
    from vectordb.index.background import RowSource, SearchKnobs
    from vectordb.locking import ReadWriteLatch

    config = CollectionConfig.from_mapping(seed.config)
    vectors, live = seed.vectors, seed.live
    n = len(live)
    sq_norms = np.einsum("ij,ij->i", vectors, vectors).astype(np.float32)
    source = RowSource(
        vectors=lambda: vectors, live=lambda: live, sq_norms=lambda: sq_norms,
        n_rows=lambda: n, latch=ReadWriteLatch(),
    )  # fmt: skip
    index: Any
    if config.index == "hnsw":
        from vectordb.index.hnsw import HnswIndex

        index = HnswIndex(directory, DIM, config.metric_enum, config.hnsw_config, source,
                          read_only=True, threads=1)  # fmt: skip
    else:
        from vectordb.index.ivf import IvfIndex

        index = IvfIndex(
            directory, DIM, config.metric_enum, source,
            ivf=config.ivf_config if config.index == "ivf" else None,
            quantization=config.quantization_config, read_only=True, threads=1,
        )  # fmt: skip
    index.load(seed.lsn, live.copy())  # refuses a bad file itself (falls back to a rebuild)
    index.verify_files()
    index.stray_files()
    if index.structure is None:
        return
    queries = np.ascontiguousarray(vectors[:3] + 0.01, np.float32)
    for mode in ("numba", "numpy"):
        index.search(queries, 5, SearchKnobs(mode=mode))  # type: ignore[arg-type]
    index.stats()
    if config.index == "hnsw":
        rows = np.flatnonzero(live).astype(np.int64)
        index.filtered_search(queries, 5, live.copy(), rows, SearchKnobs())


def _index_dirs(seeds: Seeds, scratch: Path) -> dict[str, Path]:
    return {name: scratch / name / "index" for name in seeds.indexes}


def _write_index(directory: Path, seed: IndexSeed, index_file: bytes, structure: bytes) -> None:
    _reset(directory)
    (directory / str(seed.index_body["file"])).write_bytes(structure)
    (directory / "INDEX").write_bytes(index_file)


def _index_meta(raw: bool) -> Callable[[Seeds, Path], FuzzTarget]:
    """The INDEX file (raw, or its body with a valid checksum), tried against every kind of
    index with that kind's real structure file beside it."""

    def make(seeds: Seeds, scratch: Path) -> FuzzTarget:
        from vectordb.index.saved import INDEX_MAGIC

        directories = _index_dirs(seeds, scratch)

        def run(data: bytes) -> None:
            index_file = data if raw else _checksummed(INDEX_MAGIC, data)
            for name, seed in seeds.indexes.items():
                _write_index(directories[name], seed, index_file, seed.structure)
                _load_index(seed, directories[name])

        files = [seed.index_file for seed in seeds.indexes.values()]
        if raw:
            return FuzzTarget(files, run)
        return FuzzTarget([checksummed_body(f) for f in files], run, mutators.mutate_msgpack)

    return make


def _structure_file(name: str, mutator: Mutator) -> Callable[[Seeds, Path], FuzzTarget]:
    """A structure file (``hnsw-``/``ivf-``/``flat-<lsn>.bin``) whose INDEX names it with the
    right size and xxh3: what hnswlib or numpy would parse once the checksum passes."""

    def make(seeds: Seeds, scratch: Path) -> FuzzTarget:
        from vectordb.index.saved import INDEX_MAGIC

        seed = seeds.indexes[name]
        directory = _index_dirs(seeds, scratch)[name]

        def run(data: bytes) -> None:
            body = {**seed.index_body, "file_size": len(data),
                    "file_checksum": xxhash.xxh3_64_intdigest(data)}  # fmt: skip
            index_file = _checksummed(INDEX_MAGIC, msgpack.packb(body, use_bin_type=True))
            _write_index(directory, seed, index_file, data)
            _load_index(seed, directory)

        return FuzzTarget([seed.structure], run, mutator)

    return make


# ------------------------------------------------------------------------------------ headers
def _database_header(seeds: Seeds, scratch: Path) -> FuzzTarget:
    from vectordb.engine.recovery import check_database_header
    from vectordb.storage.layout import DatabaseFiles

    root = _reset(scratch / "db")
    files = DatabaseFiles(root)

    def run(data: bytes) -> None:
        files.meta.write_bytes(data)
        _decodes(lambda: check_database_header(files, read_only=True))

    return FuzzTarget([seeds.database_header], run)


def _vector_file(seeds: Seeds, scratch: Path) -> FuzzTarget:
    from vectordb.storage.vector_file import VectorFile

    path = scratch / "vectors.bin"

    def run(data: bytes) -> None:
        path.write_bytes(data)
        for use_mmap in (True, False):
            vectors = _decodes(
                lambda: VectorFile(path, DIM, read_only=True, use_mmap=use_mmap)  # noqa: B023
            )
            if vectors is not None:
                float(vectors.rows.sum()) if vectors.capacity else None
                vectors.close()

    return FuzzTarget([seeds.vector_file], run)


TARGETS: dict[str, Callable[[Seeds, Path], FuzzTarget]] = {
    "wal_segment": _wal_segment,
    "wal_records": _wal_records,
    "snapshot": _snapshot(raw=True),
    "snapshot_body": _snapshot(raw=False),
    "manifest": _manifest(raw=True),
    "manifest_body": _manifest(raw=False),
    "columns": _columns(raw=True),
    "columns_body": _columns(raw=False),
    "idempotency": _idempotency(raw=True),
    "idempotency_body": _idempotency(raw=False),
    "index_meta": _index_meta(raw=True),
    "index_meta_body": _index_meta(raw=False),
    "hnsw_graph": _structure_file("graph", mutators.mutate_graph),
    "hnsw_graph_v1": _structure_file("graph_v1", mutators.mutate_hnsw),
    "ivf_file": _structure_file("cells", mutators.mutate_npz),
    "quantized_file": _structure_file("coded", mutators.mutate_npz),
    "database_header": _database_header,
    "vector_file": _vector_file,
}


def build(name: str, seeds: Seeds, scratch: Path) -> FuzzTarget:
    """The target called ``name``, with its files under ``scratch``."""
    for logger in ("vectordb", "vectordb.index", "vectordb.wal", "vectordb.storage"):
        logging.getLogger(logger).setLevel(logging.CRITICAL)
    os.environ.setdefault("VECTORDB_NO_WARMUP", "1")
    scratch.mkdir(parents=True, exist_ok=True)
    return TARGETS[name](seeds, scratch)
