"""How values look in a terminal and in a notebook.

Short reprs (a vector as ``[0.12, -0.40, 0.33, ...] (384)``, long text cut to ~80
characters) and the HTML of the ``_repr_html_`` methods: a table or a list of fields, every
piece of text escaped, inside the wrapper xarray's ``formatting_html`` uses: a ``<pre>`` with
the plain-text repr, shown where a viewer strips styles, and the HTML, shown where they work.
Plain functions of plain values: nothing here reads a database.
"""

from __future__ import annotations

import html
import math
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "MAX_HTML_ROWS",
    "cell_text",
    "flat_fields",
    "html_fields",
    "html_repr",
    "html_table",
    "human_bytes",
    "short_repr",
    "vector_preview",
]

MAX_HTML_ROWS = 50
"""Rows of a result table shown in a notebook; the rest are counted."""

_TEXT_LIMIT = 80
_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = 6
_short.maxtuple = 6
_short.maxdict = 6
_short.maxlevel = 3

_STYLE = (
    "<style>.vectordb-repr .vectordb-html{display:block !important}"
    ".vectordb-repr .vectordb-text{display:none}"
    ".vectordb-repr table{border-collapse:collapse;font-size:0.9em}"
    ".vectordb-repr th,.vectordb-repr td{text-align:left;padding:2px 8px;"
    "vertical-align:top}</style>"
)


def vector_preview(vector: Any, shown: int = 3) -> str:
    """The first ``shown`` values of ``vector`` and its length: ``[0.12, -0.40, ...] (384)``."""
    if vector is None:
        return "None"
    values = np.asarray(vector).ravel()
    head = ", ".join(_number(float(value)) for value in values[:shown])
    more = ", ..." if values.size > shown else ""
    return f"[{head}{more}] ({values.size})"


def _number(value: float) -> str:
    if value == 0 or not math.isfinite(value) or 0.01 <= abs(value) < 10_000:
        return f"{value:.2f}"
    return f"{value:.2e}"


def short_repr(value: Any) -> str:
    """``repr(value)`` cut down: strings to 60 characters, containers to 6 items."""
    try:
        return _short.repr(value)
    except Exception:  # a hostile __repr__ must not break printing a result
        return f"<a {type(value).__name__}>"


def cell_text(value: Any) -> str:
    """One table cell as text: strings as they are (cut to ~80 characters), None empty,
    vectors previewed, other values by their short repr."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value if len(value) <= _TEXT_LIMIT else value[: _TEXT_LIMIT - 3] + "..."
    if isinstance(value, np.ndarray):
        return vector_preview(value)
    return short_repr(value)


def flat_fields(metadata: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """``metadata`` with nested mappings flattened to dotted keys:
    ``{"a": {"b": 1}, "c": 2}`` -> ``{"a.b": 1, "c": 2}``. Lists stay values; an empty
    nested mapping stays a value (so nothing is lost)."""
    flat: dict[str, Any] = {}
    if not metadata:
        return flat
    for key, value in metadata.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flat_fields(value, name + "."))
        else:
            flat[name] = value
    return flat


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, total: int | None = None
) -> str:
    """A table of text cells (escaped here); ``total`` rows when more exist than shown."""
    escape = html.escape
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = []
    shown = 0
    for row in rows:
        body.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>")
        shown += 1
    if total is not None and total > shown:
        body.append(
            f'<tr><td colspan="{len(headers)}">... {total - shown} more</td></tr>'
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_fields(fields: Iterable[tuple[str, str]]) -> str:
    """A two-column table of ``(name, value)`` text pairs (escaped here)."""
    escape = html.escape
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>" for name, value in fields
    )
    return f"<table><tbody>{rows}</tbody></table>"


def html_repr(title: str, text: str, *parts: str) -> str:
    """The whole ``_repr_html_``: ``title`` (escaped) over ``parts`` (HTML already built by
    ``html_table`` / ``html_fields``), with ``text``, the plain repr, as the fallback."""
    return (
        f'<div class="vectordb-repr">{_STYLE}'
        f'<pre class="vectordb-text">{html.escape(text)}</pre>'
        f'<div class="vectordb-html" style="display:none">'
        f"<strong>{html.escape(title)}</strong>{''.join(parts)}</div></div>"
    )


def human_bytes(size: int) -> str:
    """``size`` in bytes as a short text: ``512 B``, ``1.5 KiB``, ``12.3 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
