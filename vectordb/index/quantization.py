"""Codecs: how an IVF or quantized flat index stores the vectors it scans.

A codec turns float32 vectors into fixed-width codes (``encode``), back into approximations
(``decode``), and ranks codes against queries (``scan`` with the numba kernels of
``scan_kernels.py``, ``rank_numpy`` without them; both give the same ranks up to float32
rounding). Ranks are "larger is better" and only order candidates: the index re-scores the best
ones exactly from the stored vectors. With ``l2`` the rank is ``-|q - v|^2`` up to a per-query
constant (``2 q.v - |v|^2`` for the linear codecs, whose per-entry ``bias`` holds ``-|v|^2``);
otherwise it is ``q.v``.

| kind      | code per vector          | decode                             |
|-----------|--------------------------|------------------------------------|
| float32   | dim float32              | itself                             |
| float16   | dim uint16 (IEEE half)   | the nearest float16                |
| int8      | dim uint8                | ``lo + scale * code``, per dim     |
| int4      | ceil(dim/2) uint8        | the same with 16 levels            |
| binary    | ceil(dim/64) uint64      | ``mean +- spread`` by the sign bit |
| pq        | m uint8                  | concatenated sub-space centroids   |

``state()`` / ``from_state()`` give and take the trained parameters as named numpy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.errors import CorruptionError

__all__ = ["Codec", "codec_class", "codec_from_state", "make_codec"]

F32 = npt.NDArray[np.float32]


class Codec:
    kind = "float32"
    needs_training = False
    #: the rank is ``a * q.decode(code) + bias``: a batch can be ranked by decoding blocks of
    #: codes and one BLAS product (binary and PQ rank otherwise)
    linear = True
    dtype: Any = np.float32

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.trained = not self.needs_training

    @property
    def width(self) -> int:
        return self.dim

    @property
    def code_bytes(self) -> int:
        return int(self.width * np.dtype(self.dtype).itemsize)

    def train(self, sample: F32) -> None:
        self.trained = True

    def encode(self, vectors: F32) -> Any:
        return np.ascontiguousarray(vectors, np.float32)

    def decode(self, codes: Any) -> F32:
        return np.asarray(codes, np.float32)

    def bias(self, codes: Any, l2: bool) -> F32:
        """Per-entry term of the rank: ``-|decode(code)|^2`` for euclidean, else zero."""
        if not l2:
            return np.zeros(len(codes), np.float32)
        decoded = self.decode(codes)
        result: F32 = -np.einsum("ij,ij->i", decoded, decoded).astype(np.float32)
        return result

    def _linear_args(self, queries: F32) -> tuple[F32, F32]:
        return np.ascontiguousarray(queries, np.float32), np.zeros(len(queries), np.float32)

    def scan(
        self, kernels: Any, codes: Any, bias: F32, rows: Any, queries: F32, l2: bool,
        starts: Any, sizes: Any, heap_ranks: Any, heap_rows: Any, first: int, last: int,
    ) -> None:  # fmt: skip
        weights, offsets = self._linear_args(queries)
        kernels.scan_linear(
            codes, weights, offsets, np.float32(2.0 if l2 else 1.0), bias, rows, starts, sizes,
            heap_ranks, heap_rows, first, last,
        )  # fmt: skip

    def rank_numpy(self, query: F32, codes: Any, bias: F32, l2: bool) -> F32:
        decoded = self.decode(codes)
        dots = decoded @ query
        return (2.0 * dots + bias) if l2 else dots

    def state(self) -> dict[str, npt.NDArray[Any]]:
        return {}

    def load_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        self.trained = True


class Float16Codec(Codec):
    kind = "float16"
    dtype = np.uint16
    _LARGEST = 65504.0  # the largest finite half: larger values are clipped, not inf

    def encode(self, vectors: F32) -> Any:
        clipped = np.clip(np.asarray(vectors, np.float32), -self._LARGEST, self._LARGEST)
        return np.ascontiguousarray(clipped.astype(np.float16).view(np.uint16))

    def decode(self, codes: Any) -> F32:
        return np.asarray(codes, np.uint16).view(np.float16).astype(np.float32)

    def scan(
        self, kernels: Any, codes: Any, bias: F32, rows: Any, queries: F32, l2: bool,
        starts: Any, sizes: Any, heap_ranks: Any, heap_rows: Any, first: int, last: int,
    ) -> None:  # fmt: skip
        weights, offsets = self._linear_args(queries)
        kernels.scan_half(
            codes, weights, offsets, np.float32(2.0 if l2 else 1.0), bias, rows, starts, sizes,
            heap_ranks, heap_rows, first, last,
        )  # fmt: skip


class ScalarCodec(Codec):
    """int8 / int4: each dimension's trained range in ``levels`` steps."""

    kind = "int8"
    needs_training = True
    dtype = np.uint8
    levels = 255

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.lo = np.zeros(dim, np.float32)
        self.scale = np.ones(dim, np.float32)

    def train(self, sample: F32) -> None:
        lo = sample.min(axis=0).astype(np.float64)
        hi = sample.max(axis=0).astype(np.float64)
        # a margin of 5% of the range: rows written later rarely fall outside and get clipped
        margin = 0.05 * (hi - lo)
        lo -= margin
        hi += margin
        spread = np.maximum(hi - lo, 1e-12)
        self.lo = lo.astype(np.float32)
        self.scale = (spread / self.levels).astype(np.float32)
        self.trained = True

    def _levels(self, vectors: F32) -> npt.NDArray[np.uint8]:
        scaled = (np.asarray(vectors, np.float32) - self.lo) / self.scale
        result: npt.NDArray[np.uint8] = np.clip(np.rint(scaled), 0, self.levels).astype(np.uint8)
        return result

    def encode(self, vectors: F32) -> Any:
        return np.ascontiguousarray(self._levels(vectors))

    def decode(self, codes: Any) -> F32:
        return (self.lo + self.scale * np.asarray(codes, np.float32)).astype(np.float32)

    def _linear_args(self, queries: F32) -> tuple[F32, F32]:
        weights = np.ascontiguousarray(queries * self.scale, np.float32)
        return weights, (queries @ self.lo).astype(np.float32)

    def state(self) -> dict[str, npt.NDArray[Any]]:
        return {"lo": self.lo, "scale": self.scale}

    def load_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        self.lo = _array(state, "lo", (self.dim,), np.float32)
        self.scale = _array(state, "scale", (self.dim,), np.float32)
        self.trained = True


