"""Damage the files of a database on purpose and check how vectordb reacts.

The databases come from ``writer_process.py fixed``: a real process that adds single records
with durability ``full`` and leaves with ``os._exit(0)`` (no close, so no checkpoint: the
log keeps every record). ``plain`` has the collection's ``create`` record and all 12 writes
in one log segment; ``ckpt`` was checkpointed after 7 writes (snapshot + MANIFEST at LSN 8)
and holds writes 8-12 in the log only (in a new segment; the sealed one before it stays until
the next checkpoint).

- Truncating the last segment anywhere (a torn tail) keeps exactly the records whose frames
  are complete; a read-write open cuts the torn bytes off, and writing afterwards works and
  survives a reopen (read from the log, and after a checkpoint).
- A changed byte in any frame but the last is ``CorruptionError`` naming the segment and the
  frame's offset, and the failed open changes no file. A changed byte in the last frame is a
  torn tail (that record is dropped), except a shortened length field, which leaves a frame
  that fails its checksum before the end of the segment: corruption, as the log's reading
  rules say.
- A vector row that fails its checkpoint checksum is reported by ``check()`` and refused by
  ``get()``; damaged rows the log still covers are rewritten by replay.
- A damaged MANIFEST, snapshot or vector file is ``CorruptionError`` at open, naming it; a
  file from a newer format version is ``UnsupportedFormatError``.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import xxhash
from internals import engine_of

import vectordb
from vectordb.files.headers import FORMAT_VERSION

from .writer_process import apply_op, parse_output

WRITER = Path(__file__).with_name("writer_process.py")
N = 12
DIM = 4
CHECKPOINT_AFTER = 7
HEADER_SIZE = 16
FRAME = struct.Struct("<IQ")
VECTORS_HEADER_BYTES = 4096

Records = dict[str, tuple[bytes, Any]]


@dataclasses.dataclass
class Template:
    path: Path
    ops: list[dict[str, Any]]
    checkpointed: int  # records covered by the MANIFEST / snapshot

    def expected(self, count: int) -> Records:
        model: dict[str, Records] = {"c": {}}
        for op in self.ops[:count]:
            model = apply_op(model, op)
        return model["c"]

    def vector(self, index: int) -> bytes:
        return bytes.fromhex(self.ops[index]["vec"])


def _make_template(path: Path, checkpoint_after: int) -> Template:
    command = [sys.executable, str(WRITER), "fixed", str(path), str(N), str(DIM)]
    if checkpoint_after:
        command += ["--checkpoint-after", str(checkpoint_after)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    acked, in_flight, events = parse_output(result.stdout)
    assert len(acked) == N and in_flight is None
    assert events.count("C") == (1 if checkpoint_after else 0)
    return Template(path, acked, checkpoint_after)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return _make_template(tmp_path_factory.mktemp("plain") / "db", 0)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return _make_template(tmp_path_factory.mktemp("ckpt") / "db", CHECKPOINT_AFTER)


# --------------------------------------------------------------------- helpers
def _clone(template: Template, target: Path) -> Path:
    shutil.copytree(template.path, target, ignore=shutil.ignore_patterns("LOCK"))
    return target


def _segments(db: Path) -> list[Path]:
    return sorted((db / "wal").glob("*.log"))


def _frames(segment: Path) -> list[tuple[int, int]]:
    """(start, end) of every frame, checked against the documented format."""
    data = segment.read_bytes()
    assert data[:8] == b"VDB-WAL\x00"
    first_lsn = int(segment.stem)
    offset = HEADER_SIZE
    frames = []
    while offset < len(data):
        length, checksum = FRAME.unpack_from(data, offset)
        end = offset + FRAME.size + length
        assert end <= len(data), "template segment has a torn frame"
        assert xxhash.xxh3_64_intdigest(data[offset : offset + 4] + data[offset + 12 : end]) == (
            checksum
        )
        payload = msgpack.unpackb(data[offset + 12 : end], raw=False)
        assert payload["lsn"] == first_lsn + len(frames)
        frames.append((offset, end))
        offset = end
    return frames


_EVENTS = {"create", "drop", "compacted", "seal"}


def _write_frames(segment: Path) -> list[tuple[int, int]]:
    """The frames of ``_frames`` that hold writes (not collection or segment events)."""
    data = segment.read_bytes()
    return [
        (start, end)
        for start, end in _frames(segment)
        if msgpack.unpackb(data[start + 12 : end], raw=False)["op"] not in _EVENTS
    ]


def _records(db: vectordb.Database) -> Records:
    collection = db.get_collection("c")
    ids = collection.ids()
    records = collection.get_many(ids) if ids else []
    out: Records = {}
    for vector_id, record in zip(ids, records):
        assert record is not None
        out[vector_id] = (record.vector.astype("<f4").tobytes(), record.metadata)
    assert len(collection) == len(out)
    return out


def _state(path: Path, *, read_only: bool) -> Records:
    with vectordb.open(path, read_only=read_only) as db:
        records = _records(db)
        assert db.check() == []
    return records


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)


def _same_file(a: str | Path | None, b: Path) -> bool:
    return a is not None and Path(a).resolve() == b.resolve()


NEW_VECTOR = np.array([0.5, -1.5, 2.0, 0.25], dtype="<f4")


def _check_cut(template: Template, work: Path, cut: int) -> None:
    """Truncate a copy's last segment at ``cut`` and check every promise of a torn tail."""
    db_path = _clone(template, work / "db")
    segment = _segments(db_path)[-1]
    complete = [end for _, end in _write_frames(segment) if end <= cut]
    count = template.checkpointed + len(complete)
    kept_size = max(
        [HEADER_SIZE, *(end for _, end in _frames(segment) if end <= cut)]
    )  # a cut header is rewritten whole
    expected = template.expected(count)
    _truncate(segment, cut)
    where = f"cut at byte {cut} of {segment.name}"

    assert _state(db_path, read_only=True) == expected, where
    assert segment.stat().st_size == cut, f"{where}: a read-only open changed the segment"

    with vectordb.open(db_path) as db:
        assert _records(db) == expected, where
        assert segment.stat().st_size == kept_size, f"{where}: torn tail not cut off"
        assert db.check() == [], where
        db.get_collection("c").add(NEW_VECTOR, ids="new", metadata={"after": cut})
        # a copy taken while the database is open holds the new record in the log only
        shutil.copytree(db_path, work / "copy", ignore=shutil.ignore_patterns("LOCK"))
    expected["new"] = (NEW_VECTOR.tobytes(), {"after": cut})
    assert _state(work / "copy", read_only=True) == expected, f"{where}: new record (log)"
    assert _state(db_path, read_only=False) == expected, f"{where}: new record (checkpoint)"
    shutil.rmtree(work, ignore_errors=True)


