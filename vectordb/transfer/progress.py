"""Progress: a tqdm bar when one is asked for and tqdm is installed, otherwise nothing."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from vectordb.dependencies import optional_module

__all__ = ["Progress"]


class Progress:
    """Counts rows on a tqdm bar (on stderr); a silent no-op when disabled or tqdm is missing.

    Parameters
    ----------
    enabled
        The caller's ``progress=`` flag.
    total
        Rows expected, or None when the source cannot tell without reading it all.
    description
        The bar's label, e.g. ``"validating data.jsonl"``.
    """

    def __init__(self, enabled: bool, *, total: int | None, description: str) -> None:
        self._bar: Any = None
        if enabled:
            tqdm = optional_module("tqdm")
            if tqdm is not None:
                self._bar = tqdm.tqdm(total=total, desc=description, unit=" rows")

    def update(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