class Int8Codec(ScalarCodec):
    kind = "int8"


class Int4Codec(ScalarCodec):
    kind = "int4"
    levels = 15

    @property
    def width(self) -> int:
        return (self.dim + 1) // 2

    def encode(self, vectors: F32) -> Any:
        levels = self._levels(vectors)
        if self.dim % 2:
            levels = np.concatenate([levels, np.zeros((len(levels), 1), np.uint8)], axis=1)
        return np.ascontiguousarray(levels[:, 0::2] | (levels[:, 1::2] << 4))

    def decode(self, codes: Any) -> F32:
        codes = np.asarray(codes, np.uint8)
        levels = np.empty((len(codes), 2 * codes.shape[1]), np.uint8)
        levels[:, 0::2] = codes & 15
        levels[:, 1::2] = codes >> 4
        return super().decode(levels[:, : self.dim])

    def scan(
        self, kernels: Any, codes: Any, bias: F32, rows: Any, queries: F32, l2: bool,
        starts: Any, sizes: Any, heap_ranks: Any, heap_rows: Any, first: int, last: int,
    ) -> None:  # fmt: skip
        weights = queries * self.scale
        if self.dim % 2:
            weights = np.concatenate([weights, np.zeros((len(weights), 1), np.float32)], axis=1)
        low = np.ascontiguousarray(weights[:, 0::2], np.float32)
        high = np.ascontiguousarray(weights[:, 1::2], np.float32)
        offsets = (queries @ self.lo).astype(np.float32)
        kernels.scan_int4(
            codes, low, high, offsets, np.float32(2.0 if l2 else 1.0), bias, rows, starts,
            sizes, heap_ranks, heap_rows, first, last,
        )  # fmt: skip


