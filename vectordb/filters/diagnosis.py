"""Why a filter may match nothing: the warnings ``Collection.explain`` reports.

Two mistakes make a filter silently match no record (or, with ``$ne`` / ``$nin``, exclude
none): a field no stored record has (a typo, or a key written under another name) and a
comparison with a value of a type the field never holds (``{"year": "2020"}`` where every
``year`` is an int: strings and numbers never compare equal). Both are found from the
field's column over the live rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.filters.columns import MISSING, MetadataColumns
from vectordb.filters.parse import And, Condition, Expression, Not, Or

__all__ = ["filter_warnings"]

_TYPED_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
_EXCLUDING = ("$ne", "$nin")


def filter_warnings(
    expression: Expression,
    columns: MetadataColumns,
    store: Any,
    live: npt.NDArray[np.bool_],
) -> list[str]:
    """The warnings for ``expression`` over the live rows (caller holds the shared latch)."""
    conditions = list(_conditions(expression))
    warnings: list[str] = []
    for path in dict.fromkeys(condition.path for condition in conditions):
        field = ".".join(path)
        values = columns.column(store, path).values
        kinds = {
            _kind(value)
            for value, alive in zip(values, live.tolist())
            if alive and value is not MISSING
        }
        if not kinds:
            warnings.append(
                f"no record has the field {field!r}: conditions on it match no record "
                "($ne, $nin and $exists: false match every record)"
            )
            continue
        for condition in conditions:
            if condition.path != path or condition.op not in _TYPED_OPERATORS:
                continue
            literals = condition.value if condition.op in ("$in", "$nin") else [condition.value]
            for literal in literals:
                kind = _kind(literal)
                if literal is None or kind in kinds:
                    continue
                effect = "excludes no record" if condition.op in _EXCLUDING else "matches nothing"
                warnings.append(
                    f"{field} {condition.op} {literal!r}: {field} holds "
                    f"{' and '.join(sorted(kinds))} values, never a {kind}, so this {effect}"
                )
    return warnings


def _conditions(expression: Expression) -> Iterator[Condition]:
    if isinstance(expression, Condition):
        yield expression
    elif isinstance(expression, (And, Or)):
        for child in expression.children:
            yield from _conditions(child)
    elif isinstance(expression, Not):
        yield from _conditions(expression.child)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__