def _open_error(path: Path, *, read_only: bool) -> vectordb.CorruptionError:
    with pytest.raises(vectordb.CorruptionError) as info:
        vectordb.open(path, read_only=read_only).close()
    return info.value


def _files(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != "LOCK"
    }


# --------------------------------------------------------------------- the log format
def test_template_log_holds_one_frame_per_acknowledged_write(plain: Template, ckpt: Template):
    (segment,) = _segments(plain.path)
    assert segment.name == f"{1:012d}.log"
    assert len(_frames(segment)) == N + 1  # the collection's create record, then the writes
    assert len(_write_frames(segment)) == N
    sealed, segment = _segments(ckpt.path)
    # create (LSN 1), 7 writes, the checkpoint's seal (LSN 9): the new segment starts at 10
    assert segment.name == f"{CHECKPOINT_AFTER + 3:012d}.log"
    assert len(_frames(segment)) == N - CHECKPOINT_AFTER
    assert len(_write_frames(sealed)) == CHECKPOINT_AFTER
    assert _state(plain.path, read_only=True) == plain.expected(N)
    assert _state(ckpt.path, read_only=True) == ckpt.expected(N)


# --------------------------------------------------------------------- (a) torn tails
def test_truncate_at_every_offset_of_the_last_frame(plain: Template, tmp_path: Path) -> None:
    start, end = _frames(_segments(plain.path)[0])[-1]
    for cut in range(start, end + 1):
        _check_cut(plain, tmp_path / f"cut-{cut}", cut)


