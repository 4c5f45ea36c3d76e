"""Exact search: every selection path agrees with the scalar reference."""

from __future__ import annotations

import numpy as np
import pytest

from vectordb.config import Metric
from vectordb.index import flat, jit


def _data(
    rng: np.random.Generator, n: int, dim: int, dead_share: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    live = rng.random(n) >= dead_share
    sq_norms = np.einsum("ij,ij->i", vectors, vectors).astype(np.float32)
    return vectors, live, sq_norms


@pytest.mark.parametrize("metric", list(Metric))
@pytest.mark.parametrize("mode", ["numpy", "numba"])
@pytest.mark.parametrize(
    ("n", "n_queries", "k"), [(1, 1, 1), (50, 3, 100), (3000, 5, 10), (5000, 70, 7)]
)
def test_modes_agree_with_scalar(
    rng: np.random.Generator, metric: Metric, mode: str, n: int, n_queries: int, k: int
) -> None:
    vectors, live, sq_norms = _data(rng, n, 12)
    live[0] = True
    queries = rng.standard_normal((n_queries, 12)).astype(np.float32)
    rows, scores = flat.exact_search(vectors, live, sq_norms, queries, k, metric, mode=mode)  # type: ignore[arg-type]
    ref_rows, ref_scores = flat.exact_search(
        vectors, live, sq_norms, queries, k, metric, mode="scalar"
    )
    assert rows.shape == ref_rows.shape == (n_queries, min(k, int(live.sum())))
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-9, atol=1e-9)
    assert live[rows].all()


def test_block_boundaries_and_many_queries(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flat, "_BLOCK_ELEMENTS", 2048)  # many small blocks
    vectors, live, sq_norms = _data(rng, 4099, 8, dead_share=0.5)
    queries = rng.standard_normal((130, 8)).astype(np.float32)
    expected = flat.exact_search(vectors, live, sq_norms, queries, 9, Metric.DOT, mode="scalar")
    for mode in ("numpy", "numba"):
        rows, _ = flat.exact_search(vectors, live, sq_norms, queries, 9, Metric.DOT, mode=mode)  # type: ignore[arg-type]
        np.testing.assert_array_equal(rows, expected[0])


def test_ties_rank_smaller_row_first(rng: np.random.Generator) -> None:
    vectors = np.ones((40, 4), np.float32)
    live = np.ones(40, np.bool_)
    live[[0, 5]] = False
    sq_norms = np.full(40, 4.0, np.float32)
    query = np.ones((1, 4), np.float32)
    for mode in ("numpy", "numba", "scalar"):
        rows, _ = flat.exact_search(vectors, live, sq_norms, query, 5, Metric.DOT, mode=mode)  # type: ignore[arg-type]
        assert rows[0].tolist() == [1, 2, 3, 4, 6], mode


def test_no_live_rows(rng: np.random.Generator) -> None:
    vectors, live, sq_norms = _data(rng, 10, 3)
    live[:] = False
    rows, scores = flat.exact_search(
        vectors, live, sq_norms, np.ones((2, 3), np.float32), 4, Metric.EUCLIDEAN
    )
    assert rows.shape == scores.shape == (2, 0)


def test_euclidean_scores_are_exact_for_near_duplicates() -> None:
    base = np.full((1, 64), 1000.0, np.float32)
    vectors = np.repeat(base, 3, axis=0)
    vectors[1, 0] += 0.001
    vectors[2, 0] += 0.002
    sq_norms = np.einsum("ij,ij->i", vectors, vectors).astype(np.float32)
    live = np.ones(3, np.bool_)
    for mode in ("numpy", "numba"):
        rows, scores = flat.exact_search(
            vectors, live, sq_norms, base, 3, Metric.EUCLIDEAN, mode=mode
        )  # type: ignore[arg-type]
        assert rows[0].tolist() == [0, 1, 2]
        exact = np.linalg.norm(vectors.astype(np.float64) - base.astype(np.float64), axis=1)
        np.testing.assert_allclose(scores[0], exact, rtol=1e-12)


def test_auto_mode_serves_numpy_until_kernels_load(rng: np.random.Generator) -> None:
    vectors, live, sq_norms = _data(rng, 100, 4)
    query = rng.standard_normal((1, 4)).astype(np.float32)
    auto = flat.exact_search(vectors, live, sq_norms, query, 5, Metric.COSINE, mode="auto")
    jit.load_kernels()
    assert jit.kernels_ready()
    again = flat.exact_search(vectors, live, sq_norms, query, 5, Metric.COSINE, mode="auto")
    np.testing.assert_array_equal(auto[0], again[0])


@pytest.mark.parametrize("metric", list(Metric))
@pytest.mark.parametrize("mode", ["numpy", "numba"])
@pytest.mark.parametrize(
    ("n", "allowed_share", "n_queries", "k"),
    [(1, 1.0, 1, 3), (3000, 0.01, 1, 10), (3000, 0.1, 40, 10), (5000, 0.5, 3, 200),
     (5000, 0.02, 600, 5)],
)  # fmt: skip
def test_subset_search_equals_the_masked_exact_search(
    rng: np.random.Generator,
    metric: Metric,
    mode: str,
    n: int,
    allowed_share: float,
    n_queries: int,
    k: int,
) -> None:
    """Every route of subset_search (the compiled float64 pass, the numpy re-score, the
    gathered scan, the masked scan) ranks like the scalar reference over the same rows,
    duplicate vectors (ties: smaller row first) and zero vectors included."""
    vectors, _live, sq_norms = _data(rng, n, 12)
    if n > 10:
        vectors[7] = vectors[3]  # an exact tie
        vectors[9] = 0.0
        sq_norms[9] = 0.0
    mask = rng.random(n) < allowed_share
    mask[[0, 3, 7, 9][:n]] = True
    rows = np.flatnonzero(mask).astype(np.int64)
    queries = rng.standard_normal((n_queries, 12)).astype(np.float32)
    if n > 10:
        queries[0] = vectors[3]
    got_rows, got_scores = flat.subset_search(vectors, sq_norms, mask, rows, queries, k,
                                              metric, mode=mode)  # type: ignore[arg-type]  # fmt: skip
    ref_rows, ref_scores = flat.exact_search(vectors, mask, sq_norms, queries, k, metric,
                                             mode="scalar")  # fmt: skip
    np.testing.assert_array_equal(got_rows, ref_rows)
    np.testing.assert_allclose(got_scores, ref_scores, rtol=1e-9, atol=1e-9)


def test_subset_search_on_read_only_vectors(rng: np.random.Generator) -> None:
    vectors, _live, sq_norms = _data(rng, 200, 8)
    vectors.flags.writeable = False  # a read-only handle's mapping
    mask = np.zeros(200, np.bool_)
    mask[::7] = True
    rows = np.flatnonzero(mask)
    query = rng.standard_normal((1, 8)).astype(np.float32)
    got = flat.subset_search(vectors, sq_norms, mask, rows, query, 4, Metric.EUCLIDEAN,
                             mode="numba")  # fmt: skip
    ref = flat.exact_search(vectors, mask, sq_norms, query, 4, Metric.EUCLIDEAN, mode="scalar")
    np.testing.assert_array_equal(got[0], ref[0])
