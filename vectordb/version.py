"""The package version (one place; ``vectordb.__version__`` and ``vectordb.info()`` read it)."""

__all__ = ["VERSION"]

VERSION = "0.1.0"
