"""What import and export need of a collection: a small Protocol, so ``transfer/`` never
imports ``collection.py`` (which calls into ``transfer/`` for ``import_file`` / ``export``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from vectordb.config import CollectionConfig
from vectordb.results import Record, Records

__all__ = ["TransferTarget"]


class TransferTarget(Protocol):
    """The part of ``vectordb.Collection`` that import and export use."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def metric(self) -> str: ...

    @property
    def config(self) -> CollectionConfig: ...

    @property
    def has_documents(self) -> bool: ...

    def count(self, where: Mapping[str, Any] | None = None) -> int: ...

    def ids(self, offset: int = 0, limit: int | None = None) -> list[str]: ...

    def get_many(self, ids: Sequence[str]) -> list[Record | None]: ...

    def scroll(
        self,
        where: Mapping[str, Any] | None = None,
        batch_size: int = 1000,
        *,
        include: Iterable[str] = ...,
    ) -> Iterator[Records]: ...

    def add(self, vectors: Any, *args: Any, **kwargs: Any) -> list[str]: ...

    def upsert(self, vectors: Any, *args: Any, **kwargs: Any) -> list[str]: ...
