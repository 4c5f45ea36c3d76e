"""Opening the SQLite files vectordb keeps beside its own (the embedding cache, a collection's
keyword index): read-write, or read-only without creating or changing anything."""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path

__all__ = ["connect"]


def connect(path: Path, *, read_only: bool, timeout: float) -> sqlite3.Connection:
    """A connection to the SQLite file ``path``, usable from any thread (the caller locks);
    ``read_only``: opened with ``mode=ro``, so it never creates or writes the file."""
    if read_only:
        uri = "file:" + urllib.parse.quote(os.fspath(path.absolute())) + "?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
    return sqlite3.connect(path, timeout=timeout, check_same_thread=False)
