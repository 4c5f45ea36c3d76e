"""Two checkouts of vectordb on the same database, interleaved: did a change cost speed?

Usage:
    git worktree add /tmp/before <commit>            # the code before the change
    python benchmarks/before_after.py --before /tmp/before --after .
    python benchmarks/before_after.py --before /tmp/before --after . --quick

One database is built once, by the *before* code (100k x 128 clustered vectors, cosine, HNSW
M=16, ef_construction=200, the metadata of ``filtered.py``), and closed, so its graph is
saved. Then each round starts one fresh process per checkout (``PYTHONPATH`` picks the
code), alternating which goes first, and each opens that same directory read-only and
measures, after ``warmup()``:

- single-query HNSW search at ef 16 and ef 64 (``benchmarks/ann.py``'s measure);
- filtered single-query search at 0.1 %, 1 %, 10 % and 50 % of rows (``filtered.py``'s);
- ``add()`` of 20k vectors with metadata in batches of 500 into a new flat collection of a
  scratch database (durability ``normal``; the open, create and close are not timed): the
  write path.

Every figure is queries (or vectors) per second; a checkout's figure is the median over
rounds of its per-round medians, and the table gives after / before. Both checkouts read
the same bytes, so the run also shows the *after* code opens what the *before* code wrote.
JSON to ``benchmarks/results/before_after.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from ann import clustered
from support import machine, print_table

_BUILD = textwrap.dedent("""
    import sys
    import numpy as np
    import vectordb
    path, data_file, meta_file = sys.argv[1:4]
    data = np.load(data_file)
    cats, scores = np.load(meta_file)
    metadata = [{"cat": int(c), "score": float(s)} for c, s in zip(cats, scores)]
    ids = [str(i) for i in range(len(data))]
    with vectordb.open(path, config={"durability": "normal"}) as db:
        docs = db.create_collection("docs", dim=data.shape[1], index="hnsw")
        for first in range(0, len(data), 10_000):
            docs.add(data[first : first + 10_000], ids=ids[first : first + 10_000],
                     metadata=metadata[first : first + 10_000])
        docs.wait_indexed()
""")

_MEASURE = textwrap.dedent("""
    import json, statistics, sys, tempfile, time
    import numpy as np
    import vectordb
    path, query_file, data_file, passes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    queries = np.load(query_file)
    data = np.load(data_file)
    out = {"code": vectordb.__file__}

    def rate(run, count):
        times = []
        for _ in range(passes):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return count / statistics.median(times)

    with vectordb.open(path, read_only=True) as db:
        docs = db.get_collection("docs")
        docs.warmup()
        info = docs.stats().index_info
        out["index_pending"] = info["pending"]
        out["index_fallback"] = info["fallback"]
        for where in ({"cat": 0}, {"score": {"$lt": 0.5}}):
            docs.count(where=where)  # builds the metadata columns
        for ef in (16, 64):
            def single(ef=ef):
                for q in queries:
                    docs.search(q, k=10, ef=ef, include=())
            single()
            out[f"hnsw ef={ef} single QPS"] = rate(single, len(queries))
        for label, where in (("0.1%", {"cat": 7}), ("1%", {"cat": {"$lt": 10}}),
                             ("10%", {"score": {"$lt": 0.1}}), ("50%", {"cat": {"$gte": 500}})):
            def filtered(where=where):
                for q in queries:
                    docs.search(q, k=10, where=where, include=())
            filtered()
            out[f"filtered {label} single QPS"] = rate(filtered, len(queries))
    ids = [f"w{i}" for i in range(len(data))]
    metadata = [{"n": i} for i in range(len(data))]
    with tempfile.TemporaryDirectory() as scratch:
        with vectordb.open(scratch, config={"durability": "normal"}) as db:
            made = []

            def write():
                flat = db.create_collection(f"w{len(made)}", dim=data.shape[1])
                made.append(flat)
                for first in range(0, len(data), 500):
                    flat.add(data[first : first + 500], ids=ids[first : first + 500],
                             metadata=metadata[first : first + 500])

            write()
            out["add() vectors/s (batches of 500)"] = rate(write, len(data))
    print(json.dumps(out))
""")


def _run(code: Path, script: str, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(code.resolve()), VECTORDB_NO_WARMUP="1")
    # cwd is the checkout: ``python -c`` puts the working directory first on sys.path,
    # before PYTHONPATH, so running from the other checkout would import that one
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env, cwd=code.resolve(), capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{code}: failed\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout before the change")
    parser.add_argument("--after", type=Path, required=True, help="checkout after the change")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--passes", type=int, default=3, help="timed passes per process")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="10k x 32, 2 rounds")
    parser.add_argument(
        "--separate",
        action="store_true",
        help="each checkout builds its own database from the same data (when the change "
        "alters a file format the before code cannot read, e.g. the HNSW graph file)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "before_after.json"
    )
    args = parser.parse_args()
    n, dim, n_queries, rounds = args.n, args.dim, args.queries, args.rounds
    if args.quick:
        n, dim, n_queries, rounds = 10_000, 32, 100, 2
    rng = np.random.default_rng(0)
    points = clustered(rng, n + n_queries, dim)
    work = Path(tempfile.mkdtemp(prefix="vectordb-before-after-"))
    try:
        np.save(work / "data.npy", points[:n])
        np.save(work / "queries.npy", points[n:])
        np.save(work / "writes.npy", points[: min(n, 20_000)])
        np.save(work / "meta.npy", np.stack([np.arange(n) % 1000, rng.random(n)]))
        databases = {"before": work / "db", "after": work / "db"}
        if args.separate:
            databases["after"] = work / "db-after"
        for side in dict.fromkeys(("before", "after") if args.separate else ("before",)):
            code = args.before if side == "before" else args.after
            _run(code, _BUILD, str(databases[side]), str(work / "data.npy"),
                 str(work / "meta.npy"))  # fmt: skip
        results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for round_number in range(rounds):
            order = ("before", "after") if round_number % 2 == 0 else ("after", "before")
            for side in order:
                code = args.before if side == "before" else args.after
                line = _run(code, _MEASURE, str(databases[side]), str(work / "queries.npy"),
                            str(work / "writes.npy"), str(args.passes))  # fmt: skip
                measured = json.loads(line.strip().splitlines()[-1])
                results[side].append(measured)
                print(side, measured, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for key in results["before"][0]:
        if key in ("code", "index_pending", "index_fallback"):
            continue
        before = statistics.median(run[key] for run in results["before"])
        after = statistics.median(run[key] for run in results["after"])
        rows.append({"measure": key, "before": before, "after": after,
                     "after / before": after / before})  # fmt: skip
    report = {
        "machine": machine(),
        "before": str(args.before.resolve()),
        "after": str(args.after.resolve()),
        "n": n,
        "dim": dim,
        "queries": n_queries,
        "rounds": rounds,
        "rows": rows,
        "runs": results,
    }
    print(f"machine: {report['machine']}")
    print(f"{n} x {dim} clustered, cosine, HNSW M=16; {rounds} rounds, alternating order")
    print_table("after / before, medians over rounds", rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
