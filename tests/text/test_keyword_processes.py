"""Keyword (BM25) search stays exact across writes, processes, kills, read-only handles, damage
and compaction.

The keyword index is a SQLite FTS5 sidecar (``<collection>/keywords.sqlite``) that every
process shares and brings to its own snapshot before each search (``vectordb.index.keywords``).
These tests hold its results to a brute-force oracle: the ids a keyword search returns are
exactly the live records whose document has one of the query's tokens (``tokens()``; the words
used are ones porter leaves distinct, so comparing tokens is comparing stems).

Run as a script, this file is the other process of the tests::

    test_keyword_processes.py serve DB                 JSON commands on stdin, one answer a line
    test_keyword_processes.py kill-writer DB ROUND SEED adds documents until it is SIGKILLed
    test_keyword_processes.py hold-sidecar FILE         a sidecar write transaction, killed inside
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vectordb
from vectordb.index.keywords import tokens

DIM = 4
NAME = "docs"
SCRIPT = Path(__file__).resolve()
CHILD_TIMEOUT = 60.0
LOCKS = {"lock_timeout": 30}
#: words porter leaves distinct; some with inner punctuation, some with case and punctuation
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "mkfs.ext4", "dry-run", "Alpha,", "GAMMA."]
#: "ext4" and "run" find the parts of compound words; "alpha delta" is an OR; "zeta" is nowhere
QUERIES = ["alpha", "beta", "gamma", "delta", "epsilon", "ext4", "mkfs", "mkfs.ext4", "dry-run",
           "run", "alpha delta", "zeta"]  # fmt: skip
WHERE: dict[str, Any] = {"g": 1}
#: the unique token of a document written by the killed writer (all end in digits: no stemming)
UNIQUE = re.compile(r"\bkw\d+n\d+[xu]\d+\b")


# ---------------------------------------------------------------------------- the oracle
@dataclass
class Model:
    """What the collection should hold: each live id's document (None: none) and metadata."""

    docs: dict[str, str | None] = field(default_factory=dict)
    meta: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def put(self, ids: list[str], docs: list[str | None] | None, meta: Any) -> None:
        for position, vector_id in enumerate(ids):
            self.docs[vector_id] = (docs[position] or None) if docs is not None else None
            self.meta[vector_id] = meta[position] if meta is not None else None

    def apply(self, command: Mapping[str, Any]) -> None:
        """``command`` (see ``apply``) applied to the model."""
        op, ids = command["op"], command.get("ids", [])
        if op in ("add", "upsert"):
            self.put(ids, command.get("docs"), command.get("meta"))
        elif op == "update":
            for vector_id, doc in zip(ids, command["docs"]):
                if doc is not None:  # None keeps the document, "" removes it
                    self.docs[vector_id] = doc or None
        elif op == "update_meta":
            for vector_id, new in zip(ids, command["meta"]):
                self.meta[vector_id] = {**(self.meta[vector_id] or {}), **new}
        elif op == "delete":
            for vector_id in ids:
                del self.docs[vector_id], self.meta[vector_id]
        elif op == "delete_where":
            (key, value), = command["where"].items()  # fmt: skip
            for vector_id in [i for i, m in self.meta.items() if m and m.get(key) == value]:
                del self.docs[vector_id], self.meta[vector_id]
        elif op == "txn":
            for part in command["parts"]:
                self.apply(part)

    def matching(self, query: str, where: Mapping[str, Any] | None = None) -> list[str]:
        """The oracle: live ids whose document has a token of ``query`` (and match ``where``)."""
        wanted = set(tokens(query))
        found = []
        for vector_id, doc in self.docs.items():
            if not doc or not wanted & set(tokens(doc)):
                continue
            meta = self.meta[vector_id] or {}
            if where is None or all(meta.get(k) == v for k, v in where.items()):
                found.append(vector_id)
        return sorted(found)

    def expected(self) -> dict[str, list[str]]:
        """What ``all_results`` should answer."""
        answer = {query: self.matching(query) for query in QUERIES}
        answer.update({f"where {query}": self.matching(query, WHERE) for query in QUERIES})
        return answer


