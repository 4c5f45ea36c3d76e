"""The public API is deliberate: this snapshot changes only when the API does."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vectordb

PUBLIC = [
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


def test_types_are_checked_against_the_oldest_python_supported() -> None:
    """``datetime.UTC`` (3.11+) once slipped into code that claims 3.10: mypy must check as
    the oldest Python in ``requires-python`` (CI runs it), which would have caught it."""
    import re
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    oldest = re.fullmatch(r">=\s*(\d+\.\d+)", project["project"]["requires-python"])
    assert oldest is not None
    assert project["tool"]["mypy"]["python_version"] == oldest.group(1)
    assert project["tool"]["ruff"]["target-version"] == "py" + oldest.group(1).replace(".", "")
    source = Path(__file__).parent.parent / "vectordb"
    assert not [p for p in source.rglob("*.py") if "datetime.UTC" in p.read_text()]
