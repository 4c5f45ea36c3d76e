"""Values returned to users: immutable (frozen, slotted dataclasses; ``Hit`` a tuple), and
the lists of them that ``search`` and ``find`` return (``SearchResults``, ``Records``: plain
lists that also turn into a DataFrame and show as a table in a notebook)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.dependencies import require_module
from vectordb.display import (
    MAX_HTML_ROWS,
    cell_text,
    flat_fields,
    html_fields,
    html_repr,
    html_table,
    human_bytes,
    short_repr,
    vector_preview,
)

__all__ = [
    "CollectionInfo",
    "Hit",
    "Problem",
    "Record",
    "Records",
    "SearchResults",
    "collection_html",
    "database_html",
    "make_hit",
    "stacked_vectors",
]


class Hit(tuple):  # type: ignore[type-arg]
    """One search result: ``id``, ``score``, ``metadata``, ``vector``, ``document``.

    Immutable. A tuple underneath (``id, score, metadata, vector, document = hit`` works)
    because a search builds k of them per query and a tuple costs a quarter of a dataclass
    to create. Equality compares ``id``, ``score``, ``metadata`` and ``document``, not
    ``vector``.

    Attributes
    ----------
    id : str
        The id of the matching record.
    score : float
        The metric's natural value, unitless: cosine similarity (-1 to 1) or inner product
        (higher is better), or euclidean distance (0 or more, not squared; lower is
        better). Hits come best first.
    metadata : dict or None
        The record's metadata; None when the record has none or when it was left out of
        ``include``.
    vector : numpy.ndarray or None
        The stored vector, float32 of shape ``(dim,)`` (unit length in a ``normalize``
        collection); set only when asked for with ``include=("vector",)``, else None.
    document : str or None
        The record's document (its text); None when it has none or when it was left out of
        ``include`` (``search`` includes it by default once the collection holds any).

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     _ = docs.add([[1, 0], [1, 1]], ids=["a", "b"], metadata=[{"k": 1}, None],
    ...                  documents=["first", None])
    ...     best, second = docs.search([1, 0], k=2)
    >>> best
    Hit(id='a', score=1.0, metadata={'k': 1}, document='first')
    >>> hit_id, score, metadata, vector, document = second
    >>> hit_id, round(score, 4), metadata, vector, document
    ('b', 0.7071, None, None, None)
    """

    __slots__ = ()
    __match_args__ = ("id", "score", "metadata", "vector", "document")
    # pd.DataFrame(hits) names its columns
    _fields = ("id", "score", "metadata", "vector", "document")

    def __new__(
        cls,
        id: str,
        score: float,
        metadata: dict[str, Any] | None = None,
        vector: npt.NDArray[np.float32] | None = None,
        document: str | None = None,
    ) -> Hit:
        return tuple.__new__(cls, (id, score, metadata, vector, document))

    @property
    def id(self) -> str:
        return self[0]  # type: ignore[no-any-return]

    @property
    def score(self) -> float:
        return self[1]  # type: ignore[no-any-return]

    @property
    def metadata(self) -> dict[str, Any] | None:
        return self[2]  # type: ignore[no-any-return]

    @property
    def vector(self) -> npt.NDArray[np.float32] | None:
        return self[3]  # type: ignore[no-any-return]

    @property
    def document(self) -> str | None:
        return self[4]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        text = f"Hit(id={short_repr(self[0])}, score={self[1]!r}, metadata={short_repr(self[2])}"
        if self[3] is not None:
            text += f", vector={vector_preview(self[3])}"
        return text + (")" if self[4] is None else f", document={short_repr(self[4])})")

    def to_dict(self) -> dict[str, Any]:
        """The hit as a ``dict``, e.g. for JSON or a DataFrame row.

        Returns
        -------
        dict
            ``{"id", "score", "metadata"}``, ``"vector"`` when the search included it, and
            ``"document"`` when the hit has one.

        Raises
        ------
        Never raises.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0]], ids=["a"], metadata=[{"k": 1}])
        ...     docs.search([1, 0], k=1)[0].to_dict()
        ...     docs.search([1, 0], k=1, include=("vector",))[0].to_dict()
        {'id': 'a', 'score': 1.0, 'metadata': {'k': 1}}
        {'id': 'a', 'score': 1.0, 'metadata': None, 'vector': array([1., 0.], dtype=float32)}
        """
        fields = {"id": self[0], "score": self[1], "metadata": self[2]}
        if self[3] is not None:
            fields["vector"] = self[3]
        if self[4] is not None:
            fields["document"] = self[4]
        return fields

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hit):
            return NotImplemented
        return bool(self[0] == other[0] and self[1] == other[1] and self[2] == other[2]
                    and self[4] == other[4])  # fmt: skip

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((self[0], self[1]))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Hit is immutable; cannot set {name!r}")


_new_tuple = tuple.__new__


def make_hit(
    id: str,
    score: float,
    metadata: dict[str, Any] | None = None,
    vector: npt.NDArray[np.float32] | None = None,
    document: str | None = None,
) -> Hit:
    """``Hit(...)`` without the Python-level ``__new__`` call (the search hot path)."""
    return _new_tuple(Hit, (id, score, metadata, vector, document))


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """A stored record as ``get()`` returns it (and, in a :class:`Records` list, ``find()``
    and ``scroll()``). Immutable; equality compares ``id``, ``metadata``, ``document`` and
    the vector's values.

    Attributes
    ----------
    id : str
        The record's id.
    vector : numpy.ndarray or None
        The stored vector, float32 of shape ``(dim,)`` (scaled to unit length in a
        ``normalize`` collection); None when the read left it out
        (``include=("metadata",)``).
    metadata : dict or None
        The record's metadata; None when the record has none or when the read left it out.
    document : str or None
        The record's document (its text); None when it has none or when the read left it
        out (reads include it when asked: ``include=("vector", "metadata", "document")``).

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=2, normalize=True)
    ...     _ = docs.add([[3, 4]], ids=["a"], metadata=[{"k": 1}])
    ...     record = docs.get("a")
    >>> record
    Record(id='a', vector=[0.60, 0.80] (2), metadata={'k': 1})
    >>> record.vector.dtype, record.vector.shape
    (dtype('float32'), (2,))
    """

    id: str
    vector: npt.NDArray[np.float32] | None = dataclasses.field(compare=False)
    metadata: dict[str, Any] | None = None
    document: str | None = None

    def __repr__(self) -> str:
        text = (
            f"Record(id={short_repr(self.id)}, vector={vector_preview(self.vector)}, "
            f"metadata={short_repr(self.metadata)}"
        )
        return text + (")" if self.document is None else f", document={short_repr(self.document)})")

    def to_dict(self) -> dict[str, Any]:
        """The record as a ``dict``, e.g. for JSON or a DataFrame row.

        Returns
        -------
        dict
            ``{"id", "metadata"}``, ``"vector"`` when the read included it, and
            ``"document"`` when the record has one (and the read included it).

        Raises
        ------
        Never raises.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0]], ids=["a"], metadata=[{"k": 1}])
        ...     docs.get("a").to_dict()
        ...     docs.get("a", include=("metadata",)).to_dict()
        {'id': 'a', 'metadata': {'k': 1}, 'vector': array([1., 0.], dtype=float32)}
        {'id': 'a', 'metadata': {'k': 1}}
        """
        fields: dict[str, Any] = {"id": self.id, "metadata": self.metadata}
        if self.vector is not None:
            fields["vector"] = self.vector
        if self.document is not None:
            fields["document"] = self.document
        return fields

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        if (self.id, self.metadata, self.document) != (other.id, other.metadata, other.document):
            return False
        if self.vector is None or other.vector is None:
            return self.vector is other.vector
        return np.array_equal(self.vector, other.vector)

    __hash__ = None  # type: ignore[assignment]


def stacked_vectors(records: Iterable[Record]) -> npt.NDArray[np.float32]:
    """The ``(n, dim)`` vectors of records read with their vectors (the default)."""
    vectors = []
    for record in records:
        if record.vector is None:
            raise ValueError(f"record {record.id!r} was read without its vector")
        vectors.append(record.vector)
    return np.stack(vectors)


_PANDAS_PURPOSE = "Turning results into a DataFrame"


def _frame(rows: list[dict[str, Any]], leading: list[str], flatten: bool) -> Any:
    """A DataFrame of ``rows`` (each a ``to_dict()``): the ``leading`` columns, then one
    column per metadata field (dotted for nested ones; ``metadata.<key>`` when a key
    clashes with a leading column) with ``flatten``, else one ``metadata`` column; then
    ``document`` and ``vector`` when any row has one."""
    pandas = require_module("pandas", extra="pandas", purpose=_PANDAS_PURPOSE)
    with_vector = any("vector" in row for row in rows)
    with_document = any("document" in row for row in rows)
    columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in leading}
    if flatten:
        flat = [flat_fields(row["metadata"]) for row in rows]
        names: dict[str, None] = {}
        for fields in flat:
            names.update(dict.fromkeys(fields))
        for name in names:
            clash = name in leading or name in ("vector", "document")
            column = f"metadata.{name}" if clash else name
            columns[column] = [fields.get(name) for fields in flat]
    else:
        columns["metadata"] = [row["metadata"] for row in rows]
    if with_document:
        columns["document"] = [row.get("document") for row in rows]
    if with_vector:
        columns["vector"] = [row.get("vector") for row in rows]
    return pandas.DataFrame(columns, columns=list(columns))


def _metadata_columns(items: Iterable[Any], limit: int = 8) -> list[str]:
    """The first ``limit`` flattened metadata fields met in ``items``, in order."""
    names: dict[str, None] = {}
    for item in items:
        names.update(dict.fromkeys(flat_fields(item.metadata)))
        if len(names) >= limit:
            break
    return list(names)[:limit]


def _results_html(items: list[Any], title: str, ranked: bool) -> str:
    """The notebook table of hits (``ranked``: rank, id, score) or records (id): then the
    document, one column per metadata field and a vector preview, where any item has them."""
    fields = _metadata_columns(items)
    with_document = any(item.document is not None for item in items)
    with_vector = any(item.vector is not None for item in items)
    headers = ["#", "id", "score"] if ranked else ["id"]
    headers += [*(["document"] if with_document else []), *fields]
    headers += ["vector"] if with_vector else []
    rows = []
    for rank, item in enumerate(items[:MAX_HTML_ROWS], 1):
        flat = flat_fields(item.metadata)
        cells = [str(rank), cell_text(item.id), f"{item.score:.4f}"] if ranked else [
            cell_text(item.id)
        ]  # fmt: skip
        if with_document:
            cells.append(cell_text(item.document))
        cells += [cell_text(flat.get(name)) for name in fields]
        if with_vector:
            cells.append(cell_text(item.vector))
        rows.append(cells)
    return html_repr(title, repr(items), html_table(headers, rows, total=len(items)))


class SearchResults(list[Hit]):
    """The hits of one query, best first: a plain ``list`` of :class:`Hit` that also gives
    ``to_pandas()`` and shows as a table in a notebook.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"k": 1}, {"k": 2}])
    ...     hits = docs.search([1, 0], k=2)
    >>> hits
    [Hit(id='a', score=1.0, metadata={'k': 1}), Hit(id='b', score=0.0, metadata={'k': 2})]
    >>> hits[0].id, hits[0].score
    ('a', 1.0)
    """

    __slots__ = ()

    def to_pandas(self, *, flatten: bool = True) -> Any:
        """The hits as a ``pandas.DataFrame``. Needs pandas.

        Parameters
        ----------
        flatten
            One column per metadata field (nested fields as dotted names; a field named
            like a leading column becomes ``metadata.<name>``); False: one ``metadata``
            column of dicts.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``score``, the metadata, ``document`` when a hit has one, and
            ``vector`` when the search included vectors; one row per hit, best first.

        Raises
        ------
        MissingDependencyError
            If pandas is not installed.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"k": 1}, {"k": 2}])
        ...     hits = docs.search([1, 0], k=2)
        >>> hits.to_pandas()
          id  score  k
        0  a    1.0  1
        1  b    0.0  2
        >>> list(hits.to_pandas(flatten=False).columns)
        ['id', 'score', 'metadata']
        """
        return _frame([hit.to_dict() for hit in self], ["id", "score"], flatten)

    def _repr_html_(self) -> str:
        return _results_html(self, f"{len(self)} hit{'s' if len(self) != 1 else ''}", True)


class Records(list[Record]):
    """Records as ``find`` and ``scroll`` return them: a plain ``list`` of :class:`Record`
    that also gives ``to_pandas()`` and shows as a table in a notebook.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=2)
    ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"k": 1}, {"k": 2}])
    ...     docs.find({"k": 2})
    [Record(id='b', vector=[0.00, 1.00] (2), metadata={'k': 2})]
    """

    __slots__ = ()

    def to_pandas(self, *, flatten: bool = True) -> Any:
        """The records as a ``pandas.DataFrame``. Needs pandas.

        Parameters
        ----------
        flatten
            One column per metadata field (see :meth:`SearchResults.to_pandas`); False: one
            ``metadata`` column of dicts.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, the metadata, and ``vector`` when the read included vectors;
            one row per record.

        Raises
        ------
        MissingDependencyError
            If pandas is not installed.

        Examples
        --------
        >>> import tempfile, vectordb
        >>> with vectordb.open(tempfile.mkdtemp()) as db:
        ...     docs = db.create_collection("docs", dim=2)
        ...     _ = docs.add([[1, 0], [0, 1]], ids=["a", "b"], metadata=[{"k": 1}, {"k": 2}])
        ...     records = docs.find({"k": 2}, include=("metadata",))
        >>> records.to_pandas()
          id  k
        0  b  2
        >>> records.to_pandas(flatten=False)
          id  metadata
        0  b  {'k': 2}
        """
        return _frame([record.to_dict() for record in self], ["id"], flatten)

    def _repr_html_(self) -> str:
        title = f"{len(self)} record{'s' if len(self) != 1 else ''}"
        return _results_html(self, title, False)


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``Database.check()``: where the damage is and what it is.

    Attributes
    ----------
    path : str
        The damaged (or stray, or missing) file or directory: a path inside the database
        directory (``db.path`` joined with the file's place in it).
    offset : int or None
        The byte offset in ``path`` where the damage was found (0 for a bad header); None
        when it is not at one place in a file (a missing or stray file, counts that
        disagree).
    message : str
        What is wrong; after ``check(repair=True)`` it ends in what the repair did
        (``"; repaired: ..."``).

    Examples
    --------
    >>> import os, tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     _ = db.create_collection("docs", dim=2)
    ...     open(os.path.join(db.path, "collections", "docs", "stray.tmp"), "wb").close()
    ...     [problem] = db.check(repair=True)
    >>> os.path.basename(problem.path), problem.offset
    ('stray.tmp', None)
    >>> problem.message
    'stray file (not named by MANIFEST or INDEX); repaired: deleted'
    """

    path: str
    offset: int | None
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionInfo:
    """Summary of a collection, as ``list_collections()`` and ``stats()`` return it.

    Attributes
    ----------
    name : str
        The collection's name.
    count : int
        Live records (rows holding a stored record; deleted and replaced ones not counted).
    dim : int
        Length of every vector, in numbers.
    metric : str
        ``"cosine"``, ``"dot"`` or ``"euclidean"`` (see :class:`Metric`).
    index : str
        ``"flat"``, ``"hnsw"`` or ``"ivf"``.
    normalize : bool
        Whether vectors are stored scaled to unit length.
    created_at : float
        When the collection was created, in Unix seconds.
    updated_at : float
        When its last write was applied, in Unix seconds.
    disk_bytes : int
        Bytes of every file in the collection's directory (vector file with its reserved
        rows, metadata, index files); the database's log is not counted.
    memory_bytes : int
        An estimate, in bytes, of the process memory the collection holds: per-row
        bookkeeping, the id map, the index, and the vectors when ``use_mmap`` is off
        (memory-mapped vector files are not counted).
    config : dict
        The collection's configuration, as ``CollectionConfig.to_dict()`` gives it.
    index_info : dict or None
        Index state (HNSW: indexed and pending rows, parameters, graph memory in bytes,
        fallback reason); None for a flat index without quantization.
    dead_rows : int
        Rows that held deleted or replaced records: reclaimed by :meth:`Collection.compact`.
    dead_bytes : int
        Vector bytes of ``dead_rows`` (``dead_rows * dim * 4``).
    problem : str or None
        Why the collection cannot be used (its files are damaged), or None. An unavailable
        collection is listed with zero counts; using it raises ``CorruptionError``, and
        ``Database.check(repair=True)`` moves it to ``quarantine/``. ``available`` is True
        when it is None.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=4)
    ...     _ = docs.add([[1, 0, 0, 0], [0, 1, 0, 0]], ids=["a", "b"])
    ...     _ = docs.delete(["a"])
    ...     info = docs.stats()
    >>> info.count, info.dim, info.metric, info.index, info.dead_rows, info.dead_bytes
    (1, 4, 'cosine', 'flat', 1, 16)
    >>> info.available, info.disk_bytes > 0, info.updated_at >= info.created_at
    (True, True, True)
    """

    name: str
    count: int
    dim: int
    metric: str
    index: str
    normalize: bool
    created_at: float
    updated_at: float
    disk_bytes: int
    memory_bytes: int
    config: dict[str, Any]
    index_info: dict[str, Any] | None = None
    """Index state (HNSW: indexed and pending rows, parameters, graph memory, fallback reason)."""
    dead_rows: int = 0
    """Rows that held deleted or replaced records: reclaimed by :meth:`Collection.compact`."""
    dead_bytes: int = 0
    """Vector bytes of ``dead_rows``."""
    problem: str | None = None
    """Why the collection cannot be used (its files are damaged), or None. An unavailable
    collection is listed with zero counts; using it raises ``CorruptionError``, and
    ``Database.check(repair=True)`` moves it to ``quarantine/``."""

    @property
    def available(self) -> bool:
        """False when the collection's files are damaged (see ``problem``)."""
        return self.problem is None