def keyword_ids(
    c: vectordb.Collection, query: str, where: Mapping[str, Any] | None = None
) -> list[str]:
    """The ids of a keyword search for ``query``, sorted; checks the hits are well formed."""
    hits = c.search(query, k=1000, query_type="keyword", where=where)
    assert len(hits) < 1000, "k too small for an exact comparison"
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True), scores
    assert all(score > 0 for score in scores), scores
    ids = [hit.id for hit in hits]
    assert len(set(ids)) == len(ids), ids
    return sorted(ids)


def all_results(c: vectordb.Collection) -> dict[str, list[str]]:
    """Every query of ``QUERIES`` searched, without and with ``WHERE``."""
    answer = {query: keyword_ids(c, query) for query in QUERIES}
    answer.update({f"where {query}": keyword_ids(c, query, WHERE) for query in QUERIES})
    return answer


def stored_docs(c: vectordb.Collection) -> dict[str, str | None]:
    return {
        record.id: record.document for batch in c.scroll(include=("document",)) for record in batch
    }


def assert_exact(c: vectordb.Collection, model: Model, context: object = "") -> None:
    got, want = all_results(c), model.expected()
    wrong = {query: (got[query], want[query]) for query in want if got[query] != want[query]}
    assert not wrong, f"{context}: (found, expected) differ for {wrong}"


# ---------------------------------------------------------------------------- writes
def _vectors(n: int) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, DIM)).astype(np.float32) + 0.1


def random_doc(rnd: random.Random) -> str | None:
    roll = rnd.random()
    if roll < 0.2:
        return None
    if roll < 0.25:
        return ""  # no document either
    return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 4)))


def random_meta(rnd: random.Random) -> dict[str, Any] | None:
    return None if rnd.random() < 0.1 else {"g": rnd.randint(0, 2)}


def random_command(
    rnd: random.Random, model: Model, pool: list[str], *, in_txn: bool = False
) -> dict[str, Any]:
    """One write vectordb accepts, over ids of ``pool`` (or a checkpoint or transaction)."""
    live = sorted(model.docs)
    free = [i for i in pool if i not in model.docs]
    op = rnd.choices(
        ["add", "upsert", "update", "update_meta", "delete", "delete_where", "checkpoint", "txn"],
        [30, 15, 20, 5, 12, 2, 0 if in_txn else 4, 0 if in_txn else 4],
    )[0]
    if op in ("update", "update_meta", "delete", "delete_where") and not live:
        op = "add"
    if op == "add" and not free:
        op = "upsert"
    if op == "add":
        ids = rnd.sample(free, min(len(free), rnd.randint(1, 4)))
        return {"op": op, "ids": ids, "docs": [random_doc(rnd) for _ in ids],
                "meta": [random_meta(rnd) for _ in ids]}  # fmt: skip
    if op == "upsert":
        ids = rnd.sample(pool, rnd.randint(1, 4))
        command: dict[str, Any] = {"op": op, "ids": ids, "meta": [random_meta(rnd) for _ in ids]}
        if rnd.random() < 0.8:  # else no documents=: the records are replaced without one
            command["docs"] = [random_doc(rnd) for _ in ids]
        return command
    if op == "update":
        ids = rnd.sample(live, min(len(live), rnd.randint(1, 3)))
        docs = [rnd.choice([None, "", random_doc(rnd) or "beta"]) for _ in ids]
        return {"op": op, "ids": ids, "docs": docs}
    if op == "update_meta":
        ids = rnd.sample(live, min(len(live), rnd.randint(1, 3)))
        return {"op": op, "ids": ids, "meta": [{"g": rnd.randint(0, 2)} for _ in ids]}
    if op == "delete":
        return {"op": op, "ids": rnd.sample(live, min(len(live), rnd.randint(1, 3)))}
    if op == "delete_where":
        return {"op": op, "where": {"g": rnd.randint(0, 2)}}
    if op == "txn":
        parts, shadow = [], Model(dict(model.docs), dict(model.meta))
        for _ in range(rnd.randint(2, 3)):
            part = random_command(rnd, shadow, pool, in_txn=True)
            shadow.apply(part)
            parts.append(part)
        return {"op": op, "parts": parts}
    return {"op": op}


