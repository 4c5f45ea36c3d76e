"""Typed configuration: frozen dataclasses, checked in ``__post_init__``.

``DatabaseConfig`` holds the settings of a whole database directory; ``CollectionConfig`` the
fixed shape of one collection plus its overrides of database settings. Both are built from
plain mappings with :meth:`from_mapping`, which rejects unknown keys by name.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Any

from vectordb.errors import InvalidConfigError

__all__ = ["CollectionConfig", "DatabaseConfig", "Durability", "HnswConfig", "Metric"]


class Durability(str, enum.Enum):
    """When an acknowledged write is safe against power loss.

    ``full``: the log is fsynced before the call returns (the default).
    ``normal``: the log is written before the call returns but fsynced only at checkpoints,
    segment rotation and close; a killed process loses nothing, a power cut loses the
    writes since the last fsync.
    ``off``: nothing is logged; writes are durable only once a checkpoint or close has run.
    """

    FULL = "full"
    NORMAL = "normal"
    OFF = "off"


class Metric(str, enum.Enum):
    """How vectors are compared. ``cosine`` and ``dot`` rank higher scores first,
    ``euclidean`` ranks smaller distances first."""

    COSINE = "cosine"
    DOT = "dot"
    EUCLIDEAN = "euclidean"

    @property
    def higher_is_better(self) -> bool:
        return self is not Metric.EUCLIDEAN


_METRIC_ALIASES = {"ip": "dot", "inner_product": "dot", "l2": "euclidean", "cos": "cosine"}
AVAILABLE_INDEXES = ("flat", "hnsw")
PLANNED_INDEXES = ("ivf",)


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


@dataclasses.dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """Settings of one database directory.

    Parameters
    ----------
    durability
        Default :class:`Durability` of writes (``"full"``, ``"normal"`` or ``"off"``).
    lock_timeout
        Seconds to wait for the writer lock before raising ``LockTimeoutError``.
    checkpoint_records
        Write a checkpoint after this many log records since the last one.
    checkpoint_bytes
        ... or after the log grew by this many bytes since the last one.
    initial_capacity
        Rows reserved in a new collection's vector file; it then grows by doubling.
    use_mmap
        Map vector files into memory (the default). ``False`` keeps vectors in process
        memory and writes them with plain file I/O, for file systems without mmap.
    verify_checksums_on_open
        Check every stored checksum when the database opens (slower open, early detection).
    warmup_on_open
        Run :meth:`Collection.warmup` for every collection in a background thread at open, so
        the first queries do not pay for page faults and kernel compilation.
    """

    durability: Durability | str = Durability.FULL
    lock_timeout: float = 5.0
    checkpoint_records: int = 100_000
    checkpoint_bytes: int = 256 * 1024 * 1024
    initial_capacity: int = 1024
    use_mmap: bool = True
    verify_checksums_on_open: bool = False
    warmup_on_open: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "durability", _enum_value(Durability, "durability", self.durability)
        )
        _check_positive_number("lock_timeout", self.lock_timeout, integer=False)
        _check_positive_number("checkpoint_records", self.checkpoint_records, integer=True)
        _check_positive_number("checkpoint_bytes", self.checkpoint_bytes, integer=True)
        _check_positive_number("initial_capacity", self.initial_capacity, integer=True)
        for key in ("use_mmap", "verify_checksums_on_open", "warmup_on_open"):
            if not isinstance(getattr(self, key), bool):
                raise InvalidConfigError(f"{key} must be True or False; got {getattr(self, key)!r}")

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

    Parameters
    ----------
    M
        Links per node (the paper's M; layer 0 keeps 2*M). More links: higher recall at a
        given ef and more memory (about 8*M bytes per vector) and build time. 4 .. 128.
    ef_construction
        Candidate list size while inserting. Larger builds a better graph, more slowly.
    ef_search
        Default candidate list size while searching (at least k is always used). Larger: higher
        recall, lower QPS; override per query with ``search(..., ef=)``.
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
class CollectionConfig:
    """The fixed shape of a collection and its overrides of database settings.

    Parameters
    ----------
    dim
        Length of every vector (1 .. 65,536).
    metric
        :class:`Metric`: ``"cosine"`` (default), ``"dot"`` or ``"euclidean"``.
    index
        ``"flat"``: exact search over every stored vector. ``"hnsw"``: an approximate graph
        (hnswlib) kept up to date in the background; writes are searchable at once.
    hnsw
        :class:`HnswConfig` or a mapping such as ``{"M": 32}`` (``index="hnsw"`` only).
    normalize
        Store vectors scaled to unit length (cosine then becomes a plain dot product and
        ``get()`` returns the normalized vector).
    durability
        Overrides the database's durability for writes to this collection.
    initial_capacity
        Overrides the database's initial row capacity for this collection.
    """

    dim: int
    metric: Metric | str = Metric.COSINE
    index: str = "flat"
    normalize: bool = False
    durability: Durability | str | None = None
    initial_capacity: int | None = None
    hnsw: HnswConfig | Mapping[str, Any] | None = None

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
            if isinstance(index, str) and index.lower() in PLANNED_INDEXES:
                raise InvalidConfigError(
                    f"index {self.index!r} is not available in this version of vectordb; "
                    f"use one of {list(AVAILABLE_INDEXES)}"
                )
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
        if not isinstance(self.normalize, bool):
            raise InvalidConfigError(f"normalize must be True or False; got {self.normalize!r}")
        if self.durability is not None:
            object.__setattr__(
                self, "durability", _enum_value(Durability, "durability", self.durability)
            )
        if self.initial_capacity is not None:
            _check_positive_number("initial_capacity", self.initial_capacity, integer=True)

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
        }

    @property
    def hnsw_config(self) -> HnswConfig:
        return HnswConfig.coerce(self.hnsw)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CollectionConfig:
        config: CollectionConfig = _from_mapping(cls, values, "collection config")
        return config
