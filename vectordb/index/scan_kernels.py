"""numba kernels for IVF and quantized scans, and the k-means update. Pure functions, no I/O.

Like ``kernels.py`` this module imports numba, so it is loaded lazily (``jit.load_scan_kernels``).

Every scan walks, for each query ``q`` in ``[first, last)``, the entry ranges
``[starts[q, p], starts[q, p] + sizes[q, p])`` of the arena (one range per probed IVF list;
one range for a flat scan) and keeps the best ``k`` (rank, row) pairs in the min-heaps
``heap_ranks[q]`` / ``heap_rows[q]`` (see ``kernels._sift_down``). Ranks are "larger is better":

- ``scan_linear``: ``a * (w . code + offset) + bias[entry]`` with float32 or uint8 codes (plain
  vectors, or int8 scalar codes ``v = lo + scale * code`` with ``w = q * scale``,
  ``offset = q . lo``); euclidean uses ``a = 2`` and ``bias = -|v|^2``.
- ``scan_half``: the same with IEEE half-precision codes (uint16), widened in the kernel.
- ``scan_int4``: two 4-bit codes per byte, low nibble first.
- ``scan_pq``: ``sum_j table[q, j, code[j]]`` (asymmetric distance computation).
- ``scan_binary``: ``-popcount(code xor query_bits)`` over uint64 words.

A rank that is NaN counts as -inf, the worst: like every rank it still takes its place in a
heap while fewer than ``k`` better entries exist (see ``kernels.py``).
"""

from __future__ import annotations

import numba
import numpy as np

from vectordb.index.kernels import _sift_down

__all__ = [
    "kmeans_update",
    "merge_cell_ranks",
    "remove_entries",
    "scan_binary",
    "scan_int4",
    "scan_linear",
    "scan_pq",
    "scan_half",
]


_BLOCK = 256  # entries ranked into a buffer before the heap sees them
# fast math without "nnan" / "ninf": the heaps hold -inf, and a rank may be +-inf or NaN
# (a database written by an older version may hold vectors whose ranks overflow float32),
# which the heap code must see as they are; "reassoc" is what vectorizes the sums
_FAST = {"reassoc", "contract", "nsz", "arcp"}
_WORST = np.float32(-np.inf)  # what a NaN rank counts as (a float32 constant to numba)


@numba.njit(cache=True, nogil=True, inline="always")
def _merge(buffer, count, block, rows, heap_ranks, heap_rows, k):
    """Offer ``buffer[:count]`` (the ranks of entries ``block ..``) to the heap. Ranking a
    block first keeps the dot-product loop free of branches, so LLVM vectorizes it."""
    threshold = heap_ranks[0]
    for i in range(count):
        rank = buffer[i]
        if rank < threshold:  # most ranks: one comparison (NaN fails it too)
            continue
        if rank != rank:
            rank = _WORST
        row = rows[block + i]
        if rank > heap_ranks[0] or (rank == heap_ranks[0] and row < heap_rows[0]):
            heap_ranks[0] = rank
            heap_rows[0] = row
            _sift_down(heap_ranks, heap_rows, k)
            threshold = heap_ranks[0]


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def scan_linear(
    codes, weights, offsets, a, bias, rows, starts, sizes, heap_ranks, heap_rows, first, last
):
    k = heap_ranks.shape[1]
    width = codes.shape[1]
    buffer = np.empty(_BLOCK, np.float32)
    for q in range(first, last):
        w = weights[q]
        offset = offsets[q]
        for p in range(starts.shape[1]):
            start = starts[q, p]
            stop = start + sizes[q, p]
            for block in range(start, stop, _BLOCK):
                count = min(_BLOCK, stop - block)
                for i in range(count):
                    entry = block + i
                    total = np.float32(0.0)
                    for d in range(width):
                        total += w[d] * np.float32(codes[entry, d])
                    buffer[i] = a * (total + offset) + bias[entry]
                _merge(buffer, count, block, rows, heap_ranks[q], heap_rows[q], k)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def scan_half(
    codes, weights, offsets, a, bias, rows, starts, sizes, heap_ranks, heap_rows, first, last
):
    """``scan_linear`` over IEEE half-precision codes (uint16), widened to float32 with integer
    operations (numba has no float16): sign, exponent rebiased by 112, mantissa shifted;
    half subnormals (below 6.1e-5 in magnitude) read as zero, which only ever moves a rank by
    less than that times the query's norm - the candidates are re-scored exactly anyway."""
    k = heap_ranks.shape[1]
    width = codes.shape[1]
    buffer = np.empty(_BLOCK, np.float32)
    bits = np.empty(width, np.uint32)
    values = bits.view(np.float32)
    for q in range(first, last):
        w = weights[q]
        offset = offsets[q]
        for p in range(starts.shape[1]):
            start = starts[q, p]
            stop = start + sizes[q, p]
            for block in range(start, stop, _BLOCK):
                count = min(_BLOCK, stop - block)
                for i in range(count):
                    entry = block + i
                    for d in range(width):
                        half = np.uint32(codes[entry, d])
                        normal = np.uint32(1) if (half & np.uint32(0x7C00)) != 0 else np.uint32(0)
                        sign = (half & np.uint32(0x8000)) << np.uint32(16)
                        body = ((half & np.uint32(0x7FFF)) + np.uint32(0x1C000)) << np.uint32(13)
                        bits[d] = sign | (body * normal)
                    total = np.float32(0.0)
                    for d in range(width):
                        total += w[d] * values[d]
                    buffer[i] = a * (total + offset) + bias[entry]
                _merge(buffer, count, block, rows, heap_ranks[q], heap_rows[q], k)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def scan_int4(
    codes, low_weights, high_weights, offsets, a, bias, rows, starts, sizes, heap_ranks,
    heap_rows, first, last,
):  # fmt: skip
    k = heap_ranks.shape[1]
    width = codes.shape[1]
    buffer = np.empty(_BLOCK, np.float32)
    for q in range(first, last):
        low = low_weights[q]
        high = high_weights[q]
        offset = offsets[q]
        for p in range(starts.shape[1]):
            start = starts[q, p]
            stop = start + sizes[q, p]
            for block in range(start, stop, _BLOCK):
                count = min(_BLOCK, stop - block)
                for i in range(count):
                    entry = block + i
                    total = np.float32(0.0)
                    for j in range(width):
                        byte = codes[entry, j]
                        total += low[j] * np.float32(byte & 15) + high[j] * np.float32(byte >> 4)
                    buffer[i] = a * (total + offset) + bias[entry]
                _merge(buffer, count, block, rows, heap_ranks[q], heap_rows[q], k)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def scan_pq(codes, tables, rows, starts, sizes, heap_ranks, heap_rows, first, last):
    k = heap_ranks.shape[1]
    m = codes.shape[1]
    buffer = np.empty(_BLOCK, np.float32)
    for q in range(first, last):
        table = tables[q]
        for p in range(starts.shape[1]):
            start = starts[q, p]
            stop = start + sizes[q, p]
            for block in range(start, stop, _BLOCK):
                count = min(_BLOCK, stop - block)
                for i in range(count):
                    entry = block + i
                    total = np.float32(0.0)
                    for j in range(m):
                        total += table[j, codes[entry, j]]
                    buffer[i] = total
                _merge(buffer, count, block, rows, heap_ranks[q], heap_rows[q], k)