#: the keyword indexes ``counters`` has seen, numbered
_INDEXES: list[object] = []


def apply(db: vectordb.Database, c: vectordb.Collection, command: Mapping[str, Any]) -> Any:
    """Run ``command`` on ``c`` (the same in the parent and in ``serve``); a search answers."""
    op, ids = command["op"], command.get("ids", [])
    if op == "add":
        c.add(_vectors(len(ids)), ids=ids, documents=command["docs"], metadata=command["meta"])
    elif op == "upsert":
        c.upsert(_vectors(len(ids)), ids=ids, documents=command.get("docs"),
                 metadata=command["meta"])  # fmt: skip
    elif op == "update":
        c.update(ids, documents=command["docs"])
    elif op == "update_meta":
        c.update(ids, metadata=command["meta"])
    elif op == "delete":
        c.delete(ids)
    elif op == "delete_where":
        c.delete(where=command["where"])
    elif op == "txn":
        with db.transaction():
            for part in command["parts"]:
                apply(db, c, part)
    elif op == "checkpoint":
        db.checkpoint()
    elif op == "compact":
        c.compact()
    elif op == "sync":  # any keyword search brings the sidecar to this process's snapshot
        c.search("alpha", k=1, query_type="keyword")
    elif op == "search":
        return all_results(c)
    elif op == "docs":
        return stored_docs(c)
    elif op == "counters":  # and which keyword index (a new one after a reload)
        keywords = c._state.keywords
        serial = next((n for n, seen in enumerate(_INDEXES) if seen is keywords), None)
        if serial is None:
            serial = len(_INDEXES)
            _INDEXES.append(keywords)  # kept: an id is never reused
        return {"rebuilds": keywords.rebuilds, "diffs": keywords.diffs, "index": serial}
    else:
        raise ValueError(f"unknown command {op!r}")
    return None


# ---------------------------------------------------------------------------- other processes
def _child_env() -> dict[str, str]:
    return {**os.environ, "VECTORDB_NO_WARMUP": "1"}


class Peer:
    """A ``serve`` process on a database: ``ask`` sends a command and waits for its answer."""

    def __init__(self, path: Path, stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        with open(stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), "serve", str(path)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
                env=_child_env(),
            )  # fmt: skip
        self.watchdog = threading.Timer(CHILD_TIMEOUT, self.proc.kill)
        self.watchdog.start()
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the peer died; stderr:\n{self.stderr_path.read_text()}"
        return line.rstrip("\n")

    def ask(self, command: Mapping[str, Any]) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self._line())
        assert "error" not in answer, f"the peer failed {command}:\n{answer['error']}"
        return answer["result"]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # serve leaves at the end of its input
                assert self.proc.wait(timeout=CHILD_TIMEOUT) == 0, self.stderr_path.read_text()
        finally:
            self.watchdog.cancel()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()


@contextlib.contextmanager
def peer(path: Path, tmp_path: Path) -> Iterator[Peer]:
    other = Peer(path, tmp_path / "peer.stderr")
    try:
        yield other
    finally:
        other.close()


def serve(path: str) -> None:
    """The peer: apply each JSON command of stdin, answer ``{"result": ...}`` per line."""
    with vectordb.open(path, config=LOCKS) as db:
        c = db.get_collection(NAME)
        print("ready", flush=True)
        for line in sys.stdin:
            try:
                answer = {"result": apply(db, c, json.loads(line))}
            except Exception:
                answer = {"error": traceback.format_exc()}
            print(json.dumps(answer), flush=True)


