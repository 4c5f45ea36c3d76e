"""The options a search takes, checked once per call: ``k``, ``ef``, ``nprobe``, ``mode``,
``include``, ``radius``. Every check raises ``InvalidArgumentError`` saying what was wrong;
the common cases (a cached ``include`` tuple, the default knobs) cost a dict lookup."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from vectordb.errors import InvalidArgumentError
from vectordb.index.base import SearchKnobs
from vectordb.index.flat import SearchMode
from vectordb.inputs import positive_int

if TYPE_CHECKING:
    from vectordb.engine.state import CollectionState

__all__ = [
    "AUTO_DOCUMENT",
    "READ_INCLUDE",
    "check_radius",
    "include_set",
    "search_knobs",
    "search_options",
]

INCLUDE_CHOICES = frozenset({"metadata", "vector", "document"})
READ_INCLUDE = ("vector", "metadata")
"""What ``get``, ``get_many``, ``find`` and ``scroll`` read unless told otherwise."""
#: in an include set: the document too when the collection holds any (``include=None``,
#: search's default); never a user's choice
AUTO_DOCUMENT = "document if any"
_SEARCH_DEFAULT = frozenset({"metadata", AUTO_DOCUMENT})
_MODES: tuple[SearchMode, ...] = ("auto", "numba", "numpy", "scalar")
_KNOBS_BY_MODE = {mode: SearchKnobs(mode=mode) for mode in _MODES}


def search_options(k: Any, ef: Any, include: Iterable[str] | None, mode: Any) -> frozenset[str]:
    """Check search()'s options; returns what the hits should carry (see ``include_set``)."""
    positive_int("k", k)
    if ef is not None:
        positive_int("ef", ef)
    if mode not in _MODES:
        raise InvalidArgumentError(
            f"mode must be 'auto', 'numba', 'numpy' or 'scalar'; got {mode!r}"
        )
    return include_set(include)


def search_knobs(
    state: CollectionState,
    collection: str,
    ef: int | None,
    nprobe: int | None,
    mode: SearchMode,
) -> SearchKnobs:
    """A query's knobs: ``ef`` / ``nprobe`` checked against the collection's index kind (a
    knob the index does not have is an error, not silently ignored), else the collection's
    configured defaults."""
    if ef is None and nprobe is None:
        defaults = state.search_defaults
        if defaults is None:
            return _KNOBS_BY_MODE[mode]
        return SearchKnobs(ef=defaults[0], nprobe=defaults[1], mode=mode)
    kind = state.store.config.index
    if ef is not None and kind != "hnsw":
        raise InvalidArgumentError(f"ef applies to HNSW collections; {collection!r} is {kind!r}")
    if nprobe is not None:
        positive_int("nprobe", nprobe)
        if kind != "ivf":
            raise InvalidArgumentError(
                f"nprobe applies to IVF collections; {collection!r} is {kind!r}"
            )
    return SearchKnobs(ef=ef, nprobe=nprobe, mode=mode)


def check_radius(radius: Any) -> None:
    if (
        isinstance(radius, bool)
        or not isinstance(radius, (int, float, np.floating))
        or not math.isfinite(radius)
    ):
        raise InvalidArgumentError(f"radius must be a finite number; got {radius!r}")


_INCLUDE_CACHE: dict[Any, frozenset[str]] = {}


def include_set(include: Iterable[str] | None) -> frozenset[str]:
    """The fields ``include`` names, checked; None: search's default (the metadata, and the
    document when the collection holds any: ``AUTO_DOCUMENT``)."""
    if include is None:
        return _SEARCH_DEFAULT
    if type(include) is tuple:
        cached = _INCLUDE_CACHE.get(include)
        if cached is not None:
            return cached
        included = _include_uncached(include)
        if len(_INCLUDE_CACHE) < 64:
            _INCLUDE_CACHE[include] = included
        return included
    return _include_uncached(include)


def _include_uncached(include: Iterable[str]) -> frozenset[str]:
    if isinstance(include, str):
        include = (include,)
    try:
        included = frozenset(include)
    except TypeError as error:
        raise InvalidArgumentError(
            f"include must be a sequence of strings; got {include!r}"
        ) from error
    unknown = included - INCLUDE_CHOICES
    if unknown:
        raise InvalidArgumentError(
            f"include accepts {sorted(INCLUDE_CHOICES)}; got {sorted(map(str, unknown))}"
        )
    return included