@pytest.mark.parametrize("which", ["plain", "ckpt"])
def test_truncate_at_random_offsets(which: str, request: pytest.FixtureRequest, tmp_path: Path):
    template: Template = request.getfixturevalue(which)
    size = _segments(template.path)[-1].stat().st_size
    rng = np.random.default_rng(20240 + len(which))
    cuts = sorted({0, 1, HEADER_SIZE - 1, HEADER_SIZE, *rng.integers(0, size, 24).tolist()})
    for cut in cuts:
        _check_cut(template, tmp_path / f"cut-{cut}", int(cut))


# --------------------------------------------------------------------- (b) changed bytes
def _positions(field: str, start: int, end: int, rng: np.random.Generator) -> list[int]:
    if field == "length":
        return list(range(start, start + 4))
    if field == "checksum":
        return list(range(start + 4, start + 12))
    body = range(start + 12, end)
    return sorted({body[0], body[-1], *rng.choice(body, 4, replace=False).tolist()})


@pytest.mark.parametrize("field", ["payload", "checksum", "length"])
def test_changed_byte_in_an_earlier_frame_is_corruption(
    plain: Template, tmp_path: Path, field: str
) -> None:
    rng = np.random.default_rng(7)
    frames = _frames(_segments(plain.path)[0])
    failures = []
    for index, (start, end) in enumerate(frames[:-1]):
        for position in _positions(field, start, end, rng):
            db_path = _clone(plain, tmp_path / f"f{index}-{position}")
            segment = _segments(db_path)[0]
            _flip(segment, position)
            before = _files(db_path)
            size = segment.stat().st_size
            for read_only in (True, False):
                where = f"LSN {index + 1} frame byte {position - start} ({field})"
                try:
                    db = vectordb.open(db_path, read_only=read_only)
                except vectordb.CorruptionError as error:
                    if not (_same_file(error.path, segment) and error.offset == start):
                        failures.append(
                            f"{where}: reported at {error.path} byte {error.offset}, not {start}"
                        )
                    if _files(db_path) != before:
                        failures.append(f"{where}: the failed open changed files")
                    continue
                with db:
                    kept = len(_records(db))
                    cut = f", segment cut from {size} to {segment.stat().st_size} bytes"
                failures.append(
                    f"{where}: open(read_only={read_only}) succeeded with {kept} of {N} "
                    f"acknowledged records" + ("" if read_only else cut)
                )
            shutil.rmtree(db_path, ignore_errors=True)
    assert not failures, f"{len(failures)} damaged frames not reported:\n" + "\n".join(
        failures[:20]
    )


def test_changed_byte_in_the_last_frame_is_a_torn_tail(plain: Template, tmp_path: Path) -> None:
    frames = _frames(_segments(plain.path)[0])
    start, end = frames[-1]
    length = FRAME.unpack_from(_segments(plain.path)[0].read_bytes(), start)[0]
    expected = plain.expected(N - 1)
    for position in range(start, end):
        db_path = _clone(plain, tmp_path / f"b{position}")
        segment = _segments(db_path)[0]
        _flip(segment, position)
        where = f"byte {position - start} of the last frame changed"
        shortened = False
        if position < start + 4:
            shift = 8 * (position - start)
            new_length = length ^ (0xFF << shift)
            shortened = start + FRAME.size + new_length < end
        if shortened:
            # the frame now ends before the segment does and fails its checksum: corruption
            before = _files(db_path)
            error = _open_error(db_path, read_only=False)
            assert _same_file(error.path, segment) and error.offset == start, where
            assert _files(db_path) == before, where
        else:
            assert _state(db_path, read_only=True) == expected, where
            with vectordb.open(db_path) as db:
                assert _records(db) == expected, where
                assert segment.stat().st_size == start, where
                db.get_collection("c").add(NEW_VECTOR, ids="new")
            assert len(_state(db_path, read_only=False)) == N, where
        shutil.rmtree(db_path, ignore_errors=True)


def test_shortened_length_of_the_last_frame_is_corruption(plain: Template, tmp_path: Path):
    """A smaller length makes the last frame end before the segment does and fail its
    checksum there: by the log's reading rules that is corruption, not a torn write (a torn
    write leaves a prefix of the frame, never a different length)."""
    db_path = _clone(plain, tmp_path / "db")
    segment = _segments(db_path)[0]
    start, _end = _frames(segment)[-1]
    data = bytearray(segment.read_bytes())
    length = FRAME.unpack_from(data, start)[0]
    struct.pack_into("<I", data, start, length - 1)
    segment.write_bytes(bytes(data))
    before = _files(db_path)
    for read_only in (True, False):
        error = _open_error(db_path, read_only=read_only)
        assert _same_file(error.path, segment) and error.offset == start
    assert _files(db_path) == before


