"""The ``where=`` language, parsed once per query into an expression tree.

A filter is a mapping. Keys that start with ``$`` combine filters: ``{"$and": [f, ...]}``,
``{"$or": [f, ...]}``, ``{"$not": f}``. Every other key is a field, a dotted path into nested
metadata (``"author.name"``), and its value is either a literal (equality:
``{"lang": "en"}``) or a mapping of operators, all of which must hold
(``{"year": {"$gte": 2020, "$lt": 2024}}``). Several keys in one mapping must all hold.

Operators: ``$eq $ne $gt $gte $lt $lte`` (numbers with numbers, strings with strings; dates
and datetimes compare as their ISO 8601 text, the form to store them in), ``$in $nin`` (a list
of literals), ``$exists`` (true / false), ``$contains`` (the field is a list holding the value,
or a string holding it as a substring), ``$regex`` (a string the field's text matches,
``re.search``). ``$ne`` and ``$nin`` also match records without the field; every other
operator needs the field. Errors raise ``InvalidFilterError`` naming the path to the offending
part, e.g. ``where["$and"][1]["year"]: $gte needs a number, a string or a date; got [2020]``.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Mapping
from typing import Any

from vectordb.errors import InvalidFilterError

__all__ = ["And", "Condition", "Expression", "Not", "Or", "filter_key", "parse_filter"]

COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
OPERATORS = (*COMPARISONS, "$in", "$nin", "$exists", "$contains", "$regex")
_MAX_DEPTH = 64


@dataclasses.dataclass(frozen=True, slots=True)
class Condition:
    path: tuple[str, ...]
    op: str
    value: Any


@dataclasses.dataclass(frozen=True, slots=True)
class And:
    children: tuple[Expression, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Expression, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Not:
    child: Expression


Expression = Condition | And | Or | Not


def parse_filter(where: Any) -> Expression:
    """Check ``where`` and return its expression tree (``InvalidFilterError`` if bad).

    A plain ``dict`` filter is parsed once: the tree is kept under its ``repr`` (which names
    every key, operator and literal with its type), so an application repeating a filter in
    a loop of queries does not pay the parse again. Other mappings are parsed every time.
    A filter nested more than 64 levels deep (its combinators and the lists and mappings in
    its values together) is an ``InvalidFilterError``."""
    if type(where) is not dict:
        return _parse(where, "where", 0)
    try:
        key = repr(where)
    except RecursionError:
        # nested past what repr can name (about 1000 levels), so far past _MAX_DEPTH:
        # _parse, which checks the depth before it goes down, says so
        return _parse(where, "where", 0)
    expression = _PARSED.get(key)
    if expression is None:
        expression = _parse(where, "where", 0)
        if len(_PARSED) >= _PARSED_KEPT:
            _PARSED.clear()
            _KEYS.clear()
        _PARSED[key] = expression
        _KEYS[id(expression)] = (expression, repr(expression))
    return expression


def filter_key(expression: Expression) -> str:
    """A string naming the filter ``expression`` stands for (its ``repr``): equal for equal
    filters, distinct otherwise (literals keep their types: ``1``, ``1.0``, ``True``). Kept
    for the trees ``parse_filter`` keeps, so a repeated filter does not build it again."""
    known = _KEYS.get(id(expression))
    if known is not None and known[0] is expression:
        return known[1]
    return repr(expression)


_PARSED: dict[str, Expression] = {}
_KEYS: dict[int, tuple[Expression, str]] = {}  # id(tree) -> (tree, its repr), for _PARSED's trees
_PARSED_KEPT = 256


def _parse(node: Any, where: str, depth: int) -> Expression:
    _check_depth(depth, where)
    if not isinstance(node, Mapping):
        raise InvalidFilterError(
            f"{where}: a filter is a mapping such as {{'lang': 'en'}}; got {node!r}"
        )
    if not node:
        raise InvalidFilterError(
            f"{where}: empty filter; leave where= out to match every record (delete: "
            "pass every id, or drop and create the collection)"
        )
    parts: list[Expression] = []
    for key, value in node.items():
        at = f"{where}[{key!r}]"
        if not isinstance(key, str):
            raise InvalidFilterError(f"{at}: keys are field names or $and / $or / $not")
        if key in ("$and", "$or"):
            if not isinstance(value, (list, tuple)) or not value:
                raise InvalidFilterError(f"{at}: {key} takes a non-empty list of filters")
            children = tuple(
                _parse(child, f"{at}[{i}]", depth + 1) for i, child in enumerate(value)
            )
            parts.append(And(children) if key == "$and" else Or(children))
        elif key == "$not":
            parts.append(Not(_parse(value, at, depth + 1)))
        elif key.startswith("$"):
            raise InvalidFilterError(
                f"{at}: unknown combinator {key!r}; use $and, $or, $not (operators such as "
                "$gt go under a field: {'year': {'$gt': 2020}})"
            )
        else:
            parts.extend(_field(key, value, at, depth))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _check_depth(depth: int, at: str) -> None:
    if depth > _MAX_DEPTH:
        raise InvalidFilterError(f"{at}: filter nested more than {_MAX_DEPTH} levels")


def _field(key: str, value: Any, at: str, depth: int) -> list[Expression]:
    path = tuple(key.split("."))
    if any(not part for part in path):
        raise InvalidFilterError(f"{at}: field path {key!r} has an empty part")
    if (
        isinstance(value, Mapping)
        and value
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    ):
        return [Condition(path, op, _operand(op, operand, f"{at}[{op!r}]", depth))
                for op, operand in value.items()]  # fmt: skip
    if isinstance(value, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in value):
        raise InvalidFilterError(f"{at}: mixes operators and plain keys: {value!r}")
    return [Condition(path, "$eq", _literal(value, at, depth))]


def _literal(value: Any, at: str, depth: int) -> Any:
    """``value`` checked; ``depth``: of the filter mapping it sits in (each list or mapping
    inside it one more)."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and value != value:
            raise InvalidFilterError(f"{at}: NaN matches nothing; use $exists to test presence")
        return value
    if isinstance(value, (list, tuple)):
        _check_depth(depth + 1, at)
        return [_literal(item, at, depth + 1) for item in value]
    if isinstance(value, Mapping):
        _check_depth(depth + 1, at)
        return {str(k): _literal(v, at, depth + 1) for k, v in value.items()}
    raise InvalidFilterError(f"{at}: cannot compare with a {type(value).__name__} ({value!r})")


