"""Regression tests for the decoder bugs the fuzz targets (``targets.py``) found: each input
is the kind that crashed a decoder, rebuilt by hand so it stays readable. Before the fixes each
raised something other than ``CorruptionError`` (or crashed the process); now each is refused
with ``CorruptionError``, and where the file is derived data (an index, metadata columns) the
database opens anyway and rebuilds it.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import xxhash

import vectordb
from vectordb.concurrency.idempotency import IdempotencyKeys
from vectordb.errors import CorruptionError
from vectordb.files.checksummed import read_checksummed_map, write_checksummed_map
from vectordb.files.headers import (
    IDEMPOTENCY_MAGIC,
    MANIFEST_MAGIC,
    SNAPSHOT_MAGIC,
    WAL_MAGIC,
    pack_header,
)
from vectordb.filters.columns import MetadataColumns
from vectordb.index.hnsw import check_graph_file
from vectordb.index.saved import INDEX_MAGIC
from vectordb.storage.layout import DatabaseFiles
from vectordb.storage.manifest import Manifest
from vectordb.storage.snapshot import read_snapshot
from vectordb.storage.vector_file import VectorFile
from vectordb.storage.wal import WalFollower, WalScan, frame_checksum

ROOT = Path(__file__).resolve().parents[2]
DIM = 4


def _checksummed(magic: bytes, fields: Any) -> bytes:
    body = msgpack.packb(fields, use_bin_type=True)
    return pack_header(magic) + struct.pack("<QQ", len(body), xxhash.xxh3_64_intdigest(body)) + body


# ------------------------------------------------------------------------------------ snapshot
def _snapshot_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "lsn": 3, "n_rows": 2, "live": b"\x01\x01", "ids": b"a\x00b",
        "meta_offsets": np.array([0, 1, 2], "<u8").tobytes(), "meta": b"\x80\x80",
        "checksums": bytes(16), "sq_norms": bytes(8),
    }  # fmt: skip
    fields.update(changes)
    return fields


def test_snapshot_as_written_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "snapshot-000000000003.bin"
    path.write_bytes(_checksummed(SNAPSHOT_MAGIC, _snapshot_fields()))
    assert read_snapshot(path).ids == ["a", "b"]


@pytest.mark.parametrize(
    "changes",
    [
        {"ids": 5},  # found: AttributeError ('int' object has no attribute 'decode')
        {"lsn": float("inf")},  # OverflowError from int()
        {"n_rows": 2.5},  # a float row count was truncated silently
        {"meta": 7},  # metadata that is not bytes was accepted
        {"meta_offsets": np.array([0, 2, 1], "<u8").tobytes()},  # rows read other rows' bytes
        {"meta_offsets": np.array([0, 1, 9], "<u8").tobytes()},  # past the end of meta
    ],
    ids=["ids-int", "lsn-inf", "n_rows-float", "meta-int", "offsets-down", "offsets-past-end"],
)
def test_snapshot_body_with_a_mistyped_field(tmp_path: Path, changes: dict[str, Any]) -> None:
    path = tmp_path / "snapshot-000000000003.bin"
    path.write_bytes(_checksummed(SNAPSHOT_MAGIC, _snapshot_fields(**changes)))
    with pytest.raises(CorruptionError, match="snapshot"):
        read_snapshot(path)


def test_snapshot_body_not_a_map(tmp_path: Path) -> None:
    path = tmp_path / "snapshot-000000000003.bin"
    path.write_bytes(_checksummed(SNAPSHOT_MAGIC, [1, 2, 3]))
    with pytest.raises(CorruptionError):
        read_snapshot(path)


# ------------------------------------------------------------------------------------ log
def _segment(payloads: list[Any]) -> bytes:
    frames = []
    for payload in payloads:
        body = msgpack.packb(payload, use_bin_type=True)
        length = struct.pack("<I", len(body))
        frames.append(length + struct.pack("<Q", frame_checksum(length, [body])) + body)
    return pack_header(WAL_MAGIC) + b"".join(frames)


def _read_log(root: Path) -> None:
    files = DatabaseFiles(root)
    for _ in WalScan(files).records():
        pass


@pytest.mark.parametrize(
    "next_lsn", [[1], "3", None, 99, 2.0], ids=["list", "str", "missing", "wrong", "float"]
)
def test_seal_record_with_a_malformed_next(tmp_path: Path, next_lsn: Any) -> None:
    """Found: ``int(payload["next"])`` raised TypeError for a list (a seal ends a segment and
    names where the log goes on: always its own LSN + 1)."""
    seal: dict[str, Any] = {"lsn": 2, "op": "seal", "t": 0.0}
    if next_lsn is not None:
        seal["next"] = next_lsn
    segment = tmp_path / "wal" / "000000000001.log"
    segment.parent.mkdir()
    segment.write_bytes(_segment([{"lsn": 1, "op": "del", "c": "x", "ids": []}, seal]))
    with pytest.raises(CorruptionError, match="seal record 2"):
        _read_log(tmp_path)
    follower = WalFollower(DatabaseFiles(tmp_path), segment, 16, 1)
    with pytest.raises(CorruptionError, match="seal record 2"):
        list(follower.read_new())


@pytest.mark.parametrize("lsn", [True, 1.0], ids=["bool", "float"])
def test_log_record_lsn_that_only_equals_an_int(tmp_path: Path, lsn: Any) -> None:
    """``True == 1`` and ``1.0 == 1``: such an LSN passed the sequence check, and a float LSN
    later broke segment names (``f"{lsn:012d}"``)."""
    segment = tmp_path / "wal" / "000000000001.log"
    segment.parent.mkdir()
    segment.write_bytes(_segment([{"lsn": lsn, "op": "del", "c": "x", "ids": []}]))
    with pytest.raises(CorruptionError, match="log record has LSN"):
        _read_log(tmp_path)


# ------------------------------------------------------------------------------------ MANIFEST
def _manifest_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "uid": "ab12", "name": "docs", "config": {"dim": DIM, "metric": "cosine"},
        "created_at": 1.0, "updated_at": 2.0, "checkpoint_lsn": 3,
        "snapshot": "snapshot-000000000003.bin", "count": 2,
    }  # fmt: skip
    fields.update(changes)
    return fields


@pytest.mark.parametrize(
    "changes",
    [
        {"snapshot": "../../vectordb.meta"},  # a path out of the collection directory
        {"snapshot": "snapshot-\x00.bin"},  # ValueError (embedded null byte) in read_snapshot
        {"config": {"dim": -4}},  # InvalidConfigError at open, not CorruptionError
        {"config": [1, 2]},
        {"checkpoint_lsn": "3"},
        {"uid": 17},
        {"count": -1},
    ],
    ids=[
        "snapshot-path",
        "snapshot-nul",
        "config-invalid",
        "config-list",
        "lsn-str",
        "uid-int",
        "count-negative",
    ],
)
def test_manifest_with_a_mistyped_field(tmp_path: Path, changes: dict[str, Any]) -> None:
    """A dataclass checks no types: every field was trusted, the snapshot name as a path."""
    path = tmp_path / "MANIFEST"
    write_checksummed_map(path, MANIFEST_MAGIC, _manifest_fields(**changes))
    with pytest.raises(CorruptionError, match="MANIFEST"):
        Manifest.load(path)


def test_manifest_as_written_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "MANIFEST"
    write_checksummed_map(path, MANIFEST_MAGIC, _manifest_fields())
    assert Manifest.load(path).snapshot == "snapshot-000000000003.bin"


# ------------------------------------------------------------------------------------ columns.bin
def _columns_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lsn": 3, "n_rows": 2, "declared": ["tag"],
        "fields": {"tag": msgpack.packb(["a", "b"])},
        "arrays": {"tag": {"present": b"\x01\x01", "codes": np.array([0, 1], "<i4").tobytes(),
                           "categories": ["a", "b"]}},
    }  # fmt: skip
    body.update(changes)
    return body


@pytest.mark.parametrize(
    "changes",
    [
        {"declared": 5},  # found: TypeError ('int' object is not iterable)
        {"fields": [1]},  # AttributeError (.items())
        {"lsn": float("inf")},  # OverflowError from int()
        {"fields": {"tag": 5}},  # TypeError from msgpack.unpackb
        {"arrays": {"tag": {"codes": np.array([0, 7], "<i4").tobytes(), "categories": ["a"]}}},
        {"arrays": {"tag": {"codes": np.array([0, 1], "<i4").tobytes(), "categories": ["b", "a"]}}},
        {"arrays": {"tag": {"present": b"\x02\x01"}}},
        {"arrays": {"tag": 3}},
    ],
    ids=[
        "declared-int",
        "fields-list",
        "lsn-inf",
        "column-int",
        "codes-past-categories",
        "categories-unsorted",
        "present-not-bool",
        "arrays-int",
    ],
)
def test_columns_with_a_malformed_state(changes: dict[str, Any]) -> None:
    """``restore`` promised ValueError, and the engine caught ValueError, KeyError and
    TypeError; AttributeError and OverflowError escaped and failed the open, and codes past
    the categories made a later ``$regex`` filter raise IndexError. Now: CorruptionError (the
    engine logs it and rebuilds the columns on use)."""
    with pytest.raises(CorruptionError, match="columns"):
        MetadataColumns().restore(_columns_body(**changes), 3, 2)


def test_columns_as_saved_still_restore() -> None:
    columns = MetadataColumns()
    columns.restore(_columns_body(), 3, 2)
    assert columns.paths() == [("tag",)]


def test_database_opens_with_malformed_columns(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", DIM, metadata_schema={"tag": "str"})
        docs.add(np.eye(DIM, dtype=np.float32), ids=[f"v{i}" for i in range(DIM)],
                 metadata=[{"tag": f"t{i % 2}"} for i in range(DIM)])  # fmt: skip
        db.checkpoint()
    path = tmp_path / "db" / "collections" / "docs" / "columns.bin"
    from vectordb.files.headers import COLUMNS_MAGIC

    body = read_checksummed_map(path, COLUMNS_MAGIC, "columns")
    write_checksummed_map(path, COLUMNS_MAGIC, {**body, "declared": 5})
    with vectordb.open(tmp_path / "db") as db:
        assert len(db.get_collection("docs").search(np.ones(DIM), k=4, where={"tag": "t1"})) == 2


# ------------------------------------------------------------------------------------ IDEMPOTENCY
@pytest.mark.parametrize(
    "fields",
    [
        {"lsn": 3, "keys": "abc"},  # found: AttributeError ('str' object has no attribute 'items')
        {"lsn": 3, "keys": {"k": [1.0, 2**40, None]}},  # bytes(2**40): a 1 TiB allocation
        {"lsn": 3, "keys": {"k": [1.0, -1, None]}},
        {"lsn": float("inf"), "keys": {}},  # OverflowError from int()
        {"lsn": 3, "keys": {"k": [float("nan"), "digest", None]}},
    ],
    ids=["keys-str", "digest-huge-int", "digest-negative", "lsn-inf", "digest-str"],
)
def test_idempotency_keys_malformed(tmp_path: Path, fields: dict[str, Any]) -> None:
    path = tmp_path / "IDEMPOTENCY"
    write_checksummed_map(path, IDEMPOTENCY_MAGIC, fields)
    keys = IdempotencyKeys(window=60.0)
    with pytest.raises(CorruptionError, match="idempotency"):
        keys.load(path)
    assert keys.keys == {}


# ------------------------------------------------------------------------------------ vectors.bin
def test_vector_file_shorter_than_its_header_page(tmp_path: Path) -> None:
    """Found: ``mmap`` raised ValueError (length greater than file size) for a vector file cut
    inside its 4096-byte header page."""
    path = tmp_path / "vectors.bin"
    VectorFile.create(path, DIM, 4)
    path.write_bytes(path.read_bytes()[:100])
    for use_mmap in (True, False):
        with pytest.raises(CorruptionError, match="header page"):
            VectorFile(path, DIM, read_only=True, use_mmap=use_mmap)


# ------------------------------------------------------------------------------------ indexes
def _indexed_database(root: Path, index: str, **options: Any) -> Path:
    """A checkpointed database with one indexed collection; returns its index directory."""
    rng = np.random.default_rng(3)
    with vectordb.open(root) as db:
        docs = db.create_collection("docs", DIM, index=index, **options)
        docs.add(
            rng.standard_normal((64, DIM)).astype(np.float32), ids=[f"v{i}" for i in range(64)]
        )
        docs.wait_indexed()
        db.checkpoint()
    return root / "collections" / "docs" / "index"


def _rewrite_structure(directory: Path, data: bytes, **changes: Any) -> None:
    """Replace the structure file with ``data`` and give INDEX its right size and checksum."""
    body = read_checksummed_map(directory / "INDEX", INDEX_MAGIC, "INDEX")
    (directory / body["file"]).write_bytes(data)
    body.update(file_size=len(data), file_checksum=xxhash.xxh3_64_intdigest(data), **changes)
    write_checksummed_map(directory / "INDEX", INDEX_MAGIC, body)


def _structure(directory: Path) -> bytes:
    body = read_checksummed_map(directory / "INDEX", INDEX_MAGIC, "INDEX")
    return (directory / body["file"]).read_bytes()


def _searches_after_open(root: Path) -> None:
    with vectordb.open(root) as db:
        docs = db.get_collection("docs")
        assert len(docs.search(np.ones(DIM, np.float32), k=5)) == 5
        info = docs.stats().index_info
        assert info is not None and info["fallback"] is not None  # refused, being rebuilt


@pytest.mark.parametrize(
    "changes",
    [{"present_bits": 5}, {"valid_bits": "x"}, {"version": 1, "present": 5},
     {"version": 1, "valid": "x"}, {"file": "../elsewhere.bin"}, {"file": "hnsw-\x00.bin"}],
    ids=["present-int", "valid-str", "v1-present-int", "v1-valid-str", "file-outside",
         "file-nul"],
)  # fmt: skip
def test_index_meta_with_a_malformed_field(tmp_path: Path, changes: dict[str, Any]) -> None:
    """Found: ``np.frombuffer`` of an int raised TypeError, which escaped the index's fallback
    (it catches CorruptionError) and failed the open. A ``file`` with a NUL raised ValueError
    from ``open``; one naming a path outside the index directory was read and handed to
    hnswlib when its checksum matched."""
    directory = _indexed_database(tmp_path / "db", "hnsw", hnsw={"M": 4})
    data = _structure(directory)
    (directory / ".." / "elsewhere.bin").write_bytes(data)  # the same bytes: the checksum holds
    _rewrite_structure(directory, data, **changes)
    _searches_after_open(tmp_path / "db")


_HEADER = struct.Struct("<QQQQQQiIQQQdQ")  # hnswlib's saveIndex header (see hnsw.py)


def _hnswlib_structure(directory: Path) -> bytes:
    """The graph saved in ``directory`` as hnswlib's own file (graph format 1: what vectordb
    wrote before format 2, and still loads)."""
    from vectordb.config import HnswConfig, Metric
    from vectordb.index.hnsw import HnswGraph
    from vectordb.index.saved import saved_flags

    body = read_checksummed_map(directory / "INDEX", INDEX_MAGIC, "INDEX")
    vectors = VectorFile(directory.parent / "vectors.bin", DIM, read_only=True, use_mmap=False)
    path = directory.parent / "format-1.graph"
    try:
        graph = HnswGraph.load(directory / body["file"], DIM, Metric.COSINE, HnswConfig(M=4), 1,
                               saved_flags(body, directory / "INDEX"), vectors.rows)  # fmt: skip
        graph.save_hnswlib(path)
        return path.read_bytes()
    finally:
        vectors.close()
        path.unlink(missing_ok=True)


def _graph_variants(data: bytes) -> dict[str, bytes]:
    """Graph files of either format that pass their checksum but are not what vectordb
    wrote: ``_hnswlib_variants`` for format 1, ``_links_variants`` for format 2."""
    from vectordb.index.graph_file import GRAPH_MAGIC

    if data.startswith(GRAPH_MAGIC):
        return _links_variants(data)
    return _hnswlib_variants(data)


def _links_variants(data: bytes) -> dict[str, bytes]:
    """Format 2 graph files (``graph_file.py``) that must be refused before hnswlib sees
    them: each would make it read or write outside its arrays, or search a wrong graph."""
    from vectordb.index.graph_file import GRAPH_HEADER

    (_magic, _version, _flags, count, _dim, m, _efc, _mult, max_level, _entry, label_bytes,
     level_bytes, n_links0, n_upper, _n_upper_links, _covered,
     _checksum) = GRAPH_HEADER.unpack_from(data)  # fmt: skip
    words_at = GRAPH_HEADER.size
    links_at = words_at + 4 * count
    labels_at = links_at + 4 * n_links0
    levels_at = labels_at + label_bytes * count
    upper_at = levels_at + level_bytes * count
    upper_links_at = upper_at + 4 * n_upper
    assert label_bytes == 4 and level_bytes == 1 and count > 1 and n_links0 > 0
    variants = {}

    def patched(offset: int, fmt: str, value: Any) -> bytes:
        buffer = bytearray(data)
        struct.pack_into(fmt, buffer, offset, value)
        return bytes(buffer)

    variants["format-unknown"] = patched(8, "<I", 3)
    variants["dim-wrong"] = patched(24, "<I", DIM + 1)
    variants["m-huge"] = patched(28, "<I", 2**20)
    variants["ef-construction-below-m"] = patched(32, "<Q", 1)
    variants["level-multiplier-nan"] = patched(40, "<d", float("nan"))
    variants["entry-past-elements"] = patched(52, "<I", count + 10**6)
    variants["entry-level-wrong"] = patched(48, "<i", max_level + 1)
    variants["label-bytes-odd"] = patched(56, "<I", 3)
    variants["elements-past-rows"] = patched(16, "<Q", 2**40)
    variants["elements-checked-past-count"] = patched(88, "<Q", count + 1)
    variants["link-past-elements"] = patched(links_at, "<I", 10**7)
    first_count = struct.unpack_from("<I", data, words_at)[0] & 0xFFFF
    variants["link-count-past-max"] = patched(words_at, "<I", 2 * m + 1)
    variants["link-counts-short"] = patched(words_at, "<I", max(0, first_count - 1))
    variants["label-past-rows"] = patched(labels_at, "<I", 64 + 10)
    variants["label-repeated"] = patched(
        labels_at + 4, "<I", struct.unpack_from("<I", data, labels_at)[0]
    )
    levels = np.frombuffer(data, np.uint8, count, levels_at)
    variants["level-past-entry"] = patched(levels_at + int(np.argmin(levels)), "<B",
                                           max_level + 1)  # fmt: skip
    if n_upper and upper_links_at < len(data):
        # the first upper-level link, pointed at an element with no upper level
        variants["link-to-lower-level"] = patched(upper_links_at, "<I", int(np.argmin(levels)))
    variants["cut-short"] = data[:-3]
    variants["grown"] = data + bytes(4)
    return variants


def _load_time_variants(data: bytes) -> dict[str, bytes]:
    """Format 2 files that pass ``check_graph_file`` but not the load: the vectors the graph
    was built with are not the collection's rows (the checksum over them, or how many it
    covers, differs)."""
    buffer = bytearray(data)
    buffer[96] ^= 1  # vectors_checksum
    return {"vectors-checksum-wrong": bytes(buffer)}


def _hnswlib_variants(data: bytes) -> dict[str, bytes]:
    """Graph files hnswlib loads and then reads out of bounds with (each crashed the process
    with SIGSEGV when its checksum matched: hnswlib checks only that sizes add up)."""
    header = list(_HEADER.unpack_from(data))
    count, element_bytes, label_at, max_m0 = header[2], header[3], header[4], header[9]
    variants = {}

    def patched(offset: int, fmt: str, value: int) -> bytes:
        buffer = bytearray(data)
        struct.pack_into(fmt, buffer, offset, value)
        return bytes(buffer)

    variants["label-offset-huge"] = patched(32, "<Q", 2**40)
    variants["entry-past-elements"] = patched(52, "<I", count + 10**6)
    variants["link-past-elements"] = patched(_HEADER.size + 4, "<I", 10**7)
    variants["link-count-past-max"] = patched(_HEADER.size, "<I", max_m0 + 1)
    variants["label-past-rows"] = patched(_HEADER.size + label_at, "<Q", 2**63)
    variants["label-repeated"] = patched(
        _HEADER.size + element_bytes + label_at, "<Q",
        struct.unpack_from("<Q", data, _HEADER.size + label_at)[0],
    )  # fmt: skip
    variants["element-size-wrong"] = patched(24, "<Q", element_bytes + 4)
    variants["elements-past-file"] = patched(16, "<Q", 2**40)
    variants["level-multiplier-nan"] = patched(80, "<d", float("nan"))
    variants["cut-short"] = data[:-3]
    return variants


@pytest.mark.parametrize("graph_format", [1, 2])
def test_graph_file_checked_before_hnswlib(tmp_path: Path, graph_format: int) -> None:
    directory = _indexed_database(tmp_path / "db", "hnsw", hnsw={"M": 4})
    data = _structure(directory) if graph_format == 2 else _hnswlib_structure(directory)
    path = tmp_path / "graph.bin"
    path.write_bytes(data)
    assert check_graph_file(path, DIM, 64) > 0
    for name, variant in _graph_variants(data).items():
        path.write_bytes(variant)
        with pytest.raises(CorruptionError, match="graph file"):
            check_graph_file(path, DIM, 64)
        assert name


@pytest.mark.parametrize("graph_format", [1, 2])
def test_database_with_a_malformed_graph_opens_and_rebuilds(
    tmp_path: Path, graph_format: int
) -> None:
    """End to end, in a child process (a regression would kill it with SIGSEGV): each
    malformed graph, with a matching INDEX checksum, is refused and the index rebuilt."""
    directory = _indexed_database(tmp_path / "db", "hnsw", hnsw={"M": 4})
    data = _structure(directory) if graph_format == 2 else _hnswlib_structure(directory)
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from tests.fuzz import test_decoder_regressions as t
        root = Path({str(tmp_path / "db")!r})
        directory = root / "collections" / "docs" / "index"
        data = Path(sys.argv[1]).read_bytes()
        variants = t._graph_variants(data)
        if data.startswith(b"VDB-HNW"):
            variants.update(t._load_time_variants(data))
        for name, variant in variants.items():
            t._rewrite_structure(directory, variant)
            t._searches_after_open(root)
            t._rewrite_structure(directory, data)
        print("ok")
        """
    )
    original = tmp_path / "original.bin"
    original.write_bytes(data)
    result = subprocess.run(
        [sys.executable, "-c", script, str(original)], capture_output=True, text=True,
        timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def _npz(path: Path, **changes: Any) -> bytes:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.mark.parametrize(
    "variant",
    [
        "truncated",
        "huge-shape",
        "sizes-negative",
        "rows-past-end",
        "rows-repeated",
        "dim-array",
        "centroids-wrong-dim",
        "bias-strings",
        "compressed",
    ],
)
def test_ivf_file_malformed(tmp_path: Path, variant: str) -> None:
    """Found: ``np.load`` raised EOFError for a truncated member (the loader caught only
    KeyError, ValueError and OSError). Also refused now: negative cell sizes (ValueError from
    ``np.repeat``, outside the loader's ``try``) and rows past the collection or repeated (the
    numba scans index with them unchecked), arrays of the wrong shape or dtype that failed
    later, and compressed members (``np.savez`` never writes them; one could expand far past
    the file). A member declaring an enormous shape is refused before numpy reads it."""
    directory = _indexed_database(tmp_path / "db", "ivf", ivf={"nlist": 2, "train_after": 8})
    body = read_checksummed_map(directory / "INDEX", INDEX_MAGIC, "INDEX")
    path = directory / body["file"]
    data = path.read_bytes()
    with np.load(path) as archive:
        sizes, entries = archive["list_size"], archive["rows"]
    if variant == "truncated":
        broken = data[: len(data) // 2] + data[-200:]
    elif variant == "huge-shape":  # rows.npy declares 10**13 entries and holds one
        member = io.BytesIO()
        member.write(np.lib.format.magic(1, 0))
        np.lib.format.write_array_header_1_0(
            member, {"descr": "<i8", "fortran_order": False, "shape": (10**13,)}
        )
        member.write(bytes(8))
        with np.load(path) as archive:
            arrays = {name: archive[name] for name in archive.files if name != "rows"}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as archive:
            archive.writestr("rows.npy", member.getvalue())
        broken = buffer.getvalue()
    elif variant == "sizes-negative":
        broken = _npz(path, list_size=np.array([len(entries) + 5, -5], sizes.dtype))
    elif variant == "rows-past-end":
        broken = _npz(path, rows=entries + 10**9)
    elif variant == "rows-repeated":
        broken = _npz(path, rows=np.zeros_like(entries))
    elif variant == "dim-array":
        broken = _npz(path, dim=np.array([DIM, DIM]))
    elif variant == "centroids-wrong-dim":
        broken = _npz(path, centroids=np.zeros((2, DIM + 1), np.float32))
    elif variant == "bias-strings":
        broken = _npz(path, bias=np.array(["x"] * len(entries)))
    else:
        buffer = io.BytesIO()
        with np.load(path) as archive:
            np.savez_compressed(buffer, **{name: archive[name] for name in archive.files})
        broken = buffer.getvalue()
    _rewrite_structure(directory, broken)
    with pytest.raises(CorruptionError, match="index file"):
        _load_cells(directory, body)
    _searches_after_open(tmp_path / "db")


def _load_cells(directory: Path, body: dict[str, Any]) -> Any:
    from vectordb.config import IvfConfig, Metric
    from vectordb.index.ivf import CellLists

    ivf = IvfConfig(nlist=2, train_after=8)
    from vectordb.index.saved import saved_flags

    return CellLists.load(directory / body["file"], DIM, Metric.COSINE, None, ivf, 1,
                          rows=saved_flags(body, directory / "INDEX").rows)  # fmt: skip
