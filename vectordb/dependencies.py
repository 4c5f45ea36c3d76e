"""Optional packages, imported at first use so ``import vectordb`` never pays for them.

Modules come back as ``ModuleType``: their attributes are ``Any`` to the type checker, which
keeps these untyped libraries (pyarrow, pandas, tqdm) out of mypy's way without per-module
overrides.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from vectordb.errors import MissingDependencyError

__all__ = ["optional_module", "require_module"]


def require_module(name: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``name`` or raise MissingDependencyError saying which extra installs it.

    Parameters
    ----------
    name
        The module, e.g. ``"pyarrow.parquet"``.
    extra
        The vectordb extra that depends on it, e.g. ``"parquet"``.
    purpose
        What needs it, as the start of a sentence: ``"Reading and writing Parquet files"``.
    """
    try:
        return importlib.import_module(name)
    except ImportError as error:
        package = name.partition(".")[0]
        raise MissingDependencyError(
            f'{purpose} needs {package}, which is not installed: pip install "vectordb[{extra}]"'
        ) from error


def optional_module(name: str) -> ModuleType | None:
    """``name`` imported, or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