def _split_log(plain: Template, target: Path, boundaries: list[int]) -> list[Path]:
    """Copy ``plain`` with its log split into segments starting after each boundary frame."""
    db_path = _clone(plain, target)
    (segment,) = _segments(db_path)
    data = segment.read_bytes()
    frames = _frames(segment)
    header = data[:HEADER_SIZE]
    segment.unlink()
    paths = []
    edges = [0, *boundaries, len(frames)]
    for first, last in itertools.pairwise(edges):
        path = db_path / "wal" / f"{first + 1:012d}.log"
        body = data[frames[first][0] : frames[last - 1][1]] if last > first else b""
        path.write_bytes(header + body)
        paths.append(path)
    return paths


def test_split_log_reads_like_one_segment(plain: Template, tmp_path: Path) -> None:
    _split_log(plain, tmp_path / "db", [4, 8])
    assert _state(tmp_path / "db", read_only=True) == plain.expected(N)
    assert _state(tmp_path / "db", read_only=False) == plain.expected(N)


def test_torn_frame_in_an_earlier_segment_is_corruption(plain: Template, tmp_path: Path) -> None:
    db_path = tmp_path / "db"
    first, _second = _split_log(plain, db_path, [5])
    start, end = _frames(first)[-1]
    _truncate(first, end - 3)
    before = _files(db_path)
    for read_only in (True, False):
        error = _open_error(db_path, read_only=read_only)
        assert _same_file(error.path, first) and error.offset == start
    assert _files(db_path) == before


def test_missing_middle_segment_is_corruption(plain: Template, tmp_path: Path) -> None:
    db_path = tmp_path / "db"
    _first, middle, last = _split_log(plain, db_path, [4, 8])
    middle.unlink()
    error = _open_error(db_path, read_only=False)
    assert _same_file(error.path, last)


def test_missing_first_segment_is_corruption(plain: Template, tmp_path: Path) -> None:
    """Records 1-4 are acknowledged and no checkpoint covers them (checkpoint LSN 0): a log
    that starts at LSN 5 has lost them, which the open must report, not hide."""
    db_path = tmp_path / "db"
    first, _rest = _split_log(plain, db_path, [4])
    first.unlink()
    for read_only in (True, False):
        try:
            db = vectordb.open(db_path, read_only=read_only)
        except vectordb.CorruptionError:
            continue
        with db:
            lost = sorted(set(plain.expected(N)) - set(_records(db)))
            problems = db.check()
        pytest.fail(
            f"open(read_only={read_only}) succeeded without the acknowledged records {lost}; "
            f"check() = {problems}"
        )


# --------------------------------------------------------------------- (c) vector rows
def _row_offset(db_path: Path, vector: bytes) -> int:
    data = (db_path / "collections" / "c" / "vectors.bin").read_bytes()
    offset = data.find(vector, VECTORS_HEADER_BYTES)
    assert offset > 0 and data.find(vector, offset + 1) == -1
    assert (offset - VECTORS_HEADER_BYTES) % (DIM * 4) == 0
    return offset


def test_damaged_checkpointed_row_is_reported_and_refused(ckpt: Template, tmp_path: Path):
    db_path = _clone(ckpt, tmp_path / "db")
    vectors = db_path / "collections" / "c" / "vectors.bin"
    victim = 3  # r003: checkpointed, so its row has a checksum in the snapshot
    row = _row_offset(db_path, ckpt.vector(victim))
    _flip(vectors, row + 5)
    expected = ckpt.expected(N)
    for read_only in (True, False, False):  # the second read-write open follows a checkpoint
        with vectordb.open(db_path, read_only=read_only) as db:
            problems = db.check()
            assert len(problems) == 1, problems
            (problem,) = problems
            assert _same_file(problem.path, vectors)
            assert problem.offset == row
            assert "r003" in problem.message
            collection = db.get_collection("c")
            with pytest.raises(vectordb.CorruptionError) as info:
                collection.get("r003")
            assert _same_file(info.value.path, vectors) and info.value.offset == row
            with pytest.raises(vectordb.CorruptionError):
                collection.get_many(["r000", "r003"])
            for vector_id, (vector, metadata) in expected.items():
                if vector_id == "r003":
                    continue
                record = collection.get(vector_id)
                assert record is not None
                assert record.vector.tobytes() == vector and record.metadata == metadata
    with pytest.raises(vectordb.CorruptionError) as info:
        vectordb.open(db_path, config={"verify_checksums_on_open": True}).close()
    assert _same_file(info.value.path, vectors) and info.value.offset == row


