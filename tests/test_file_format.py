"""An independent reader of the vectordb file format, version 1, written from
docs/file-format.md alone.

The reader uses only struct, msgpack, xxhash and numpy: nothing from vectordb. vectordb is used
only to create the databases it reads and to say what they contain (its own ``get``); the
tests assert that both agree, record by record, after states that live partly in checkpoints
and partly in the write-ahead log only.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import xxhash

import vectordb

# ----------------------------------------------------------------------------- the reader

KNOWN_VERSION = 4
HEADER = struct.Struct("<8sII")  # magic, format_version, flags (section 3)
BODY = struct.Struct("<QQ")  # body_length, xxh3-64 of the body (sections 7, 8)
FRAME = struct.Struct("<IQ")  # payload_length, xxh3-64 of length bytes + payload (6.2)
VECTOR_SHAPE = struct.Struct("<IIQ")  # dim, dtype, row_bytes at offset 16 of vectors.bin (9)
VECTOR_HEADER_BYTES = 4096
FLOAT32 = 1

DATABASE_MAGIC = b"VECTORDB"
WAL_MAGIC = b"VDB-WAL\x00"
MANIFEST_MAGIC = b"VDB-MAN\x00"
SNAPSHOT_MAGIC = b"VDB-SNP\x00"
VECTORS_MAGIC = b"VDB-VEC\x00"

SEGMENT_NAME = re.compile(r"^(\d{12})\.log$")
MANIFEST_KEYS = {
    "uid",
    "name",
    "config",
    "created_at",
    "updated_at",
    "checkpoint_lsn",
    "snapshot",
    "count",
}
SNAPSHOT_KEYS = {"lsn", "n_rows", "live", "ids", "meta_offsets", "meta", "checksums", "sq_norms"}
SNAPSHOT_DOCUMENT_KEYS = {"doc_offsets", "docs"}  # format 3, both or neither


class FormatError(Exception):
    """The bytes break a rule of docs/file-format.md."""

    def __init__(self, message: str, path: Path, offset: int | None = None) -> None:
        super().__init__(f"{message} [{path}" + ("" if offset is None else f" @ {offset}") + "]")
        self.path = path
        self.offset = offset


def check_header(data: bytes, magic: bytes, path: Path) -> int:
    """Section 3: length, magic, version (flags are ignored)."""
    if len(data) < HEADER.size:
        raise FormatError("shorter than the 16-byte header", path, 0)
    found, version, _flags = HEADER.unpack_from(data, 0)
    if found != magic:
        raise FormatError(f"magic {found!r}, expected {magic!r}", path, 0)
    if version > KNOWN_VERSION:
        raise FormatError(f"format version {version} is newer than {KNOWN_VERSION}", path, 8)
    if version < 1:
        raise FormatError(f"invalid format version {version}", path, 8)
    return int(version)


def read_checked_map(path: Path, magic: bytes) -> dict[str, Any]:
    """MANIFEST and snapshot framing (sections 7, 8): header, length, checksum, msgpack map."""
    data = path.read_bytes()
    check_header(data, magic, path)
    start = HEADER.size + BODY.size
    if len(data) < start:
        raise FormatError("body length and checksum missing", path, HEADER.size)
    length, checksum = BODY.unpack_from(data, HEADER.size)
    body = data[start : start + length]
    if len(body) != length:
        raise FormatError(f"body truncated: {len(body)} of {length} bytes", path, start)
    if xxhash.xxh3_64_intdigest(body) != checksum:
        raise FormatError("body fails its checksum", path, start)
    fields = msgpack.unpackb(body, raw=False)
    if not isinstance(fields, dict):
        raise FormatError("body is not a msgpack map", path, start)
    return fields


@dataclass
class Log:
    """Every valid frame's payload in LSN order, and where the log ends (section 10.1)."""

    segments: list[tuple[int, Path]]
    records: list[dict[str, Any]] = field(default_factory=list)
    torn: tuple[Path, int, str] | None = None


