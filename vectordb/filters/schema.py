"""An optional metadata schema: declared fields, their types, and which are required.

``create_collection(..., metadata_schema={"lang": "str", "year": {"type": "int",
"required": True}, "info.source": "str"})``. Every write's metadata is checked against it
before anything is logged (``InvalidMetadataError`` naming the record and the field); fields
the schema does not name are allowed. Declared fields get a metadata column at once (as with
``create_index``). Types: ``str``, ``int``, ``float`` (ints accepted), ``bool``, ``list``,
``dict``, ``date`` (an ISO 8601 string, as filters compare dates), ``any``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from vectordb.errors import InvalidConfigError, InvalidMetadataError

__all__ = ["check_metadata", "normalize_schema"]

_TYPES = ("str", "int", "float", "bool", "list", "dict", "date", "any")


def normalize_schema(schema: object) -> dict[str, dict[str, Any]]:
    """``{field: {"type": t, "required": bool}}`` from the user's mapping."""
    if not isinstance(schema, Mapping):
        raise InvalidConfigError(
            f"metadata_schema must be a mapping of field -> type; got {type(schema).__name__}"
        )
    normalized: dict[str, dict[str, Any]] = {}
    for field, spec in schema.items():
        if not isinstance(field, str) or not field or any(not p for p in field.split(".")):
            raise InvalidConfigError(f"metadata_schema field {field!r}: a non-empty (dotted) name")
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, Mapping) or set(spec) - {"type", "required"}:
            raise InvalidConfigError(
                f"metadata_schema[{field!r}] must be a type name or {{'type': ..., "
                f"'required': bool}}; got {spec!r}"
            )
        kind = spec.get("type", "any")
        required = spec.get("required", False)
        if kind not in _TYPES:
            raise InvalidConfigError(
                f"metadata_schema[{field!r}] type must be one of {list(_TYPES)}; got {kind!r}"
            )
        if not isinstance(required, bool):
            raise InvalidConfigError(f"metadata_schema[{field!r}] required must be True or False")
        normalized[field] = {"type": kind, "required": required}
    return normalized


def _fits(kind: str, value: Any) -> bool:
    if kind == "any":
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, (list, tuple))
    if kind == "dict":
        return isinstance(value, Mapping)
    if not isinstance(value, str):  # date
        return False
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_metadata(
    schema: Mapping[str, Mapping[str, Any]], entries: Sequence[Any], ids: Sequence[str] | None
) -> None:
    """Raise ``InvalidMetadataError`` for the first entry (a mapping or None) that breaks
    ``schema``."""
    for position, entry in enumerate(entries):
        for field, spec in schema.items():
            value: Any = entry
            for part in field.split("."):
                if not isinstance(value, Mapping) or part not in value:
                    value = _ABSENT
                    break
                value = value[part]
            where = f"record {ids[position]!r}" if ids is not None else f"position {position}"
            if value is _ABSENT:
                if spec["required"]:
                    raise InvalidMetadataError(
                        f"metadata of {where} lacks the required field {field!r} "
                        f"({spec['type']}); nothing was written"
                    )
                continue
            if value is not None and not _fits(spec["type"], value):
                raise InvalidMetadataError(
                    f"metadata of {where}: field {field!r} must be {spec['type']}, got "
                    f"{type(value).__name__} {value!r:.40}; nothing was written"
                )


_ABSENT = object()