def _index_text(info: CollectionInfo) -> str:
    """``hnsw (M=16, ef_construction=200, ef_search=64)``: the index and its parameters."""
    parameters = info.config.get(info.index)
    if not isinstance(parameters, dict) or not parameters:
        return info.index
    listed = ", ".join(f"{key}={value}" for key, value in parameters.items())
    return f"{info.index} ({listed})"


def collection_html(info: CollectionInfo, metadata_keys: list[str], text: str) -> str:
    """``Collection._repr_html_``: its shape, index, sizes and a sample of metadata keys."""
    fields = [
        ("count", f"{info.count:,}"),
        ("dim", str(info.dim)),
        ("metric", info.metric),
        ("index", _index_text(info)),
        ("on disk", human_bytes(info.disk_bytes)),
        ("in memory", human_bytes(info.memory_bytes)),
        ("metadata keys", ", ".join(metadata_keys) if metadata_keys else "(none seen)"),
    ]
    if info.dead_rows:
        fields.append(("dead rows", f"{info.dead_rows:,} (compact() reclaims them)"))
    return html_repr(f"Collection {info.name}", text, html_fields(fields))


def database_html(
    path: str, state: str, infos: list[CollectionInfo], disk_bytes: int, text: str
) -> str:
    """``Database._repr_html_``: its path and state, and a table of its collections."""
    fields = html_fields([("path", path), ("state", state), ("on disk", human_bytes(disk_bytes))])
    rows = [
        [info.name, f"{info.count:,}", str(info.dim), info.metric, info.index,
         human_bytes(info.disk_bytes)]
        if info.available
        else [info.name, "", "", "", "", f"unavailable: {info.problem}"]
        for info in infos
    ]  # fmt: skip
    headers = ["collection", "count", "dim", "metric", "index", "on disk"]
    title = f"Database ({len(infos)} collection{'s' if len(infos) != 1 else ''})"
    return html_repr(title, text, fields, html_table(headers, rows))
