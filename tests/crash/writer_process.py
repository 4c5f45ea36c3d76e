"""Writer process for the crash tests: writes to a database and reports every operation.

Run as a script (the tests spawn it with ``subprocess``)::

    writer_process.py random DB SEED TAG DURABILITY CHECKPOINT_RECORDS
    writer_process.py fixed DB N DIM [--checkpoint-after K]

Protocol on stdout, one line per event, flushed at once:

``O``
    about to call ``vectordb.open``.
``R``
    the database is open; operations follow.
``B <json>``
    an operation is about to be called; the JSON object describes it completely.
``A <seq>``
    the call for operation ``seq`` has RETURNED: the write is acknowledged.
``C``
    (fixed mode) ``db.checkpoint()`` returned.

Operation objects: ``seq``, ``col`` (collection name), ``kind`` (``add``, ``upsert``,
``delete``, ``update_meta``, ``update_vec``, ``txn``), ``ids``, ``vec`` (hex of the
little-endian float32 ``(len(ids), dim)`` matrix, or null), ``meta`` (a list of mappings or
nulls, or null for ``metadata=None``) and ``missing_ok`` (deletes). Every metadata mapping
carries ``w``, a value naming the write (``TAG:seq``) and ``k``, the record's position in the
batch. A ``txn`` operation holds ``parts``: two to four of the other operations, over any
collections, run in one ``db.transaction()`` with short sleeps between them (so kills land
inside the transaction's body too); it is acknowledged when the ``with`` block has ended.

``random`` writes forever (until it is killed) to every collection of the database, with ids
from a bounded pool, and never issues a call that vectordb would refuse. ``fixed`` creates
collection ``c`` (euclidean) and adds ``N`` single records ``r000``, ``r001``, ... with
durability ``full``, optionally checkpoints after ``K`` of them, then leaves with
``os._exit(0)``: no close, so no checkpoint, and the log keeps the records.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

POOL = 48  # ids per collection: v000 .. v047
MAX_BATCH = 6


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _metadata(rng: np.random.Generator, token: str, n: int, *, allow_none: bool) -> Any:
    if allow_none and rng.random() < 0.15:
        return None  # the call gets metadata=None
    entries: list[dict[str, Any] | None] = []
    for k in range(n):
        if allow_none and rng.random() < 0.1:
            entries.append(None)
        else:
            entries.append({"w": token, "k": k, "tags": [int(x) for x in rng.integers(0, 9, 2)]})
    return entries


def _random_op(
    rng: np.random.Generator,
    seq: int,
    tag: str,
    name: str,
    dim: int,
    present: set[str],
) -> dict[str, Any]:
    pool = [f"v{i:03d}" for i in range(POOL)]
    free = sorted(set(pool) - present)
    stored = sorted(present)
    kind = str(
        rng.choice(
            ["add", "upsert", "delete", "update_meta", "update_vec"], p=[0.3, 0.3, 0.2, 0.1, 0.1]
        )
    )
    if kind in ("delete", "update_meta", "update_vec") and not stored:
        kind = "add"
    if kind == "add" and not free:
        kind = "upsert"
    token = f"{tag}:{seq}"
    op: dict[str, Any] = {"seq": seq, "col": name, "kind": kind, "vec": None, "meta": None}
    n = int(rng.integers(1, MAX_BATCH + 1))
    if kind == "add":
        ids = [str(x) for x in rng.choice(free, size=min(n, len(free)), replace=False)]
    elif kind == "upsert":
        ids = [str(x) for x in rng.choice(pool, size=n, replace=False)]
    elif kind == "delete" and rng.random() < 0.3:
        ids = [str(x) for x in rng.choice(pool, size=n, replace=True)]  # repeats and absent ids
        op["missing_ok"] = True
    else:
        ids = [str(x) for x in rng.choice(stored, size=min(n, len(stored)), replace=False)]
        op["missing_ok"] = False
    op["ids"] = ids
    if kind in ("add", "upsert", "update_vec"):
        vectors = rng.standard_normal((len(ids), dim)).astype("<f4")
        op["vec"] = vectors.tobytes().hex()
    if kind in ("add", "upsert"):
        op["meta"] = _metadata(rng, token, len(ids), allow_none=True)
    elif kind == "update_meta":
        op["meta"] = _metadata(rng, token, len(ids), allow_none=False)
        if rng.random() < 0.2:
            op["meta"][0] = None  # leaves that record's metadata as it is
    return op


def _random_transaction(
    rng: np.random.Generator,
    seq: int,
    tag: str,
    names: list[str],
    dims: dict[str, int],
    present: dict[str, set[str]],
) -> dict[str, Any]:
    """Two to four operations over random collections, each valid after the ones before it
    (``present`` is updated as if they were applied)."""
    parts = []
    for _ in range(int(rng.integers(2, 5))):
        name = str(rng.choice(names))
        part = _random_op(rng, seq, tag, name, dims[name], present[name])
        parts.append(part)
        _track(present[name], part)
    return {"seq": seq, "col": None, "kind": "txn", "parts": parts}


def _track(present: set[str], op: dict[str, Any]) -> None:
    if op["kind"] in ("add", "upsert"):
        present.update(op["ids"])
    elif op["kind"] == "delete":
        present.difference_update(op["ids"])


def _perform(collection: Any, op: dict[str, Any]) -> None:
    vectors = None
    if op["vec"] is not None:
        vectors = np.frombuffer(bytes.fromhex(op["vec"]), dtype="<f4").reshape(len(op["ids"]), -1)
    kind = op["kind"]
    if kind == "add":
        collection.add(vectors, ids=op["ids"], metadata=op["meta"])
    elif kind == "upsert":
        collection.upsert(vectors, ids=op["ids"], metadata=op["meta"])
    elif kind == "delete":
        collection.delete(op["ids"], missing_ok=op["missing_ok"])
    elif kind == "update_meta":
        collection.update(op["ids"], metadata=op["meta"])
    elif kind == "update_vec":
        collection.update(op["ids"], vectors=vectors)
    else:  # pragma: no cover
        raise ValueError(kind)


def run_random(args: argparse.Namespace) -> None:
    import vectordb

    rng = np.random.default_rng(args.seed)
    emit("O")
    db = vectordb.open(
        args.db,
        config={"durability": args.durability, "checkpoint_records": args.checkpoint_records},
    )
    collections = {info.name: db.get_collection(info.name) for info in db.list_collections()}
    present = {name: set(collection.ids()) for name, collection in collections.items()}
    names = sorted(collections)
    dims = {name: collection.dim for name, collection in collections.items()}
    emit("R")
    seq = 0
    while True:
        if rng.random() < 0.2:
            trial = {name: set(ids) for name, ids in present.items()}
            op = _random_transaction(rng, seq, args.tag, names, dims, trial)
            emit("B " + json.dumps(op))
            with db.transaction():
                for part in op["parts"]:
                    _perform(collections[part["col"]], part)
                    time.sleep(float(rng.uniform(0, 0.002)))
            emit(f"A {seq}")
            present = trial
        else:
            name = str(rng.choice(names))
            collection = collections[name]
            op = _random_op(rng, seq, args.tag, name, collection.dim, present[name])
            emit("B " + json.dumps(op))
            _perform(collection, op)
            emit(f"A {seq}")
            _track(present[name], op)
        seq += 1


def run_fixed(args: argparse.Namespace) -> None:
    import vectordb

    rng = np.random.default_rng(7)
    emit("O")
    db = vectordb.open(args.db, config={"durability": "full", "checkpoint_records": 10**9})
    collection = db.create_collection("c", dim=args.dim, metric="euclidean")
    emit("R")
    for seq in range(args.n):
        vector = rng.standard_normal((1, args.dim)).astype("<f4")
        op = {
            "seq": seq,
            "col": "c",
            "kind": "add",
            "ids": [f"r{seq:03d}"],
            "vec": vector.tobytes().hex(),
            "meta": [{"w": f"fixed:{seq}", "k": 0}],
        }
        emit("B " + json.dumps(op))
        _perform(collection, op)
        emit(f"A {seq}")
        if seq + 1 == args.checkpoint_after:
            db.checkpoint()
            emit("C")
    sys.stdout.flush()
    os._exit(0)  # no close(): no checkpoint, the log keeps every record


# --------------------------------------------------------------------- used by the tests
Model = dict[str, dict[str, tuple[bytes, Any]]]
"""collection name -> id -> (little-endian float32 bytes of the vector, metadata or None)"""


def parse_output(text: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[str]]:
    """Split a writer's stdout into (acknowledged ops in order, the op in flight, events).

    Only complete lines count. The op in flight is the last ``B`` line without its ``A``.
    """
    lines = text.split("\n")[:-1]  # a last piece without its newline was cut by the kill
    acked: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None
    events: list[str] = []
    for line in lines:
        if line.startswith("B "):
            assert pending is None, f"operation {pending} began before the previous one returned"
            pending = json.loads(line[2:])
        elif line.startswith("A "):
            assert pending is not None and pending["seq"] == int(line[2:]), line
            acked.append(pending)
            pending = None
        else:
            assert line in ("O", "R", "C"), f"unexpected writer output {line!r}"
            events.append(line)
    return acked, pending, events


def op_vectors(op: dict[str, Any]) -> list[bytes]:
    data = bytes.fromhex(op["vec"])
    size = len(data) // len(op["ids"])
    return [data[i * size : (i + 1) * size] for i in range(len(op["ids"]))]


def apply_op(model: Model, op: dict[str, Any]) -> Model:
    """A new model with ``op`` applied (the dict model the database must match)."""
    if op["kind"] == "txn":
        for part in op["parts"]:
            model = apply_op(model, part)
        return model
    new = {name: dict(records) for name, records in model.items()}
    records = new.setdefault(op["col"], {})
    kind = op["kind"]
    ids = op["ids"]
    meta = op["meta"] if op["meta"] is not None else [None] * len(ids)
    if kind in ("add", "upsert"):
        if kind == "add":
            assert not set(ids) & set(records), "the writer added an id that exists"
        for vector_id, vector, entry in zip(ids, op_vectors(op), meta):
            records[vector_id] = (vector, entry)
    elif kind == "delete":
        for vector_id in ids:
            records.pop(vector_id, None)
    elif kind == "update_meta":  # merged into what is stored; a None entry changes nothing
        for vector_id, entry in zip(ids, meta):
            vector, stored = records[vector_id]
            if entry is not None:
                records[vector_id] = (vector, {**(stored or {}), **entry})
    elif kind == "update_vec":
        for vector_id, vector in zip(ids, op_vectors(op)):
            records[vector_id] = (vector, records[vector_id][1])
    else:
        raise AssertionError(f"unknown operation kind {kind!r}")
    return new


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    random_mode = sub.add_parser("random")
    random_mode.add_argument("db")
    random_mode.add_argument("seed", type=int)
    random_mode.add_argument("tag")
    random_mode.add_argument("durability", choices=["full", "normal"])
    random_mode.add_argument("checkpoint_records", type=int)
    fixed_mode = sub.add_parser("fixed")
    fixed_mode.add_argument("db")
    fixed_mode.add_argument("n", type=int)
    fixed_mode.add_argument("dim", type=int)
    fixed_mode.add_argument("--checkpoint-after", type=int, default=0)
    args = parser.parse_args(argv)
    if args.mode == "random":
        run_random(args)
    else:
        run_fixed(args)


if __name__ == "__main__":
    main()
