"""The HNSW graph file vectordb writes, ``hnsw-<lsn>.bin`` format 2: hnswlib's graph without
its copy of the vectors, and with only the link slots in use.

hnswlib's own ``saveIndex`` (format 1, still read by ``hnsw.py``) stores per element
``[count | flags, maxM0 link slots, vector, label]``: the vector is a second copy of the
collection's row (labels are rows), and most link slots are unused. This file keeps the
links, labels and levels; at load the vectors come from the collection's rows (as of the
same checkpoint, which nothing rewrites until a newer checkpoint commits), normalized by
``normalized`` for cosine collections (as ``HnswGraph`` normalizes every vector it adds: the
same function on the same row gives the same bits on any machine, which hnswlib's own
normalization, compiled with the build's flags, does not), and the graph is handed to hnswlib
whole (``__setstate__``), as hnswlib's own pickling does.

Layout (little-endian): ``GRAPH_HEADER``, then

- ``count`` u32 words: per element its level-0 ``count | flags`` word (hnswlib's: the link
  count in the low 16 bits, the deleted mark in byte 2);
- ``links0`` u32: the level-0 links in use, element after element (``count & 0xFFFF`` each);
- ``count`` labels (u32 or u64: ``label_bytes``): the element's row;
- ``count`` levels (u8 or u16: ``level_bytes``): the element's top level;
- ``upper_lists`` u32 words (one per element and level above 0, element after element, level
  1 first), then ``upper_links`` u32: the upper levels' links in use, the same way.

``covered`` and ``vectors_checksum``: how many elements, and the xxh3-64 of their rows as the
collection stored them (float32, element order), for the elements whose row was ``valid``
(INDEX): the loader recomputes it from the rows it splices in and refuses the file (the index
is rebuilt) on a mismatch, so a graph never answers with a vector other than the one it was
built with.
"""

from __future__ import annotations

import math
import struct
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import xxhash

__all__ = [
    "GRAPH_FORMAT", "GRAPH_HEADER", "GRAPH_MAGIC", "SavedGraph", "encode_graph", "graph_state",
    "normalized", "read_graph",
]  # fmt: skip

GRAPH_MAGIC = b"VDB-HNW\x00"
#: format 1 is hnswlib's own ``saveIndex`` file (no header of vectordb's)
GRAPH_FORMAT = 2
#: magic, format, flags, count, dim, M, ef_construction, mult, max_level, entry, label_bytes,
#: level_bytes, links0, upper_lists, upper_links, covered, vectors_checksum
GRAPH_HEADER = struct.Struct("<8sIIQIIQdiIIIQQQQQ")
NO_ENTRY = 2**32 - 1  # hnswlib's enterpoint_node of an empty graph (-1 as tableint)
_SEED = 100  # the level generator's seed, as HnswGraph.empty gives it


class SavedGraph(NamedTuple):
    """A graph file's contents, checked (``read_graph``)."""

    size: int  # elements
    dim: int
    m: int
    ef_construction: int
    mult: float
    max_level: int
    entry: int
    words0: npt.NDArray[np.uint32]  # (count,)
    links0: npt.NDArray[np.uint32]
    labels: npt.NDArray[np.int64]  # (count,)
    levels: npt.NDArray[np.int32]  # (count,)
    upper_words: npt.NDArray[np.uint32]
    upper_links: npt.NDArray[np.uint32]
    covered: int
    vectors_checksum: int


