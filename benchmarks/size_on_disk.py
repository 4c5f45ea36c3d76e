"""Where each byte on disk goes, after ``close()``, against the data's raw size and against
hnswlib's own index file for the same vectors.

Two cases: a flat 2,000 x 256 collection whose records carry ~1 KB of text plus small fields
(a RAG chunk store), filtered once on the text so its column is saved too; and an HNSW
collection of 100,000 x 128 random vectors. Prints a table per case and writes JSON.

    python benchmarks/size_on_disk.py               # ~2 min on 2 cores
    python benchmarks/size_on_disk.py --hnsw-rows 20000   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import hnswlib
import msgpack
import numpy as np

import vectordb

RESULTS = Path(__file__).resolve().parent / "results" / "size_on_disk.json"
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while",
         "vectors", "sleep", "in", "columns"]


def files_of(root: Path) -> dict[str, int]:
    """Every file under ``root`` (relative name -> bytes)."""
    found = {}
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            found[str(path.relative_to(root))] = path.stat().st_size
    return dict(sorted(found.items()))


def kind_of(name: str) -> str:
    """What a file of the database is, in words."""
    base = Path(name).name
    if name.startswith("wal/"):
        return "log segment"
    for prefix, kind in (
        ("vectors.bin", "vectors"),
        ("snapshot-", "snapshot (ids, metadata, checksums, norms, live flags)"),
        ("columns.bin", "filter columns (derived)"),
        ("hnsw-", "HNSW graph (derived)"),
        ("INDEX", "index flags (derived)"),
    ):
        if base.startswith(prefix):
            return kind
    return "small files (headers, MANIFEST, locks)"


def flat_case(root: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((2_000, 256)).astype(np.float32)
    metadata = [
        {"text": " ".join(rng.choice(WORDS, 190)), "source": f"doc{i // 10}", "page": i % 10}
        for i in range(2_000)
    ]
    with vectordb.open(root) as db:
        docs = db.create_collection("docs", dim=256)
        for start in range(0, 2_000, 100):
            docs.add(vectors[start:start + 100], ids=[f"c{i}" for i in range(start, start + 100)],
                     metadata=metadata[start:start + 100])  # fmt: skip
        docs.count(where={"text": {"$contains": "fox"}})  # the text's column is built, saved
    raw_metadata = sum(len(msgpack.packb(m, use_bin_type=True)) for m in metadata)
    raw = vectors.nbytes + raw_metadata + sum(len(f"c{i}") for i in range(2_000))
    return {"raw_bytes": raw, "raw_vectors": vectors.nbytes, "raw_metadata": raw_metadata}


def hnsw_case(root: Path, rows: int, work: Path) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((rows, 128)).astype(np.float32)
    with vectordb.open(root) as db:
        items = db.create_collection("items", dim=128, index="hnsw")
        for start in range(0, rows, 10_000):
            items.add(vectors[start:start + 10_000])
        items.wait_indexed()
    reference = hnswlib.Index(space="cosine", dim=128)
    reference.init_index(max_elements=rows, M=16, ef_construction=200)
    reference.add_items(vectors, np.arange(rows))
    reference.save_index(str(work / "hnswlib.bin"))
    return {"raw_bytes": vectors.nbytes, "hnswlib_file": (work / "hnswlib.bin").stat().st_size}


def summary(files: dict[str, int]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for name, size in files.items():
        kinds[kind_of(name)] = kinds.get(kind_of(name), 0) + size
    return kinds


def table(title: str, case: dict[str, Any]) -> str:
    lines = [f"### {title}", "", "| what | bytes | share |", "| --- | ---: | ---: |"]
    total = case["total_bytes"]
    for kind, size in sorted(case["by_kind"].items(), key=lambda item: -item[1]):
        lines.append(f"| {kind} | {size:,} | {size / total:.1%} |")
    lines.append(f"| **total** | **{total:,}** | |")
    lines.append("")
    lines.append(f"raw data: {case['raw_bytes']:,} bytes; total / raw = "
                 f"{total / case['raw_bytes']:.2f}x")  # fmt: skip
    if "hnswlib_file" in case:
        lines.append(f"; hnswlib's own saved index for the same vectors: "
                     f"{case['hnswlib_file']:,} bytes (total / it = "
                     f"{total / case['hnswlib_file']:.2f}x)")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hnsw-rows", type=int, default=100_000)
    args = parser.parse_args()
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as work:
        base = Path(work)
        for name, build in (
            ("flat 2,000 x 256, ~1 KB text each", lambda root: flat_case(root)),
            (f"HNSW {args.hnsw_rows:,} x 128", lambda root: hnsw_case(root, args.hnsw_rows, base)),
        ):
            root = base / name.split()[0]
            case = build(root)
            files = files_of(root)
            case.update(files=files, by_kind=summary(files), total_bytes=sum(files.values()))
            found[name] = case
            print(table(name, case), end="\n\n")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
