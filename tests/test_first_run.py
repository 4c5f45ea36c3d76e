"""The first run after install: ``mode="auto"`` never waits for numba to compile (numpy
answers meanwhile), and an explicit ``mode="numba"`` that must wait says so in the log, once.

Each test runs a fresh interpreter with its own empty numba cache, so the kernels really
compile there (``NUMBA_CACHE_DIR``), as on a machine that just installed vectordb.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

AUTO = textwrap.dedent(
    """
    import json, sys, numpy as np, vectordb
    from vectordb.index import jit

    db = vectordb.open(sys.argv[1])            # a read-write open starts the warm-up
    docs = db.create_collection("docs", dim=8)
    docs.add(np.random.default_rng(0).standard_normal((500, 8)), ids=[str(i) for i in range(500)])
    answers = []
    for _ in range(3):
        hits = docs.search(np.ones(8), k=3)   # mode="auto"
        answers.append((len(hits), jit.kernels_ready()))
    numpy_ids = [hit.id for hit in docs.search(np.ones(8), k=3, mode="numpy")]
    numba_ids = [hit.id for hit in docs.search(np.ones(8), k=3, mode="numba")]
    print(json.dumps({"answers": answers, "same": numpy_ids == numba_ids}))
    db.close()
    """
)

LOGGED = textwrap.dedent(
    """
    import logging, sys, numpy as np, vectordb
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    db = vectordb.open(sys.argv[1])
    docs = db.create_collection("docs", dim=4)
    docs.add(np.eye(4), ids=["a", "b", "c", "d"])
    for _ in range(3):
        assert docs.search([1, 0, 0, 0], k=1, mode="numba")[0].id == "a"
    db.close()
    """
)


def _run(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"), **env)
    environment.pop("VECTORDB_NO_WARMUP", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "db")],
        env=environment, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_auto_answers_while_the_kernels_compile(tmp_path: Path) -> None:
    result = _run(AUTO, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # with an empty cache compiling takes seconds: the first searches came back before it
    # finished (numpy answered), and the numba answer is the same as numpy's
    assert report["answers"][0] == [3, False], report
    assert report["same"] is True


def test_mode_numba_says_once_that_it_waits_for_compilation(tmp_path: Path) -> None:
    result = _run(LOGGED, tmp_path, VECTORDB_NO_WARMUP="1")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "loading the numba" in line]
    assert len(lines) == 1, result.stderr
    assert "search kernels" in lines[0] and "mode='auto' runs numpy" in lines[0]
