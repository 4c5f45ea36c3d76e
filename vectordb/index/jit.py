"""Every lazily loaded numba module of the index layer, its warm-up, and the thread rules.

numba costs ~0.5 s to import and seconds to compile on a cold cache, so no kernel module is
imported with ``import vectordb``: each is loaded (compiled, or read from numba's cache) by
the first search that needs it, or ahead of time by ``warm_up_in_background`` (a read-write
open starts it) or ``Collection.warmup()``. Loading runs a tiny call of every kernel, for
writable and read-only arrays, so no search compiles one. ``mode="auto"`` searches use the
kernels once loaded and numpy before, so a first query never waits for the JIT.

Thread rules: a search's top-k selection and an IVF scan split large batches over at most
``default_threads()`` threads (the machine's cores, at most 8), in process-wide pools
(``pool(name, threads)``) that grow on demand.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable
from types import ModuleType

import numpy as np

__all__ = [
    "default_threads",
    "filtered_kernels_ready",
    "kernels_ready",
    "load_filtered_kernels",
    "load_kernels",
    "load_scan_kernels",
    "pool",
    "scan_kernels_ready",
    "warm_up_in_background",
]

#: the row that pads a heap with fewer than k entries (the largest int64)
NO_ROW = np.iinfo(np.int64).max

_kernels: ModuleType | None = None
_filtered_kernels: ModuleType | None = None
_scan_kernels: ModuleType | None = None
_lock = threading.Lock()
_warm_thread: threading.Thread | None = None
_pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
_announced: set[str] = set()
_WARM_UP_THREAD = "vectordb-jit-warmup"
log = logging.getLogger("vectordb")


def _announce(what: str) -> None:
    """Log, once per process and only outside the warm-up thread, that a search is waiting
    for ``what`` to compile: an explicit ``mode="numba"`` before the warm-up finished (a
    ``mode="auto"`` search never waits: it runs numpy meanwhile)."""
    if threading.current_thread().name == _WARM_UP_THREAD or what in _announced:
        return
    _announced.add(what)
    log.info(
        "loading the numba %s (compiled on the first use after install, from numba's "
        "cache afterwards); mode='numba' waits for them, mode='auto' runs numpy meanwhile",
        what,
    )


def load_kernels() -> ModuleType:
    """Import (and JIT-compile, or load from numba's cache) the kernels; returns the module."""
    global _kernels
    if _kernels is not None:
        return _kernels
    _announce("search kernels")
    with _lock:
        if _kernels is None:
            from vectordb.index import kernels

            heap_scores = np.full((1, 1), -np.inf, np.float32)
            heap_rows = np.full((1, 1), NO_ROW, np.int64)
            one = np.ones(1, np.float32)
            kernels.topk_block_update(
                np.ones((1, 1), np.float32),
                0,
                np.ones(1, np.bool_),
                one,
                np.zeros(1, np.float32),
                heap_scores,
                heap_rows,
                0,
                1,
            )
            _kernels = kernels
        return _kernels


def load_filtered_kernels() -> ModuleType:
    """``filtered_kernels`` (the subset scan, the filtered graph walk), compiled or loaded
    from numba's cache; both warmed for writable and read-only vectors."""
    global _filtered_kernels
    if _filtered_kernels is not None:
        return _filtered_kernels
    _announce("filtered-search kernels")
    with _lock:
        if _filtered_kernels is None:
            from vectordb.index import filtered_kernels

            vectors = np.ones((2, 2), np.float32)
            frozen = vectors.copy()
            frozen.flags.writeable = False
            for stored in (vectors, frozen):
                filtered_kernels.subset_topk(
                    stored,
                    np.arange(2, dtype=np.int64),
                    np.ones((1, 2), np.float64),
                    filtered_kernels.COSINE,
                    np.empty((1, 1), np.int64),
                    np.empty((1, 1), np.float64),
                )
                # a two-row graph (each row linked to the other), so the first filtered
                # walk does not compile inside a search
                filtered_kernels.graph_search(
                    np.array([[1, 1], [1, 0]], np.int32), np.zeros(0, np.int32),
                    np.zeros(2, np.int64), 17, 0, 0, stored, np.ones(2, np.float32),
                    np.ones(2, np.bool_), np.ones((1, 2), np.float64), filtered_kernels.COSINE,
                    1, np.zeros(3, np.uint32), 1, np.empty(3, np.float32),
                    np.empty(3, np.int64), np.empty((1, 1), np.int64),
                    np.empty((1, 1), np.float64), np.zeros(1, np.int64),
                )  # fmt: skip
            _filtered_kernels = filtered_kernels
        return _filtered_kernels


def load_scan_kernels() -> ModuleType:
    """The IVF / quantized scan kernels (``scan_kernels``), compiled or loaded from cache."""
    global _scan_kernels
    if _scan_kernels is not None:
        return _scan_kernels
    _announce("IVF scan kernels")
    with _lock:
        if _scan_kernels is None:
            from vectordb.index import scan_kernels

            _scan_kernels = scan_kernels
        return _scan_kernels


def kernels_ready() -> bool:
    return _kernels is not None


def filtered_kernels_ready() -> bool:
    return _filtered_kernels is not None


def scan_kernels_ready() -> bool:
    return _scan_kernels is not None


def warm_up_in_background(*more: Callable[[], object]) -> None:
    """Start loading the kernels (and ``more`` loaders of other layers' kernels) in a daemon
    thread (once per process)."""
    global _warm_thread
    if _kernels is not None or _warm_thread is not None or os.environ.get("VECTORDB_NO_WARMUP"):
        return

    def warm() -> None:
        for load in (load_kernels, load_filtered_kernels, *more):
            try:
                load()
            except Exception:
                pass

    _warm_thread = threading.Thread(target=warm, name=_WARM_UP_THREAD, daemon=True)
    _warm_thread.start()


def warm_scan_kernels_in_background() -> None:
    """Start loading the scan kernels in a daemon thread (once per process): an IVF or
    quantized collection's first search should not compile them."""
    global _scan_warm_started
    if _scan_warm_started:
        return
    _scan_warm_started = True

    def warm() -> None:
        try:
            load_scan_kernels()
        except Exception:
            pass

    threading.Thread(target=warm, name=_WARM_UP_THREAD, daemon=True).start()


_scan_warm_started = False


def default_threads() -> int:
    """Threads a large batch's selection or scan is split over: the cores, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))


def pool(name: str, threads: int) -> concurrent.futures.ThreadPoolExecutor:
    """The process-wide pool whose threads are named ``name``, with at least ``threads``."""
    existing = _pools.get(name)
    if existing is not None and existing._max_workers >= threads:
        return existing
    with _lock:
        existing = _pools.get(name)
        if existing is None or existing._max_workers < threads:
            existing = _pools[name] = concurrent.futures.ThreadPoolExecutor(threads, name)
        return existing
