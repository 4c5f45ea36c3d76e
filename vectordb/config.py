"""Typed configuration: frozen dataclasses, checked in ``__post_init__``.

``DatabaseConfig`` holds the settings of a whole database directory; ``CollectionConfig`` the
fixed shape of one collection plus its overrides of database settings. Both are built from
plain mappings with :meth:`from_mapping`, which rejects unknown keys by name.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
from collections.abc import Mapping
from typing import Any

from vectordb.errors import InvalidConfigError

__all__ = [
    "CollectionConfig",
    "CollectionOverrides",
    "DatabaseConfig",
    "Durability",
    "HnswConfig",
    "IvfConfig",
    "Metric",
    "QuantizationConfig",
]


class Durability(str, enum.Enum):
    """When an acknowledged write is safe against power loss.

    Set for a database (``DatabaseConfig.durability``), a collection
    (``create_collection(..., durability=)``) or in the configuration's per-collection
    overrides; a plain string such as ``"normal"`` is accepted wherever a Durability is.

    Attributes
    ----------
    FULL
        ``"full"``: the log is fsynced before the call returns (the default).
    NORMAL
        ``"normal"``: the log is written before the call returns but fsynced only at
        checkpoints, segment rotation and close; a killed process loses nothing, a power cut
        loses the writes since the last fsync.
    OFF
        ``"off"``: nothing is logged; writes are durable only once a checkpoint or close has
        run. The process then keeps the database's writer lock until that checkpoint (other
        processes' writes wait, and see the writes after it): a mode for bulk loads.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> vectordb.Durability("normal"), vectordb.Durability.OFF.value
    (<Durability.NORMAL: 'normal'>, 'off')
    >>> with vectordb.open(tempfile.mkdtemp(), config={"durability": "normal"}) as db:
    ...     bulk = db.create_collection("bulk", dim=2, durability="off")
    ...     db.config.durability, bulk.config.durability
    (<Durability.NORMAL: 'normal'>, <Durability.OFF: 'off'>)
    """

    FULL = "full"
    NORMAL = "normal"
    OFF = "off"


class Metric(str, enum.Enum):
    """How vectors are compared. ``cosine`` and ``dot`` rank higher scores first,
    ``euclidean`` ranks smaller distances first.

    Chosen per collection (``create_collection(name, dim, metric=)``) and fixed for its
    life. A plain string is accepted wherever a Metric is, also the aliases ``"cos"``,
    ``"ip"`` / ``"inner_product"`` (dot) and ``"l2"`` (euclidean).

    Attributes
    ----------
    COSINE
        ``"cosine"``: cosine similarity, from -1 to 1 (the default). All-zero vectors are
        refused.
    DOT
        ``"dot"``: the inner product, unbounded; equals cosine on unit-length vectors.
    EUCLIDEAN
        ``"euclidean"``: the euclidean (L2) distance, 0 or more; not squared.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> [metric.value for metric in vectordb.Metric], vectordb.Metric.DOT.higher_is_better
    (['cosine', 'dot', 'euclidean'], True)
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     points = db.create_collection("points", dim=2, metric="l2")
    ...     _ = points.add([[0, 0], [3, 4]], ids=["near", "far"])
    ...     points.search([0, 0], k=2)
    [Hit(id='near', score=0.0, metadata=None), Hit(id='far', score=5.0, metadata=None)]
    """

    COSINE = "cosine"
    DOT = "dot"
    EUCLIDEAN = "euclidean"

    @property
    def higher_is_better(self) -> bool:
        """True when a higher score is a better match (cosine, dot); False for euclidean."""
        return self is not Metric.EUCLIDEAN


_METRIC_ALIASES = {"ip": "dot", "inner_product": "dot", "l2": "euclidean", "cos": "cosine"}
AVAILABLE_INDEXES = ("flat", "hnsw", "ivf")
QUANTIZATIONS = ("float16", "int8", "int4", "binary", "pq")


def _enum_value(enum_type: type[enum.Enum], key: str, value: object) -> Any:
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        try:
            return enum_type(value.lower())
        except ValueError:
            pass
    allowed = ", ".join(repr(member.value) for member in enum_type)
    raise InvalidConfigError(f"{key} must be one of {allowed}; got {value!r}")


def _check_positive_number(key: str, value: object, *, integer: bool) -> None:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or value <= 0  # type: ignore[operator]
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        kind = "a positive integer" if integer else "a positive number"
        raise InvalidConfigError(f"{key} must be {kind}; got {value!r}")


def _embedding_spec(spec: object) -> dict[str, Any]:
    """An embedding function's spec as a collection stores it: a mapping with a ``class``
    name whose values survive JSON (it is stored in the manifest and the log)."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("class"), str):
        raise InvalidConfigError(
            f"embedding must be an Embeddings or its spec (a mapping with a 'class'); got {spec!r}"
        )
    try:
        copied: dict[str, Any] = json.loads(json.dumps(dict(spec), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise InvalidConfigError(f"embedding spec {spec!r} is not JSON: {error}") from None
    if copied != dict(spec):
        raise InvalidConfigError(
            f"embedding spec {spec!r} does not survive JSON (tuples, non-str keys); use "
            "lists and str keys"
        )
    return copied


def _from_mapping(cls: Any, values: Mapping[str, Any], what: str) -> Any:
    if not isinstance(values, Mapping):
        raise InvalidConfigError(f"{what} must be a mapping or a {cls.__name__}; got {values!r}")
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InvalidConfigError(
            f"unknown {what} key(s) {unknown}; allowed keys are {sorted(names)}"
        )
    return cls(**values)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionOverrides:
    """Settings of one collection that the database configuration (a YAML file, an argument)
    may change without touching the collection's stored shape.

    Parameters
    ----------
    durability
        Durability of writes to this collection (over the collection's and the database's).
    ef
        Default HNSW ``ef`` of searches on this collection (over ``ef_search``).
    nprobe
        Default IVF ``nprobe`` of searches on this collection.
    max_vectors, max_bytes
        This collection's limits (over the database's ``max_vectors`` / ``max_bytes``).
    """

    durability: Durability | str | None = None
    ef: int | None = None
    nprobe: int | None = None
    max_vectors: int | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.durability is not None:
            object.__setattr__(
                self, "durability", _enum_value(Durability, "durability", self.durability)
            )
        for key in ("ef", "nprobe", "max_vectors", "max_bytes"):
            if getattr(self, key) is not None:
                _check_positive_number(key, getattr(self, key), integer=True)

    @classmethod
    def coerce(cls, value: Any, name: str) -> CollectionOverrides:
        if isinstance(value, CollectionOverrides):
            return value
        if value is None:
            return cls()
        overrides: CollectionOverrides = _from_mapping(
            cls, value, f"collection override for {name!r}"
        )
        return overrides


_NO_OVERRIDES = CollectionOverrides()


@dataclasses.dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """Settings of one database directory.

    Passed to :func:`vectordb.open` as ``config=`` (a DatabaseConfig, used as it is, or a
    mapping of the same keys, layered over the YAML file and ``VECTORDB_*`` environment
    variables); ``Database.config`` holds the settings in force. Every field has a default.

    Parameters
    ----------
    durability
        Default :class:`Durability` of writes (``"full"``, the default, ``"normal"`` or
        ``"off"``).
    lock_timeout
        Seconds to wait for the writer lock (another thread's or process's write or
        transaction holds it) before raising ``LockTimeoutError``. Default 5.0.
    idempotency_window
        Seconds an ``idempotency_key`` is remembered after its write (default 86,400: one
        day).
    checkpoint_records
        Write a checkpoint after this many log records since the last one (default 100,000).
    checkpoint_bytes
        ... or after the log grew by this many bytes since the last one (default 256 MiB).
    initial_capacity
        Rows reserved in a new collection's vector file (default 1,024); it then grows by a
        quarter.
    use_mmap
        Map vector files into memory (the default). ``False`` keeps vectors in process
        memory and writes them with plain file I/O, for file systems without mmap.
    verify_checksums_on_open
        Check every stored checksum when the database opens (slower open, early detection).
        Default False.
    warmup_on_open
        Run :meth:`Collection.warmup` for every collection in a background thread at open, so
        the first queries do not pay for page faults and kernel compilation. Default False.
    check_on_open
        Run :meth:`Database.check` at open, repairing what can be rebuilt (read-write opens);
        problems are logged and kept in ``Database.open_problems``. Default False.
    threads
        Threads for batch searches and index builds: ``"auto"`` (the default: the machine's
        cores, at most 8), ``"single"`` (everything on the calling thread or one indexer
        thread) or a number (at most 1,024). BLAS products follow their own setting
        (``OPENBLAS_NUM_THREADS``).
    log_level
        Level of the ``vectordb`` logger (``"DEBUG"`` .. ``"CRITICAL"``); ``None`` (default)
        leaves logging as the application configured it.
    log_json
        Attach a handler to the ``vectordb`` logger that writes one JSON object per line to
        stderr (for log collectors). Default: no handler of vectordb's own.
    slow_query_ms
        Log searches slower than this many milliseconds on ``vectordb.slow`` (warning level)
        and count them in ``metrics()``; ``None`` (default): off.
    compact_dead_share
        Compact a collection automatically at a checkpoint once this share of its rows is
        dead (deleted or replaced) and they hold at least ``compact_min_dead_bytes``;
        ``None``: only :meth:`Collection.compact` compacts. Default 0.5.
    compact_min_dead_bytes
        The least dead vector bytes worth an automatic compaction (default 64 MiB).
    max_vectors
        Most records (live rows) a collection may hold (``None``, the default: no limit); a
        write past it raises ``CollectionFullError`` and writes nothing.
    max_bytes
        Most bytes of vectors (records x dim x 4) a collection may hold (``None``, the
        default: no limit); a write past it raises ``CollectionFullError``.
    min_free_disk_bytes
        Below this much free space on the database's file system, writes raise
        ``ReadOnlyError`` (reads go on) until space returns; 0 turns the check off. Default
        32 MiB: a clean refusal instead of a failed fsync.
    wal_archive
        A directory (absolute, or relative to the database directory) where checkpoints move
        the log segments they cover instead of deleting them. Needed for incremental backups
        and point-in-time restore; the archive grows until you prune it. ``None`` (the
        default): segments are deleted.
    collections
        Per-collection overrides by name: :class:`CollectionOverrides` or mappings such as
        ``{"docs": {"durability": "normal", "ef": 128}}`` (default: none).

    Raises
    ------
    InvalidConfigError
        If a value is out of range or of the wrong type, or (``from_mapping``) a key is
        unknown.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> config = vectordb.DatabaseConfig(durability="normal", lock_timeout=2.0, max_vectors=1000)
    >>> config.durability, config.lock_timeout, config.max_vectors
    (<Durability.NORMAL: 'normal'>, 2.0, 1000)
    >>> with vectordb.open(tempfile.mkdtemp(), config={"checkpoint_records": 500}) as db:
    ...     db.config.checkpoint_records, db.config.lock_timeout
    (500, 5.0)
    >>> vectordb.DatabaseConfig.from_mapping({"lock_timout": 1})
    Traceback (most recent call last):
        ...
    vectordb.errors.InvalidConfigError: unknown database config key(s) ['lock_timout']; ...
    """

    durability: Durability | str = Durability.FULL
    lock_timeout: float = 5.0
    idempotency_window: float = 86_400.0
    checkpoint_records: int = 100_000
    checkpoint_bytes: int = 256 * 1024 * 1024
    initial_capacity: int = 1024
    use_mmap: bool = True
    verify_checksums_on_open: bool = False
    warmup_on_open: bool = False
    check_on_open: bool = False
    threads: int | str = "auto"
    log_level: str | None = None
    log_json: bool = False
    slow_query_ms: float | None = None
    compact_dead_share: float | None = 0.5
    compact_min_dead_bytes: int = 64 * 1024 * 1024
    max_vectors: int | None = None
    max_bytes: int | None = None
    min_free_disk_bytes: int = 32 * 1024 * 1024
    wal_archive: str | None = None
    collections: Mapping[str, CollectionOverrides | Mapping[str, Any]] = dataclasses.field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "durability", _enum_value(Durability, "durability", self.durability)
        )
        _check_positive_number("lock_timeout", self.lock_timeout, integer=False)
        _check_positive_number("idempotency_window", self.idempotency_window, integer=False)
        _check_positive_number("checkpoint_records", self.checkpoint_records, integer=True)
        _check_positive_number("checkpoint_bytes", self.checkpoint_bytes, integer=True)
        _check_positive_number("initial_capacity", self.initial_capacity, integer=True)
        for key in (
            "use_mmap",
            "verify_checksums_on_open",
            "warmup_on_open",
            "check_on_open",
            "log_json",
        ):
            if not isinstance(getattr(self, key), bool):
                raise InvalidConfigError(f"{key} must be True or False; got {getattr(self, key)!r}")
        threads: object = self.threads
        if isinstance(threads, str):
            if threads.lower() not in ("auto", "single"):
                raise InvalidConfigError(
                    f"threads must be 'auto', 'single' or a positive integer; got {threads!r}"
                )
            object.__setattr__(self, "threads", threads.lower())
        else:
            _check_positive_number("threads", threads, integer=True)
            if self.threads > 1024:  # type: ignore[operator]
                raise InvalidConfigError(f"threads must be at most 1024; got {threads!r}")

        if self.log_level is not None:
            level: object = self.log_level
            if not isinstance(level, str) or level.upper() not in _LOG_LEVELS:
                raise InvalidConfigError(
                    f"log_level must be one of {list(_LOG_LEVELS)} or None; got {level!r}"
                )
            object.__setattr__(self, "log_level", level.upper())
        if self.slow_query_ms is not None:
            _check_positive_number("slow_query_ms", self.slow_query_ms, integer=False)
        if self.compact_dead_share is not None:
            _check_positive_number("compact_dead_share", self.compact_dead_share, integer=False)
            if self.compact_dead_share > 1:
                raise InvalidConfigError(
                    f"compact_dead_share must be from 0 to 1; got {self.compact_dead_share!r}"
                )
        _check_positive_number("compact_min_dead_bytes", self.compact_min_dead_bytes, integer=True)
        for key in ("max_vectors", "max_bytes"):
            if getattr(self, key) is not None:
                _check_positive_number(key, getattr(self, key), integer=True)
        if self.wal_archive is not None:
            archive: object = self.wal_archive
            if isinstance(archive, os.PathLike):
                archive = os.fspath(archive)
            if not isinstance(archive, str) or not archive:
                raise InvalidConfigError(f"wal_archive must be a directory path; got {archive!r}")
            object.__setattr__(self, "wal_archive", archive)
        free: object = self.min_free_disk_bytes
        if isinstance(free, bool) or not isinstance(free, int) or free < 0:
            raise InvalidConfigError(
                f"min_free_disk_bytes must be a non-negative integer; got {free!r}"
            )
        collections: object = self.collections
        if not isinstance(collections, Mapping):
            raise InvalidConfigError(
                f"collections must map collection names to overrides; got {collections!r}"
            )
        object.__setattr__(
            self,
            "collections",
            {
                str(name): CollectionOverrides.coerce(value, name)
                for name, value in collections.items()
            },
        )

    def overrides_for(self, name: str) -> CollectionOverrides:
        found = self.collections.get(name)
        return found if isinstance(found, CollectionOverrides) else _NO_OVERRIDES

    @property
    def thread_count(self) -> int:
        """``threads`` resolved to a number."""
        if self.threads == "single":
            return 1
        if self.threads == "auto":
            return max(1, min(os.cpu_count() or 1, 8))
        return int(self.threads)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DatabaseConfig:
        """Build from a plain mapping such as ``{"durability": "normal"}``."""
        config: DatabaseConfig = _from_mapping(cls, values, "database config")
        return config

    @classmethod
    def coerce(cls, config: DatabaseConfig | Mapping[str, Any] | None) -> DatabaseConfig:
        if config is None:
            return cls()
        if isinstance(config, DatabaseConfig):
            return config
        return cls.from_mapping(config)


@dataclasses.dataclass(frozen=True, slots=True)
class HnswConfig:
    """Parameters of an HNSW graph (Malkov & Yashunin's names, as in hnswlib and FAISS).

    Given as ``create_collection(..., index="hnsw", hnsw=)``, a HnswConfig or a mapping of
    the same keys; ``CollectionConfig.hnsw`` holds it.

    Parameters
    ----------
    M
        Links per node (the paper's M; layer 0 keeps 2*M). More links: higher recall at a
        given ef and more memory (about 8*M bytes per vector) and build time. 2 .. 128,
        default 16.
    ef_construction
        Candidate list size (nodes) while inserting, at most 10,000 (default 200). Larger
        builds a better graph, more slowly.
    ef_search
        Default candidate list size (nodes) while searching, at most 10,000 (default 64; at
        least k is always used). Larger: higher recall, lower QPS; override per query with
        ``search(..., ef=)``.

    Raises
    ------
    InvalidConfigError
        If a value is out of its range, or a mapping has an unknown key.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=8, index="hnsw", hnsw={"M": 32})
    ...     docs.config.hnsw
    HnswConfig(M=32, ef_construction=200, ef_search=64)
    >>> vectordb.HnswConfig(ef_search=128).to_dict()
    {'M': 16, 'ef_construction': 200, 'ef_search': 128}
    """

    M: int = 16
    ef_construction: int = 200
    ef_search: int = 64

    def __post_init__(self) -> None:
        for key in ("M", "ef_construction", "ef_search"):
            _check_positive_number(key, getattr(self, key), integer=True)
        if not 2 <= self.M <= 128:
            raise InvalidConfigError(f"M must be from 2 to 128; got {self.M!r}")
        if self.ef_construction > 10_000 or self.ef_search > 10_000:
            raise InvalidConfigError("ef_construction and ef_search must be at most 10,000")

    def to_dict(self) -> dict[str, Any]:
        return {"M": self.M, "ef_construction": self.ef_construction, "ef_search": self.ef_search}

    @classmethod
    def coerce(cls, value: HnswConfig | Mapping[str, Any] | None) -> HnswConfig:
        if value is None:
            return cls()
        if isinstance(value, HnswConfig):
            return value
        config: HnswConfig = _from_mapping(cls, value, "hnsw config")
        return config


@dataclasses.dataclass(frozen=True, slots=True)
class IvfConfig:
    """Parameters of an inverted-file index (FAISS's names).

    Given as ``create_collection(..., index="ivf", ivf=)``, an IvfConfig or a mapping of the
    same keys; ``CollectionConfig.ivf`` holds it.

    Parameters
    ----------
    nlist
        Number of k-means cells, at most 65,536. ``None`` (the default) picks
        ``4 * sqrt(rows)`` (at least 1, at most ``rows / 39`` and 65,536) each time the
        index trains, so it grows with the data.
    nprobe
        Default number of cells searched per query, at most 65,536. ``None`` (the default)
        picks about 1/16 of the cells (at least 8). Override per query with
        ``search(..., nprobe=)``; ``nprobe = nlist`` scans every vector.
    training_sample
        At most this many vectors (rows, drawn at random) train the k-means (default
        65,536; at least ``nlist``).
    train_after
        Rows needed before the first training (default 1,024); until then searches are
        exact.
    retrain_growth
        Retrain in the background when the live rows grow to this multiple of the rows the
        index was trained on (the cells then fit the data again). At least 1.5, default 8.0.

    Raises
    ------
    InvalidConfigError
        If a value is out of its range, or a mapping has an unknown key.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=8, index="ivf", ivf={"nlist": 64})
    ...     docs.config.ivf
    IvfConfig(nlist=64, nprobe=None, training_sample=65536, train_after=1024, retrain_growth=8.0)
    """

    nlist: int | None = None
    nprobe: int | None = None
    training_sample: int = 65_536
    train_after: int = 1024
    retrain_growth: float = 8.0

    def __post_init__(self) -> None:
        for key in ("nlist", "nprobe"):
            value = getattr(self, key)
            if value is not None:
                _check_positive_number(key, value, integer=True)
                if value > 65_536:
                    raise InvalidConfigError(f"{key} must be at most 65,536; got {value!r}")
        _check_positive_number("training_sample", self.training_sample, integer=True)
        _check_positive_number("train_after", self.train_after, integer=True)
        _check_positive_number("retrain_growth", self.retrain_growth, integer=False)
        if self.retrain_growth < 1.5:
            raise InvalidConfigError(
                f"retrain_growth must be at least 1.5; got {self.retrain_growth!r}"
            )
        if self.nlist is not None and self.training_sample < self.nlist:
            raise InvalidConfigError(
                f"training_sample ({self.training_sample}) must be at least nlist ({self.nlist})"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "training_sample": self.training_sample,
            "train_after": self.train_after,
            "retrain_growth": self.retrain_growth,
        }

    @classmethod
    def coerce(cls, value: IvfConfig | Mapping[str, Any] | None) -> IvfConfig:
        if value is None:
            return cls()
        if isinstance(value, IvfConfig):
            return value
        config: IvfConfig = _from_mapping(cls, value, "ivf config")
        return config


#: candidates fetched per hit and re-scored exactly, by quantization
DEFAULT_RESCORE = {"float16": 2, "int8": 4, "int4": 8, "binary": 16, "pq": 10}


@dataclasses.dataclass(frozen=True, slots=True)
class QuantizationConfig:
    """How a flat or IVF index compresses the vectors it scans. The best ``rescore * k``
    candidates by the compressed score are re-scored exactly from the stored vectors.

    Given as ``create_collection(..., quantization=)``: a name such as ``"int8"``, a mapping
    with a ``"kind"``, or a QuantizationConfig; ``CollectionConfig.quantization`` holds it.

    Parameters
    ----------
    kind
        ``"float16"`` (2 bytes per dimension), ``"int8"`` (1 byte per dimension, a trained
        range per dimension), ``"int4"`` (half a byte), ``"binary"`` (one bit: the sign
        around the trained mean; hamming distance) or ``"pq"`` (product quantization: ``m``
        bytes per vector). Required.
    m
        PQ only: sub-spaces, each coded in one byte; must divide ``dim``. Default: ``dim / 4``
        rounded down to a divisor of ``dim`` (16x smaller than float32).
    rescore
        Candidates per wanted hit that are re-scored exactly, at most 1,000 (default by
        kind: float16 2, int8 4, int4 8, binary 16, pq 10).

    Raises
    ------
    InvalidConfigError
        For an unknown ``kind``, ``m`` with a kind other than ``"pq"``, or a value out of
        its range.

    Examples
    --------
    >>> import tempfile, vectordb
    >>> vectordb.QuantizationConfig("int8").rescore_factor
    4
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=8, quantization={"kind": "pq", "m": 4})
    ...     docs.config.quantization
    QuantizationConfig(kind='pq', m=4, rescore=None)
    """

    kind: str
    m: int | None = None
    rescore: int | None = None

    def __post_init__(self) -> None:
        kind: object = self.kind
        if not isinstance(kind, str) or kind.lower() not in QUANTIZATIONS:
            raise InvalidConfigError(
                f"quantization must be one of {list(QUANTIZATIONS)}; got {self.kind!r}"
            )
        object.__setattr__(self, "kind", self.kind.lower())
        if self.m is not None:
            if self.kind != "pq":
                raise InvalidConfigError(f"m is a PQ parameter; quantization is {self.kind!r}")
            _check_positive_number("m", self.m, integer=True)
        if self.rescore is not None:
            _check_positive_number("rescore", self.rescore, integer=True)
            if self.rescore > 1000:
                raise InvalidConfigError(f"rescore must be at most 1000; got {self.rescore!r}")

    @property
    def rescore_factor(self) -> int:
        return self.rescore if self.rescore is not None else DEFAULT_RESCORE[self.kind]

    def pq_m(self, dim: int) -> int:
        if self.m is not None:
            return self.m
        target = max(1, dim // 4)
        return max(m for m in range(1, target + 1) if dim % m == 0)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "m": self.m, "rescore": self.rescore}

    @classmethod
    def coerce(cls, value: QuantizationConfig | Mapping[str, Any] | str) -> QuantizationConfig:
        if isinstance(value, QuantizationConfig):
            return value
        if isinstance(value, str):
            return cls(kind=value)
        mapping: object = value
        if not isinstance(mapping, Mapping) or "kind" not in mapping:
            raise InvalidConfigError(
                f"quantization must be a name such as 'int8' or a mapping with a 'kind'; "
                f"got {value!r}"
            )
        config: QuantizationConfig = _from_mapping(cls, value, "quantization config")
        return config


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionConfig:
    """The fixed shape of a collection and its overrides of database settings.

    Parameters
    ----------
    dim
        Length of every vector, in numbers (1 .. 65,536). Required.
    metric
        :class:`Metric`: ``"cosine"`` (default), ``"dot"`` or ``"euclidean"``.
    index
        ``"flat"`` (the default): a scan of every stored vector (exact, or over quantized codes with
        ``quantization=``). ``"hnsw"``: an approximate graph (hnswlib). ``"ivf"``: k-means
        cells, of which ``nprobe`` are scanned per query. Approximate indexes are kept up to
        date in the background; writes are searchable at once.
    hnsw
        :class:`HnswConfig` or a mapping such as ``{"M": 32}`` (``index="hnsw"`` only).
    ivf
        :class:`IvfConfig` or a mapping such as ``{"nlist": 1024}`` (``index="ivf"`` only).
    quantization
        ``None`` (full float32), a name (``"int8"``, ``"int4"``, ``"float16"``, ``"binary"``,
        ``"pq"``) or a :class:`QuantizationConfig`; flat and IVF indexes only.
    normalize
        Store vectors scaled to unit length (cosine then becomes a plain dot product and
        ``get()`` returns the normalized vector). Default False.
    durability
        Overrides the database's durability for writes to this collection.
    initial_capacity
        Overrides the database's initial capacity (rows reserved in the vector file) for
        this collection.
    metadata_schema
        Optional ``{field: type}`` or ``{field: {"type": ..., "required": bool}}`` that
        every write's metadata must satisfy (``vectordb.filters.schema``); other fields are
        allowed. Declared fields are indexed for filters at once.
    embedding
        The spec of the collection's embedding function (``Embeddings.spec()``: its class
        and non-secret parameters), from which a reopened collection builds the same
        function again; None: the collection takes vectors only. Give an ``Embeddings`` to
        :meth:`Database.create_collection` rather than a spec by hand.

    Raises
    ------
    InvalidConfigError
        If a value is invalid, or parameters do not fit the index (``hnsw=`` without
        ``index="hnsw"``, quantization with HNSW).

    Examples
    --------
    >>> import tempfile, vectordb
    >>> vectordb.CollectionConfig(dim=3, metric="l2").metric
    <Metric.EUCLIDEAN: 'euclidean'>
    >>> with vectordb.open(tempfile.mkdtemp()) as db:
    ...     docs = db.create_collection("docs", dim=3, index="hnsw", normalize=True)
    ...     docs.config.to_dict()
    {'dim': 3, 'metric': 'cosine', 'index': 'hnsw', 'normalize': True, 'durability': None,
     'initial_capacity': None, 'hnsw': {'M': 16, 'ef_construction': 200, 'ef_search': 64}}
    """

    dim: int
    metric: Metric | str = Metric.COSINE
    index: str = "flat"
    normalize: bool = False
    durability: Durability | str | None = None
    initial_capacity: int | None = None
    hnsw: HnswConfig | Mapping[str, Any] | None = None
    ivf: IvfConfig | Mapping[str, Any] | None = None
    quantization: QuantizationConfig | Mapping[str, Any] | str | None = None
    metadata_schema: Mapping[str, Any] | None = None
    embedding: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        dim: object = self.dim
        if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 65536:
            raise InvalidConfigError(f"dim must be an integer from 1 to 65536; got {self.dim!r}")
        metric: object = self.metric
        if isinstance(metric, str) and not isinstance(metric, Metric):
            metric = _METRIC_ALIASES.get(metric.lower(), metric)
        object.__setattr__(self, "metric", _enum_value(Metric, "metric", metric))
        index: object = self.index
        if not isinstance(index, str) or index.lower() not in AVAILABLE_INDEXES:
            raise InvalidConfigError(
                f"index must be one of {list(AVAILABLE_INDEXES)}; got {self.index!r}"
            )
        object.__setattr__(self, "index", self.index.lower())
        if self.hnsw is not None and self.index != "hnsw":
            raise InvalidConfigError(
                f"hnsw= parameters need index='hnsw'; got index={self.index!r}"
            )
        if self.index == "hnsw":
            object.__setattr__(self, "hnsw", HnswConfig.coerce(self.hnsw))
        if self.ivf is not None and self.index != "ivf":
            raise InvalidConfigError(f"ivf= parameters need index='ivf'; got index={self.index!r}")
        if self.index == "ivf":
            object.__setattr__(self, "ivf", IvfConfig.coerce(self.ivf))
        if self.quantization is not None:
            if self.index == "hnsw":
                raise InvalidConfigError(
                    "quantization works with index='flat' or 'ivf'; hnswlib keeps full float32 "
                    "vectors in its graph"
                )
            quantization = QuantizationConfig.coerce(self.quantization)
            if quantization.kind == "pq":
                m = quantization.pq_m(dim)
                if dim % m:
                    raise InvalidConfigError(f"pq m ({m}) must divide dim ({dim})")
            object.__setattr__(self, "quantization", quantization)
        if not isinstance(self.normalize, bool):
            raise InvalidConfigError(f"normalize must be True or False; got {self.normalize!r}")
        if self.durability is not None:
            object.__setattr__(
                self, "durability", _enum_value(Durability, "durability", self.durability)
            )
        if self.initial_capacity is not None:
            _check_positive_number("initial_capacity", self.initial_capacity, integer=True)
        if self.metadata_schema is not None:
            from vectordb.filters.schema import normalize_schema

            object.__setattr__(self, "metadata_schema", normalize_schema(self.metadata_schema))
        if self.embedding is not None:
            object.__setattr__(self, "embedding", _embedding_spec(self.embedding))

    @property
    def metric_enum(self) -> Metric:
        return Metric(self.metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "metric": Metric(self.metric).value,
            "index": self.index,
            "normalize": self.normalize,
            "durability": None if self.durability is None else Durability(self.durability).value,
            "initial_capacity": self.initial_capacity,
            **({"hnsw": self.hnsw_config.to_dict()} if self.index == "hnsw" else {}),
            **({"ivf": self.ivf_config.to_dict()} if self.index == "ivf" else {}),
            **(
                {"quantization": self.quantization_config.to_dict()}
                if self.quantization_config is not None
                else {}
            ),
            **(
                {"metadata_schema": dict(self.metadata_schema)}
                if self.metadata_schema is not None
                else {}
            ),
            **({"embedding": dict(self.embedding)} if self.embedding is not None else {}),
        }

    @property
    def ivf_config(self) -> IvfConfig:
        return IvfConfig.coerce(self.ivf)

    @property
    def quantization_config(self) -> QuantizationConfig | None:
        if self.quantization is None:
            return None
        return QuantizationConfig.coerce(self.quantization)

    @property
    def hnsw_config(self) -> HnswConfig:
        return HnswConfig.coerce(self.hnsw)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CollectionConfig:
        config: CollectionConfig = _from_mapping(cls, values, "collection config")
        return config