# ----------------------------------------------------------------------------- writing
def encode_graph(
    state: dict[str, Any], valid: npt.NDArray[np.bool_], vectors: npt.NDArray[np.float32]
) -> bytes | None:
    """The file's bytes for the hnswlib graph whose ``__getstate__`` is ``state``;
    ``valid``: per row, the graph holds the row's current vector (the vector checksum covers
    those elements); ``vectors``: the collection's rows. None if hnswlib's element layout is
    not the one this code knows (another hnswlib version: write its own file instead)."""
    count = int(state["cur_element_count"])
    per = int(state["size_data_per_element"])
    dim = int(state["dim"])
    max_m0, max_m = int(state["max_M0"]), int(state["max_M"])
    vector_at, label_at = int(state["offset_data"]), int(state["label_offset"])
    if (int(state["offset_level0"]), vector_at, label_at, per) != (
        0, 4 + 4 * max_m0, 4 + 4 * max_m0 + 4 * dim, 4 + 4 * max_m0 + 4 * dim + 8
    ):  # fmt: skip
        return None
    block = state["data_level0"][: count * per].view(np.uint8).reshape(count, per)
    words = np.ascontiguousarray(block[:, :vector_at]).view("<u4")
    labels = np.ascontiguousarray(block[:, label_at:]).view("<u8").reshape(count)
    levels = np.asarray(state["element_levels"][:count], np.int64)
    upper = np.asarray(state["link_lists"]).view("<u4").reshape(-1, 1 + max_m)
    words0, links0 = _used(words, max_m0)
    upper_words, upper_links = _used(upper, max_m)
    wide_labels = count > 0 and int(labels.max()) >= 2**32
    wide_levels = count > 0 and int(levels.max()) >= 256
    covered = _covered(labels.astype(np.int64), valid)
    hasher = xxhash.xxh3_64()
    rows = labels[covered].astype(np.int64)
    step = _rows_at_a_time(dim)
    for start in range(0, len(rows), step):
        hasher.update(np.ascontiguousarray(vectors[rows[start : start + step]], "<f4").data)
    header = GRAPH_HEADER.pack(
        GRAPH_MAGIC, GRAPH_FORMAT, 0, count, dim, int(state["M"]),
        int(state["ef_construction"]), float(state["mult"]),
        int(state["max_level"]), int(state["enterpoint_node"]) & 0xFFFFFFFF,
        8 if wide_labels else 4, 2 if wide_levels else 1, len(links0), len(upper_words),
        len(upper_links), int(np.count_nonzero(covered)), hasher.intdigest(),
    )  # fmt: skip
    return b"".join([
        header,
        words0.astype("<u4").tobytes(),
        links0.astype("<u4").tobytes(),
        labels.astype("<u8" if wide_labels else "<u4").tobytes(),
        levels.astype("<u2" if wide_levels else "u1").tobytes(),
        upper_words.astype("<u4").tobytes(),
        upper_links.astype("<u4").tobytes(),
    ])  # fmt: skip


