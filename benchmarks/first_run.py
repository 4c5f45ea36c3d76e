"""What the first run after install costs: ``import vectordb``, the first open, the first
search, and how long numba takes to compile the kernels (a cold cache, as right after
``pip install``) or to load them (a warm cache, every later run).

Each measure runs in a fresh interpreter. A cold run gets an empty ``NUMBA_CACHE_DIR``; a
warm run reuses the cache the cold run filled. Medians of ``--repeats`` runs.

    python benchmarks/first_run.py              # ~2 min on 2 cores
    python benchmarks/first_run.py --repeats 1  # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "first_run.json"

IMPORT = "import time; t = time.perf_counter(); import vectordb; print(time.perf_counter() - t)"

FIRST_SEARCH = textwrap.dedent(
    """
    import json, sys, time
    start = time.perf_counter()
    import numpy as np, vectordb
    from vectordb.index import jit
    imported = time.perf_counter()
    db = vectordb.open(sys.argv[1])
    docs = db.create_collection("docs", dim=384, exist_ok=True)
    if len(docs) == 0:
        docs.add(np.random.default_rng(0).standard_normal((10_000, 384)).astype("f4"))
    opened = time.perf_counter()
    mode = sys.argv[2]
    docs.search(np.ones(384), k=10, mode=mode)
    searched = time.perf_counter()
    while mode == "auto" and not jit.kernels_ready():
        time.sleep(0.01)
    ready = time.perf_counter()
    print(json.dumps({"import": imported - start, "open_and_add": opened - imported,
                      "first_search": searched - opened, "kernels_ready": ready - start}))
    db.close()
    """
)


def _run(code: str, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1]


def measure(repeats: int) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if k != "VECTORDB_NO_WARMUP"}
    found: dict[str, Any] = {}
    found["import_s"] = statistics.median(
        float(_run(IMPORT, env=base)) for _ in range(max(repeats, 3))
    )
    for cache in ("cold", "warm"):
        for mode in ("auto", "numba"):
            runs = []
            for _ in range(repeats):
                with tempfile.TemporaryDirectory() as work:
                    env = dict(base)
                    cache_dir = Path(work) / "numba-cache"
                    env["NUMBA_CACHE_DIR"] = str(cache_dir)
                    if mode == "numba":
                        env["VECTORDB_NO_WARMUP"] = "1"  # the search itself waits
                    if cache == "warm":  # fill the cache once, then measure
                        _run(FIRST_SEARCH, str(Path(work) / "fill"), "numba", env=env)
                    runs.append(json.loads(_run(FIRST_SEARCH, str(Path(work) / "db"), mode,
                                                env=env)))  # fmt: skip
            found[f"{cache}_{mode}"] = {
                key: statistics.median(run[key] for run in runs) for key in runs[0]
            }
    return found


def table(found: dict[str, Any]) -> str:
    lines = [
        "| cache | mode | import | open + add 10k x 384 | first search | kernels ready |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for cache in ("cold", "warm"):
        for mode in ("auto", "numba"):
            row = found[f"{cache}_{mode}"]
            ready = f"{row['kernels_ready']:.2f} s" if mode == "auto" else "(in the search)"
            lines.append(
                f"| {cache} | {mode} | {row['import']:.2f} s | {row['open_and_add']:.2f} s | "
                f"{row['first_search'] * 1000:.1f} ms | {ready} |"
            )
    return "\n".join(lines) + f"\n\n`import vectordb` alone: {found['import_s']:.2f} s (median)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    found = measure(args.repeats)
    found["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(found, indent=2) + "\n")
    print(table(found))


if __name__ == "__main__":
    main()
