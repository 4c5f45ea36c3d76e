"""Structure-aware mutations for the fuzz targets (atheris custom mutators).

A byte-level mutation of a checksummed msgpack body mostly yields bytes that do not decode, so
the body targets mutate the *decoded* value instead: a field goes missing, changes type, grows
huge or negative, nests deeply, a byte string gets a length that is not a multiple of its item
size, a list gains or loses an element. The hnswlib graph and the ``.npz`` index files get the
same treatment for their own layouts (header fields, link counts and ids, labels; arrays of
another dtype, shape or value). A share of the mutations stays byte-level (``fallback``: atheris'
libFuzzer mutator), so the raw decoding is exercised as well.
"""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np

__all__ = ["GRAPH_HEADER", "HNSW_HEADER", "mutate_graph", "mutate_hnsw", "mutate_msgpack",
           "mutate_npz"]  # fmt: skip

Fallback = Callable[[bytes, int], bytes]

_BIG_INTS = [0, 1, -1, 2, 7, 8, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
             2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, -(2**31)]  # fmt: skip
_FLOATS = [0.0, -0.0, 1.5, -1.0, float("nan"), float("inf"), float("-inf"), 1e308, 5e-324]
_KEYS = ["lsn", "op", "next", "ids", "rows", "vec", "meta", "c", "ops", "k", "h", "r", "t", "uid",
         "name", "config", "kind", "file", "file_size", "file_checksum", "present", "valid",
         "fields", "arrays", "declared", "n_rows", "keys", "snapshot", "checkpoint_lsn", "count",
         "live", "meta_offsets", "checksums", "sq_norms", "numbers", "codes", "categories",
         "created_at", "updated_at", "dim", "metric", "index", "checkpoint", "reload",
         "version", "rows", "present_bits", "valid_bits", "strings"]  # fmt: skip


def _interesting(rnd: random.Random) -> Any:
    pick = rnd.randrange(12)
    if pick < 3:
        return rnd.choice(_BIG_INTS)
    if pick < 5:
        return rnd.choice(_FLOATS)
    if pick == 5:
        return rnd.choice([None, True, False])
    if pick == 6:
        return rnd.choice(["", "x", "\x00", "../../x", "/abs", "é" * 3, "snapshot-1.bin"])
    if pick == 7:
        return rnd.choice([b"", b"\x00", b"\xff" * 9, bytes(rnd.randrange(64))])
    if pick == 8:
        return rnd.choice([[], {}, [None], {"": None}, [[]], {"x": {}}])
    if pick == 9:
        depth = rnd.choice([10, 100, 400])
        value: Any = []
        for _ in range(depth):
            value = [value]
        return value
    if pick == 10:
        return [rnd.choice(_BIG_INTS)] * rnd.choice([2, 100, 1000])
    return rnd.choice(_KEYS)