def _covered(labels: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Per element: its row is ``valid``."""
    inside = labels < len(valid)
    covered: npt.NDArray[np.bool_] = inside.copy()
    covered[inside] = valid[labels[inside]]
    return covered


def _rows_at_a_time(dim: int) -> int:
    """Rows handled at a time: about 1 MB (normalizing stays in the cache), at least 1024
    (the normalization's numpy calls grow with the dimensions, not the rows)."""
    return max(1024, (1 << 20) // (4 * max(dim, 1)))


def _used(lists: Any, max_links: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """``[count | flags, slots...]`` rows as their words and the links in use, concatenated."""
    words = np.ascontiguousarray(lists[:, 0])
    counts = np.minimum(words & 0xFFFF, max_links)
    in_use = np.arange(max_links) < counts[:, None]
    return words, lists[:, 1:][in_use]


# ----------------------------------------------------------------------------- reading
def read_graph(data: bytes, dim: int, rows: int, refuse: Any) -> SavedGraph:
    """Parse and check a format 2 graph file: everything hnswlib will trust (sizes, counts,
    links, levels, the entry point) is checked here; ``refuse(why, offset)`` makes the
    ``CorruptionError`` raised. ``rows``: labels must be below it."""
    if len(data) < GRAPH_HEADER.size:
        raise refuse(f"{len(data)} bytes, shorter than the header")
    (magic, version, _flags, count, file_dim, m, ef_construction, mult, max_level, entry,
     label_bytes, level_bytes, n_links0, n_upper, n_upper_links, covered,
     checksum) = GRAPH_HEADER.unpack_from(data)  # fmt: skip
    if magic != GRAPH_MAGIC or version != GRAPH_FORMAT:
        raise refuse(f"format {version} (this vectordb reads {GRAPH_FORMAT})", 8)
    if file_dim != dim:
        raise refuse(f"vectors of {file_dim} dimensions, the collection's have {dim}", 24)
    if not (2 <= m <= 10_000 and m <= ef_construction <= 2**31):
        raise refuse(f"M={m}, ef_construction={ef_construction}", 28)
    if not (math.isfinite(mult) and mult > 0):
        raise refuse(f"level multiplier {mult}", 40)
    if label_bytes not in (4, 8) or level_bytes not in (1, 2):
        raise refuse(f"labels of {label_bytes} bytes, levels of {level_bytes}", 56)
    if count > rows or covered > count:
        raise refuse(f"{count} elements ({covered} checked) for {rows} rows", 16)
    sizes = [4 * count, 4 * n_links0, label_bytes * count, level_bytes * count, 4 * n_upper,
             4 * n_upper_links]  # fmt: skip
    if GRAPH_HEADER.size + sum(sizes) != len(data):
        raise refuse(f"sections of {sum(sizes)} bytes in {len(data)} bytes", 16)
    offsets = np.cumsum([GRAPH_HEADER.size, *sizes]).tolist()

    def section(index: int, dtype: str, length: int) -> Any:
        return np.frombuffer(data, dtype, length, offsets[index])

    words0 = section(0, "<u4", count)
    links0 = section(1, "<u4", n_links0)
    labels = section(2, "<u8" if label_bytes == 8 else "<u4", count).astype(np.int64)
    levels = section(3, "<u2" if level_bytes == 2 else "u1", count).astype(np.int32)
    upper_words = section(4, "<u4", n_upper)
    upper_links = section(5, "<u4", n_upper_links)
    if count == 0:
        if max_level != -1 or entry != NO_ENTRY or len(data) != GRAPH_HEADER.size:
            raise refuse("an empty graph with an entry point, links or levels", 48)
    else:
        if int(labels.max()) >= rows or _repeats(labels, rows):
            raise refuse(f"labels repeat or reach past row {rows - 1}", offsets[2])
        if not (entry < count and 0 <= max_level == levels[entry]
                and int(levels.max()) <= max_level):  # fmt: skip
            raise refuse(f"entry point {entry} on level {max_level}", 48)
        if int(levels.sum()) != n_upper:
            raise refuse(f"{n_upper} upper link lists for levels adding up to "
                         f"{int(levels.sum())}", offsets[3])  # fmt: skip
    _check_lists(words0, links0, 2 * m, count, refuse, offsets[0])
    if n_upper:
        # list j of an element is its level j + 1; a neighbour there is searched on that
        # level, so it must have it
        first_list = np.cumsum(levels) - levels
        on_level = np.arange(n_upper) - np.repeat(first_list, levels) + 1
        _check_lists(upper_words, upper_links, m, count, refuse, offsets[4], levels, on_level)
    return SavedGraph(int(count), dim, int(m), int(ef_construction), float(mult),
                      int(max_level), int(entry), words0, links0, labels, levels, upper_words,
                      upper_links, int(covered), int(checksum))  # fmt: skip


def _repeats(labels: npt.NDArray[np.int64], rows: int) -> bool:
    """Does a label (all below ``rows``) occur twice?"""
    seen = np.zeros(rows, np.bool_)
    seen[labels] = True
    return int(np.count_nonzero(seen)) != len(labels)


def _check_lists(
    words: Any, links: Any, max_links: int, count: int, refuse: Any, offset: int,
    levels: Any = None, on_level: Any = None,
) -> None:  # fmt: skip
    """Link counts within ``max_links`` adding up to the links, links naming elements (on the
    list's level ``on_level[list]``, when ``levels`` is given)."""
    counts = (words & 0xFFFF).astype(np.int64)
    if len(counts) and int(counts.max()) > max_links:
        raise refuse(f"a link list of {int(counts.max())} links, at most {max_links} fit", offset)
    if int(counts.sum()) != len(links):
        raise refuse(f"link counts add up to {int(counts.sum())}, {len(links)} links stored",
                     offset)  # fmt: skip
    if len(links) and int(links.max()) >= count:
        raise refuse(f"a link to element {int(links.max())} of {count}", offset)
    if levels is not None and len(links):
        link_levels = np.repeat(on_level, counts)
        if bool(np.any(levels[links] < link_levels)):
            raise refuse("a link to an element that is not on the link's level", offset)


# ----------------------------------------------------------------------------- loading
def graph_state(
    saved: SavedGraph,
    vectors: npt.NDArray[np.float32],
    valid: npt.NDArray[np.bool_],
    *,
    space: str,
    normalize: bool,
    max_elements: int,
    ef: int,
    threads: int,
    refuse: Any,
) -> dict[str, Any]:
    """hnswlib's ``__setstate__`` map for ``saved`` in hnswlib's ``space`` (``"ip"`` or
    ``"l2"``), each element's vector taken from ``vectors`` (the collection's rows as of the
    save) by its label, through ``normalized`` if ``normalize``. ``valid``: the INDEX's flags,
    whose elements' rows the file's checksum covers; a mismatch raises ``refuse(...)``."""
    count, dim = saved.size, saved.dim
    max_m0, max_m = 2 * saved.m, saved.m
    vector_at = 4 + 4 * max_m0
    label_at = vector_at + 4 * dim
    per = label_at + 8
    labels = saved.labels
    if count and int(labels.max()) >= len(vectors):
        raise refuse(f"a label past the {len(vectors)} rows of the vector file", 0)
    covered = _covered(labels, valid)
    if int(np.count_nonzero(covered)) != saved.covered:
        raise refuse(f"{saved.covered} vectors checked, the INDEX flags "
                     f"{int(np.count_nonzero(covered))} rows valid", 0)  # fmt: skip
    block = np.zeros((count, per), np.uint8)
    block[:, :4] = saved.words0.astype("<u4").view(np.uint8).reshape(count, 4)
    block[:, 4:vector_at] = _slots(saved.words0, saved.links0, max_m0).view(np.uint8)
    block[:, label_at:] = labels.astype("<u8").view(np.uint8).reshape(count, 8)
    hasher = xxhash.xxh3_64()
    step = _rows_at_a_time(dim)
    for start in range(0, count, step):
        part = np.ascontiguousarray(vectors[labels[start : start + step]], "<f4")
        hasher.update(np.ascontiguousarray(part[covered[start : start + step]]).data)
        if normalize:
            part = normalized(part)
        block[start : start + step, vector_at:label_at] = part.view(np.uint8)
    if hasher.intdigest() != saved.vectors_checksum:
        raise refuse("the vectors the graph was built with are not the collection's rows", 0)
    upper = np.zeros((len(saved.upper_words), 1 + max_m), "<u4")
    upper[:, 0] = saved.upper_words
    upper[:, 1:] = _slots(saved.upper_words, saved.upper_links, max_m)
    internal = np.arange(count, dtype=np.uint32)
    return {
        "ser_version": 1, "space": space, "dim": dim, "index_inited": True,
        "ep_added": count > 0, "normalize": False, "num_threads": threads, "seed": _SEED,
        "ef": ef, "max_elements": max_elements, "M": saved.m,
        "ef_construction": saved.ef_construction, "cur_element_count": count,
        "offset_level0": 0, "size_data_per_element": per, "label_offset": label_at,
        "offset_data": vector_at, "max_level": saved.max_level,
        "enterpoint_node": saved.entry, "max_M": max_m, "max_M0": max_m0,
        "mult": saved.mult, "size_links_per_element": 4 + 4 * max_m,
        "has_deletions": bool(np.any(saved.words0 & 0x00FF0000)),
        "allow_replace_deleted": False,
        "label_lookup_external": labels.astype(np.uint64),
        "label_lookup_internal": internal,
        "element_levels": saved.levels.astype(np.int32),
        "data_level0": block.reshape(-1).view(np.int8),
        "link_lists": upper.reshape(-1).view(np.int8),
    }  # fmt: skip


def _slots(
    words: npt.NDArray[np.uint32], links: npt.NDArray[np.uint32], max_links: int
) -> npt.NDArray[np.uint32]:
    """The links back in their ``max_links`` slots per list (unused slots 0)."""
    slots = np.zeros((len(words), max_links), "<u4")
    slots[np.arange(max_links) < (words & 0xFFFF)[:, None]] = links
    return slots


def normalized(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``vectors`` (rows) at unit length, the same bits for the same row on any machine: the
    squared norm summed in float32 one dimension after the other (each square and each sum
    rounded: elementwise numpy operations, which no compiler reorders or fuses), then each
    value times ``1 / (sqrt(sum) + 1e-30)`` (as hnswlib's ``normalize_vector`` is written;
    hnswlib compiled with FMA and vectorized loops rounds some sums differently)."""
    columns = np.ascontiguousarray(vectors.T)
    total = np.zeros(len(vectors), np.float32)
    square = np.empty(len(vectors), np.float32)
    for column in columns:
        np.multiply(column, column, out=square)
        np.add(total, square, out=total)
    scale = np.float32(1.0) / (np.sqrt(total) + np.float32(1e-30))
    out: npt.NDArray[np.float32] = vectors * scale[:, None]
    return out
