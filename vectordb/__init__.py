"""vectordb: an embedded, crash-safe vector database. ``vectordb.open(path)`` to start."""

from vectordb.collection import Collection
from vectordb.config import (
    CollectionConfig,
    DatabaseConfig,
    Durability,
    HnswConfig,
    IvfConfig,
    Metric,
    QuantizationConfig,
)
from vectordb.database import Database, open, restore
from vectordb.errors import (
    CollectionExistsError,
    CollectionFullError,
    CollectionNotFoundError,
    ConfigError,
    CorruptionError,
    DatabaseClosedError,
    DimensionMismatchError,
    DuplicateIdError,
    IdNotFoundError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidFilterError,
    InvalidMetadataError,
    InvalidVectorError,
    LockTimeoutError,
    ReadOnlyError,
    StorageError,
    StorageFullError,
    UnsupportedFormatError,
    VectorDBError,
)
from vectordb.platform_info import info
from vectordb.results import CollectionInfo, Hit, Problem, Record

__version__ = "0.1.0"

__all__ = [
    "Collection",
    "CollectionConfig",
    "CollectionExistsError",
    "CollectionFullError",
    "CollectionInfo",
    "CollectionNotFoundError",
    "ConfigError",
    "CorruptionError",
    "Database",
    "DatabaseClosedError",
    "DatabaseConfig",
    "DimensionMismatchError",
    "DuplicateIdError",
    "Durability",
    "HnswConfig",
    "IvfConfig",
    "Hit",
    "IdNotFoundError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidFilterError",
    "InvalidMetadataError",
    "InvalidVectorError",
    "LockTimeoutError",
    "Metric",
    "Problem",
    "QuantizationConfig",
    "ReadOnlyError",
    "Record",
    "StorageError",
    "StorageFullError",
    "UnsupportedFormatError",
    "VectorDBError",
    "__version__",
    "info",
    "open",
    "restore",
]
