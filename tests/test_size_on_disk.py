"""Size on disk after close: the last process to close deletes the log its checkpoint
covers and trims ``vectors.bin`` to its used rows (``Engine._tidy_if_last``), so a flat
collection takes at most ~1.25x its raw vectors plus metadata; while another process has
the database open (it holds ``<db>/OPEN`` shared), a close leaves both alone.

Every test uses real files in ``tmp_path``; the multi-process ones run real interpreters
(``subprocess.Popen``) that open the database and wait for commands on stdin.
"""

from __future__ import annotations

import os
import random
import signal
import string
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest

import vectordb
from vectordb.errors import LockTimeoutError
from vectordb.locking import FileLock
from vectordb.storage.layout import CollectionFiles, DatabaseFiles
from vectordb.storage.manifest import Manifest
from vectordb.storage.segments import covered_segments
from vectordb.storage.vector_file import HEADER_BYTES, MIN_GROWTH_ROWS, VectorFile

DIM = 16


def _vectors(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _checkpoint_lsns(path: Path) -> list[int]:
    collections = DatabaseFiles(path).collections_dir
    return [
        Manifest.load(CollectionFiles(entry).manifest).checkpoint_lsn
        for entry in sorted(collections.iterdir())
        if not entry.name.startswith(".")
    ]


def _segments(path: Path) -> list[tuple[int, Path]]:
    return DatabaseFiles(path).segments()


def _covered(path: Path) -> list[Path]:
    """Segments every record of which the checkpoints on disk cover."""
    return covered_segments(_segments(path), min(_checkpoint_lsns(path)))


def _vector_file_rows(path: Path, name: str, dim: int = DIM) -> int:
    size = (path / "collections" / name / "vectors.bin").stat().st_size
    return (size - HEADER_BYTES) // (dim * 4)


def _total_bytes(path: Path) -> int:
    return sum(
        (Path(walked) / name).stat().st_size for walked, _, names in os.walk(path) for name in names
    )


def _fill(path: Path, n: int, *, batches: int, config: dict[str, object] | None = None) -> None:
    vectors = _vectors(n)
    with vectordb.open(path, config=config) as db:
        docs = db.create_collection("docs", dim=DIM, exist_ok=True)
        for chunk in np.array_split(np.arange(n), batches):
            docs.add(vectors[chunk], ids=[f"d{i}" for i in chunk],
                     metadata=[{"i": int(i)} for i in chunk])  # fmt: skip


def _assert_all_there(path: Path, n: int, *, read_only: bool = False) -> None:
    vectors = _vectors(n)
    with vectordb.open(path, read_only=read_only) as db:
        docs = db.get_collection("docs")
        assert docs.count() == n
        records = docs.get_many([f"d{i}" for i in range(n)])
        for i, record in enumerate(records):
            assert record is not None, i
            assert record.vector is not None
            assert np.array_equal(record.vector, vectors[i]), i
            assert record.metadata == {"i": i}
        assert db.check() == []


# ----------------------------------------------------------------- one process
def test_close_leaves_no_covered_segment(tmp_path: Path) -> None:
    path = tmp_path / "db"
    # a checkpoint every few records: several sealed segments while open
    _fill(path, 300, batches=30, config={"checkpoint_records": 4})
    segments = _segments(path)
    lsn = min(_checkpoint_lsns(path))
    assert _covered(path) == []
    # only the empty segment the next write goes to is left
    assert [first for first, _ in segments] == [lsn + 1]
    assert segments[0][1].stat().st_size == 16
    _assert_all_there(path, 300)


def test_reopened_database_has_everything_and_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _fill(path, 200, batches=7)
    _assert_all_there(path, 200)
    _assert_all_there(path, 200, read_only=True)
    more = _vectors(400, seed=0)
    with vectordb.open(path) as db:
        docs = db.get_collection("docs")
        # grows the trimmed file again (past a quarter more than its rows)
        docs.add(more[200:], ids=[f"d{i}" for i in range(200, 400)],
                 metadata=[{"i": i} for i in range(200, 400)])  # fmt: skip
        hits = docs.search(more[321], k=1)
        assert hits[0].id == "d321"
    assert _covered(path) == []
    assert _vector_file_rows(path, "docs") == 400
    _assert_all_there(path, 400)


def test_close_without_new_writes_drops_the_kept_segment(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=DIM)
        docs.add(_vectors(50), ids=[f"d{i}" for i in range(50)],
                 metadata=[{"i": i} for i in range(50)])  # fmt: skip
        db.checkpoint()  # seals the segment and keeps it (for processes idle across it)
        assert len(_covered(path)) == 1
    assert _covered(path) == []  # the close's checkpoint sealed nothing, yet dropped it
    _assert_all_there(path, 50)


def test_vectors_file_trimmed_at_close_and_grows_by_a_quarter(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=DIM)  # initial_capacity 1024
        docs.add(_vectors(10), ids=[f"d{i}" for i in range(10)],
                 metadata=[{"i": i} for i in range(10)])  # fmt: skip
        empty = db.create_collection("empty", dim=DIM)
        assert _vector_file_rows(path, "docs") == 1024
        assert empty.count() == 0
    assert _vector_file_rows(path, "docs") == 10
    assert _vector_file_rows(path, "empty") == 1  # a vector file keeps one row
    vector_file = VectorFile(path / "collections" / "docs" / "vectors.bin", DIM,
                             read_only=True, use_mmap=True)  # fmt: skip
    try:
        assert vector_file.capacity == 10
        assert vector_file.grown_capacity(11) == 10 + MIN_GROWTH_ROWS
        assert vector_file.grown_capacity(5000) == 5000
    finally:
        vector_file.close()
    with vectordb.open(path) as db:
        docs = db.get_collection("docs")
        assert _vector_file_rows(path, "docs") == 10
        batch = _vectors(1000, seed=0)[10:1000]
        docs.add(batch, ids=[f"d{i}" for i in range(10, 1000)],
                 metadata=[{"i": i} for i in range(10, 1000)])  # fmt: skip
        assert _vector_file_rows(path, "docs") == 1000
        docs.add(_vectors(1, seed=3), ids=["one-more"])
        assert _vector_file_rows(path, "docs") == 1250  # a quarter more, not double
        docs.delete(["one-more"])
        assert db.get_collection("empty").stats().disk_bytes > 0
    _assert_all_there(path, 1000)
    assert _vector_file_rows(path, "docs") == 1001  # the deleted record's row stays used


def test_flat_collection_with_text_takes_at_most_1_25x_raw(tmp_path: Path) -> None:
    """The issue's case: 2,000 x 256 flat, ~1 KB of text metadata per record, 20 adds."""
    path = tmp_path / "db"
    n, dim = 2000, 256
    rnd = random.Random(0)
    words = ["".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(2, 9)))
             for _ in range(3000)]  # fmt: skip

    def text() -> str:
        out: list[str] = []
        while sum(len(word) + 1 for word in out) < 1000:
            out.append(rnd.choice(words))
        return " ".join(out)[:1000]

    vectors = _vectors(n, dim=dim)
    metadata = [
        {"text": text(), "source": rnd.choice(["web", "pdf"]), "page": i % 37} for i in range(n)
    ]
    ids = [f"doc-{i:06d}" for i in range(n)]
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=dim, metric="cosine")
        for start in range(0, n, 100):
            docs.add(vectors[start : start + 100], ids=ids[start : start + 100],
                     metadata=metadata[start : start + 100])  # fmt: skip
    raw = n * dim * 4 + sum(len(msgpack.packb(m, use_bin_type=True)) for m in metadata)
    total = _total_bytes(path)
    assert total <= 1.25 * raw, (total, raw, total / raw)
    with vectordb.open(path, read_only=True) as db:
        docs = db.get_collection("docs")
        assert docs.count() == n
        record = docs.get(ids[1234])
        assert record is not None and record.metadata == metadata[1234]
        assert record.vector is not None and np.array_equal(record.vector, vectors[1234])


