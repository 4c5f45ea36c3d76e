"""Worker processes for tests/concurrency/test_processes.py (run as a script).

    processes.py writer DB ME N OUT      N mixed operations by writer ME; its model -> OUT
    processes.py reader DB STOP OUT      check invariants until the file STOP exists
    processes.py hold DB                 open a transaction, write, print "holding", sleep
    processes.py acked DB ME N           N single adds, printing "A <id>" after each returns

Writers use their own ids (``w<ME>-...``) so the union of their final models is the expected
state whatever the interleaving, plus one shared record, ``counter``, that every writer
increments inside transactions (read, then write): serializable transactions lose no
increment. Every tenth operation is a transaction that adds a pair to collection ``a`` and
one record to ``b``; readers check they never see part of one.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

DIM = 8


def vector(*seed: int) -> np.ndarray:
    return np.random.default_rng(list(seed)).standard_normal(DIM).astype(np.float32)


def run_writer(path: str, me: int, n: int, out: str) -> None:
    import vectordb

    model: dict[str, dict[str, Any]] = {"a": {}, "b": {}}
    increments = 0
    with vectordb.open(path, config={"durability": "normal", "lock_timeout": 30}) as db:
        a, b = db.get_collection("a"), db.get_collection("b")
        for i in range(n):
            own = f"w{me}-{i % 300}"
            if i % 10 == 0:
                pair = [f"w{me}-t{i}-0", f"w{me}-t{i}-1"]
                with db.transaction():
                    a.add(np.stack([vector(me, i, 0), vector(me, i, 1)]), ids=pair,
                          metadata=[{"t": i}, {"t": i}])  # fmt: skip
                    b.add(vector(me, i, 2)[None, :], ids=[f"w{me}-t{i}"])
                for k, vector_id in enumerate(pair):
                    model["a"][vector_id] = [vector(me, i, k).tolist(), {"t": i}]
                model["b"][f"w{me}-t{i}"] = [vector(me, i, 2).tolist(), None]
            elif i % 25 == 3:
                with db.transaction():
                    record = a.get("counter")
                    assert record is not None and record.metadata is not None
                    a.update("counter", metadata={"n": record.metadata["n"] + 1})
                increments += 1
            elif i % 7 == 0:
                a.delete([own], missing_ok=True)
                model["a"].pop(own, None)
            elif i % 13 == 0 and own in model["a"]:
                a.update(own, metadata={"changed": i})  # merged into what is stored
                model["a"][own][1] = {**(model["a"][own][1] or {}), "changed": i}
            elif i % 50 == 1:
                key = f"w{me}-key-{i}"
                first = a.add(vector(me, i, 5)[None, :], idempotency_key=key)
                again = a.add(vector(me, i, 5)[None, :], idempotency_key=key)  # a retry
                assert first == again, (first, again)
                model["a"][first[0]] = [vector(me, i, 5).tolist(), None]
            elif i % 500 == 499:
                db.checkpoint()  # others follow across it (or reload)
            else:
                a.upsert(vector(me, i, 9)[None, :], ids=[own], metadata={"w": me, "i": i})
                model["a"][own] = [vector(me, i, 9).tolist(), {"w": me, "i": i}]
    with open(out, "w") as handle:
        json.dump({"model": model, "increments": increments}, handle)


def run_reader(path: str, stop: str, out: str) -> None:
    import os

    import vectordb

    checks = violations = 0
    problems: list[str] = []
    with vectordb.open(path, read_only=True) as db:
        a, b = db.get_collection("a"), db.get_collection("b")
        while not os.path.exists(stop):
            ids_a = set(a.ids())  # one read: one consistent state
            ids_b = set(b.ids())  # a later read: at least as new
            pairs: dict[str, int] = {}
            for vector_id in ids_a:
                if "-t" in vector_id:
                    stem = vector_id.rsplit("-", 1)[0]
                    pairs[stem] = pairs.get(stem, 0) + 1
            for stem, count in pairs.items():
                checks += 1
                if count != 2 or stem not in ids_b:
                    violations += 1
                    problems.append(f"{stem}: {count} of 2 in a, in b: {stem in ids_b}")
            hits = a.search(vector(0, 0, 0), k=5)  # another read: more records maybe
            scores = [hit.score for hit in hits]
            if not 1 <= len(hits) <= 5 or scores != sorted(scores):
                violations += 1
                problems.append(f"search returned {len(hits)} hits, scores {scores}")
            time.sleep(0.01)
    with open(out, "w") as handle:
        json.dump({"checks": checks, "violations": violations, "problems": problems[:20]}, handle)


def run_hold(path: str) -> None:
    import vectordb

    db = vectordb.open(path)
    a = db.get_collection("a")
    with db.transaction():
        a.add(np.stack([vector(99, 0, 0), vector(99, 0, 1)]), ids=["held-0", "held-1"])
        db.get_collection("b").add(vector(99, 0, 2)[None, :], ids=["held"])
        print("holding", flush=True)
        time.sleep(120)  # killed here, inside the transaction, holding the writer lock


def run_acked(path: str, me: int, n: int) -> None:
    import vectordb

    with vectordb.open(path, config={"lock_timeout": 20}) as db:
        a = db.get_collection("a")
        print("started", flush=True)
        for i in range(n):
            a.add(vector(me, i, 7)[None, :], ids=[f"acked{me}-{i}"])
            print(f"A acked{me}-{i}", flush=True)


if __name__ == "__main__":
    mode, db_path, *rest = sys.argv[1:]
    if mode == "writer":
        run_writer(db_path, int(rest[0]), int(rest[1]), rest[2])
    elif mode == "reader":
        run_reader(db_path, rest[0], rest[1])
    elif mode == "hold":
        run_hold(db_path)
    elif mode == "acked":
        run_acked(db_path, int(rest[0]), int(rest[1]))
    else:
        raise SystemExit(f"unknown mode {mode}")
