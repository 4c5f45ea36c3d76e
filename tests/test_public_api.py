"""The public API is deliberate: this snapshot changes only when the API does."""

from __future__ import annotations

import subprocess
import sys

import vectordb

PUBLIC = [
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
    "Metric",
    "MissingDependencyError",
    "PathNotFoundError",
    "Problem",
    "QuantizationConfig",
    "ReadOnlyError",
    "Record",
    "StorageError",
    "StorageFullError",
    "Transaction",
    "TransactionError",
    "UnsupportedFormatError",
    "VectorDBError",
    "__version__",
    "info",
    "open",
    "restore",
]


def test_public_names() -> None:
    assert sorted(vectordb.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(vectordb, name), name


def test_info_reports_versions_and_cpu() -> None:
    report = vectordb.info()
    assert report["vectordb"] == vectordb.__version__
    assert report["numpy"] and report["hnswlib"]
    assert isinstance(report["cpu_features"], list)
    assert report["execution_modes"] == ["auto", "numba", "numpy", "scalar"]


def test_import_loads_neither_numba_nor_hnswlib() -> None:
    """numba alone takes ~0.5 s to import: it must wait for the first kernel use."""
    code = (
        "import sys, vectordb; "
        "print(sorted(m for m in ('numba', 'hnswlib', 'portalocker') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
