"""The numba XXH3-64 kernels against the xxhash binding: every input length and path, rows of
float32 matrices, and ``verify_rows`` finding damage, skipping unknown checksums."""

from __future__ import annotations

import numpy as np
import pytest
import xxhash

from vectordb.storage import checksum_kernels

MAX_LENGTH = 2100
# around every path boundary of XXH3 (16, 128, 240; stripes of 64, blocks of 1024) and the
# largest row (dim 65536)
EDGE_LENGTHS = [
    *range(1020, 1030), 2047, 2048, 2049, 3071, 3072, 3073, 4095, 4096, 4097, 10_000,
    65_536, 262_143, 262_144,
]  # fmt: skip


def _reference(data: np.ndarray) -> int:
    return int(xxhash.xxh3_64_intdigest(data.tobytes()))


def _patterns(rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    return {
        "random": rng.integers(0, 256, size, dtype=np.uint8),
        "zeros": np.zeros(size, np.uint8),
        "ones": np.full(size, 0xFF, np.uint8),
    }


@pytest.mark.parametrize("start", [0, 1, 3, 7])
def test_every_length_matches_xxhash(rng: np.random.Generator, start: int) -> None:
    for name, buffer in _patterns(rng, start + MAX_LENGTH).items():
        for length in range(MAX_LENGTH + 1):
            data = buffer[start : start + length]
            got = int(checksum_kernels.xxh3_64(data))
            assert got == _reference(data), f"{name} bytes, length {length}, start {start}"


def test_long_lengths_match_xxhash(rng: np.random.Generator) -> None:
    for name, buffer in _patterns(rng, max(EDGE_LENGTHS)).items():
        for length in EDGE_LENGTHS:
            data = buffer[:length]
            assert int(checksum_kernels.xxh3_64(data)) == _reference(data), (name, length)


def test_rows_of_float32_matrices_match_xxhash(rng: np.random.Generator) -> None:
    for dim in range(1, 601):
        vectors = rng.standard_normal((3, dim)).astype(np.float32)
        # special values are bytes like any other
        vectors[2, dim // 2] = np.inf
        vectors[2, 0] = np.nan
        vectors[2, -1] = -0.0
        raw = vectors.view(np.uint8)
        got = checksum_kernels.row_checksums(raw, np.array([2, 0, 1], np.int64))
        assert got.dtype == np.uint64
        want = [xxhash.xxh3_64_intdigest(vectors[row]) for row in (2, 0, 1)]
        assert got.tolist() == want, f"dim {dim}"


def test_row_checksums_of_any_rows(rng: np.random.Generator) -> None:
    vectors = rng.standard_normal((50, 128)).astype(np.float32)
    raw = vectors.view(np.uint8)
    rows = rng.integers(0, 50, 200).astype(np.int64)  # repeats and any order
    got = checksum_kernels.row_checksums(raw, rows)
    assert got.tolist() == [xxhash.xxh3_64_intdigest(vectors[row]) for row in rows]
    assert checksum_kernels.row_checksums(raw, np.zeros(0, np.int64)).shape == (0,)


def test_read_only_rows(rng: np.random.Generator) -> None:
    vectors = rng.standard_normal((4, 768)).astype(np.float32)
    vectors.flags.writeable = False
    raw = vectors.view(np.uint8)
    rows = np.arange(4, dtype=np.int64)
    expected = checksum_kernels.row_checksums(raw, rows)
    assert expected.tolist() == [xxhash.xxh3_64_intdigest(row) for row in vectors]
    assert checksum_kernels.verify_rows(raw, rows, expected, np.ones(4, np.bool_)) == -1


def _stored(
    rng: np.random.Generator, capacity: int, dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = rng.standard_normal((capacity, dim)).astype(np.float32)
    raw = vectors.view(np.uint8)
    expected = np.array([xxhash.xxh3_64_intdigest(row) for row in vectors], np.uint64)
    return raw, expected, np.ones(capacity, np.bool_)


@pytest.mark.parametrize("dim", [1, 3, 4, 60, 128, 300, 768])
def test_verify_rows_finds_a_flipped_bit_in_any_row(rng: np.random.Generator, dim: int) -> None:
    capacity = 40
    raw, expected, known = _stored(rng, capacity, dim)
    rows = rng.permutation(capacity).astype(np.int64)[:25]
    assert checksum_kernels.verify_rows(raw, rows, expected, known) == -1
    for position, row in enumerate(rows.tolist()):
        byte = int(rng.integers(raw.shape[1]))
        bit = np.uint8(1 << int(rng.integers(8)))
        raw[row, byte] ^= bit
        assert checksum_kernels.verify_rows(raw, rows, expected, known) == position
        raw[row, byte] ^= bit
    assert checksum_kernels.verify_rows(raw, rows, expected, known) == -1


def test_verify_rows_reports_the_first_damaged_position(rng: np.random.Generator) -> None:
    raw, expected, known = _stored(rng, 10, 128)
    rows = np.array([4, 7, 1, 9], np.int64)
    raw[9, 0] ^= 1
    raw[1, 511] ^= 0x80
    assert checksum_kernels.verify_rows(raw, rows, expected, known) == 2
    assert checksum_kernels.verify_rows(raw, rows[:2], expected, known) == -1


def test_verify_rows_ignores_rows_whose_checksum_is_not_known(rng: np.random.Generator) -> None:
    raw, expected, known = _stored(rng, 10, 128)
    rows = np.arange(10, dtype=np.int64)
    raw[3, 17] ^= 4
    expected[6] = 12345  # never checked, like a row written after the last checkpoint
    known[3] = False
    known[6] = False
    assert checksum_kernels.verify_rows(raw, rows, expected, known) == -1
    known[6] = True
    assert checksum_kernels.verify_rows(raw, rows, expected, known) == 6
    assert checksum_kernels.verify_rows(raw, np.zeros(0, np.int64), expected, known) == -1


def test_rows_out_of_range_raise(rng: np.random.Generator) -> None:
    raw, expected, known = _stored(rng, 4, 8)
    for rows in ([4], [-1], [0, 9]):
        array = np.array(rows, np.int64)
        with pytest.raises(IndexError):
            checksum_kernels.row_checksums(raw, array)
        with pytest.raises(IndexError):
            checksum_kernels.verify_rows(raw, array, expected, known)
    with pytest.raises(IndexError):  # expected shorter than the capacity
        checksum_kernels.verify_rows(raw, np.array([3], np.int64), expected[:3], known)


def test_layout_is_checked(rng: np.random.Generator) -> None:
    raw, expected, known = _stored(rng, 4, 8)
    rows = np.arange(2, dtype=np.int64)
    with pytest.raises(ValueError):
        checksum_kernels.row_checksums(raw[::2], rows)
    with pytest.raises(ValueError):
        checksum_kernels.verify_rows(raw[:, ::2], rows, expected, known)
    with pytest.raises(ValueError):
        checksum_kernels.xxh3_64(raw[0, ::2])


def test_warm_up() -> None:
    checksum_kernels.warm_up()