def test_damaged_row_still_in_the_log_is_rewritten_by_replay(ckpt: Template, tmp_path: Path):
    db_path = _clone(ckpt, tmp_path / "db")
    vectors = db_path / "collections" / "c" / "vectors.bin"
    _flip(vectors, _row_offset(db_path, ckpt.vector(N - 1)) + 2)  # r011: LSN 12, log only
    assert _state(db_path, read_only=True) == ckpt.expected(N)
    assert _state(db_path, read_only=False) == ckpt.expected(N)


def test_damage_in_unused_rows_is_harmless(ckpt: Template, tmp_path: Path) -> None:
    db_path = _clone(ckpt, tmp_path / "db")
    vectors = db_path / "collections" / "c" / "vectors.bin"
    size = vectors.stat().st_size
    for offset in (size - 1, size - DIM * 4, VECTORS_HEADER_BYTES + 500 * DIM * 4):
        _flip(vectors, offset)
    assert _state(db_path, read_only=False) == ckpt.expected(N)


# --------------------------------------------------------------------- (d) other files
def _collection_file(db_path: Path, name: str) -> Path:
    directory = db_path / "collections" / "c"
    if name == "snapshot":
        (snapshot,) = directory.glob("snapshot-*.bin")
        return snapshot
    return directory / name


DAMAGE = [
    ("MANIFEST", "flip", 40),
    ("MANIFEST", "flip", -1),
    ("MANIFEST", "flip", 20),  # the body length
    ("MANIFEST", "truncate", 10),
    ("MANIFEST", "truncate", 30),
    ("MANIFEST", "truncate", -5),
    ("MANIFEST", "empty", 0),
    ("snapshot", "flip", 40),
    ("snapshot", "flip", -1),
    ("snapshot", "flip", 17),  # the body length
    ("snapshot", "truncate", 12),
    ("snapshot", "truncate", -1),
    ("snapshot", "missing", 0),
    ("vectors.bin", "flip", 16),  # dim in the header
    ("vectors.bin", "truncate", VECTORS_HEADER_BYTES + 3 * DIM * 4),  # fewer rows than stored
]


def _unavailable_error(path: Path, *, read_only: bool) -> vectordb.CorruptionError:
    """Open ``path`` (the rest of the database opens) and return the error the damaged
    collection ``c`` raises on use; it is listed as unavailable meanwhile."""
    with vectordb.open(path, read_only=read_only) as db:
        info = {c.name: c for c in db.list_collections()}["c"]
        assert not info.available and info.problem
        with pytest.raises(vectordb.CorruptionError) as caught:
            db.get_collection("c")
        return caught.value


@pytest.mark.parametrize(("name", "how", "where"), DAMAGE)
def test_damaged_collection_file_is_corruption_on_use(
    ckpt: Template, tmp_path: Path, name: str, how: str, where: int
) -> None:
    db_path = _clone(ckpt, tmp_path / "db")
    target = _collection_file(db_path, name)
    original = target.read_bytes()
    if how == "flip":
        _flip(target, where % len(original))
    elif how == "truncate":
        _truncate(target, where % len(original))
    elif how == "empty":
        target.write_bytes(b"")
    else:
        target.unlink()
    before = _files(db_path)
    collection_files = {k: v for k, v in before.items() if k.startswith("collections/")}
    for read_only in (True, False):
        error = _unavailable_error(db_path, read_only=read_only)
        assert _same_file(error.path, target), (error.path, error)
        after = _files(db_path)
        if read_only:
            assert after == before, "a read-only open changed files"
        # nothing of the damaged collection is touched, and the log keeps its records
        assert {k: v for k, v in after.items() if k.startswith("collections/")} == (
            collection_files
        )
    target.write_bytes(original)  # repaired: every record comes back from the log
    assert _state(db_path, read_only=False) == ckpt.expected(N)


