"""I/O fault loops, as SQLite tests its I/O errors: make the N-th I/O call fail, for every N.

Every call of the package that changes a file goes through ``vectordb/files/io.py``
(``tests/test_io_seam.py`` keeps it so). A ``FaultInjector`` armed there makes the N-th call
raise ``OSError(ENOSPC)`` or ``OSError(EIO)``. Each round copies one prepared database, opens
it, arms the injector and runs the workload: add, upsert, update, delete, a transaction over
two collections, writes that trigger checkpoints (``checkpoint_records=3``), a bulk add
(written with ``pwrite``), ``db.checkpoint()``, an HNSW collection checkpointed (index save),
``collection.compact()``, ``db.backup()``, ``collection.export()`` (JSON lines), a last write
and checkpoint, and ``close()``. N runs 1, 2, 3, ... until the workload passes untouched.

What each round requires (the expected behaviour of the engine):

- the call that meets the fault raises a ``VectorDBError`` (``StorageError`` /
  ``StorageFullError``) or, if it returns, its effect is there (and durable: see below);
- a background durability step (a checkpoint, compaction, index or columns save triggered by
  a write) that fails never fails the write that triggered it;
- reads go on: after every step ``count``, ``ids``, ``get_many``, ``search`` and a filtered
  ``count`` give exactly the acknowledged state, whatever failed before;
- once the fault has cleared, the handle writes again (a step that failed is run once more)
  - unless the fault hit an fsync (or msync: the kernel may have dropped the pages it could
  not write) or, with persistent faults, a log frame could not be cut off: then every write
  is refused with a ``StorageError`` that says to reopen, and reads still go on;
- a write whose log fsync failed is absent (its frame is cut off) - except with a persistent
  fault, where cutting it off fails too: that write is in doubt, and whichever state the
  reads show next is the state from then on, reopen included;
- after ``close()``, no temporary file, unnamed snapshot or descriptor is left behind (one-shot
  faults only: a persistent fault also fails the clean-up), and reopening gives exactly the
  acknowledged state (a dict model: every acknowledged write present, every failed write
  absent) with ``db.check() == []``; a backup that returned opens with the state it was taken
  at, one that failed left no directory; an export that returned holds that state, one that
  failed left no file.

Every round that breaks a rule is collected, not stopped at; the test fails at the end with
one line per problem (mode, N, the call that failed, the step, what went wrong, where the
call came from) grouped by problem. The default run makes every call fail once with ENOSPC,
every third once with EIO and every fourth persistently with EIO (every call failing from
there until its step ends), and requires each kind of call (open, write, pwrite, fsync,
ftruncate, fallocate, rename, unlink, mkdir, msync) to have been failed at least once.
``pytest -m slow`` (or ``VECTORDB_SLOW=1``) runs every N of ENOSPC and EIO, one-shot and
persistent. The rounds run in ``/dev/shm`` where it exists, and ``os.fsync`` is a no-op
here (the seam still sees and fails every call): about 20 s by default on Linux.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectordb
from vectordb.files import io
from vectordb.storage.manifest import Manifest

pytestmark = pytest.mark.crash

DIM = 8
CONFIG: dict[str, Any] = {
    "checkpoint_records": 6,  # the transaction triggers a checkpoint: a background step
    "initial_capacity": 4,  # the vector files grow (fallocate) during the workload
    "min_free_disk_bytes": 0,
    "compact_dead_share": None,  # compaction only where the workload asks for it
}
REQUIRED_KINDS = (
    "open", "write", "pwrite", "fsync", "ftruncate", "fallocate", "rename", "unlink",
    "mkdir", "msync",
)  # fmt: skip
#: code whose failure belongs to a background durability step, not to the write that
#: triggered it: the checkpointer (checkpoints and the compactions they run), and close's
BACKGROUND = ("engine/checkpoints.py", "_checkpoint_at_close")
#: refusing writes after the fault is allowed only after these (durability lost)
DURABILITY_KINDS = ("fsync", "msync")
REOPEN_HINT = re.compile(r"reopen|open (it|the database) again", re.IGNORECASE)

Model = dict[str, dict[str, tuple[bytes, Any]]]


def _vector(tag: str) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(tag.encode())).normal(size=DIM).astype(np.float32)


def _vectors(tags: list[str]) -> np.ndarray:
    return np.stack([_vector(tag) for tag in tags])


# ----------------------------------------------------------------------------- one round
@dataclass
class Round:
    """One run of the workload against one copy of the database, with one fault armed."""

    root: Path
    injector: io.FaultInjector
    model: Model
    label: str
    db: vectordb.Database | None = None
    problems: list[str] = field(default_factory=list)
    fault_step: str | None = None  # the step during which the fault first fired
    refusing: bool = False  # the handle refuses writes after the fault
    doubt: Step | None = None  # a write that raised but may have happened (see _met_fault)
    reads_differ: bool = False  # reported once per round: later steps differ alike
    backup: Model | None = None  # the state a backup holds (if it exists)
    backup_returned: bool = False
    export: dict[str, tuple[bytes, Any]] | None = None  # the state an export file holds
    export_returned: bool = False

    @property
    def path(self) -> Path:
        return self.root / "db"

    def collection(self, name: str) -> vectordb.Collection:
        assert self.db is not None
        return self.db.get_collection(name)

    def problem(self, step: str, what: str) -> None:
        failed = self.injector.failed
        call = "no call failed yet" if failed is None else f"{failed[0]} {_short(failed[1])}"
        origin = _origin(self.injector.stack)
        self.problems.append(f"{self.label}: step {step!r}: {what} [failed call: {call}; {origin}]")


def _short(path: str) -> str:
    return re.sub(r".*/db/", "", re.sub(r".*/(backup|docs)", r"\1", path))


def _origin(stack: list[str]) -> str:
    """The vectordb frames the failing call came from, innermost last."""
    frames = []
    for entry in stack:
        match = re.search(r'File ".*/(vectordb/[^"]+)", line (\d+), in (\S+)', entry)
        if match and not match.group(1).endswith("files/io.py"):
            frames.append(f"{match.group(1).removeprefix('vectordb/')}:{match.group(3)}")
    return "from " + " > ".join(frames[-6:]) if frames else "no stack"


def _put(model: Model, name: str, ids: list[str], tag: str, metadata: list[Any]) -> None:
    for vector_id, meta in zip(ids, metadata):
        model[name][vector_id] = (_vector(f"{vector_id}:{tag}").tobytes(), meta)


def _delete(model: Model, name: str, ids: list[str]) -> None:
    for vector_id in ids:
        del model[name][vector_id]


@dataclass(frozen=True)
class Step:
    """One operation of the workload: ``act`` calls the database, ``record`` applies its
    effect to the model (once ``act`` has returned)."""

    name: str
    act: Callable[[Round], object]
    record: Callable[[Model], None] = lambda model: None
    writes: bool = True  # refused by a handle that lost durability
    triggering: bool = False  # only logs records: a checkpoint failing inside is background
    retried: bool = True  # run once more when the fault made it fail


def _add(name: str, ids: list[str], tag: str, metadata: list[Any]) -> Step:
    def act(run: Round) -> None:
        collection = run.collection(name)
        collection.add(_vectors([f"{i}:{tag}" for i in ids]), ids=ids, metadata=metadata)
        if name == "graph":
            collection.wait_indexed(10.0)

    return Step(f"add {name} {ids[0]}..", act, lambda m: _put(m, name, ids, tag, metadata),
                triggering=True)  # fmt: skip


def _upsert(run: Round) -> None:
    ids = ["d4", "d5", "d6", "d7"]
    run.collection("docs").upsert(_vectors([f"{i}:up" for i in ids]), ids=ids, metadata=UPSERT)


def _update(run: Round) -> None:
    run.collection("docs").update(["d0", "d1"], metadata=UPDATE)


def _record_update(model: Model) -> None:
    for vector_id, entry in zip(["d0", "d1"], UPDATE):
        model["docs"][vector_id] = (model["docs"][vector_id][0], entry)


def _transaction(run: Round) -> None:
    assert run.db is not None
    docs, graph = run.collection("docs"), run.collection("graph")
    with run.db.transaction():
        docs.add(_vectors(["d8:txn"]), ids=["d8"], metadata=[{"tag": "a", "n": 30}])
        graph.upsert(_vectors(["g1:txn"]), ids=["g1"], metadata=[{"tag": "b", "n": 31}])
        graph.delete(["g2"])
    graph.wait_indexed(10.0)


def _record_transaction(model: Model) -> None:
    _put(model, "docs", ["d8"], "txn", [{"tag": "a", "n": 30}])
    _put(model, "graph", ["g1"], "txn", [{"tag": "b", "n": 31}])
    _delete(model, "graph", ["g2"])


def _checkpoint(run: Round) -> None:
    assert run.db is not None
    run.db.checkpoint()


def _backup(run: Round) -> None:
    assert run.db is not None
    run.backup = _copy_model(run.model)
    run.db.backup(run.root / "backup")
    run.backup_returned = True


def _export(run: Round) -> None:
    run.export = dict(run.model["docs"])
    run.collection("docs").export(run.root / "docs.jsonl")
    run.export_returned = True


def _close(run: Round) -> None:
    assert run.db is not None
    run.db.close()


UPSERT = [{"tag": "b", "n": 10 + i} for i in range(4)]
UPDATE = [{"tag": "b", "n": 20}, {"tag": "a", "n": 21}]
BULK = [f"b{i:02d}" for i in range(70)]  # 64 rows or more in a run are written with pwrite
WORKLOAD = [
    _add("docs", [f"d{i}" for i in range(6)], "add", [{"tag": "ab"[i % 2]} for i in range(6)]),
    _add("graph", [f"g{i}" for i in range(6)], "add", [{"tag": "a", "n": i} for i in range(6)]),
    Step("upsert docs", _upsert, lambda m: _put(m, "docs", ["d4", "d5", "d6", "d7"], "up", UPSERT),
         triggering=True),
    Step("update docs", _update, _record_update, triggering=True),
    Step("delete docs", lambda run: run.collection("docs").delete(["d2", "d3"]),
         lambda m: _delete(m, "docs", ["d2", "d3"]), triggering=True),
    # the sixth record: the checkpoint it triggers is a background step
    Step("transaction", _transaction, _record_transaction, triggering=True),
    _add("docs", BULK, "bulk", [{"tag": "ab"[i % 2], "n": 100 + i} for i in range(70)]),
    Step("delete bulk", lambda run: run.collection("docs").delete(BULK[::2]),
         lambda m: _delete(m, "docs", BULK[::2]), triggering=True),
    _add("graph", [f"g{i}" for i in range(6, 10)], "add", [{"tag": "b"} for i in range(4)]),
    # the HNSW graph changed since its last save: this checkpoint saves the index
    Step("checkpoint (index save)", _checkpoint),
    Step("compact", lambda run: run.collection("docs").compact()),
    # a backup or export that raised after its rename (the directory's fsync failed) may
    # have left a whole copy, which a second try would refuse to overwrite: not retried
    Step("backup", _backup, retried=False),
    Step("export", _export, writes=False, retried=False),
    _add("docs", ["d9"], "last", [{"tag": "a"}]),
    Step("last checkpoint", _checkpoint),  # retries whatever background step failed before
    Step("close", _close, writes=False, retried=False),
]  # fmt: skip


def _copy_model(model: Model) -> Model:
    return {name: dict(records) for name, records in model.items()}


def _initial_model() -> Model:
    return {"docs": {}, "graph": {}}


def prepare(base: Path) -> None:
    """The database every round starts from: two empty collections, checkpointed."""
    with vectordb.open(base, config=CONFIG) as db:
        db.create_collection("docs", dim=DIM, metric="euclidean")
        db.create_collection(
            "graph", dim=DIM, metric="euclidean", index="hnsw", hnsw={"M": 8, "ef_construction": 32}
        )


# ----------------------------------------------------------------------------- checks
ALL_IDS = {
    "docs": [f"d{i}" for i in range(10)] + [f"b{i:02d}" for i in range(70)],
    "graph": [f"g{i}" for i in range(10)],
}


def check_state(db: vectordb.Database, model: Model) -> list[str]:
    """Differences between what ``db`` reads and ``model`` (empty: equal)."""
    found = []
    for name, records in model.items():
        collection = db.get_collection(name)
        if collection.count() != len(records) or len(collection) != len(records):
            found.append(f"{name}: count {collection.count()}, expected {len(records)}")
        if sorted(collection.ids()) != sorted(records):
            extra = sorted(set(collection.ids()) - set(records))
            missing = sorted(set(records) - set(collection.ids()))
            found.append(f"{name}: ids differ: extra {extra[:5]}, missing {missing[:5]}")
        for vector_id, record in zip(ALL_IDS[name], collection.get_many(ALL_IDS[name])):
            expected = records.get(vector_id)
            if (record is None) != (expected is None):
                found.append(f"{name}: {vector_id} is {'absent' if record is None else 'present'}")
            elif record is not None and expected is not None:
                if record.vector.astype("<f4").tobytes() != expected[0]:
                    found.append(f"{name}: {vector_id} has another vector")
                if record.metadata != expected[1]:
                    found.append(f"{name}: {vector_id} metadata {record.metadata} != {expected[1]}")
        for vector_id in sorted(records)[:3]:
            query = np.frombuffer(records[vector_id][0], dtype="<f4")
            hits = collection.search(query, k=1)
            if not hits or hits[0].id != vector_id:
                found.append(f"{name}: search for {vector_id} found {[h.id for h in hits]}")
        tagged = sum(1 for _, meta in records.values() if (meta or {}).get("tag") == "a")
        if collection.count(where={"tag": "a"}) != tagged:
            found.append(f"{name}: filtered count differs")
    return found


def check_reads(run: Round, step: str) -> None:
    """Reads after ``step`` give the acknowledged state (reported once per round). A write
    in doubt (``Round.doubt``) may show or not; whichever it shows is the state from then on."""
    assert run.db is not None
    if run.reads_differ:
        return
    previous = io.inject(None)  # the observer's reads are not part of the workload
    try:
        differences = check_state(run.db, run.model)
        if differences and run.doubt is not None:
            with_write = _copy_model(run.model)
            run.doubt.record(with_write)
            if not check_state(run.db, with_write):
                run.model, differences = with_write, []
        run.doubt = None
        if differences:
            run.reads_differ = True
            run.problem(step, f"reads differ from the acknowledged state: {_first(differences)}")
    except Exception as error:
        run.reads_differ = True
        run.problem(step, f"reads stopped working: {error!r}")
    finally:
        io.inject(previous)


def _first(differences: list[str]) -> str:
    more = len(differences) - 1
    return differences[0] + (f" (+{more} more)" if more else "")


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def leftovers(run: Round) -> list[str]:
    """Temporary files, unnamed snapshots and partial copies left in the round's folder,
    except what the failed call itself was removing (a clean-up that failed: the next open
    deletes it)."""
    failed = run.injector.failed
    if failed is not None and failed[0] == "unlink":
        spared = Path(failed[1])
        return [
            p for p in _leftovers(run) if not (run.root / p.split(" ")[0]).is_relative_to(spared)
        ]
    return _leftovers(run)


def _leftovers(run: Round) -> list[str]:
    found = []
    for path in sorted(run.root.rglob("*")):
        relative = path.relative_to(run.root)
        if path.name.startswith(".") or ".partial-" in path.name or ".tmp" in path.name:
            found.append(str(relative))
    for directory in sorted((run.path / "collections").glob("*")):
        try:
            named = Manifest.load(directory / "MANIFEST").snapshot
        except Exception:
            continue
        for snapshot in directory.glob("snapshot-*.bin"):
            if snapshot.name != named:
                found.append(f"{snapshot.relative_to(run.root)} (not named by the MANIFEST)")
    return found


def run_step(run: Round, step: Step, *, retry: bool = False) -> None:
    """Run one step and judge its outcome; a step that met the fault is run once more
    (``Step.retried``) once it has cleared: the handle must write again."""
    name = step.name + (" (again)" if retry else "")
    fired_before = run.injector.failed is not None
    try:
        step.act(run)
    except vectordb.VectorDBError as error:
        if not fired_before and run.injector.failed is not None:
            _met_fault(run, step, name, error)
        elif fired_before:
            _judge_refusal(run, step, name, error)
        else:
            run.problem(name, f"raised without any fault: {error!r}")
    except Exception as error:
        if not fired_before and run.injector.failed is not None:
            run.fault_step = name
        summary = "".join(traceback.format_exception_only(type(error), error)).strip()
        run.problem(name, f"raised {type(error).__name__}, not a VectorDBError: {summary}")
    else:
        step.record(run.model)
        if not fired_before and run.injector.failed is not None:
            run.fault_step = name  # the call failed inside, the step still succeeded
        if run.refusing and step.writes:
            run.problem(name, "a write succeeded after earlier writes were refused")
    if run.injector.persistent and run.injector.failed is not None:
        io.inject(None)  # a persistent fault lasts until its step ends


def _met_fault(run: Round, step: Step, name: str, error: Exception) -> None:
    """The step raised on the fault: never for a background step's failure; with a
    persistent fault on a log fsync whose frame could not be cut off, the write is in
    doubt; then the step runs once more."""
    failed = run.injector.failed
    assert failed is not None
    run.fault_step = name
    stack = " ".join(run.injector.stack)
    if step.triggering and any(frame in stack for frame in BACKGROUND):
        run.problem(name, f"a failed background step failed the write: {error!r}")
    if run.injector.persistent:
        io.inject(None)  # a persistent fault lasts until its step ends
        if failed[0] == "fsync" and re.search(r"/wal/\d+\.log$", failed[1]):
            run.doubt = step
    if step.retried:
        run_step(run, step, retry=True)


def _judge_refusal(run: Round, step: Step, name: str, error: Exception) -> None:
    """A step failed after the fault cleared: allowed only for writes refused by a handle
    that lost durability, with a precise error."""
    failed = run.injector.failed
    assert failed is not None
    lost = failed[0] in DURABILITY_KINDS or run.injector.persistent
    if not step.writes:
        run.problem(
            name, f"failed after the fault cleared (it writes nothing to the db): {error!r}"
        )
    elif not lost:
        run.problem(name, f"the handle did not write again after the fault cleared: {error!r}")
    elif not isinstance(error, vectordb.StorageError) or not REOPEN_HINT.search(str(error)):
        run.problem(name, f"writes refused without a precise error: {error!r}")
    else:
        run.refusing = True


def run_round(base: Path, root: Path, injector: io.FaultInjector, label: str) -> Round:
    shutil.copytree(base, root / "db")
    run = Round(root, injector, _initial_model(), label)
    fds = _open_fds()
    run.db = vectordb.open(run.path, config=CONFIG)
    try:
        with io.injecting(injector):
            for step in WORKLOAD:
                run_step(run, step)
                if step.act is not _close:
                    check_reads(run, step.name)
    finally:
        with contextlib.suppress(Exception):
            run.db.close()
    if injector.failed is None:
        return run  # passed untouched: nothing more to judge
    if not injector.persistent:
        for path in leftovers(run):
            run.problem(str(run.fault_step), f"left behind: {path}")
        if fds >= 0 and _open_fds() > fds:
            run.problem(str(run.fault_step), f"{_open_fds() - fds} descriptor(s) left open")
    check_reopen(run)
    return run


def check_reopen(run: Round) -> None:
    step = f"reopen after {run.fault_step}"
    try:
        with vectordb.open(run.path, config=CONFIG) as db:
            differences = check_state(db, run.model)
            if differences:
                run.problem(step, f"reopened state differs from the acknowledged: "
                                  f"{_first(differences)}")  # fmt: skip
            problems = db.check()
            if problems:
                run.problem(step, f"check() finds {problems[0].message} ({len(problems)} in all)")
    except Exception as error:
        run.problem(step, f"reopen failed: {error!r}")
    # a backup or export that raised after its rename (the directory's fsync failed) may
    # stand: then it must be whole, never partial
    backup_dir = run.root / "backup"
    if run.backup is not None and (run.backup_returned or backup_dir.exists()):
        try:
            with vectordb.open(backup_dir, config=CONFIG) as db:
                differences = check_state(db, run.backup)
                if differences:
                    run.problem("backup", f"the backup differs from its state: "
                                          f"{_first(differences)}")  # fmt: skip
        except Exception as error:
            run.problem("backup", f"the backup does not open: {error!r}")
    target = run.root / "docs.jsonl"
    if run.export is not None and (run.export_returned or target.exists()):
        exported = {}
        for line in target.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            vector = np.asarray(entry["vector"], dtype=np.float32).tobytes()
            exported[entry["id"]] = (vector, entry["metadata"])
        if exported != run.export:
            run.problem("export", "the exported file differs from the state exported")


# ----------------------------------------------------------------------------- loops
@dataclass
class LoopReport:
    rounds: int = 0
    faulted: dict[str, int] = field(default_factory=dict)  # kind -> rounds whose fault it met
    raised: set[str] = field(default_factory=set)  # every kind that raised a fault
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def fault_loop(
    base: Path, work: Path, mode: str, error: int, *, every: int = 1, persistent: bool = False
) -> LoopReport:
    """Rounds with the fault at N = 1, 1 + every, ... until one passes untouched."""
    report = LoopReport()
    started = time.monotonic()
    at = 1
    while True:
        injector = io.FaultInjector(at, error=error, persistent=persistent)
        run = run_round(base, work / f"{mode}-{at}", injector, f"{mode} N={at}")
        shutil.rmtree(work / f"{mode}-{at}", ignore_errors=True)
        if injector.failed is None:
            break
        report.rounds += 1
        kind = injector.failed[0]
        report.faulted[kind] = report.faulted.get(kind, 0) + 1
        report.raised.update(injector.raised_kinds)
        report.problems.extend(run.problems)
        at += every
    report.seconds = time.monotonic() - started
    return report


def calls_of_workload(base: Path, work: Path) -> list[tuple[str, str]]:
    """The I/O calls one untouched run of the workload makes, in order."""
    injector = io.FaultInjector(None)
    run = run_round(base, work / "reference", injector, "reference")
    shutil.rmtree(work / "reference", ignore_errors=True)
    assert run.problems == []
    return injector.calls


def summarize(problems: list[str]) -> str:
    """Problems grouped by what went wrong (the N values of each group listed)."""
    groups: dict[str, list[str]] = {}
    for problem in problems:
        label, rest = problem.split(": ", 1)
        key = re.sub(r"\b\d+\b", "#", rest)
        groups.setdefault(key, []).append(label)
    lines = []
    for key, labels in sorted(groups.items(), key=lambda item: -len(item[1])):
        shown = ", ".join(labels[:8]) + (" ..." if len(labels) > 8 else "")
        lines.append(f"{len(labels)}x [{shown}] {key}")
    return "\n".join(lines)


@pytest.fixture(autouse=True)
def _no_disk_flush(monkeypatch: pytest.MonkeyPatch) -> None:
    """An fsync to a real disk costs milliseconds, and a round makes over a hundred. These
    tests judge what the engine does about failed calls in one process (no power loss), so
    the seam still sees and fails every fsync, but the disk is not flushed."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the rounds run: a memory file system where there is one (renames and msyncs on
    a journaling disk cost about 1 ms each, and a round makes dozens), else a temp folder."""
    shm = Path("/dev/shm")
    if sys.platform.startswith("linux") and shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="vectordb-faults-", dir=shm))
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def base(work: Path) -> Path:
    path = work / "base"
    prepare(path)
    return path


def _run_loops(base: Path, work: Path, loops: list[tuple[str, int, int, bool]]) -> None:
    reports = {}
    for mode, error, every, persistent in loops:
        reports[mode] = fault_loop(base, work, mode, error, every=every, persistent=persistent)
    raised: set[str] = set()
    problems = []
    lines = []
    for mode, report in reports.items():
        raised |= report.raised
        problems.extend(report.problems)
        lines.append(f"{mode}: {report.rounds} rounds in {report.seconds:.1f} s, first failed "
                     f"call per kind {dict(sorted(report.faulted.items()))}")  # fmt: skip
    missing = [kind for kind in REQUIRED_KINDS if kind not in raised]
    lines.append(f"kinds of call never failed: {missing}")
    print("\n".join(lines))
    assert not problems and not missing, (
        f"{len(problems)} problem(s) in the fault loops\n"
        + "\n".join(lines)
        + "\n"
        + summarize(problems)
    )


@pytest.mark.skipif(sys.platform == "win32", reason="Windows cannot fsync directories")
def test_io_faults(base: Path, work: Path) -> None:
    calls = calls_of_workload(base, work)
    assert {kind for kind, _ in calls} >= set(REQUIRED_KINDS) - {"ftruncate"}
    _run_loops(
        base,
        work,
        [
            ("ENOSPC", errno.ENOSPC, 1, False),
            ("EIO", errno.EIO, 3, False),
            ("EIO-persistent", errno.EIO, 4, True),
        ],
    )


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="Windows cannot fsync directories")
def test_io_faults_exhaustive(base: Path, work: Path, request: pytest.FixtureRequest) -> None:
    if "slow" not in (request.config.option.markexpr or "") and not os.environ.get("VECTORDB_SLOW"):
        pytest.skip("long run: select it with -m slow or VECTORDB_SLOW=1")
    _run_loops(
        base,
        work,
        [
            ("ENOSPC", errno.ENOSPC, 1, False),
            ("EIO", errno.EIO, 1, False),
            ("ENOSPC-persistent", errno.ENOSPC, 1, True),
            ("EIO-persistent", errno.EIO, 1, True),
        ],
    )
