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
from vectordb.engine.transaction import Transaction
from vectordb.errors import (
    CircuitOpenError,
    CollectionExistsError,
    CollectionFullError,
    CollectionNotFoundError,
    ConfigError,
    CorruptionError,
    DatabaseClosedError,
    DimensionMismatchError,
    DuplicateIdError,
    EmbeddingError,
    IdempotencyKeyReuseError,
    IdNotFoundError,
    ImportInterruptedError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidFileError,
    InvalidFilterError,
    InvalidMetadataError,
    InvalidVectorError,
    LockTimeoutError,
    LogGapError,
    MissingDependencyError,
    PathNotFoundError,
    ProviderResponseError,
    ProviderUnavailableError,
    RateLimitedError,
    ReadOnlyError,
    StorageError,
    StorageFullError,
    TransactionError,
    UnsupportedFormatError,
    VectorDBError,
)
from vectordb.platform_info import info
from vectordb.results import CollectionInfo, Hit, Problem, Record, Records, SearchResults
from vectordb.version import VERSION

__version__ = VERSION


def __getattr__(name: str) -> object:
    # the import/export machinery loads on first use: ``import vectordb`` stays fast
    if name == "ImportReport":
        from vectordb.transfer.load import ImportReport

        return ImportReport
    raise AttributeError(f"module 'vectordb' has no attribute {name!r}")


__all__ = [
    "CircuitOpenError",
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
    "EmbeddingError",
    "Hit",
    "HnswConfig",
    "IdNotFoundError",
    "IdempotencyKeyReuseError",
    "ImportInterruptedError",
    "ImportReport",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidFileError",
    "InvalidFilterError",
    "InvalidMetadataError",
    "InvalidVectorError",
    "IvfConfig",
    "LockTimeoutError",
    "LogGapError",
    "Metric",
    "MissingDependencyError",
    "PathNotFoundError",
    "Problem",
    "ProviderResponseError",
    "ProviderUnavailableError",
    "QuantizationConfig",
    "RateLimitedError",
    "ReadOnlyError",
    "Record",
    "Records",
    "SearchResults",
    "StorageError",
    "StorageFullError",
    "Transaction",
    "TransactionError",
    "UnsupportedFormatError",
    "VectorDBError",
    "info",
    "open",
    "restore",
    "__version__",
]