def test_missing_manifest_is_corruption_naming_the_collection(ckpt: Template, tmp_path: Path):
    db_path = _clone(ckpt, tmp_path / "db")
    (db_path / "collections" / "c" / "MANIFEST").unlink()
    error = _unavailable_error(db_path, read_only=False)
    assert _same_file(error.path, db_path / "collections" / "c")
    assert "MANIFEST" in str(error)


# --------------------------------------------------------------------- (e) format versions
def _format_file(db_path: Path, name: str) -> Path:
    if name == "segment":
        return _segments(db_path)[-1]
    if name == "vectordb.meta":
        return db_path / name
    return _collection_file(db_path, name)


@pytest.mark.parametrize(
    "name", ["segment", "MANIFEST", "snapshot", "vectors.bin", "vectordb.meta"]
)
def test_newer_format_version_is_refused(ckpt: Template, tmp_path: Path, name: str) -> None:
    db_path = _clone(ckpt, tmp_path / "db")
    target = _format_file(db_path, name)
    data = bytearray(target.read_bytes())
    assert struct.unpack_from("<I", data, 8)[0] == FORMAT_VERSION
    struct.pack_into("<I", data, 8, FORMAT_VERSION + 1)
    target.write_bytes(bytes(data))
    before = _files(db_path)
    for read_only in (True, False):
        with pytest.raises(vectordb.UnsupportedFormatError, match="newer") as info:
            vectordb.open(db_path, read_only=read_only).close()
        assert _same_file(info.value.path, target) and info.value.offset == 8
    assert _files(db_path) == before, "a refused open changed files"


def test_segment_with_version_zero_or_foreign_magic(ckpt: Template, tmp_path: Path) -> None:
    db_path = _clone(ckpt, tmp_path / "db")
    segment = _segments(db_path)[-1]
    original = segment.read_bytes()
    segment.write_bytes(original[:8] + struct.pack("<I", 0) + original[12:])
    error = _open_error(db_path, read_only=False)
    assert not isinstance(error, vectordb.UnsupportedFormatError)
    assert _same_file(error.path, segment) and error.offset == 8
    segment.write_bytes(b"NOT-WAL\x00" + original[8:])
    with pytest.raises(vectordb.UnsupportedFormatError, match="magic") as info:
        vectordb.open(db_path).close()
    assert _same_file(info.value.path, segment)
    segment.write_bytes(original)
    assert _state(db_path, read_only=False) == ckpt.expected(N)


@pytest.mark.parametrize(
    "payload",
    [
        {"op": "txn", "t": 1.0, "ops": 5},
        {"op": "put", "c": "UID", "t": 1.0, "ids": 7, "rows": b"\0" * 8, "vec": b"\0" * 8},
        {"op": "del", "c": "UID", "t": 1.0},
        {"op": "meta", "c": "UID", "t": 1.0, "ids": ["a"], "meta": None},
        {"op": "del", "c": "UID", "t": 1.0, "ids": ["a"], "k": "key"},  # a key without "h"
    ],
)
def test_a_log_record_with_a_valid_checksum_but_nonsense_inside_is_corruption(
    tmp_path: Path, payload: dict[str, object]
) -> None:
    """The decoding of log records into writes only raises CorruptionError (found reading
    the engine after the fuzzing): a record whose checksum holds but whose fields have the
    wrong types or are missing never surfaces as KeyError or TypeError, neither while a
    process follows the log (which then stops: going on would skip the record) nor at open."""
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        db.create_collection("c", dim=2).add([[1, 2]], ids=["a"])
        engine = engine_of(db)
        uid = engine.collections.get("c").uid
        fields = {k: (uid if v == "UID" else v) for k, v in payload.items()}
        assert engine.log.writer is not None
        engine.log.writer.append(fields, None, sync=True)  # as a buggy or foreign writer would
        with pytest.raises(vectordb.CorruptionError, match="cannot be applied"):
            db.get_collection("c").count()  # follows the log: finds the record
        with pytest.raises(vectordb.StorageError, match="unusable"):
            db.get_collection("c")
    with pytest.raises(vectordb.CorruptionError, match="cannot be applied"):
        vectordb.open(path, read_only=True)
