"""numba kernels: XXH3-64 row checksums (seed 0, default secret). Pure functions, no I/O.

Every row of the vector file has a checksum, ``xxhash.xxh3_64_intdigest(row_bytes)``. These
kernels compute the same 64-bit values without a Python call per row, so search results can be
verified on the hot path (``verify_rows``) and a checkpoint can checksum its new rows in one call
(``row_checksums``).

The hash follows the XXH3 specification (xxHash ``doc/xxhash_spec.md``) for seed 0 and the
default 192-byte secret, and is bit-identical to the reference for every input length: empty,
1-3, 4-8, 9-16, 17-128 and 129-240 bytes, and the long path (> 240 bytes: 64-byte stripes,
1024-byte blocks each ending in a scramble, a last stripe read from the final 64 bytes, then a
merge of the eight accumulators).

Invariants:

- Every operand is ``np.uint64``, module-level constants and shift counts included, because numba
  promotes a mixed int64/uint64 expression to float64 and loses bits; uint64 ``+`` and ``*`` wrap
  modulo 2**64 as the specification requires. The 64x64 -> 128-bit multiply goes through 32-bit
  halves (LLVM turns it into one ``mul``).
- Inputs are read by address: the hashing functions take an address, offset and length, not an
  array, so calling them costs no reference counting, and each 8- or 4-byte word is one
  unaligned little-endian load (``_read64``), which lets LLVM vectorise the stripe loop. Numba
  runs only on little-endian hosts. The kernels check every row index and the array layout
  before any load, since nothing checks bounds below that.
- The secret is precomputed at import into word tables that numba freezes into the code.

Importing this module imports numba (about half a second), so nothing imports it at
``import vectordb`` time: its caller imports it lazily and calls ``warm_up`` (compiles, or loads
from numba's cache, for writable and read-only rows). With ``NUMBA_DISABLE_JIT=1`` (the coverage
job) the same code runs as Python: loads go through ctypes and numpy's uint64 overflow warnings,
which are the intended wraparound, are silenced.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["row_checksums", "verify_rows", "warm_up", "xxh3_64"]

_DEFAULT_SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e"
    "2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e"
)
_SECRET_BYTES = len(_DEFAULT_SECRET)  # 192


def _secret_word(offset: int) -> int:
    return int.from_bytes(_DEFAULT_SECRET[offset : offset + 8], "little")


# _SECRET_AT[offset]: the little-endian word of the secret starting at byte ``offset`` (the
# 17-240 byte paths read it at offsets 0..119, some unaligned)
_SECRET_AT = np.array([_secret_word(o) for o in range(_SECRET_BYTES - 7)], dtype=np.uint64)
# the aligned words: stripe n, lane i reads word n + i; the scramble reads words 16..23
_SECRET_WORDS = np.array([_secret_word(8 * w) for w in range(_SECRET_BYTES // 8)], np.uint64)
# the last stripe reads eight words from byte 192 - 64 - 7 = 121, the final merge from byte 11
_LAST_STRIPE_KEYS = np.array([_secret_word(121 + 8 * i) for i in range(8)], dtype=np.uint64)
_MERGE_KEYS = np.array([_secret_word(11 + 8 * i) for i in range(8)], dtype=np.uint64)

# the short inputs read fixed secret words: fold them now
_EMPTY_KEY = np.uint64(_secret_word(56) ^ _secret_word(64))
_KEY_1TO3 = np.uint64(
    int.from_bytes(_DEFAULT_SECRET[0:4], "little") ^ int.from_bytes(_DEFAULT_SECRET[4:8], "little")
)
_KEY_4TO8 = np.uint64(_secret_word(8) ^ _secret_word(16))
_KEY_9TO16_LOW = np.uint64(_secret_word(24) ^ _secret_word(32))
_KEY_9TO16_HIGH = np.uint64(_secret_word(40) ^ _secret_word(48))

_PRIME32_1 = np.uint64(0x9E3779B1)
_PRIME32_2 = np.uint64(0x85EBCA77)
_PRIME32_3 = np.uint64(0xC2B2AE3D)
_PRIME64_1 = np.uint64(0x9E3779B185EBCA87)
_PRIME64_2 = np.uint64(0xC2B2AE3D27D4EB4F)
_PRIME64_3 = np.uint64(0x165667B19E3779F9)
_PRIME64_4 = np.uint64(0x85EBCA77C2B2AE63)
_PRIME64_5 = np.uint64(0x27D4EB2F165667C5)
_PRIME_MX1 = np.uint64(0x165667919E3779F9)
_PRIME_MX2 = np.uint64(0x9FB21C651E98DF25)
_MASK32 = np.uint64(0xFFFFFFFF)

_STRIPE = 64
_STRIPES_PER_BLOCK = (_SECRET_BYTES - _STRIPE) // 8  # 16
_BLOCK = _STRIPE * _STRIPES_PER_BLOCK  # 1024
_MIDSIZE_MAX = 240

# uint64 table indices and shift counts, so no expression mixes signedness
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)
_U5 = np.uint64(5)
_U6 = np.uint64(6)
_U7 = np.uint64(7)
_U16 = np.uint64(16)
_S8 = np.uint64(8)
_S15 = np.uint64(15)
_S16 = np.uint64(16)
_S24 = np.uint64(24)
_S28 = np.uint64(28)
_S29 = np.uint64(29)
_S32 = np.uint64(32)
_S33 = np.uint64(33)
_S35 = np.uint64(35)
_S37 = np.uint64(37)
_S40 = np.uint64(40)
_S47 = np.uint64(47)
_S49 = np.uint64(49)

if numba.config.DISABLE_JIT:
    import ctypes

    def _read_bytes(base, offset, width):
        return np.uint64(int.from_bytes(ctypes.string_at(int(base + offset), width), "little"))

    def _read64(base, offset):
        return _read_bytes(base, offset, 8)

    def _read32(base, offset):
        return _read_bytes(base, offset, 4)

    def _read8(base, offset):
        return _read_bytes(base, offset, 1)

    def _prefetch(base, offset):
        """Without the JIT: nothing (a hint only)."""

else:

    def _load(bits):
        """Codegen of an unaligned little-endian load of ``bits`` at ``base + offset``, as u64."""

        def codegen(context, builder, signature, args):
            base, offset = args
            byte = context.get_value_type(types.uint8)
            word = context.get_value_type(types.Integer.from_bitwidth(bits, signed=False))
            pointer = builder.gep(builder.inttoptr(base, byte.as_pointer()), [offset])
            value = builder.load(builder.bitcast(pointer, word.as_pointer()), align=1)
            if bits == 64:
                return value
            return builder.zext(value, context.get_value_type(types.uint64))

        return codegen

    @intrinsic
    def _read64(typingctx, base, offset):
        return types.uint64(types.intp, types.intp), _load(64)

    @intrinsic
    def _read32(typingctx, base, offset):
        return types.uint64(types.intp, types.intp), _load(32)

    @intrinsic
    def _read8(typingctx, base, offset):
        return types.uint64(types.intp, types.intp), _load(8)

    @intrinsic
    def _prefetch(typingctx, base, offset):
        """Ask the CPU to start loading the cache line at ``base + offset`` (LLVM's prefetch:
        a read, kept in every level). A search's hits are rows its index never touched (HNSW
        ranks its own copy of the vectors), so each is a cache miss, and one after the
        other they cost ~1 us per row; started together, about one miss in all."""

        def codegen(context, builder, signature, args):
            base, offset = args
            byte = context.get_value_type(types.uint8)
            pointer = builder.gep(builder.inttoptr(base, byte.as_pointer()), [offset])
            int32 = ir.IntType(32)
            function = builder.module.declare_intrinsic(
                "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [pointer.type] + [int32] * 3)
            )
            builder.call(function, [pointer, int32(0), int32(3), int32(1)])
            return context.get_dummy_value()

        return types.void(types.intp, types.intp), codegen


def _wrapping(function):
    """Without the JIT, run ``function`` with numpy's uint64 overflow warnings off: the
    wraparound is the arithmetic XXH3 specifies."""
    if not numba.config.DISABLE_JIT:
        return function

    @functools.wraps(function)
    def call(*args):
        with np.errstate(over="ignore"):
            return function(*args)

    return call


@numba.njit(cache=True, nogil=True, inline="always")
def _bswap32(x):
    return (
        ((x & np.uint64(0x000000FF)) << _S24)
        | ((x & np.uint64(0x0000FF00)) << _S8)
        | ((x >> _S8) & np.uint64(0x0000FF00))
        | ((x >> _S24) & np.uint64(0x000000FF))
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _bswap64(x):
    return (_bswap32(x & _MASK32) << _S32) | _bswap32(x >> _S32)


@numba.njit(cache=True, nogil=True, inline="always")
def _mul128_fold64(a, b):
    """Low 64 bits xor high 64 bits of the 128-bit product ``a * b``."""
    a_low = a & _MASK32
    a_high = a >> _S32
    b_low = b & _MASK32
    b_high = b >> _S32
    low_low = a_low * b_low
    high_low = a_high * b_low
    low_high = a_low * b_high
    high_high = a_high * b_high
    # cannot overflow: (2**32 - 1)**2 + 2 * (2**32 - 1) == 2**64 - 1
    cross = (low_low >> _S32) + (high_low & _MASK32) + low_high
    upper = (high_low >> _S32) + (cross >> _S32) + high_high
    lower = (cross << _S32) | (low_low & _MASK32)
    return lower ^ upper


@numba.njit(cache=True, nogil=True, inline="always")
def _avalanche(h):
    h = h ^ (h >> _S37)
    h = h * _PRIME_MX1
    return h ^ (h >> _S32)


@numba.njit(cache=True, nogil=True, inline="always")
def _avalanche_xxh64(h):
    h = h ^ (h >> _S33)
    h = h * _PRIME64_2
    h = h ^ (h >> _S29)
    h = h * _PRIME64_3
    return h ^ (h >> _S32)


@numba.njit(cache=True, nogil=True)
def _hash_short(base, start, n):
    """The ``n`` (0 to 16) bytes at address ``base + start``."""
    length = np.uint64(n)
    if n > 8:
        low = _KEY_9TO16_LOW ^ _read64(base, start)
        high = _KEY_9TO16_HIGH ^ _read64(base, start + n - 8)
        return _avalanche(length + _bswap64(low) + high + _mul128_fold64(low, high))
    if n >= 4:
        combined = _read32(base, start + n - 4) | (_read32(base, start) << _S32)
        value = _KEY_4TO8 ^ combined
        # rotations left by 49 and by 24
        value = value ^ ((value << _S49) | (value >> _S15)) ^ ((value << _S24) | (value >> _S40))
        value = value * _PRIME_MX2
        value = value ^ ((value >> _S35) + length)
        value = value * _PRIME_MX2
        return value ^ (value >> _S28)
    if n > 0:
        combined = (
            _read8(base, start + n - 1)
            | (length << _S8)
            | (_read8(base, start) << _S16)
            | (_read8(base, start + (n >> 1)) << _S24)
        )
        return _avalanche_xxh64(_KEY_1TO3 ^ combined)
    return _avalanche_xxh64(_EMPTY_KEY)


@numba.njit(cache=True, nogil=True, inline="always")
def _mix16(base, offset, secret_offset):
    k = np.uint64(secret_offset)
    return _mul128_fold64(
        _read64(base, offset) ^ _SECRET_AT[k],
        _read64(base, offset + 8) ^ _SECRET_AT[k + np.uint64(8)],
    )


@numba.njit(cache=True, nogil=True)
def _hash_medium(base, start, n):
    """The ``n`` (17 to 240) bytes at address ``base + start``."""
    acc = np.uint64(n) * _PRIME64_1
    if n <= 128:
        for i in range((n - 1) // 32, -1, -1):
            acc += _mix16(base, start + 16 * i, 32 * i)
            acc += _mix16(base, start + n - 16 * i - 16, 32 * i + 16)
        return _avalanche(acc)
    for i in range(8):
        acc += _mix16(base, start + 16 * i, 16 * i)
    acc = _avalanche(acc)
    for i in range(8, n // 16):
        acc += _mix16(base, start + 16 * i, 16 * (i - 8) + 3)
    acc += _mix16(base, start + n - 16, 119)
    return _avalanche(acc)


@numba.njit(cache=True, nogil=True, inline="always")
def _lane(base, offset, keys, k):
    word = _read64(base, offset)
    keyed = word ^ keys[k]
    return word, (keyed & _MASK32) * (keyed >> _S32)


@numba.njit(cache=True, nogil=True, inline="always")
def _stripe(a0, a1, a2, a3, a4, a5, a6, a7, base, offset, keys, k):
    """The eight accumulators after the 64-byte stripe at ``base + offset``, keyed by
    ``keys[k:k + 8]``. Scalars, not an array: LLVM keeps them in registers."""
    k = np.uint64(k)
    w0, p0 = _lane(base, offset, keys, k)
    w1, p1 = _lane(base, offset + 8, keys, k + _U1)
    w2, p2 = _lane(base, offset + 16, keys, k + _U2)
    w3, p3 = _lane(base, offset + 24, keys, k + _U3)
    w4, p4 = _lane(base, offset + 32, keys, k + _U4)
    w5, p5 = _lane(base, offset + 40, keys, k + _U5)
    w6, p6 = _lane(base, offset + 48, keys, k + _U6)
    w7, p7 = _lane(base, offset + 56, keys, k + _U7)
    # each lane's word is also added to its neighbour's accumulator (lane xor 1)
    return (
        a0 + p0 + w1, a1 + p1 + w0, a2 + p2 + w3, a3 + p3 + w2,
        a4 + p4 + w5, a5 + p5 + w4, a6 + p6 + w7, a7 + p7 + w6,
    )  # fmt: skip


@numba.njit(cache=True, nogil=True, inline="always")
def _scramble(a, lane):
    a = a ^ (a >> _S47)
    a = a ^ _SECRET_WORDS[_U16 + np.uint64(lane)]
    return a * _PRIME32_1


@numba.njit(cache=True, nogil=True, inline="always")
def _merge(a, b, pair):
    k = np.uint64(2 * pair)
    return _mul128_fold64(a ^ _MERGE_KEYS[k], b ^ _MERGE_KEYS[k + _U1])


@numba.njit(cache=True, nogil=True)
def _hash_long(base, start, n):
    """The ``n`` (more than 240) bytes at address ``base + start``."""
    a0 = _PRIME32_3
    a1 = _PRIME64_1
    a2 = _PRIME64_2
    a3 = _PRIME64_3
    a4 = _PRIME64_4
    a5 = _PRIME32_2
    a6 = _PRIME64_5
    a7 = _PRIME32_1
    # the last block goes to the tail below even when it is full
    blocks = (n - 1) // _BLOCK
    for block in range(blocks):
        first = start + block * _BLOCK
        for stripe in range(_STRIPES_PER_BLOCK):
            a0, a1, a2, a3, a4, a5, a6, a7 = _stripe(
                a0, a1, a2, a3, a4, a5, a6, a7, base, first + _STRIPE * stripe,
                _SECRET_WORDS, stripe,
            )  # fmt: skip
        a0 = _scramble(a0, 0)
        a1 = _scramble(a1, 1)
        a2 = _scramble(a2, 2)
        a3 = _scramble(a3, 3)
        a4 = _scramble(a4, 4)
        a5 = _scramble(a5, 5)
        a6 = _scramble(a6, 6)
        a7 = _scramble(a7, 7)
    first = start + blocks * _BLOCK
    for stripe in range((n - blocks * _BLOCK - 1) // _STRIPE):
        a0, a1, a2, a3, a4, a5, a6, a7 = _stripe(
            a0, a1, a2, a3, a4, a5, a6, a7, base, first + _STRIPE * stripe,
            _SECRET_WORDS, stripe,
        )  # fmt: skip
    # the last stripe is the final 64 bytes, overlapping the stripe before unless n is a
    # multiple of 64
    a0, a1, a2, a3, a4, a5, a6, a7 = _stripe(
        a0, a1, a2, a3, a4, a5, a6, a7, base, start + n - _STRIPE, _LAST_STRIPE_KEYS, 0
    )
    result = np.uint64(n) * _PRIME64_1
    result += _merge(a0, a1, 0)
    result += _merge(a2, a3, 1)
    result += _merge(a4, a5, 2)
    result += _merge(a6, a7, 3)
    return _avalanche(result)


@numba.njit(cache=True, nogil=True, inline="always")
def _hash(base, start, n):
    if n <= 16:
        return _hash_short(base, start, n)
    if n <= _MIDSIZE_MAX:
        return _hash_medium(base, start, n)
    return _hash_long(base, start, n)


@numba.njit(cache=True, nogil=True, inline="always")
def _check_layout(raw):
    if raw.itemsize != 1:
        raise ValueError("raw must be a uint8 view of the rows")
    if (raw.shape[0] > 1 and raw.strides[0] != raw.shape[1]) or (
        raw.shape[1] > 1 and raw.strides[1] != 1
    ):
        raise ValueError("raw must be C-contiguous")


@_wrapping
@numba.njit(cache=True, nogil=True)
def xxh3_64(data):
    """XXH3-64 (seed 0, default secret) of a byte string.

    Parameters
    ----------
    data : uint8[:]
        The bytes, contiguous.

    Returns
    -------
    uint64
        Equal to ``xxhash.xxh3_64_intdigest(data)``.
    """
    if data.itemsize != 1:
        raise ValueError("data must be uint8")
    if data.shape[0] > 1 and data.strides[0] != 1:
        raise ValueError("data must be contiguous")
    return _hash(data.ctypes.data, 0, data.shape[0])


@_wrapping
@numba.njit(cache=True, nogil=True)
def row_checksums(raw, rows):
    """Checksums of the given rows.

    Parameters
    ----------
    raw : uint8[:, :]
        (capacity, row_bytes) C-contiguous view of the vector rows.
    rows : int64[:]
        Rows to checksum, each in ``[0, capacity)`` (else ``IndexError``).

    Returns
    -------
    uint64[:]
        ``xxh3_64(raw[rows[i]])`` at position ``i``.

    Notes
    -----
    Serial on purpose: a checkpoint's rows mostly come from memory, not cache, and a ``prange``
    version measured no faster on 100k x 128 rows while it adds numba's threading layer (whose
    default, workqueue, aborts on concurrent calls from several threads). It releases the GIL,
    so a caller may split ``rows`` over its own threads.
    """
    _check_layout(raw)
    capacity, row_bytes = raw.shape
    for position in range(rows.shape[0]):
        if rows[position] < 0 or rows[position] >= capacity:
            raise IndexError("row out of range")
    out = np.empty(rows.shape[0], np.uint64)
    base = raw.ctypes.data
    for position in range(rows.shape[0]):
        out[position] = _hash(base, rows[position] * row_bytes, row_bytes)
    return out


@_wrapping
@numba.njit(cache=True, nogil=True)
def verify_rows(raw, rows, expected, known):
    """First of ``rows`` whose stored bytes fail a known checksum.

    Parameters
    ----------
    raw : uint8[:, :]
        (capacity, row_bytes) C-contiguous view of the vector rows.
    rows : int64[:]
        Rows to verify, in order; each must index ``raw``, ``expected`` and ``known`` (else
        ``IndexError``, raised on reaching it).
    expected : uint64[:]
        Per-row checksums over the whole capacity.
    known : bool[:]
        Per-row: whether ``expected[row]`` is known; rows without one are not hashed.

    Returns
    -------
    int
        The position in ``rows`` of the first row whose checksum is known and differs from
        its hash, or -1 when every known checksum matches.
    """
    _check_layout(raw)
    limit = min(raw.shape[0], expected.shape[0], known.shape[0])
    row_bytes = raw.shape[1]
    base = raw.ctypes.data
    for position in range(rows.shape[0]):  # every line of every row on its way at once
        row = rows[position]
        if 0 <= row < limit and known[row]:
            for line in range(0, row_bytes, 64):
                _prefetch(base, row * row_bytes + line)
    for position in range(rows.shape[0]):
        row = rows[position]
        if row < 0 or row >= limit:
            raise IndexError("row out of range")
        if known[row] and _hash(base, row * row_bytes, row_bytes) != expected[row]:
            return position
    return -1


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel, for writable and read-only rows."""
    raw = np.zeros((2, 300), np.uint8)
    frozen = raw.copy()
    frozen.flags.writeable = False
    rows = np.arange(2, dtype=np.int64)
    expected = np.zeros(2, np.uint64)
    known = np.zeros(2, np.bool_)
    for stored in (raw, frozen):
        xxh3_64(stored[0])
        row_checksums(stored, rows)
        verify_rows(stored, rows, expected, known)
