"""Lloyd's k-means: BLAS for the assignments, a numba kernel for the centroid sums.

Used to train IVF cells and PQ codebooks. Deterministic for a given seed (training a collection
twice on the same rows gives the same cells).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vectordb.index.jit import load_scan_kernels

__all__ = ["assign", "kmeans"]

_ASSIGN_BLOCK = 16_384


def assign(
    points: npt.NDArray[np.float32], centroids: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Nearest centroid (euclidean) of each point, and the squared distance to it."""
    half_norms = 0.5 * np.einsum("ij,ij->i", centroids, centroids)
    labels = np.empty(len(points), np.int64)
    distances = np.empty(len(points), np.float32)
    for start in range(0, len(points), _ASSIGN_BLOCK):
        block = points[start : start + _ASSIGN_BLOCK]
        # argmax of p.c - |c|^2 / 2 is the argmin of |p - c|^2. Vectors within the input
        # limit (vectordb.inputs.MAX_SQUARED_NORM) keep these finite; larger ones that an
        # older version accepted may overflow: their cells are then arbitrary, not an error
        with np.errstate(over="ignore", invalid="ignore"):
            scores = block @ centroids.T
            scores -= half_norms
            best = np.argmax(scores, axis=1)
            labels[start : start + len(block)] = best
            best_scores = np.take_along_axis(scores, best[:, None], axis=1)[:, 0]
            sq = np.einsum("ij,ij->i", block, block)
            distances[start : start + len(block)] = np.maximum(sq - 2.0 * best_scores, 0.0)
    return labels, distances


def kmeans(
    points: npt.NDArray[np.float32], k: int, *, iterations: int = 12, seed: int = 0
) -> npt.NDArray[np.float32]:
    """``k`` centroids of ``points`` (``k`` is capped at the number of distinct points)."""
    kernels = load_scan_kernels()
    points = np.ascontiguousarray(points, np.float32)
    n = len(points)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centroids: npt.NDArray[np.float32] = points[np.sort(rng.choice(n, k, replace=False))].copy()
    for _ in range(iterations):
        labels, _distances = assign(points, centroids)
        sums, counts = kernels.kmeans_update(points, labels, k)
        empty = counts == 0
        counts[empty] = 1
        updated = (sums / counts[:, None]).astype(np.float32)
        if empty.any():
            # an empty cell takes a random point: every centroid keeps some of the data
            updated[empty] = points[rng.choice(n, int(empty.sum()), replace=False)]
        moved = float(np.max(np.abs(updated - centroids)))
        centroids = updated
        if moved == 0.0:
            break
    return centroids