class BinaryCodec(Codec):
    """Sign bits around the trained mean; ranks by hamming distance (fewer differing bits
    first). Decodes to ``mean +- spread`` (spread: the mean absolute deviation per dim)."""

    kind = "binary"
    needs_training = True
    linear = False
    dtype = np.uint64

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.mean = np.zeros(dim, np.float32)
        self.spread = np.ones(dim, np.float32)

    @property
    def width(self) -> int:
        return (self.dim + 63) // 64

    def train(self, sample: F32) -> None:
        self.mean = sample.mean(axis=0).astype(np.float32)
        self.spread = np.abs(sample - self.mean).mean(axis=0).astype(np.float32)
        self.trained = True

    def encode(self, vectors: F32) -> Any:
        bits = np.asarray(vectors, np.float32) > self.mean
        padded = np.zeros((len(bits), self.width * 64), np.bool_)
        padded[:, : self.dim] = bits
        packed = np.packbits(padded, axis=1, bitorder="little")
        return np.ascontiguousarray(packed.view("<u8").astype(np.uint64))

    def decode(self, codes: Any) -> F32:
        as_bytes = np.ascontiguousarray(np.asarray(codes, np.uint64).astype("<u8")).view(np.uint8)
        bits = np.unpackbits(as_bytes, axis=1, bitorder="little")[:, : self.dim]
        return (self.mean + np.where(bits, self.spread, -self.spread)).astype(np.float32)

    def bias(self, codes: Any, l2: bool) -> F32:
        return np.zeros(len(codes), np.float32)

    def scan(
        self, kernels: Any, codes: Any, bias: F32, rows: Any, queries: F32, l2: bool,
        starts: Any, sizes: Any, heap_ranks: Any, heap_rows: Any, first: int, last: int,
    ) -> None:  # fmt: skip
        kernels.scan_binary(
            codes, self.encode(queries), rows, starts, sizes, heap_ranks, heap_rows, first, last
        )

    def rank_numpy(self, query: F32, codes: Any, bias: F32, l2: bool) -> F32:
        bits = self.encode(query[None, :])[0]
        differing = np.bitwise_xor(np.asarray(codes, np.uint64), bits)
        as_bytes = np.ascontiguousarray(differing.astype("<u8")).view(np.uint8)
        counts = np.unpackbits(as_bytes, axis=1).sum(axis=1)
        result: F32 = -counts.astype(np.float32)
        return result

    def state(self) -> dict[str, npt.NDArray[Any]]:
        return {"mean": self.mean, "spread": self.spread}

    def load_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        self.mean = _array(state, "mean", (self.dim,), np.float32)
        self.spread = _array(state, "spread", (self.dim,), np.float32)
        self.trained = True