def read_log(root: Path) -> Log:
    wal_dir = root / "wal"
    found = []
    if wal_dir.is_dir():
        for entry in wal_dir.iterdir():
            match = SEGMENT_NAME.match(entry.name)
            if match:
                found.append((int(match.group(1)), entry))
    log = Log(sorted(found))
    expected: int | None = None
    for position, (first_lsn, path) in enumerate(log.segments):
        is_last = position == len(log.segments) - 1
        data = path.read_bytes()
        if len(data) < HEADER.size:
            if is_last:
                log.torn = (path, 0, "segment header incomplete")
                return log
            raise FormatError("segment header truncated", path, 0)
        check_header(data, WAL_MAGIC, path)
        if expected is None:
            expected = first_lsn
        elif first_lsn != expected:
            raise FormatError(f"segment named {first_lsn}, expected {expected}", path, 0)
        offset = HEADER.size
        while offset < len(data):
            problem = None
            if len(data) - offset < FRAME.size:
                problem = "frame header cut short"
            else:
                length, checksum = FRAME.unpack_from(data, offset)
                end = offset + FRAME.size + length
                if end > len(data):
                    problem = "frame runs past the end of the segment"
                else:
                    payload = memoryview(data)[offset + FRAME.size : end]
                    hasher = xxhash.xxh3_64(data[offset : offset + 4])
                    hasher.update(payload)
                    if hasher.intdigest() != checksum:
                        if not (is_last and end == len(data)):
                            raise FormatError("frame fails its checksum", path, offset)
                        problem = "last frame fails its checksum"
            if problem is not None:
                if not is_last:
                    raise FormatError(f"segment ends mid-frame ({problem})", path, offset)
                log.torn = (path, offset, problem)
                return log
            record = msgpack.unpackb(payload, raw=False)
            if not isinstance(record, dict) or type(record.get("lsn")) is not int:
                raise FormatError("payload is not a map with an int lsn", path, offset)
            if record["lsn"] != expected:
                raise FormatError(
                    f"frame has LSN {record['lsn']}, expected {expected}", path, offset
                )
            expected += 1
            log.records.append(record)
            offset = end
    return log