def _operand(op: str, operand: Any, at: str, depth: int) -> Any:
    if op not in OPERATORS:
        raise InvalidFilterError(f"{at}: unknown operator {op!r}; operators are {list(OPERATORS)}")
    if op in ("$gt", "$gte", "$lt", "$lte"):
        operand = _literal(operand, at, depth)
        if isinstance(operand, bool) or not isinstance(operand, (int, float, str)):
            raise InvalidFilterError(
                f"{at}: {op} needs a number, a string or a date; got {operand!r}"
            )
        return operand
    if op in ("$eq", "$ne"):
        return _literal(operand, at, depth)
    if op in ("$in", "$nin"):
        if not isinstance(operand, (list, tuple, set, frozenset)):
            raise InvalidFilterError(f"{at}: {op} takes a list of values; got {operand!r}")
        _check_depth(depth + 1, at)
        return [_literal(item, at, depth + 1) for item in operand]
    if op == "$exists":
        if not isinstance(operand, bool):
            raise InvalidFilterError(f"{at}: $exists takes true or false; got {operand!r}")
        return operand
    if op == "$contains":
        return _literal(operand, at, depth)
    # $regex
    if not isinstance(operand, str):
        raise InvalidFilterError(f"{at}: $regex takes a pattern string; got {operand!r}")
    try:
        return re.compile(operand)
    except re.error as error:
        raise InvalidFilterError(f"{at}: bad regular expression {operand!r}: {error}") from None