class PqCodec(Codec):
    """Product quantization: ``m`` sub-spaces of ``dim / m`` dims, 256 k-means centroids each;
    ranks by asymmetric distance (query in float32 against the code's centroids)."""

    kind = "pq"
    needs_training = True
    linear = False
    dtype = np.uint8

    def __init__(self, dim: int, m: int) -> None:
        super().__init__(dim)
        self.m = m
        self.sub = dim // m
        self.codebooks = np.zeros((m, 256, self.sub), np.float32)

    @property
    def width(self) -> int:
        return self.m

    def train(self, sample: F32) -> None:
        from vectordb.index.kmeans import kmeans

        codebooks = np.zeros((self.m, 256, self.sub), np.float32)
        for j in range(self.m):
            part = np.ascontiguousarray(sample[:, j * self.sub : (j + 1) * self.sub])
            centroids = kmeans(part, 256, iterations=10, seed=j)
            codebooks[j, : len(centroids)] = centroids
            # fewer distinct points than 256: repeat the last centroid (never chosen twice)
            codebooks[j, len(centroids) :] = centroids[-1]
        self.codebooks = codebooks
        self.trained = True

    def encode(self, vectors: F32) -> Any:
        from vectordb.index.kmeans import assign

        vectors = np.asarray(vectors, np.float32)
        codes = np.empty((len(vectors), self.m), np.uint8)
        for j in range(self.m):
            part = np.ascontiguousarray(vectors[:, j * self.sub : (j + 1) * self.sub])
            labels, _ = assign(part, self.codebooks[j])
            codes[:, j] = labels
        return codes

    def decode(self, codes: Any) -> F32:
        codes = np.asarray(codes, np.intp)
        parts = [self.codebooks[j][codes[:, j]] for j in range(self.m)]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def bias(self, codes: Any, l2: bool) -> F32:
        return np.zeros(len(codes), np.float32)

    def tables(self, queries: F32, l2: bool) -> F32:
        """``(q, m, 256)``: each sub-query against each centroid of its sub-space."""
        split = queries.reshape(len(queries), self.m, self.sub)
        dots = np.einsum("qjd,jcd->qjc", split, self.codebooks)
        if not l2:
            return np.ascontiguousarray(dots, np.float32)
        centroid_sq = np.einsum("jcd,jcd->jc", self.codebooks, self.codebooks)
        query_sq = np.einsum("qjd,qjd->qj", split, split)
        return np.ascontiguousarray(2.0 * dots - centroid_sq - query_sq[:, :, None], np.float32)

    def scan(
        self, kernels: Any, codes: Any, bias: F32, rows: Any, queries: F32, l2: bool,
        starts: Any, sizes: Any, heap_ranks: Any, heap_rows: Any, first: int, last: int,
    ) -> None:  # fmt: skip
        tables = self.tables(queries, l2)
        kernels.scan_pq(codes, tables, rows, starts, sizes, heap_ranks, heap_rows, first, last)

    def rank_numpy(self, query: F32, codes: Any, bias: F32, l2: bool) -> F32:
        table = self.tables(query[None, :], l2)[0]
        codes = np.asarray(codes, np.intp)
        result: F32 = table[np.arange(self.m), codes].sum(axis=1).astype(np.float32)
        return result

    def state(self) -> dict[str, npt.NDArray[Any]]:
        return {"codebooks": self.codebooks}

    def load_state(self, state: dict[str, npt.NDArray[Any]]) -> None:
        self.codebooks = _array(state, "codebooks", (self.m, 256, self.sub), np.float32)
        self.trained = True


def codec_class(kind: str | None) -> type[Codec]:
    """The codec class for a quantization kind (None: full float32)."""
    if kind is None:
        return Codec
    return _CODECS[kind]


def make_codec(kind: str | None, dim: int, pq_m: int | None = None) -> Codec:
    if kind == "pq":
        assert pq_m is not None
        return PqCodec(dim, pq_m)
    return codec_class(kind)(dim)


def codec_from_state(
    kind: str, dim: int, pq_m: int | None, state: dict[str, npt.NDArray[Any]]
) -> Codec:
    codec = make_codec(kind, dim, pq_m)
    codec.load_state(state)
    return codec


_CODECS: dict[str, type[Codec]] = {
    "float32": Codec,
    "float16": Float16Codec,
    "int8": Int8Codec,
    "int4": Int4Codec,
    "binary": BinaryCodec,
    "pq": PqCodec,
}


def _array(state: dict[str, Any], key: str, shape: tuple[int, ...], dtype: Any) -> Any:
    value = state.get(key)
    if value is None or value.shape != shape or value.dtype != dtype:
        raise CorruptionError(
            f"quantizer parameter {key!r} is missing or has the wrong shape "
            f"({None if value is None else value.shape}, expected {shape})"
        )
    return np.ascontiguousarray(value)
