"""Quantized flat and IVF collections: codec error bounds, kernels against the numpy reference,
recall after exact re-scoring, memory saved, persistence and deletes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vectordb
from tests.index.data import clustered, recall_at_10
from vectordb.config import Metric
from vectordb.index.background import SearchKnobs
from vectordb.index.ivf import CellLists
from vectordb.index.quantization import make_codec

KINDS = ["float16", "int8", "int4", "binary", "pq"]


def _trained(kind: str, sample: np.ndarray) -> object:
    dim = sample.shape[1]
    codec = make_codec(kind, dim, dim // 4 if kind == "pq" else None)
    codec.train(sample)
    return codec


def test_reconstruction_error_is_bounded(rng: np.random.Generator) -> None:
    data = clustered(rng, 4000, 32)
    train, test = data[:3000], data[3000:]
    variance = float(((test - test.mean(axis=0)) ** 2).sum(axis=1).mean())
    errors = {}
    for kind in KINDS:
        codec = _trained(kind, train)
        decoded = codec.decode(codec.encode(test))  # type: ignore[attr-defined]
        assert decoded.shape == test.shape and decoded.dtype == np.float32
        errors[kind] = float(((decoded - test) ** 2).sum(axis=1).mean())
        if kind in ("int8", "int4"):
            # inside the trained range, each coordinate is off by at most half a step
            inside = (test >= codec.lo) & (test <= codec.lo + codec.scale * codec.levels)  # type: ignore[attr-defined]
            step = np.broadcast_to(codec.scale, test.shape)  # type: ignore[attr-defined]
            assert np.all(np.abs(decoded - test)[inside] <= step[inside] / 2 + 1e-5)
        if kind == "float16":
            assert np.all(np.abs(decoded - test) <= np.abs(test) * 2.0**-11 + 1e-7)
    # every codec beats predicting the mean; finer codes are closer
    for kind, error in errors.items():
        assert error < variance, (kind, error, variance)
    assert errors["float16"] < errors["int8"] < errors["int4"] < errors["binary"]
    assert errors["pq"] < 0.5 * variance


@pytest.mark.parametrize("metric", list(Metric))
@pytest.mark.parametrize("kind", [None, *KINDS])
def test_numba_kernels_rank_like_the_numpy_reference(
    rng: np.random.Generator, kind: str | None, metric: Metric
) -> None:
    """Every entry's rank from the numba scan equals the numpy reference's (float32 rounding
    aside), in IVF cells and in a flat scan, for small batches (per-query kernels) and large
    ones (BLAS over decoded blocks / cells for the linear codecs, threads for the others)."""
    data = rng.standard_normal((1500, 20)).astype(np.float32)
    for n_queries in (5, 17):
        queries = rng.standard_normal((n_queries, 20)).astype(np.float32)
        _compare_modes(data, queries, kind, metric)


def _compare_modes(data: np.ndarray, queries: np.ndarray, kind: str | None, metric: Metric) -> None:
    quantization = (
        None if kind is None else vectordb.QuantizationConfig(kind, m=5 if kind == "pq" else None)
    )
    for ivf in (None, vectordb.IvfConfig(nlist=6)):
        lists = CellLists.train(20, metric, quantization, ivf, data, len(data), threads=2)
        rows = np.arange(len(data), dtype=np.int64) * 3  # rows need not be dense
        lists.add(rows, data)
        lists.remove(rows[::7])
        everything = len(data)
        nprobe = 6 if ivf else None
        numba_rows, numba_ranks = lists.search(
            queries, everything, SearchKnobs(nprobe=nprobe, mode="numba")
        )
        numpy_rows, numpy_ranks = lists.search(
            queries, everything, SearchKnobs(nprobe=nprobe, mode="numpy")
        )
        for q in range(len(queries)):
            got = dict(zip(numba_rows[q].tolist(), numba_ranks[q].tolist()))
            want = dict(zip(numpy_rows[q].tolist(), numpy_ranks[q].tolist()))
            got.pop(np.iinfo(np.int64).max, None)
            want.pop(np.iinfo(np.int64).max, None)
            assert set(got) == set(want) == set(rows.tolist()) - set(rows[::7].tolist())
            keys = sorted(want)
            np.testing.assert_allclose(
                [got[r] for r in keys], [want[r] for r in keys], rtol=1e-4, atol=1e-3
            )


@pytest.mark.parametrize("kind", KINDS)
def test_quantized_flat_search_agrees_across_modes_and_scalar_is_exact(
    tmp_path: Path, rng: np.random.Generator, kind: str
) -> None:
    points = clustered(rng, 3030, 64)
    data, queries = points[:3000], points[3000:]
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection(
            "c", dim=64, metric="euclidean", quantization={"kind": kind, "rescore": 50}
        )
        collection.add(data)
        assert collection.wait_indexed(timeout=60)
        info = collection.stats().index_info
        assert info is not None and info["quantization"] == kind and info["indexed"] == 3000
        exact = collection.search_batch(queries, k=5, exact=True)
        scalar = collection.search_batch(queries, k=5, mode="scalar")
        assert [[h.id for h in hits] for hits in scalar] == [[h.id for h in hits] for hits in exact]
        np.testing.assert_allclose(
            [[h.score for h in hits] for hits in scalar],
            [[h.score for h in hits] for hits in exact],
            rtol=1e-12,
        )
        by_numpy = collection.search_batch(queries, k=5, mode="numpy")
        by_numba = collection.search_batch(queries, k=5, mode="numba")
        assert by_numba == by_numpy
        # with 250 candidates re-scored per 5 hits, every codec finds most of the true top 5
        # (binary codes, one bit per dimension, are the coarsest)
        found = sum(len({h.id for h in a} & {h.id for h in b}) for a, b in zip(exact, by_numba))
        assert found >= (0.8 if kind == "binary" else 0.95) * 5 * len(queries)


def test_int8_flat_recall_after_rescoring(tmp_path: Path, rng: np.random.Generator) -> None:
    points = clustered(rng, 20_100, 64)
    data, queries = points[:20_000], points[20_000:]
    with vectordb.open(tmp_path / "db", config={"durability": "normal"}) as db:
        for metric in ("cosine", "euclidean"):
            collection = db.create_collection(metric, dim=64, metric=metric, quantization="int8")
            collection.add(data)
            assert collection.wait_indexed(timeout=120)
            assert recall_at_10(collection, queries) >= 0.98
            info = collection.stats().index_info
            assert info is not None
            assert info["vector_memory_bytes"] == 20_000 * 64
            assert info["memory_saved_bytes"] == 20_000 * 64 * 3 and info["compression"] == 4.0


def test_ivf_pq_saves_8x_memory_and_keeps_recall(tmp_path: Path, rng: np.random.Generator) -> None:
    points = clustered(rng, 20_100, 128)
    data, queries = points[:20_000], points[20_000:]
    with vectordb.open(tmp_path / "db", config={"durability": "normal"}) as db:
        collection = db.create_collection("c", dim=128, index="ivf", quantization="pq")
        collection.add(data)
        assert collection.wait_indexed(timeout=300)
        info = collection.stats().index_info
        assert info is not None and info["quantization"] == "pq"
        assert info["compression"] >= 8 and info["code_bytes_per_vector"] == 32
        assert recall_at_10(collection, queries) >= 0.9


@pytest.mark.parametrize("kind", KINDS)
def test_quantized_indexes_survive_reopen_and_never_return_deleted_ids(
    tmp_path: Path, rng: np.random.Generator, kind: str
) -> None:
    path = tmp_path / "db"
    data = rng.standard_normal((1200, 16)).astype(np.float32)
    ids = [str(i) for i in range(1200)]
    queries = rng.standard_normal((10, 16)).astype(np.float32)
    with vectordb.open(path) as db:
        flat = db.create_collection("flat", dim=16, quantization=kind)
        cells = db.create_collection(
            "cells", dim=16, index="ivf", quantization=kind, ivf={"nlist": 8, "nprobe": 8}
        )
        answers = {}
        for collection in (flat, cells):
            collection.add(data, ids=ids)
            assert collection.wait_indexed(timeout=60)
            collection.delete(ids[:100])
            for query in data[:100]:
                assert not {h.id for h in collection.search(query, k=10)} & set(ids[:100])
            answers[collection.name] = collection.search_batch(queries, k=5)
    with vectordb.open(path) as db:
        for name in ("flat", "cells"):
            collection = db.get_collection(name)
            info = collection.stats().index_info
            assert info is not None and info["fallback"] is None and info["pending"] == 0
            assert info["indexed"] == 1100 and info["quantization"] == kind
            assert collection.search_batch(queries, k=5) == answers[name]


def test_quantized_flat_with_few_rows_answers_exactly(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    data = rng.standard_normal((20, 8)).astype(np.float32)
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=8, quantization="pq")
        collection.add(data)
        assert collection.wait_indexed(timeout=10)
        info = collection.stats().index_info
        assert info is not None and info["indexed"] == 0 and info["pending"] == 20
        assert collection.search_batch(data, k=3) == collection.search_batch(data, k=3, exact=True)


def test_quantization_config_is_checked(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        with pytest.raises(vectordb.InvalidConfigError, match="m is a PQ parameter"):
            db.create_collection("a", dim=8, quantization={"kind": "int8", "m": 2})
        with pytest.raises(vectordb.InvalidConfigError, match="rescore must be"):
            db.create_collection("a", dim=8, quantization={"kind": "int8", "rescore": 0})
        with pytest.raises(vectordb.InvalidConfigError, match="with a 'kind'"):
            db.create_collection("a", dim=8, quantization={"rescore": 3})
        with pytest.raises(vectordb.InvalidConfigError, match="unknown quantization config"):
            db.create_collection("a", dim=8, quantization={"kind": "pq", "bits": 3})
        collection = db.create_collection("ok", dim=8, quantization="PQ")
        assert collection.config.to_dict()["quantization"] == {
            "kind": "pq",
            "m": None,
            "rescore": None,
        }
        assert vectordb.QuantizationConfig("pq").pq_m(384) == 96
        assert vectordb.QuantizationConfig("pq").pq_m(30) == 6