class CollectionImage:
    """One collection: its checkpoint (MANIFEST, snapshot, vectors.bin), then replayed records."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        manifest_path = directory / "MANIFEST"
        manifest = read_checked_map(manifest_path, MANIFEST_MAGIC)
        if set(manifest) != MANIFEST_KEYS:
            raise FormatError(f"MANIFEST keys {sorted(manifest)}", manifest_path)
        if manifest["name"] != directory.name:
            raise FormatError(f"MANIFEST names {manifest['name']!r}", manifest_path)
        self.uid: str = manifest["uid"]
        self.name: str = manifest["name"]
        self.checkpoint_lsn: int = manifest["checkpoint_lsn"]
        self.config: dict[str, Any] = manifest["config"]
        self.dim = dim = int(self.config["dim"])

        vectors_path = directory / "vectors.bin"
        data = vectors_path.read_bytes()
        check_header(data, VECTORS_MAGIC, vectors_path)
        if len(data) < VECTOR_HEADER_BYTES:
            raise FormatError("header page truncated", vectors_path, 0)
        file_dim, dtype, row_bytes = VECTOR_SHAPE.unpack_from(data, HEADER.size)
        if (file_dim, dtype, row_bytes) != (dim, FLOAT32, 4 * dim):
            raise FormatError(
                f"vectors.bin holds dim={file_dim} dtype={dtype} row_bytes={row_bytes}",
                vectors_path,
                HEADER.size,
            )
        if any(data[HEADER.size + VECTOR_SHAPE.size : VECTOR_HEADER_BYTES]):
            raise FormatError("header page padding is not zero", vectors_path, 32)
        self.capacity = (len(data) - VECTOR_HEADER_BYTES) // row_bytes
        self.file_rows = np.frombuffer(
            data, dtype="<f4", count=self.capacity * dim, offset=VECTOR_HEADER_BYTES
        ).reshape(self.capacity, dim)

        self.row_of: dict[str, int] = {}  # live id -> row
        self.id_at: dict[int, str] = {}  # live row -> id
        self.blob: dict[int, bytes] = {}  # row -> metadata blob (b"": none)
        self.doc: dict[int, str | None] = {}  # row -> document (section 6.5, format 3)
        self.logged: dict[int, np.ndarray] = {}  # row -> vector from a replayed put
        self.checkpoint_live: set[int] = set()
        self.snapshot_rows = 0
        self.replayed = 0

        name = manifest["snapshot"]
        if name is None:
            if manifest["count"] != 0:
                raise FormatError("no snapshot but a non-zero count", manifest_path)
            return
        if name != f"snapshot-{self.checkpoint_lsn:012d}.bin":
            raise FormatError(
                f"snapshot name {name!r} does not match the checkpoint LSN", manifest_path
            )
        snapshot_path = directory / name
        snapshot = read_checked_map(snapshot_path, SNAPSHOT_MAGIC)
        if set(snapshot) not in (SNAPSHOT_KEYS, SNAPSHOT_KEYS | SNAPSHOT_DOCUMENT_KEYS):
            raise FormatError(f"snapshot keys {sorted(snapshot)}", snapshot_path)
        n = snapshot["n_rows"]
        if snapshot["lsn"] != self.checkpoint_lsn:
            raise FormatError("snapshot LSN differs from the MANIFEST's", snapshot_path)
        live = np.frombuffer(snapshot["live"], dtype=np.uint8)
        ids = snapshot["ids"].decode("utf-8").split("\x00") if n else []
        offsets = np.frombuffer(snapshot["meta_offsets"], dtype="<u8")
        meta: bytes = snapshot["meta"]
        checksums = np.frombuffer(snapshot["checksums"], dtype="<u8")
        sq_norms = np.frombuffer(snapshot["sq_norms"], dtype="<f4")
        if not (
            len(live) == len(ids) == len(checksums) == len(sq_norms) == n and len(offsets) == n + 1
        ):
            raise FormatError("snapshot arrays disagree with n_rows", snapshot_path)
        if (
            offsets[0] != 0
            or int(offsets[-1]) != len(meta)
            or np.any(np.diff(offsets.astype(np.int64)) < 0)
        ):
            raise FormatError("meta_offsets do not partition meta", snapshot_path)
        doc_offsets = np.zeros(n + 1, "<u8")
        docs: bytes = snapshot.get("docs", b"")
        if "doc_offsets" in snapshot:
            doc_offsets = np.frombuffer(snapshot["doc_offsets"], dtype="<u8")
            if (
                len(doc_offsets) != n + 1
                or doc_offsets[0] != 0
                or int(doc_offsets[-1]) != len(docs)
                or np.any(np.diff(doc_offsets.astype(np.int64)) < 0)
            ):
                raise FormatError("doc_offsets do not partition docs", snapshot_path)
        if n > self.capacity:
            raise FormatError(f"{n} rows described, {self.capacity} in vectors.bin", vectors_path)
        for row in np.flatnonzero(live).tolist():
            start = VECTOR_HEADER_BYTES + row * row_bytes
            if xxhash.xxh3_64_intdigest(data[start : start + row_bytes]) != int(checksums[row]):
                raise FormatError(f"row {row} fails its checksum", vectors_path, start)
            vector = self.file_rows[row].astype(np.float64)
            if not np.isclose(float(sq_norms[row]), float(vector @ vector), rtol=1e-4):
                raise FormatError(f"sq_norm of row {row} is wrong", snapshot_path)
            vector_id = ids[row]
            if not vector_id or vector_id in self.row_of:
                raise FormatError(f"row {row}: empty or repeated id {vector_id!r}", snapshot_path)
            self.row_of[vector_id] = row
            self.id_at[row] = vector_id
            self.blob[row] = meta[int(offsets[row]) : int(offsets[row + 1])]
            text = docs[int(doc_offsets[row]) : int(doc_offsets[row + 1])]
            self.doc[row] = text.decode("utf-8") if text else None
            self.checkpoint_live.add(row)
        if len(self.row_of) != manifest["count"]:
            raise FormatError("MANIFEST count differs from the snapshot's live rows", manifest_path)
        self.snapshot_rows = n

    def apply(self, record: dict[str, Any]) -> None:
        """Sections 6.5 - 6.7."""
        op = record["op"]
        ids: list[str] = record["ids"]
        if op == "put":
            rows = np.frombuffer(record["rows"], dtype="<i8").tolist()
            vectors = np.frombuffer(record["vec"], dtype="<f4")
            blobs = record.get("meta")
            documents = record.get("doc")
            if (
                len(rows) != len(ids)
                or vectors.size != len(ids) * self.dim
                or (blobs is not None and len(blobs) != len(ids))
                or (documents is not None and len(documents) != len(ids))
            ):
                raise FormatError(f"put {record['lsn']} has inconsistent lengths", self.directory)
            vectors = vectors.reshape(len(ids), self.dim)
            for vector_id in ids:  # replaced records release their rows first
                old = self.row_of.pop(vector_id, None)
                if old is not None:
                    del self.id_at[old]
            for i, (vector_id, row) in enumerate(zip(ids, rows)):
                if row < 0 or row in self.id_at or row in self.checkpoint_live:
                    raise FormatError(
                        f"put {record['lsn']} writes row {row}, which is live "
                        "now or was live at the checkpoint",
                        self.directory,
                    )
                self.row_of[vector_id] = row
                self.id_at[row] = vector_id
                self.logged[row] = vectors[i].copy()
                self.blob[row] = b"" if blobs is None else blobs[i]
                self.doc[row] = None if documents is None else documents[i] or None
        elif op == "del":
            for vector_id in ids:
                row = self.row_of.pop(vector_id, None)
                if row is not None:
                    del self.id_at[row]
        elif op == "meta":
            documents = record.get("doc")  # absent or nil: documents unchanged
            for i, (vector_id, blob) in enumerate(zip(ids, record["meta"], strict=True)):
                row = self.row_of.get(vector_id)
                if row is not None:
                    self.blob[row] = blob
                    if documents is not None:
                        self.doc[row] = documents[i] or None
        else:
            raise FormatError(f"unknown op {op!r} at LSN {record['lsn']}", self.directory)
        self.replayed += 1

    def records(self) -> dict[str, tuple[np.ndarray, dict[str, Any] | None]]:
        result = {}
        for vector_id, row in self.row_of.items():
            vector = self.logged.get(row)
            if vector is None:
                if row not in self.checkpoint_live:
                    raise FormatError(
                        f"row {row} of {vector_id!r} has no defined content", self.directory
                    )
                vector = self.file_rows[row].copy()
            blob = self.blob.get(row, b"")
            metadata = msgpack.unpackb(blob, raw=False) if blob else None
            result[vector_id] = (vector, metadata, self.doc.get(row))
        return result

    def untouched_checkpoint_rows(self) -> list[int]:
        """Rows live at the checkpoint and still holding the same record (vector from file)."""
        return sorted(
            row for row in self.checkpoint_live if row in self.id_at and row not in self.logged
        )


@dataclass
class DatabaseImage:
    created_at: float
    log: Log
    collections: dict[str, CollectionImage]
    skipped_unknown: int = 0
    skipped_checkpointed: int = 0

    def records(self) -> dict[str, dict[str, tuple[np.ndarray, dict[str, Any] | None]]]:
        return {name: image.records() for name, image in self.collections.items()}


def read_database(root: Path) -> DatabaseImage:
    """Section 10, steps 1 and 3-6."""
    meta_path = root / "vectordb.meta"
    data = meta_path.read_bytes()
    check_header(data, DATABASE_MAGIC, meta_path)
    body = msgpack.unpackb(data[HEADER.size :], raw=False)
    if not isinstance(body, dict) or not isinstance(body.get("created_at"), float):
        raise FormatError("vectordb.meta body is not {'created_at': float}", meta_path, 16)
    collections = {}
    for entry in sorted((root / "collections").iterdir()):
        if not entry.name.startswith("."):
            collections[entry.name] = CollectionImage(entry)
    log = read_log(root)
    image = DatabaseImage(body["created_at"], log, collections)
    by_uid = {collection.uid: collection for collection in collections.values()}
    if collections and log.segments:
        lowest = min(collection.checkpoint_lsn for collection in collections.values())
        if log.segments[0][0] > lowest + 1:
            raise FormatError(
                f"log starts at {log.segments[0][0]}, records after {lowest} are missing",
                log.segments[0][1],
            )
    for record in log.records:
        if record["op"] == "create":
            # format 2: the collection's configuration, as its MANIFEST holds it (6.11)
            config = record.get("config")
            created = by_uid.get(record["uid"])
            if not isinstance(config, dict) or (
                created is not None and config != created.config
            ):
                raise FormatError(f"create {record['lsn']} lacks the collection's config", root)
            continue
        # a "txn" record holds several writes, each naming its collection (section 6.4)
        parts = record["ops"] if record["op"] == "txn" else [record]
        for part in parts:
            collection = by_uid.get(part.get("c"))  # type: ignore[arg-type]
            if collection is None:
                image.skipped_unknown += 1
            elif record["lsn"] <= collection.checkpoint_lsn:
                image.skipped_checkpointed += 1
            else:
                collection.apply({**part, "lsn": record["lsn"]})
    return image


# ----------------------------------------------------------------------------- vectordb's view


def vectordb_records(path: Path) -> dict[str, dict[str, tuple[np.ndarray, Any]]]:
    """What vectordb itself returns for every record (a read-only open changes no file)."""
    with vectordb.open(path, read_only=True) as db:
        return collection_records(db)


def collection_records(db: vectordb.Database) -> dict[str, dict[str, tuple[np.ndarray, Any]]]:
    result = {}
    for info in db.list_collections():
        collection = db.get_collection(info.name)
        ids = collection.ids()
        include = ("vector", "metadata", "document")
        records = collection.get_many(ids, include=include) if ids else []
        result[info.name] = {
            record.id: (record.vector, record.metadata, record.document)
            for record in records
            if record is not None
        }
    return result


def assert_same(
    ours: dict[str, dict[str, tuple[np.ndarray, Any]]],
    theirs: dict[str, dict[str, tuple[np.ndarray, Any]]],
) -> None:
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        assert sorted(ours[name]) == sorted(theirs[name]), name
        for vector_id, (vector, metadata, document) in theirs[name].items():
            our_vector, our_metadata, our_document = ours[name][vector_id]
            assert our_vector.dtype == np.float32
            np.testing.assert_array_equal(our_vector, vector, err_msg=f"{name}/{vector_id}")
            assert our_metadata == metadata, f"{name}/{vector_id}"
            assert our_document == document, f"{name}/{vector_id}"


# ----------------------------------------------------------------------------- databases

WRITER = textwrap.dedent("""
    import os, sys
    import numpy as np
    import vectordb

    if len(sys.argv) > 2:  # tiny log segments, to get several of them
        from vectordb.storage import wal
        wal.WalWriter.__init__.__defaults__ = (int(sys.argv[2]),)

    rng = np.random.default_rng(7)
    def vectors(n, dim):
        return rng.standard_normal((n, dim)).astype(np.float32)
    def meta(i):
        return {"i": i, "tag": "xy"[i % 2], "nested": {"f": i / 3, "raw": b"\\x00\\x01"},
                "list": [1, None, True, 2.5]}

    db = vectordb.open(sys.argv[1])
    docs = db.create_collection("docs", dim=8, metric="cosine")
    unit = db.create_collection("unit", dim=5, metric="euclidean", normalize=True)
    bulk = db.create_collection("bulk", dim=3, metric="dot", durability="off")
    gone = db.create_collection("gone", dim=3)
    cleared = db.create_collection("cleared", dim=2, metric="euclidean")

    docs.add(vectors(60, 8), ids=[f"d{i}" for i in range(60)],
             metadata=[meta(i) if i % 3 else None for i in range(60)],
             documents=[f"text {i} \u00e9" if i % 4 else None for i in range(60)])
    unit.add(vectors(30, 5), ids=[f"u{i}" for i in range(30)])
    bulk.add(vectors(20, 3), ids=[f"b{i}" for i in range(20)])
    gone.add(vectors(4, 3), ids=["g0", "g1", "g2", "g3"])
    cleared.add(vectors(2, 2), ids=["c0", "c1"])
    cleared.delete(["c0", "c1"])
    docs.delete([f"d{i}" for i in range(0, 60, 7)])
    docs.upsert(vectors(3, 8), ids=["d1", "d2", "n0"], metadata=[{"v": 1}, None, meta(99)])
    for i in range(5):
        docs.update([f"d{36 + i}"], metadata=[{"round": i}])
    db.checkpoint()                                   # the state so far: snapshots + vectors.bin

    docs.add(vectors(15, 8), ids=[f"e{i}" for i in range(15)])    # reuses rows freed before
    docs.upsert(vectors(2, 8), ids=["d4", "d5"], metadata=[{"v": 2}, None],
                documents=["upserted", None])
    docs.update(["d8", "d10"], metadata=[{"only": "meta"}, {}], merge=False,
                documents=["eight", ""])
    docs.update(["d11"], vectors=vectors(1, 8))       # vector only: metadata kept, new row
    docs.delete(["d13", "e3"])
    docs.add(vectors(1, 8), ids=["e3"], metadata={"back": True})
    unit.upsert(vectors(2, 5), ids=["u0", "u100"])
    unit.delete("u1")
    bulk.add(vectors(1, 3), ids=["lost"])           # durability off: lost in the crash
    gone.add(vectors(1, 3), ids=["g-old"])
    db.drop_collection("gone")                        # its log records stay behind
    again = db.create_collection("gone", dim=3)       # same name, new uid
    again.add(vectors(2, 3), ids=["g-new", "g1"])
    db.create_collection("empty", dim=2)              # never written: no snapshot
    with db.transaction():                            # one "txn" record, two collections
        docs.add(vectors(2, 8), ids=["t0", "t1"], metadata=[{"txn": 1}, None],
                 documents=["in a transaction", None])
        unit.delete("u2")
        docs.update(["t0"], metadata=[{"txn": 2}], documents=[None])
    for i in range(int(sys.argv[3]) if len(sys.argv) > 3 else 0):
        docs.upsert(vectors(3, 8), ids=[f"loop{i % 4}", f"d{30 + i % 9}", f"x{i}"])
    os._exit(0)                                        # a crash: no close, no checkpoint
