"""``LocalEmbeddings`` throughput: texts/s embedding paragraphs of 100-600 characters
(Python standard-library docstring paragraphs, like man-page paragraphs), batch size 64,
on the CPU; plus the start-up costs and the agreement with sentence-transformers.

The issue's target is sentence-transformers on torch on the same CPU: 57 paragraphs/s on 2
cores with batch size 64. torch is not installed here, so that figure is quoted, not
measured in the same run.

    python benchmarks/embeddings_local.py             # ~1 min on 2 cores
    python benchmarks/embeddings_local.py --repeats 1 # smoke test
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from support import machine, print_table

from vectordb.embeddings.local import LocalEmbeddings

RESULTS = Path(__file__).resolve().parent / "results" / "embeddings_local.json"
REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "minilm_reference.json"
TORCH_BASELINE = 57.0  # paragraphs/s, sentence-transformers on torch, 2 cores, batch 64

#: modules whose docstrings give the paragraphs (fixed, so every run embeds the same texts
#: on the same Python version)
MODULES = [
    "argparse", "asyncio", "bisect", "codecs", "collections", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "email", "enum", "fractions", "functools", "heapq",
    "http.client", "inspect", "io", "itertools", "json", "logging", "math", "operator", "os",
    "pathlib", "pickle", "random", "re", "shutil", "socket", "sqlite3", "statistics",
    "string", "struct", "subprocess", "tarfile", "tempfile", "textwrap", "threading",
    "typing", "unittest", "urllib.parse", "zipfile",
]  # fmt: skip

STARTUP = """
import json, time
start = time.perf_counter()
from vectordb.embeddings.local import LocalEmbeddings
imported = time.perf_counter()
embedder = LocalEmbeddings()
built = time.perf_counter()
embedder.embed(["the first text"])
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "construct_s": built - imported,
                  "first_embed_s": done - built}))
"""


def paragraphs(count: int) -> list[str]:
    """``count`` docstring paragraphs of 100-600 characters, spread over all found."""
    found: list[str] = []
    seen: set[str] = set()
    for name in MODULES:
        module = importlib.import_module(name)
        members = [getattr(module, attribute) for attribute in sorted(dir(module))
                   if not attribute.startswith("_")]  # fmt: skip
        for member in [module, *members]:
            for paragraph in (inspect.getdoc(member) or "").split("\n\n"):
                text = " ".join(paragraph.split())
                if 100 <= len(text) <= 600 and text not in seen:
                    seen.add(text)
                    found.append(text)
    step = max(1, len(found) // count)
    return found[::step][:count]


def startup(repeats: int) -> dict[str, Any]:
    """Fresh interpreters: warm numba cache (the usual case), and cold (right after
    install: the kernels compile on the first embed)."""
    found: dict[str, Any] = {}
    for cache in ("cold", "warm"):
        runs = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as work:
                env = {**os.environ, "NUMBA_CACHE_DIR": work}
                if cache == "warm":
                    subprocess.run([sys.executable, "-c", STARTUP], env=env, check=True,
                                   capture_output=True)  # fmt: skip
                result = subprocess.run([sys.executable, "-c", STARTUP], env=env, check=True,
                                        capture_output=True, text=True)  # fmt: skip
                runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
        found[cache] = {key: round(statistics.median(run[key] for run in runs), 3)
                        for key in runs[0]}  # fmt: skip
    return found


def agreement() -> dict[str, Any]:
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))
    expected = np.asarray(data["embeddings"], np.float64)
    ours = LocalEmbeddings().embed(data["texts"]).astype(np.float64)
    norms = np.linalg.norm(ours, axis=1) * np.linalg.norm(expected, axis=1)
    cosine = (ours * expected).sum(1) / norms
    return {
        "texts": len(data["texts"]),
        "min_cosine": float(cosine.min()),
        "max_cosine_deviation": float(1.0 - cosine.min()),
        "max_abs_difference": float(np.abs(ours - expected).max()),
    }


def token_count(texts: list[str]) -> int:
    """Tokens the model sees (after truncation, [CLS] and [SEP] included)."""
    tokenizer = LocalEmbeddings()._tokenizer
    return sum(len(encoding.ids) for encoding in tokenizer.encode_batch(texts))


def throughput(
    texts: list[str], tokens: int, repeats: int, batch_size: int
) -> list[dict[str, Any]]:
    """texts/s for 1 and 2 kernel threads (and the default), timed alternately so drift
    hits all alike."""
    default = LocalEmbeddings().threads
    configurations = {
        f"threads={threads}" + (" (the default here)" if threads == default else ""): threads
        for threads in sorted({1, 2, default})
    }
    embedders = {label: LocalEmbeddings(batch_size=batch_size, threads=threads)
                 for label, threads in configurations.items()}  # fmt: skip
    times: dict[str, list[float]] = {label: [] for label in embedders}
    for embedder in embedders.values():
        embedder.embed(texts)  # warm-up: kernels loaded, memory touched
    for _ in range(repeats):
        for label, embedder in embedders.items():
            start = time.perf_counter()
            embedder.embed(texts)
            times[label].append(time.perf_counter() - start)
    rows = []
    for label, measured in times.items():
        median = statistics.median(measured)
        rows.append({
            "configuration": f"LocalEmbeddings, {label}",
            "batch_size": batch_size,
            "texts_per_s": round(len(texts) / median, 1),
            "tokens_per_s": round(tokens / median),
            "vs_torch_baseline": round(len(texts) / median / TORCH_BASELINE, 2),
            "runs_s": [round(value, 3) for value in measured],
        })  # fmt: skip
    rows.append({
        "configuration": "sentence-transformers on torch (issue's figure, not run here)",
        "batch_size": 64,
        "texts_per_s": TORCH_BASELINE,
        "tokens_per_s": None,
        "vs_torch_baseline": 1.0,
        "runs_s": [],
    })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=128, help="paragraphs to embed")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = paragraphs(args.texts)
    tokens = token_count(texts)
    found: dict[str, Any] = {
        "machine": machine(),
        "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS"),
        "corpus": {
            "source": "Python standard-library docstring paragraphs, 100-600 characters",
            "texts": len(texts),
            "mean_characters": round(statistics.mean(len(text) for text in texts), 1),
            "mean_tokens": round(tokens / len(texts), 1),
        },
        "throughput": throughput(texts, tokens, args.repeats, args.batch_size),
        "startup": startup(max(1, min(args.repeats, 3))),
        "agreement_with_sentence_transformers": agreement(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(found, indent=2) + "\n")
    rows = [{key: value for key, value in row.items() if key != "runs_s"}
            for row in found["throughput"]]  # fmt: skip
    print_table(f"LocalEmbeddings throughput, {len(texts)} paragraphs, median of {args.repeats}",
                rows)  # fmt: skip
    starts = [{"numba cache": cache, **values} for cache, values in found["startup"].items()]
    print_table("Start-up (fresh interpreter, seconds)", starts)
    agreed = found["agreement_with_sentence_transformers"].items()
    agreement_row = {key: value if isinstance(value, int) else f"{value:.3g}"
                     for key, value in agreed}  # fmt: skip
    print_table("Agreement with sentence-transformers (tests/data/minilm_reference.json)",
                [agreement_row])  # fmt: skip


if __name__ == "__main__":
    main()