@numba.njit(cache=True, nogil=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def scan_binary(codes, query_bits, rows, starts, sizes, heap_ranks, heap_rows, first, last):
    k = heap_ranks.shape[1]
    words = codes.shape[1]
    buffer = np.empty(_BLOCK, np.float32)
    for q in range(first, last):
        bits = query_bits[q]
        for p in range(starts.shape[1]):
            start = starts[q, p]
            stop = start + sizes[q, p]
            for block in range(start, stop, _BLOCK):
                count = min(_BLOCK, stop - block)
                for i in range(count):
                    entry = block + i
                    distance = np.uint64(0)
                    for j in range(words):
                        distance += _popcount(codes[entry, j] ^ bits[j])
                    buffer[i] = -np.float32(distance)
                _merge(buffer, count, block, rows, heap_ranks[q], heap_rows[q], k)


@numba.njit(cache=True, nogil=True)
def merge_cell_ranks(raw, queries, a, bias, first_entry, heap_ranks, heap_entries):
    """Offer ``a * raw[i, j] + bias[j]`` as the rank of entry ``first_entry + j`` to the heap
    of query ``queries[i]`` (a batch ranked one IVF cell at a time, by BLAS)."""
    k = heap_ranks.shape[1]
    for i in range(raw.shape[0]):
        q = queries[i]
        ranks = heap_ranks[q]
        entries = heap_entries[q]
        line = raw[i]
        threshold = ranks[0]
        for j in range(raw.shape[1]):
            rank = a * line[j] + bias[j]
            if rank < threshold:  # most ranks: one comparison (NaN fails it too)
                continue
            if rank != rank:
                rank = _WORST
            entry = first_entry + j
            if rank > ranks[0] or (rank == ranks[0] and entry < entries[0]):
                ranks[0] = rank
                entries[0] = entry
                _sift_down(ranks, entries, k)
                threshold = ranks[0]


@numba.njit(cache=True, nogil=True)
def remove_entries(
    remove_rows, entry_of_row, list_of_row, list_start, list_size, codes, bias, rows
):
    """Swap-remove each row's entry with the last entry of its list."""
    for row in remove_rows:
        entry = entry_of_row[row]
        if entry < 0:
            continue
        cell = list_of_row[row]
        last = list_start[cell] + list_size[cell] - 1
        if entry != last:
            codes[entry] = codes[last]
            bias[entry] = bias[last]
            moved = rows[last]
            rows[entry] = moved
            entry_of_row[moved] = entry
        rows[last] = -1
        list_size[cell] -= 1
        entry_of_row[row] = -1
        list_of_row[row] = -1


@numba.njit(cache=True, nogil=True)
def kmeans_update(points, labels, k):
    """Per-cluster sums and counts of ``points`` by ``labels`` (float64 accumulators)."""
    dim = points.shape[1]
    sums = np.zeros((k, dim), np.float64)
    counts = np.zeros(k, np.int64)
    for i in range(points.shape[0]):
        cluster = labels[i]
        counts[cluster] += 1
        for d in range(dim):
            sums[cluster, d] += points[i, d]
    return sums, counts
