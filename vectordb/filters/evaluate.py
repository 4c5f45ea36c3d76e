"""Evaluate a parsed filter over a collection's metadata columns: a boolean mask per row.

Each condition is one vectorized pass over a column (numbers, string codes) or, for lists,
``$contains`` and values of mixed kinds, a pass over the column's objects. ``reference_match``
is the plain-Python evaluator of one record the tests compare against.

Numbers compare exactly, as Python compares ints and floats (``2**53 + 1 != 2.0**53``),
although the column holds them as float64. A number ``x`` is the pair ``(float(x), x -
int(float(x)))``, and pairs order as their numbers do: rounding to float64 is monotonic, so
``float(x) < float(y)`` implies ``x < y``, and between equal floats the exact remainder
decides. The remainder is 0 for floats and for ints up to 2**53 in magnitude: so when the
query value is that small (and so is every number tied with it), or no number in the column
is that large (``Column.holds_wide_ints``), the float64 comparison is the exact one, a
single pass. Otherwise the rows tied with the value's float compare their remainders.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.filters.columns import MISSING, Column, MetadataColumns, value_at
from vectordb.filters.parse import And, Condition, Expression, Not, Or

__all__ = ["evaluate", "reference_match"]

Mask = npt.NDArray[np.bool_]


def evaluate(expression: Expression, columns: MetadataColumns, store: Any, n: int) -> Mask:
    """Rows ``0 .. n - 1`` whose metadata matches (liveness is the caller's business)."""
    if isinstance(expression, And):
        mask = np.ones(n, np.bool_)
        for child in expression.children:
            mask &= evaluate(child, columns, store, n)
        return mask
    if isinstance(expression, Or):
        mask = np.zeros(n, np.bool_)
        for child in expression.children:
            mask |= evaluate(child, columns, store, n)
        return mask
    if isinstance(expression, Not):
        return ~evaluate(expression.child, columns, store, n)
    return _condition(expression, columns.column(store, expression.path), n)


def _condition(condition: Condition, column: Column, n: int) -> Mask:
    op, value = condition.op, condition.value
    if op == "$exists":
        present = column.present()[:n]
        return present.copy() if value else ~present
    if op == "$ne":
        return ~_equal(column, value, n)
    if op == "$eq":
        return _equal(column, value, n)
    if op == "$in":
        mask = np.zeros(n, np.bool_)
        for item in value:
            mask |= _equal(column, item, n)
        return mask
    if op == "$nin":
        mask = np.zeros(n, np.bool_)
        for item in value:
            mask |= _equal(column, item, n)
        return ~mask
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _order(column, op, value, n)
    if op == "$contains":
        return _contains(column, value, n)
    return _regex(column, value, n)


def _equal(column: Column, value: Any, n: int) -> Mask:
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        objects = column.objects()[:n]
        return np.fromiter((_same(v, value) for v in objects), np.bool_, n)
    if isinstance(value, (int, float)):
        return _compare_numbers(column, "$eq", value, n)
    codes, categories = column.strings()
    position = _find(categories, value)
    if position is None:
        return np.zeros(n, np.bool_)
    same: Mask = codes[:n] == position
    return same


def _same(stored: Any, value: Any) -> bool:
    """Equality without Python's 1 == True (a boolean matches only a boolean)."""
    if stored is MISSING:
        return False
    if isinstance(value, bool) or isinstance(stored, bool):
        return type(stored) is type(value) and stored == value
    if value is None:
        return stored is None
    return bool(stored == value)


def _find(categories: list[str], value: str) -> int | None:
    import bisect

    position = bisect.bisect_left(categories, value)
    if position < len(categories) and categories[position] == value:
        return position
    return None


_ARRAY_COMPARE: dict[str, Callable[[Any, Any], Mask]] = {
    "$eq": np.equal, "$gt": np.greater, "$gte": np.greater_equal, "$lt": np.less,
    "$lte": np.less_equal,
}  # fmt: skip
_STRICT: dict[str, Callable[[Any, Any], Mask]] = {
    "$gt": np.greater, "$gte": np.greater, "$lt": np.less, "$lte": np.less,
}  # fmt: skip
_EXACT_INTS = 2.0**53  # every int of at most this magnitude is exactly a float64
_REMAINDER_BOUND = 2**62  # past any stored remainder (at most 2**11 below 2**64)


def _compare_numbers(column: Column, op: str, value: int | float, n: int) -> Mask:
    """Rows whose number compares with ``value`` as ``op`` says, exactly (module docstring)."""
    near, rest = _split(value)
    numbers = column.numbers()[:n]
    with np.errstate(invalid="ignore"):
        if not (abs(near) >= _EXACT_INTS and column.holds_wide_ints()):
            # no remainders to read: `near` is the value exactly (below 2**53, every number
            # that ties with it is one too), or no number is as large as it to tie with it
            return _ARRAY_COMPARE[op](numbers, near)
        tied: Mask = numbers == near
        mask = tied if op == "$eq" else _STRICT[op](numbers, near)
        ties = np.flatnonzero(tied)
        mask[ties] = _ARRAY_COMPARE[op](column.remainders()[ties], rest)
        return mask


def _split(value: int | float) -> tuple[float, int]:
    """``value`` as ``(float(value), value - int(float(value)))``, the remainder clamped
    to +-2**62 (still past every stored one, so the order holds). An int past float64's
    range stands as the largest float64 plus a clamped remainder: between that float and
    the infinity, where it lies."""
    if isinstance(value, float):
        return value, 0
    try:
        near = float(value)
    except OverflowError:
        near = sys.float_info.max if value > 0 else -sys.float_info.max
    rest = value - int(near)
    return near, max(-_REMAINDER_BOUND, min(_REMAINDER_BOUND, rest))


def _order(column: Column, op: str, value: Any, n: int) -> Mask:
    if isinstance(value, (int, float)):
        return _compare_numbers(column, op, value, n)
    import bisect

    codes, categories = column.strings()
    codes = codes[:n]
    strings = codes >= 0
    if op == "$gt":
        return strings & (codes >= bisect.bisect_right(categories, value))
    if op == "$gte":
        return strings & (codes >= bisect.bisect_left(categories, value))
    if op == "$lt":
        return strings & (codes < bisect.bisect_left(categories, value))
    return strings & (codes < bisect.bisect_right(categories, value))


def _contains(column: Column, value: Any, n: int) -> Mask:
    objects = column.objects()[:n]
    out = np.zeros(n, np.bool_)
    for row, stored in enumerate(objects):
        if isinstance(stored, list):
            out[row] = any(_same(item, value) for item in stored)
        elif isinstance(stored, str) and isinstance(value, str):
            out[row] = value in stored
    return out


def _regex(column: Column, pattern: re.Pattern[str], n: int) -> Mask:
    codes, categories = column.strings()
    matching = np.fromiter(
        (pattern.search(text) is not None for text in categories), np.bool_, len(categories)
    )
    codes = codes[:n]
    return (
        (codes >= 0) & matching[np.maximum(codes, 0)] if len(categories) else np.zeros(n, np.bool_)
    )


def reference_match(expression: Expression, metadata: Any) -> bool:
    """Does one record's metadata (a dict or None) match? The obviously-correct reference."""
    if isinstance(expression, And):
        return all(reference_match(child, metadata) for child in expression.children)
    if isinstance(expression, Or):
        return any(reference_match(child, metadata) for child in expression.children)
    if isinstance(expression, Not):
        return not reference_match(expression.child, metadata)
    stored = value_at(metadata, expression.path)
    op, value = expression.op, expression.value
    if op == "$exists":
        return bool((stored is not MISSING) == value)
    if op == "$eq":
        return _reference_equal(stored, value)
    if op == "$ne":
        return not _reference_equal(stored, value)
    if op == "$in":
        return any(_reference_equal(stored, item) for item in value)
    if op == "$nin":
        return not any(_reference_equal(stored, item) for item in value)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        numeric = isinstance(value, (int, float))
        if numeric:
            if isinstance(stored, bool) or not isinstance(stored, (int, float)):
                return False
        elif not isinstance(stored, str):
            return False
        return bool({"$gt": stored > value, "$gte": stored >= value, "$lt": stored < value,
                     "$lte": stored <= value}[op])  # fmt: skip
    if op == "$contains":
        if isinstance(stored, list):
            return any(_reference_equal(item, value) for item in stored)
        return isinstance(stored, str) and isinstance(value, str) and value in stored
    return isinstance(stored, str) and value.search(stored) is not None


def _reference_equal(stored: Any, value: Any) -> bool:
    if stored is MISSING:
        return False
    if isinstance(value, bool) or isinstance(stored, bool):
        return type(stored) is type(value) and stored == value
    if isinstance(value, (int, float)) and isinstance(stored, (int, float)):
        return bool(stored == value)  # exact, as Python compares ints and floats
    if value is None:
        return stored is None
    return bool(type(stored) is type(value) and stored == value) or (
        isinstance(stored, (list, dict)) and stored == value
    )