def test_wal_archive_keeps_every_segment_close_deletes(tmp_path: Path) -> None:
    path = tmp_path / "db"
    archive = tmp_path / "archive"
    config = {"checkpoint_records": 3, "wal_archive": str(archive)}
    _fill(path, 60, batches=12, config=config)
    assert _covered(path) == []
    archived = sorted(entry.name for entry in archive.iterdir())
    assert archived  # the covered segments went to the archive, not away
    lsns = [int(name[:12]) for name in archived]
    assert lsns[0] == 1
    assert max(lsns) < _segments(path)[0][0]


def test_an_open_waits_while_the_last_process_tidies(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _fill(path, 20, batches=2)
    closing = FileLock(DatabaseFiles(path).open_lock, create=False)
    assert closing.try_acquire(exclusive=True)  # what a closing last process holds
    try:
        with pytest.raises(LockTimeoutError, match="closing the database"):
            vectordb.open(path, config={"lock_timeout": 0.2})
        opened: list[vectordb.Database] = []
        opener = threading.Thread(target=lambda: opened.append(vectordb.open(path)))
        opener.start()
        time.sleep(0.3)
        assert not opened  # waits for OPEN
    finally:
        closing.close()
    opener.join(10)
    assert opened
    db = opened[0]
    try:
        assert db.get_collection("docs").count() == 20
        # this process holds OPEN shared now: nobody else may take it exclusively
        other = FileLock(DatabaseFiles(path).open_lock, create=False)
        try:
            assert not other.try_acquire(exclusive=True)
        finally:
            other.close()
    finally:
        db.close()


def test_check_and_backup_ignore_the_open_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _fill(path, 30, batches=3)
    assert (path / "OPEN").exists()
    with vectordb.open(path) as db:
        assert db.check(repair=True) == []
        db.backup(tmp_path / "copy")
    assert not (tmp_path / "copy" / "OPEN").exists()
    _assert_all_there(tmp_path / "copy", 30)


# ----------------------------------------------------------------- other processes
WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import vectordb

    path, read_only = sys.argv[1], sys.argv[2] == "ro"
    db = vectordb.open(path, read_only=read_only, config={"lock_timeout": 30})
    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "count":
            print(db.get_collection("docs").count(), flush=True)
        elif command == "check":
            docs = db.get_collection("docs")
            n = int(args[0])
            vectors = np.random.default_rng(0).standard_normal((n, @DIM@)).astype(np.float32)
            records = docs.get_many([f"d{i}" for i in range(n)])
            ok = all(
                r is not None and np.array_equal(r.vector, vectors[i]) and r.metadata == {"i": i}
                for i, r in enumerate(records)
            )
            hit = docs.search(vectors[n - 1], k=1)[0].id
            print(json.dumps({"ok": ok, "hit": hit, "problems": len(db.check())}), flush=True)
        elif command == "add":
            start, stop = int(args[0]), int(args[1])
            vectors = np.random.default_rng(0).standard_normal((stop, @DIM@))
            vectors = vectors.astype(np.float32)
            db.get_collection("docs").add(vectors[start:stop],
                                          ids=[f"d{i}" for i in range(start, stop)],
                                          metadata=[{"i": i} for i in range(start, stop)])
            print("added", flush=True)
        elif command == "close":
            db.close()
            print("closed", flush=True)
            break
    """
).replace("@DIM@", str(DIM))


class Worker:
    """A real process with the database open, answering commands on stdin."""

    def __init__(self, tmp_path: Path, path: Path, *, read_only: bool = False) -> None:
        script = tmp_path / "size_worker.py"
        script.write_text(WORKER)
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(path), "ro" if read_only else "rw"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, VECTORDB_NO_WARMUP="1"),
        )
        assert self.ask(None) == "ready"

    def ask(self, command: str | None) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline().strip()
        if not line:
            _, errors = self.process.communicate(timeout=30)
            raise AssertionError(f"worker died on {command!r}:\n{errors}")
        return line

    def finish(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=30)


@pytest.mark.parametrize("read_only", [False, True], ids=["read-write", "read-only"])
def test_close_leaves_the_log_and_rows_to_another_open_process(
    tmp_path: Path, read_only: bool
) -> None:
    path = tmp_path / "db"
    _fill(path, 100, batches=4)
    worker = Worker(tmp_path, path, read_only=read_only)
    try:
        assert worker.ask("count") == "100"
        vectors = _vectors(300)
        with vectordb.open(path) as db:
            docs = db.get_collection("docs")
            docs.add(vectors[100:200], ids=[f"d{i}" for i in range(100, 200)],
                     metadata=[{"i": i} for i in range(100, 200)])  # fmt: skip
            db.checkpoint()
            for start, stop in ((200, 201), (201, 300)):  # grows 200 -> 250 -> 314 rows
                docs.add(vectors[start:stop], ids=[f"d{i}" for i in range(start, stop)],
                         metadata=[{"i": i} for i in range(start, stop)])  # fmt: skip
            rows_while_open = _vector_file_rows(path, "docs")
        # the other process is open (and idle across two checkpoints): nothing was tidied
        assert _covered(path) != []
        assert _vector_file_rows(path, "docs") == rows_while_open > 300
        assert worker.ask("count") == "300"
        answer = worker.ask("check 300")
        assert '"ok": true' in answer and '"hit": "d299"' in answer, answer
        assert '"problems": 0' in answer, answer
        if not read_only:
            assert worker.ask("add 300 350") == "added"
        assert worker.ask("close") == "closed"
        assert worker.process.wait(30) == 0
    finally:
        worker.finish()
    n = 300 if read_only else 350
    if not read_only:  # the worker closed last: it tidied
        assert _covered(path) == []
        assert _vector_file_rows(path, "docs") == n
    _assert_all_there(path, n)
    assert _covered(path) == []  # closed last here
    assert _vector_file_rows(path, "docs") == n


def test_the_last_of_two_processes_to_close_tidies(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _fill(path, 50, batches=2)
    worker = Worker(tmp_path, path)
    try:
        db = vectordb.open(path)
        docs = db.get_collection("docs")
        assert worker.ask("add 50 51") == "added"  # grows 50 -> 114 -> 178 rows
        assert worker.ask("add 51 120") == "added"
        assert docs.count() == 120
        assert worker.ask("close") == "closed"  # this process is still open
        assert worker.process.wait(30) == 0
        assert _covered(path) != [] and _vector_file_rows(path, "docs") > 120
        vectors = _vectors(150)
        docs.add(vectors[120:150], ids=[f"d{i}" for i in range(120, 150)],
                 metadata=[{"i": i} for i in range(120, 150)])  # fmt: skip
        db.close()
    finally:
        worker.finish()
    assert _covered(path) == []
    assert _vector_file_rows(path, "docs") == 150
    _assert_all_there(path, 150)


def test_writer_that_grew_into_a_trimmed_file_reserves_it_again(tmp_path: Path) -> None:
    """Defence in depth: a process that does not hold ``OPEN`` (an older version) may trim
    under another's mapping; a write through that mapping must not SIGBUS."""
    path = tmp_path / "db"
    script = tmp_path / "trimmed.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            import numpy as np
            import vectordb
            path = sys.argv[1]
            db = vectordb.open(path)
            docs = db.create_collection("docs", dim={DIM})
            docs.add(np.ones((10, {DIM}), np.float32), ids=[f"a{{i}}" for i in range(10)])
            vectors = os.path.join(path, "collections", "docs", "vectors.bin")
            os.truncate(vectors, {HEADER_BYTES} + 10 * {DIM * 4})  # rows 10.. gone
            for i in range(5):  # one row each: written through the mapping
                docs.add(np.full((1, {DIM}), i + 1, np.float32), ids=[f"b{{i}}"])
            assert os.path.getsize(vectors) >= {HEADER_BYTES} + 15 * {DIM * 4}
            assert docs.get("b4").vector[0] == 5
            db.close()
            print("ok")
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    with vectordb.open(path, read_only=True) as db:
        docs = db.get_collection("docs")
        assert docs.count() == 15
        record = docs.get("b3")
        assert record is not None and record.vector is not None
        assert float(record.vector[0]) == 4.0
        assert db.check() == []


# ----------------------------------------------------------------- crashes
CRASHER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    import vectordb
    from vectordb.engine import checkpoints, collections

    path, where = sys.argv[1], sys.argv[2]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "before-drop":
        checkpoints.Checkpointer.drop_covered_segments = die
    elif where == "mid-trim":  # after the first collection's vectors.bin is cut
        from vectordb.storage.collection_store import CollectionStore
        real_trim = CollectionStore.trim
        def trim(self):
            real_trim(self)
            die()
        CollectionStore.trim = trim
    elif where == "before-trim":
        collections.CollectionSet.trim_vector_files = die

    vectors = np.random.default_rng(0).standard_normal((400, @DIM@)).astype(np.float32)
    db = vectordb.open(path, config={"checkpoint_records": 8})  # the last ones at close
    docs = db.create_collection("docs", dim=@DIM@, exist_ok=True)
    other = db.create_collection("other", dim=@DIM@, exist_ok=True)
    other.add(vectors[:3], ids=["a", "b", "c"])
    for start in range(0, 400, 20):
        docs.add(vectors[start:start + 20], ids=[f"d{i}" for i in range(start, start + 20)],
                 metadata=[{"i": i} for i in range(start, start + 20)])
        print("acked", start + 20, flush=True)
    if where == "mid-write":
        die()
    db.close()
    print("closed", flush=True)
    """
).replace("@DIM@", str(DIM))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL does not exist on Windows")
@pytest.mark.parametrize("where", ["mid-write", "before-drop", "before-trim", "mid-trim"])
def test_killed_during_close_recovers_everything(tmp_path: Path, where: str) -> None:
    path = tmp_path / "db"
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER)
    result = subprocess.run(
        [sys.executable, str(script), str(path), where], capture_output=True, text=True,
        timeout=120, check=False, env=dict(os.environ, VECTORDB_NO_WARMUP="1"),
    )  # fmt: skip
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "acked 400" in result.stdout and "closed" not in result.stdout, result.stdout
    # killed before the trim (mid-trim: after the first collection's)
    assert _vector_file_rows(path, "docs") == (400 if where == "mid-trim" else 1024)
    assert _vector_file_rows(path, "other") == 1024
    if where in ("before-trim", "mid-trim"):
        assert _covered(path) == []  # the segments went first
    else:
        assert _covered(path) != []
    _assert_all_there(path, 400, read_only=True)
    _assert_all_there(path, 400)  # recovers exclusively, then closes last: tidies
    assert _covered(path) == []
    assert _vector_file_rows(path, "docs") == 400
    assert _vector_file_rows(path, "other") == 3


@pytest.mark.parametrize(
    "settings",
    [
        {"index": "hnsw"},
        {"index": "ivf", "ivf": {"nlist": 4, "nprobe": 4, "train_after": 16}},
        {"quantization": "int8"},
    ],
    ids=["hnsw", "ivf", "int8"],
)
def test_indexed_collections_reopen_after_the_trim(
    tmp_path: Path, settings: dict[str, object]
) -> None:
    path = tmp_path / "db"
    vectors = _vectors(260, seed=4)
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=DIM, **settings)  # type: ignore[arg-type]
        docs.add(vectors[:200], ids=[f"d{i}" for i in range(200)])
        docs.delete(["d7"])
        docs.wait_indexed()
    assert _vector_file_rows(path, "docs") == 200
    assert _covered(path) == []
    # the first add reuses the deleted record's row: no new row
    for start, stop, rows in ((200, 201, 200), (201, 260, 259)):
        with vectordb.open(path) as db:
            docs = db.get_collection("docs")
            assert docs.search(vectors[150], k=1)[0].id == "d150"
            docs.add(vectors[start:stop], ids=[f"d{i}" for i in range(start, stop)])
            docs.wait_indexed()
            assert docs.search(vectors[start], k=1)[0].id == f"d{start}"
            assert db.check() == []
        assert _vector_file_rows(path, "docs") == rows
    with vectordb.open(path, read_only=True) as db:
        docs = db.get_collection("docs")
        assert docs.count() == 259
        assert docs.search(vectors[259], k=1)[0].id == "d259"
        assert db.check() == []


def test_a_column_of_long_texts_is_not_saved_twice(tmp_path: Path) -> None:
    """Documents kept in metadata are in the snapshot already: a filter on them builds a
    column for the session, but columns.bin does not store the texts again, unless the
    field was declared with create_index."""
    path = tmp_path / "texts.vdb"
    texts = [f"document {i} " + "lorem ipsum dolor " * 20 for i in range(50)]
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=2)
        docs.add(np.ones((50, 2)), ids=[f"d{i}" for i in range(50)],
                 metadata=[{"text": t, "lang": "en"} for t in texts])  # fmt: skip
        assert docs.count(where={"text": {"$contains": "document 7 "}}) == 1
        assert docs.count(where={"lang": "en"}) == 50
    saved = (path / "collections" / "docs" / "columns.bin").read_bytes()
    assert b"lorem ipsum" not in saved and b"lang" in saved
    with vectordb.open(path) as db:
        docs = db.get_collection("docs")
        assert docs.count(where={"text": {"$contains": "document 7 "}}) == 1  # read anew
        docs.create_index("text")
    saved = (path / "collections" / "docs" / "columns.bin").read_bytes()
    assert saved.count(b"document ") == 50  # declared: saved, each text once