def _nodes(value: Any, limit: int = 4000) -> list[tuple[Any, Any]]:
    """(container, key) of every node below the root, breadth first, at most ``limit``."""
    found: list[tuple[Any, Any]] = []
    queue = [value]
    while queue and len(found) < limit:
        node = queue.pop(0)
        if isinstance(node, dict):
            for key in list(node):
                found.append((node, key))
                queue.append(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                found.append((node, index))
                queue.append(node[index])
    return found


def _changed(value: Any, rnd: random.Random) -> Any:
    """A variation of ``value`` that keeps something of it (length, type or content)."""
    if isinstance(value, bool) or value is None:
        return _interesting(rnd)
    if isinstance(value, int):
        return rnd.choice([value + 1, value - 1, -value, value * 2**20, str(value),
                           float(value), [value], rnd.choice(_BIG_INTS)])  # fmt: skip
    if isinstance(value, float):
        return rnd.choice([*_FLOATS, int(value) if value == value and abs(value) < 1e18 else 0])
    if isinstance(value, bytes):
        cut = rnd.randrange(len(value) + 1)
        step = rnd.choice([1, 4, 8])
        return rnd.choice([value[:cut], value + bytes(rnd.randrange(1, 9)), value[:-step],
                           value + value, b"\xff" * len(value), value.decode("latin-1"),
                           list(value[:16])])  # fmt: skip
    if isinstance(value, str):
        return rnd.choice([value + "\x00", value[: len(value) // 2], value * 50, value.encode(),
                           value + "é", ""])  # fmt: skip
    if isinstance(value, list):
        if value and rnd.random() < 0.5:
            return value[: rnd.randrange(len(value))]
        return rnd.choice([value + value[:1], {str(i): v for i, v in enumerate(value)}, [value]])
    if isinstance(value, dict):
        return rnd.choice([list(value.values()), list(value), {**value, rnd.choice(_KEYS): None}])
    return _interesting(rnd)


def _mutate_value(root: Any, rnd: random.Random) -> Any:
    nodes = _nodes(root)
    if not nodes or rnd.random() < 0.03:
        return _changed(root, rnd) if rnd.random() < 0.5 else _interesting(rnd)
    container, key = rnd.choice(nodes)
    action = rnd.randrange(10)
    if action == 0:  # remove the field or element
        del container[key]
    elif action == 1 and isinstance(container, dict):  # rename a key, or add one
        new_key: Any = rnd.choice([*_KEYS, "", 0, -1])
        value = container.pop(key) if rnd.random() < 0.5 else _interesting(rnd)
        container[new_key] = value
    elif action == 2 and isinstance(container, list):  # duplicate an element
        container.insert(key, container[key])
    elif action < 6:
        container[key] = _changed(container[key], rnd)
    else:
        container[key] = _interesting(rnd)
    return root


def mutate_msgpack(data: bytes, max_size: int, seed: int, fallback: Fallback) -> bytes:
    """Decode ``data`` as msgpack, change one to three nodes of it, encode it again."""
    rnd = random.Random(seed)
    if rnd.random() < 0.2:
        return fallback(data, max_size)
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception:
        return fallback(data, max_size)
    try:  # an exception in a mutator would end the fuzzing run
        for _ in range(rnd.choice((1, 1, 1, 2, 3))):
            value = _mutate_value(value, rnd)
        out: bytes = msgpack.packb(value, use_bin_type=True)
    except Exception:
        return fallback(data, max_size)
    return out if len(out) <= max_size else fallback(data, max_size)


# ------------------------------------------------------------------------------------ hnswlib
#: hnswlib's saveIndex header: offsetLevel0, max_elements, cur_element_count,
#: size_data_per_element, label_offset, offsetData (size_t), maxlevel (int),
#: enterpoint_node (tableint), maxM, maxM0, M (size_t), mult (double), ef_construction (size_t)
HNSW_HEADER = struct.Struct("<QQQQQQiIQQQdQ")
_FIELD_FORMATS = "QQQQQQiIQQQdQ"


def _field_value(kind: str, current: Any, rnd: random.Random) -> Any:
    if kind == "d":
        return rnd.choice([*_FLOATS, current * 2, -current])
    bits = {"Q": 64, "I": 32, "i": 31}[kind]
    low = -(2**31) if kind == "i" else 0
    candidates = [0, 1, 2, 3, 4, 8, 16, current + 1, current - 1, current * 2, 2**bits - 1,
                  2**(bits - 1), 2**(bits // 2), -1]  # fmt: skip
    value = rnd.choice(candidates)
    return min(max(value, low), 2**bits - 1)


def mutate_hnsw(data: bytes, max_size: int, seed: int, fallback: Fallback) -> bytes:
    """Change a header field, a level-0 link count, link id or label, or an upper level's
    size or links of an hnswlib index file (or fall back to a byte-level mutation)."""
    rnd = random.Random(seed)
    if rnd.random() < 0.2 or len(data) < HNSW_HEADER.size:
        return fallback(data, max_size)
    try:  # an exception in a mutator would end the fuzzing run
        return _mutate_hnsw(bytearray(data), max_size, rnd)
    except (struct.error, ValueError, OverflowError):
        return fallback(data, max_size)


def _mutate_hnsw(buffer: bytearray, max_size: int, rnd: random.Random) -> bytes:
    fields = list(HNSW_HEADER.unpack_from(buffer, 0))
    count, per_element, label_at = fields[2], fields[3], fields[4]
    level0_end = HNSW_HEADER.size + count * per_element
    action = rnd.randrange(5)
    if action == 0 or per_element == 0 or count == 0 or level0_end > len(buffer):
        index = rnd.randrange(len(fields))
        fields[index] = _field_value(_FIELD_FORMATS[index], fields[index], rnd)
        HNSW_HEADER.pack_into(buffer, 0, *fields)
        return bytes(buffer[:max_size])
    element = HNSW_HEADER.size + rnd.randrange(count) * per_element
    if action == 1:  # the link count word (count | deleted flag)
        value = rnd.choice([0, fields[9], fields[9] + 1, 0xFFFF, 0x10000, 0x1FFFF, 2**32 - 1])
        struct.pack_into("<I", buffer, element, value & 0xFFFFFFFF)
    elif action == 2:  # one level-0 link
        slot = element + 4 * rnd.randrange(1, max(2, fields[9] + 1))
        if slot + 4 <= element + per_element:
            value = rnd.choice([count, count - 1, count + 1, 2**31, 2**32 - 1])
            struct.pack_into("<I", buffer, slot, value & 0xFFFFFFFF)
    elif action == 3 and label_at + 8 <= per_element:  # the label (= row)
        value = rnd.choice([count, 2**31, 2**63, 2**64 - 1, 0, 10**6])
        struct.pack_into("<Q", buffer, element + label_at, value & (2**64 - 1))
    else:  # the upper levels: a size word or a link somewhere after level 0
        if level0_end + 4 <= len(buffer):
            where = rnd.randrange(level0_end, len(buffer) - 3)
            value = rnd.choice([0, 1, 4, count, 2**31, 2**32 - 1, 4 + 4 * fields[8]])
            struct.pack_into("<I", buffer, where, value & 0xFFFFFFFF)
    return bytes(buffer[:max_size])


# ------------------------------------------------------------------------------------ graph file
#: vectordb's graph file header (``vectordb/index/graph_file.py``; not imported here, so that
#: the fuzzer instruments that module when it imports it): magic, format, flags, count, dim,
#: M, ef_construction, mult, max_level, entry, label_bytes, level_bytes, links0, upper_lists,
#: upper_links, covered, vectors_checksum
GRAPH_HEADER = struct.Struct("<8sIIQIIQdiIIIQQQQQ")
_GRAPH_FIELDS = ["8s", "I", "I", "Q", "I", "I", "Q", "d", "i", "I", "I", "I", "Q", "Q", "Q", "Q",
                 "Q"]  # fmt: skip


def mutate_graph(data: bytes, max_size: int, seed: int, fallback: Fallback) -> bytes:
    """Change a header field, a link count word, a link, a label or a level of a format 2
    graph file, or cut or grow one of its sections (or fall back to a byte-level mutation)."""
    rnd = random.Random(seed)
    if rnd.random() < 0.2 or len(data) < GRAPH_HEADER.size:
        return fallback(data, max_size)
    try:
        return _mutate_graph(bytearray(data), max_size, rnd)
    except (struct.error, ValueError, OverflowError):
        return fallback(data, max_size)


def _mutate_graph(buffer: bytearray, max_size: int, rnd: random.Random) -> bytes:
    fields = list(GRAPH_HEADER.unpack_from(buffer, 0))
    count, m, label_bytes, level_bytes = fields[3], fields[5], fields[10], fields[11]
    sizes = [4 * count, 4 * fields[12], label_bytes * count, level_bytes * count,
             4 * fields[13], 4 * fields[14]]  # fmt: skip
    starts = [GRAPH_HEADER.size]
    for size in sizes:
        starts.append(starts[-1] + size)
    action = rnd.randrange(6)
    if action == 0 or starts[-1] != len(buffer) or count == 0:
        index = rnd.randrange(1, len(fields))
        fields[index] = _field_value(_GRAPH_FIELDS[index], fields[index], rnd)
        GRAPH_HEADER.pack_into(buffer, 0, *fields)
        return bytes(buffer[:max_size])
    section = rnd.choice([k for k in range(6) if sizes[k]] or [0])
    if action == 5:  # cut or grow a section by one entry (the header no longer adds up)
        width = {2: label_bytes, 3: level_bytes}.get(section, 4)
        at = starts[section] + (rnd.randrange(sizes[section] // width) * width if sizes[section]
                                else 0)  # fmt: skip
        if rnd.random() < 0.5 and sizes[section]:
            del buffer[at : at + width]
        else:
            buffer[at:at] = bytes(width)
        return bytes(buffer[:max_size])
    if not sizes[section]:
        return bytes(buffer[:max_size])
    if section in (0, 4):  # a link count word (count | deleted flag)
        value = rnd.choice([0, m, 2 * m, 2 * m + 1, 0xFFFF, 0x10000, 0x1FFFF, 2**32 - 1])
        fmt, width = "<I", 4
    elif section in (1, 5):  # a link
        value = rnd.choice([0, count - 1, count, count + 1, 2**31, 2**32 - 1])
        fmt, width = "<I", 4
    elif section == 2:  # a label (= row)
        value = rnd.choice([0, count, 2**31, 2**32 - 1, 2**63, 10**6])
        fmt, width = ("<Q", 8) if label_bytes == 8 else ("<I", 4)
    else:  # a level
        value = rnd.choice([0, 1, fields[8], fields[8] + 1, 255, 65535])
        fmt, width = ("<H", 2) if level_bytes == 2 else ("<B", 1)
    at = starts[section] + rnd.randrange(sizes[section] // width) * width
    struct.pack_into(fmt, buffer, at, value & ((1 << (8 * width)) - 1))
    return bytes(buffer[:max_size])


# ------------------------------------------------------------------------------------ npz
def mutate_npz(data: bytes, max_size: int, seed: int, fallback: Fallback) -> bytes:
    """Load an ``.npz``, change one array (dtype, shape, a value; drop or add one), save it."""
    rnd = random.Random(seed)
    if rnd.random() < 0.25:
        return fallback(data, max_size)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception:
        return fallback(data, max_size)
    if not arrays:
        return fallback(data, max_size)
    name = rnd.choice(sorted(arrays))
    array = arrays[name]
    action = rnd.randrange(8)
    try:
        if action == 0:
            del arrays[name]
        elif action == 1:
            dtype = rnd.choice([np.int8, np.uint8, np.int32, np.int64, np.uint64, np.float16,
                                np.float32, np.float64, np.bool_, "U4"])  # fmt: skip
            arrays[name] = array.astype(dtype)
        elif action == 2:
            arrays[name] = rnd.choice([array.reshape(-1), array.reshape(-1)[:-1],
                                       array[None], np.zeros((0, *array.shape[1:]), array.dtype),
                                       np.concatenate([array.reshape(-1)] * 2)])  # fmt: skip
        elif action in (3, 4) and array.size:
            flat = array.reshape(-1).copy()
            position = rnd.randrange(flat.size)
            if flat.dtype.kind in "iu":
                info = np.iinfo(flat.dtype)
                flat[position] = rnd.choice([info.min, info.max, -1 if info.min < 0 else 0,
                                             flat[position] + 1])  # fmt: skip
            elif flat.dtype.kind == "f":
                flat[position] = rnd.choice([np.nan, np.inf, -np.inf, 0.0, 1e30])
            elif flat.dtype.kind == "U":
                flat[position] = rnd.choice(["float32", "pq", "int8", "binary", ""])
            arrays[name] = flat.reshape(array.shape)
        elif action == 5:
            arrays[rnd.choice(["codec_lo", "codec_extra", "kind", "dim", "pq_m"])] = np.array(
                rnd.choice([0, -1, 2**40, 3.5, "x"])
            )
        elif action == 6:
            arrays[name] = np.array(rnd.choice([0, -1, 2**62, 1.5, "pq", float("nan")]))
        else:
            other = rnd.choice(sorted(arrays))
            arrays[name], arrays[other] = arrays[other], arrays[name]
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
    except Exception:
        return fallback(data, max_size)
    out = buffer.getvalue()
    return out if len(out) <= max_size else fallback(data, max_size)