def kill_writer(path: str, round_: int, seed: int) -> None:
    """Add batches of documents with unique tokens, rewrite or delete some, search after each
    batch (the sidecar is written then), checkpoint now and then; until SIGKILLed. Prints
    ``B <json>`` before each write (its ids and documents) and ``A <batch>`` after the search."""
    rnd = random.Random(seed)
    with vectordb.open(path, config=LOCKS) as db:
        c = db.get_collection(NAME)
        print("R", flush=True)
        mine: list[str] = []
        for batch in itertools.count():
            ids = [f"k{round_}-{batch}-{j}" for j in range(rnd.randint(2, 6))]
            docs = [f"common kw{round_}n{batch}x{j} {rnd.choice(WORDS)}" for j in range(len(ids))]
            print("B " + json.dumps({"ids": ids, "docs": docs}), flush=True)
            c.add(_vectors(len(ids)), ids=ids, documents=docs)
            if batch % 3 == 2:  # an earlier batch's record: this one's is searched for below
                victim = mine.pop(rnd.randrange(len(mine)))
                if rnd.random() < 0.5:
                    print("B " + json.dumps({"delete": victim}), flush=True)
                    c.delete([victim])
                else:
                    doc = f"common kw{round_}n{batch}u{rnd.randrange(100)} rewritten"
                    print("B " + json.dumps({"ids": [victim], "docs": [doc]}), flush=True)
                    c.update([victim], documents=[doc])
                    mine.append(victim)
            mine.extend(ids)
            if batch % 7 == 6:
                db.checkpoint()
            found = [hit.id for hit in c.search(f"kw{round_}n{batch}x0", query_type="keyword")]
            assert found == [ids[0]], found
            print(f"A {batch}", flush=True)