""")


def write_crashed(path: Path, *extra: str) -> None:
    """Run WRITER in a child process that dies without closing the database."""
    env = dict(os.environ, VECTORDB_NO_WARMUP="1")
    result = subprocess.run(
        [sys.executable, "-c", WRITER, str(path), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def crashed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crashed") / "db"
    write_crashed(path)
    return path


# ----------------------------------------------------------------------------- tests


def test_reader_matches_vectordb_after_a_crash(crashed_db: Path) -> None:
    image = read_database(crashed_db)
    ours = image.records()
    assert_same(ours, vectordb_records(crashed_db))

    # the state really is split between checkpoint files and the log
    docs = image.collections["docs"]
    assert docs.snapshot_rows > 0 and docs.untouched_checkpoint_rows()
    assert docs.replayed == 8 and docs.logged  # 6 writes, then 2 in the transaction
    assert image.skipped_unknown >= 1  # records of the dropped "gone"
    assert image.log.torn is None
    # the checkpoint sealed the first segment; it stays until the next checkpoint
    assert len(image.log.segments) == 2
    # the expected content, spot-checked independently of both readers
    assert "lost" not in ours["bulk"] and len(ours["bulk"]) == 20
    assert sorted(ours["gone"]) == ["g-new", "g1"]
    assert ours["docs"]["t0"][1] == {"txn": 2} and ours["docs"]["t1"][1] is None
    assert "u2" not in ours["unit"]
    assert ours["cleared"] == {} and image.collections["cleared"].snapshot_rows == 2
    assert ours["empty"] == {} and image.collections["empty"].snapshot_rows == 0
    assert ours["docs"]["d8"][1] == {"only": "meta"} and ours["docs"]["d10"][1] == {}
    # documents (format 3): from the snapshot, put and meta records, kept and cleared
    assert ours["docs"]["d1"][2] is None and ours["docs"]["d3"][2] == "text 3 \u00e9"
    assert ours["docs"]["d4"][2] == "upserted" and ours["docs"]["d5"][2] is None
    assert ours["docs"]["d8"][2] == "eight" and ours["docs"]["d10"][2] is None
    assert ours["docs"]["d11"][2] == "text 11 \u00e9"  # vector update keeps the document
    assert ours["docs"]["t0"][2] == "in a transaction" and ours["docs"]["t1"][2] is None
    assert ours["docs"]["d11"][1] == {
        "i": 11,
        "tag": "y",
        "nested": {"f": 11 / 3, "raw": b"\x00\x01"},
        "list": [1, None, True, 2.5],
    }
    assert ours["docs"]["e3"][1] == {"back": True} and "d13" not in ours["docs"]
    norms = np.linalg.norm(np.array([vector for vector, *_ in ours["unit"].values()]), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)


@pytest.mark.parametrize("use_mmap", [True, False])
def test_reader_matches_a_copy_taken_while_open(tmp_path: Path, use_mmap: bool) -> None:
    rng = np.random.default_rng(3)
    with vectordb.open(
        tmp_path / "live", config={"use_mmap": use_mmap, "initial_capacity": 4}
    ) as db:
        items = db.create_collection("items", dim=6, metric="dot")
        items.add(
            rng.standard_normal((40, 6)),
            ids=[f"i{k}" for k in range(40)],
            metadata=[{"k": k} for k in range(40)],
        )
        items.delete([f"i{k}" for k in range(0, 40, 3)])
        db.checkpoint()
        items.upsert(rng.standard_normal((5, 6)), ids=["i1", "i2", "z0", "z1", "z2"])
        items.update(["i4"], metadata=[{"k": "four"}])
        items.delete(["i5"])
        items.add(rng.standard_normal((30, 6)), ids=[f"w{k}" for k in range(30)])  # grows
        shutil.copytree(tmp_path / "live", tmp_path / "copy")
        expected = collection_records(db)

    image = read_database(tmp_path / "copy")
    # upsert, update, delete and add after the checkpoint: four log records to replay
    assert image.collections["items"].replayed == 4
    assert image.collections["items"].capacity >= 57
    assert_same(image.records(), expected)
    assert_same(image.records(), vectordb_records(tmp_path / "copy"))


@pytest.mark.parametrize(
    "tail", ["intact", "cut-mid-frame", "flip-last-byte", "partial-frame", "partial-header"]
)
def test_reader_follows_segments_and_torn_tails(tmp_path: Path, tail: str) -> None:
    path = tmp_path / "db"
    write_crashed(path, "2048", "12")
    segments = sorted((path / "wal").iterdir())
    assert len(segments) >= 3
    last = segments[-1]
    data = bytearray(last.read_bytes())
    if tail == "cut-mid-frame":
        del data[-3:]
    elif tail == "flip-last-byte":
        data[-1] ^= 0x40
    elif tail == "partial-frame":
        data += FRAME.pack(500, 0) + b"\x81"
    elif tail == "partial-header":
        data += b"\x05\x00"
    last.write_bytes(bytes(data))

    image = read_database(path)
    if tail == "intact":
        assert image.log.torn is None
    else:
        assert image.log.torn is not None and image.log.torn[0] == last
    assert_same(image.records(), vectordb_records(path))
    if tail in ("cut-mid-frame", "flip-last-byte"):  # the last record is gone for both
        assert "x11" not in image.records()["docs"]
    else:
        assert "x11" in image.records()["docs"]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    ["vector-row", "log-frame", "manifest", "snapshot", "newer-version", "sealed-log-segment"],
)
def test_reader_verifies_every_checksum(tmp_path: Path, crashed_db: Path, damage: str) -> None:
    path = tmp_path / "db"
    shutil.copytree(crashed_db, path)
    docs_dir = path / "collections" / "docs"
    clean = read_database(path)
    if damage == "vector-row":
        row = clean.collections["docs"].untouched_checkpoint_rows()[0]
        _flip(docs_dir / "vectors.bin", VECTOR_HEADER_BYTES + row * 8 * 4 + 5)
    elif damage == "log-frame":  # the first frame of the last segment: later frames follow
        _flip(clean.log.segments[-1][1], HEADER.size + FRAME.size + 5)
    elif damage == "manifest":
        _flip(docs_dir / "MANIFEST", HEADER.size + BODY.size + 3)
    elif damage == "snapshot":
        snapshot = next(docs_dir.glob("snapshot-*.bin"))
        _flip(snapshot, snapshot.stat().st_size - 2)
    elif damage == "newer-version":
        _flip(docs_dir / "vectors.bin", 9)  # format_version 1 -> 257
    else:  # a frame of a segment that is not the last
        write_crashed(tmp_path / "multi", "2048", "12")
        path = tmp_path / "multi"
        first = read_database(path).log.segments[0][1]
        _flip(first, first.stat().st_size - 1)

    with pytest.raises(FormatError):
        read_database(path)
    if damage == "vector-row":  # vectordb finds it on demand, not at open
        with vectordb.open(path, read_only=True) as db:
            problems = db.check()
        assert len(problems) == 1 and problems[0].path.endswith("vectors.bin")
    elif damage in ("manifest", "snapshot"):  # the collection is set aside, the rest opens
        with vectordb.open(path, read_only=True) as db, pytest.raises(
            vectordb.CorruptionError, match="unavailable"
        ):
            db.get_collection("docs")
    else:
        with pytest.raises(vectordb.CorruptionError):
            vectordb.open(path, read_only=True)