def hold_sidecar(path: str) -> None:
    """Begin a write transaction on the sidecar that spills to the file (a hot journal), say
    ``held`` and wait to be killed."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA cache_size = 1")  # changed pages reach the file before the commit
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO docs(docs) VALUES ('delete-all')")  # a contentless FTS5 table
    db.execute("DELETE FROM hashes")
    db.execute("UPDATE meta SET value = 12345 WHERE key = 'total'")
    print("held", flush=True)
    time.sleep(CHILD_TIMEOUT)


# ---------------------------------------------------------------------------- the sidecar
def sidecar_of(path: Path) -> Path:
    return path / "collections" / NAME / "keywords.sqlite"


def sidecar_files(path: Path) -> dict[str, tuple[bytes, int]]:
    """The sidecar's files (and SQLite's beside it): name -> (bytes, mtime in ns)."""
    directory = sidecar_of(path).parent
    return {
        entry.name: (entry.read_bytes(), entry.stat().st_mtime_ns)
        for entry in sorted(directory.iterdir())
        if entry.name.startswith("keywords.sqlite")
    }


def sidecar_problem(path: Path, scratch: Path, documents: int | None = None) -> str | None:
    """What is wrong with the sidecar of the database at ``path`` (no handle may have it
    open), checked on a copy: FTS5's and SQLite's integrity checks, its row hashes against
    its total, one hash per document, and (given) the number of documents."""
    sidecar = sidecar_of(path)
    if Path(f"{sidecar}-journal").exists():
        return "a hot journal is left"
    copy = scratch / "keywords-copy.sqlite"
    shutil.copyfile(sidecar, copy)
    try:
        with contextlib.closing(sqlite3.connect(copy)) as db:
            db.execute("INSERT INTO docs(docs) VALUES ('integrity-check')")
            (verdict,) = db.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                return str(verdict)
            total = 0
            for (value,) in db.execute("SELECT h FROM hashes"):
                total ^= int(value)
            (stored,) = db.execute("SELECT value FROM meta WHERE key = 'total'").fetchone()
            if total != int(stored):
                return f"row hashes add up to {total}, not the total {stored}"
            (counted,) = db.execute("SELECT count(*) FROM docs_docsize").fetchone()
            (hashed,) = db.execute("SELECT count(*) FROM hashes").fetchone()
            if counted != hashed:
                return f"{counted} documents but {hashed} row hashes"
            if documents is not None and counted != documents:
                return f"{counted} documents, not {documents}"
    except sqlite3.Error as error:
        return str(error)
    finally:
        copy.unlink()
    return None


def _corpus(path: Path, n: int = 120, seed: int = 7) -> Model:
    """A database at ``path`` with ``n`` records, their sidecar synced; closed."""
    rnd = random.Random(seed)
    model = Model()
    ids = [f"d{i:03d}" for i in range(n)]
    command = {"op": "add", "ids": ids, "docs": [random_doc(rnd) for _ in ids],
               "meta": [random_meta(rnd) for _ in ids]}  # fmt: skip
    with vectordb.open(path) as db:
        c = db.create_collection(NAME, dim=DIM)
        apply(db, c, command)
        model.apply(command)
        assert_exact(c, model, "built")
    assert sidecar_of(path).exists()
    return model


# ---------------------------------------------------------------------------- 1. the oracle
def test_keyword_search_equals_a_brute_force_oracle_after_every_write(tmp_path: Path) -> None:
    rnd = random.Random(20240611)
    pool = [f"r{i:02d}" for i in range(40)]
    model = Model()
    with vectordb.open(tmp_path / "db") as db:
        c = db.create_collection(NAME, dim=DIM)
        assert_exact(c, model, "empty")
        for step in range(250):
            command = random_command(rnd, model, pool)
            apply(db, c, command)
            model.apply(command)
            assert_exact(c, model, f"step {step}: {command}")
            if step % 25 == 0:  # the oracle's model is the collection's
                assert stored_docs(c) == model.docs
        assert stored_docs(c) == model.docs
        assert sum(1 for doc in model.docs.values() if doc) > 5  # the test searched something
        hits = c.search("alpha", k=1000, query_type="keyword", include=["document", "metadata"])
        assert {hit.id: hit.document for hit in hits} == {i: model.docs[i] for i in
                                                          model.matching("alpha")}  # fmt: skip
        assert all(hit.metadata == model.meta[hit.id] for hit in hits)
        assert c.search("alpha", k=1000) == c.search("alpha", k=1000, query_type="keyword")
        assert c._state.keywords.rebuilds == 0


# ---------------------------------------------------------------------------- 2. lockstep
def test_two_processes_see_each_others_documents_exactly(tmp_path: Path) -> None:
    path = tmp_path / "db"
    rnd = random.Random(99)
    pool = [f"s{i:02d}" for i in range(30)]
    model = Model()
    indexes: dict[str, dict[str, int]] = {}  # each side's keyword index, as of the last round
    with vectordb.open(path, config=LOCKS) as db:
        c = db.create_collection(NAME, dim=DIM)
        with peer(path, tmp_path) as other:
            for round_ in range(5):
                for _ in range(rnd.randint(3, 6)):  # this process writes
                    command = random_command(rnd, model, pool)
                    apply(db, c, command)
                    model.apply(command)
                if round_ % 2 == 0:  # the sidecar at this process's snapshot, or behind it
                    apply(db, c, {"op": "sync"})
                else:
                    db.checkpoint()
                assert other.ask({"op": "docs"}) == model.docs, f"round {round_}"
                assert other.ask({"op": "search"}) == model.expected(), f"round {round_}"
                for _ in range(rnd.randint(3, 6)):  # the other process writes
                    command = random_command(rnd, model, pool)
                    other.ask(command)
                    model.apply(command)
                if round_ % 2 == 1:
                    other.ask({"op": "sync"})
                else:
                    other.ask({"op": "checkpoint"})
                if round_ == 3:
                    other.ask({"op": "compact"})  # rows renumbered under this process
                assert stored_docs(c) == model.docs, f"round {round_}"
                assert_exact(c, model, f"round {round_}")
                # each catches up by the other's journal: no full comparison of hashes but
                # for a new keyword index (the file made, rows renumbered, a reload)
                for side, counters in (("here", apply(db, c, {"op": "counters"})),
                                       ("there", other.ask({"op": "counters"}))):  # fmt: skip
                    previous = indexes.get(side)
                    if previous is not None and previous["index"] == counters["index"]:
                        assert counters["diffs"] == previous["diffs"], (round_, side, counters)
                    else:
                        assert counters["diffs"] <= 1, (round_, side, counters)
                    assert counters["rebuilds"] == 0, (round_, side, counters)
                    indexes[side] = counters
            assert other.ask({"op": "search"}) == model.expected()
    assert sidecar_problem(path, tmp_path, sum(1 for d in model.docs.values() if d)) is None


# ---------------------------------------------------------------------------- 3. SIGKILL
def _exact_after_kill(c: vectordb.Collection, announced: set[str]) -> int:
    """Every stored record's unique token finds exactly it, every announced token finds
    exactly the records that hold it now, and ``common`` finds every stored record."""
    ids = c.ids()
    records = c.get_many(ids, include=("document",))
    holders: dict[str, set[str]] = {}
    for vector_id, record in zip(ids, records):
        assert record is not None and record.document, (vector_id, record)
        found = UNIQUE.findall(record.document)
        assert len(found) == 1, record
        holders.setdefault(found[0], set()).add(vector_id)
    for token in sorted(announced | set(holders)):
        assert set(keyword_ids(c, token)) == holders.get(token, set()), token
    common = c.search("common", k=len(ids) + 10, query_type="keyword")
    assert sorted(hit.id for hit in common) == sorted(ids)
    assert all(c.get(hit.id) is not None for hit in common)
    return len(ids)


def _kill_writer_round(
    path: Path, tmp_path: Path, round_: int, seed: int, mark: str, count: int, pause: float
) -> str:
    """Run ``kill-writer``, SIGKILL it ``pause`` s after its ``count``-th ``mark`` line;
    returns all it printed."""
    command = [sys.executable, str(SCRIPT), "kill-writer", str(path), str(round_), str(seed)]
    stderr_path = tmp_path / f"writer{round_}.stderr"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                env=_child_env())  # fmt: skip
    watchdog = threading.Timer(CHILD_TIMEOUT, proc.kill)
    watchdog.start()
    lines: list[str] = []
    with proc:
        try:
            assert proc.stdout is not None
            seen = 0
            while seen < count:
                line = proc.stdout.readline()
                assert line, f"the writer ended by itself; stderr:\n{stderr_path.read_text()}"
                lines.append(line)
                seen += line.startswith(mark + " ")
            time.sleep(pause)
            proc.send_signal(signal.SIGKILL)
            lines.append(proc.stdout.read())  # what it printed before it died
            proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == -signal.SIGKILL, stderr_path.read_text()
    return "".join(lines)


@pytest.mark.crash
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL does not exist on Windows")
def test_sigkill_while_writing_documents_leaves_an_exact_index(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        db.create_collection(NAME, dim=DIM)
    rnd = random.Random(4242)
    announced: set[str] = set()
    # (kill after the n-th "B" (a write in progress) or "A" (a search done), then wait s)
    plans = [("A", 1, 0.0), ("B", 4, 0.0), ("A", 6, 0.003), ("B", 9, 0.001), ("A", 12, 0.012),
             ("A", 3, 0.006)]  # fmt: skip
    acknowledged: set[str] = set()  # ids of adds whose batch was searched ("A")
    deleted: set[str] = set()  # ids the writer deleted or began to delete
    for round_, (mark, count, pause) in enumerate(plans):
        output = _kill_writer_round(path, tmp_path, round_, rnd.randrange(2**31), mark, count,
                                    pause)  # fmt: skip
        pending: list[str] = []
        for line in output.splitlines():
            if line.startswith("B "):
                announced.update(UNIQUE.findall(line))
                write = json.loads(line[2:])
                pending.extend(write.get("ids", []))
                deleted.update([write["delete"]] if "delete" in write else [])
            elif line.startswith("A "):
                acknowledged.update(pending)

        before = sidecar_files(path) if sidecar_of(path).exists() else {}
        with vectordb.open(path, read_only=True) as reader:  # exact, and writes nothing
            _exact_after_kill(reader.get_collection(NAME), announced)
        if before:
            assert sidecar_files(path) == before, f"round {round_}: the read-only handle wrote"
        else:
            assert not sidecar_of(path).exists()
        with vectordb.open(path) as db:
            c = db.get_collection(NAME)
            stored = _exact_after_kill(c, announced)
            assert c._state.keywords.rebuilds == 0  # a kill never damages the file
            assert acknowledged - deleted <= set(c.ids()), f"round {round_}"
        assert sidecar_problem(path, tmp_path, stored) is None, f"round {round_}"
    assert stored > 10


@pytest.mark.crash
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL does not exist on Windows")
def test_read_only_handle_leaves_a_hot_journal_for_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "db"
    model = _corpus(path)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "hold-sidecar", str(sidecar_of(path))],
                            stdout=subprocess.PIPE, text=True, env=_child_env())  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "held\n"
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    before = sidecar_files(path)
    assert "keywords.sqlite-journal" in before  # killed inside a write: a hot journal
    with vectordb.open(path, read_only=True) as reader:
        assert_exact(reader.get_collection(NAME), model, "read-only, hot journal")
    assert sidecar_files(path) == before
    with vectordb.open(path) as db:
        c = db.get_collection(NAME)
        assert_exact(c, model, "writer, hot journal")
        assert c._state.keywords.diffs == 0  # rolled back to what it held: nothing to compare
        assert c._state.keywords.rebuilds == 0
    assert sidecar_problem(path, tmp_path, sum(1 for d in model.docs.values() if d)) is None


# ---------------------------------------------------------------------------- 4. read-only
def test_read_only_handle_searches_exactly_and_never_writes_the_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "db"
    rnd = random.Random(5)
    pool = [f"o{i:02d}" for i in range(40)]
    model = Model()
    with vectordb.open(path) as db:
        db.create_collection(NAME, dim=DIM)
    with peer(path, tmp_path) as writer, vectordb.open(path, read_only=True) as reader:
        c = reader.get_collection(NAME)
        for round_ in range(4):
            for _ in range(6):
                command = random_command(rnd, model, pool)
                writer.ask(command)
                model.apply(command)
            if round_ in (0, 2):  # the file at the writer's snapshot; else behind the reader
                writer.ask({"op": "sync"})
            before = sidecar_files(path)
            assert_exact(c, model, f"read-only, round {round_}")
            assert sidecar_files(path) == before, f"round {round_}: the read-only search wrote"
            assert writer.ask({"op": "search"}) == model.expected()
        assert c._state.keywords.rebuilds == 0
    assert sidecar_problem(path, tmp_path, sum(1 for d in model.docs.values() if d)) is None


def test_read_only_handle_without_a_sidecar_creates_none(tmp_path: Path) -> None:
    path = tmp_path / "db"
    rnd = random.Random(6)
    pool = [f"n{i:02d}" for i in range(40)]
    model = Model()
    with vectordb.open(path) as db:  # documents written, never searched: no sidecar
        c = db.create_collection(NAME, dim=DIM)
        for _ in range(8):
            command = random_command(rnd, model, pool)
            apply(db, c, command)
            model.apply(command)
    directory = sidecar_of(path).parent
    listing = sorted(entry.name for entry in directory.iterdir())
    assert "keywords.sqlite" not in listing
    with peer(path, tmp_path) as writer, vectordb.open(path, read_only=True) as reader:
        c = reader.get_collection(NAME)
        assert_exact(c, model, "read-only, no sidecar")
        for _ in range(6):  # another process writes (no search: still no sidecar)
            command = random_command(rnd, model, pool)
            writer.ask(command)
            model.apply(command)
        assert_exact(c, model, "read-only, no sidecar, after the writer")
        assert not any(name.startswith("keywords") for name in os.listdir(directory))
        writer.ask({"op": "sync"})  # the writer makes one; the reader keeps its memory copy
        assert sidecar_of(path).exists()
        before = sidecar_files(path)
        command = random_command(rnd, model, pool)
        writer.ask(command)
        model.apply(command)
        assert_exact(c, model, "read-only, after the writer's sidecar")
        assert sidecar_files(path) == before


# ---------------------------------------------------------------------------- 5. damage
def _garbage(path: Path) -> None:
    sidecar = sidecar_of(path)
    size = sidecar.stat().st_size
    sidecar.write_bytes(random.Random(1).randbytes(size))


def test_garbage_sidecar_is_detected_and_rebuilt_exactly(tmp_path: Path) -> None:
    path = tmp_path / "db"
    model = _corpus(path)
    _garbage(path)
    with vectordb.open(path) as db:
        c = db.get_collection(NAME)
        problem = c._state.keywords.check()
        assert problem is not None and problem.startswith("keyword index"), problem
        assert_exact(c, model, "rebuilt")
        assert c._state.keywords.diffs == 1  # a new file: every row compared (written)
    documents = sum(1 for doc in model.docs.values() if doc)
    assert sidecar_problem(path, tmp_path, documents) is None
    with vectordb.open(path) as db:  # the rebuilt file is used as it is
        c = db.get_collection(NAME)
        assert_exact(c, model, "reopened")
        assert (c._state.keywords.rebuilds, c._state.keywords.diffs) == (0, 0)


def test_garbage_sidecar_counts_as_one_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "db"
    model = _corpus(path)
    _garbage(path)
    with vectordb.open(path) as db:
        c = db.get_collection(NAME)
        assert_exact(c, model, "rebuilt")
        assert c._state.keywords.rebuilds == 1


def test_damaged_fts_index_is_detected_and_rebuilt_once(tmp_path: Path) -> None:
    path = tmp_path / "db"
    model = _corpus(path)
    with contextlib.closing(sqlite3.connect(sidecar_of(path))) as db:
        db.execute("DELETE FROM docs_data WHERE id = 10")  # FTS5's structure record
        db.commit()
    with vectordb.open(path) as db:
        c = db.get_collection(NAME)
        assert c._state.keywords.check() is not None
        assert_exact(c, model, "rebuilt")
        assert c._state.keywords.rebuilds == 1
    assert sidecar_problem(path, tmp_path, sum(1 for d in model.docs.values() if d)) is None


def test_check_passes_a_healthy_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "db"
    _corpus(path, n=10)
    with vectordb.open(path) as db:
        assert db.get_collection(NAME)._state.keywords.check() is None


# ---------------------------------------------------------------------------- 6. reuse
def test_reopen_reuses_the_sidecar_and_compaction_keeps_results_exact(tmp_path: Path) -> None:
    path = tmp_path / "db"
    model = _corpus(path)
    with vectordb.open(path) as db:  # nobody changed anything: the file is used as it is
        c = db.get_collection(NAME)
        assert_exact(c, model, "reopened")
        assert (c._state.keywords.rebuilds, c._state.keywords.diffs) == (0, 0)
        rows_before = dict(c._state.store.row_of)
        doomed = sorted(model.docs)[::2]
        command = {"op": "delete", "ids": doomed}
        apply(db, c, command)
        model.apply(command)
        assert_exact(c, model, "deleted")
        c.compact()
        rows_after = dict(c._state.store.row_of)
        assert any(rows_after[i] != rows_before[i] for i in rows_after)  # rows renumbered
        assert_exact(c, model, "compacted")
        rnd = random.Random(11)
        for _ in range(10):
            command = random_command(rnd, model, [f"d{i:03d}" for i in range(130)])
            apply(db, c, command)
            model.apply(command)
        assert_exact(c, model, "written after compaction")
    with vectordb.open(path) as db:
        c = db.get_collection(NAME)
        assert_exact(c, model, "reopened after compaction")
        assert c._state.keywords.diffs == 0
    assert sidecar_problem(path, tmp_path, sum(1 for d in model.docs.values() if d)) is None


if __name__ == "__main__":
    role, *arguments = sys.argv[1:]
    if role == "serve":
        serve(arguments[0])
    elif role == "kill-writer":
        kill_writer(arguments[0], int(arguments[1]), int(arguments[2]))
    elif role == "hold-sidecar":
        hold_sidecar(arguments[0])
    else:
        raise SystemExit(f"unknown role {role!r}")
