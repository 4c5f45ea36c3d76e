"""Every file name inside a database directory, in one place.

```
<db>/vectordb.meta                      database header: magic + format version
<db>/LOCK                               writer lock file (portalocker), held per write
<db>/PAUSE                              held shared by a backup: checkpoints wait
<db>/OPEN                               held shared by every open: the last to close tidies
<db>/IDEMPOTENCY                        idempotency keys as of the last checkpoint
<db>/wal/<first-lsn:012d>.log           write-ahead log segments, one log for the database
<db>/collections/<name>/MANIFEST        the collection's committed state (atomic replace)
<db>/collections/<name>/vectors.bin     mmap'd fixed-width rows
<db>/collections/<name>/snapshot-<lsn:012d>.bin   ids, metadata, checksums as of the checkpoint
<db>/collections/<name>/columns.bin     metadata columns for filters, as of the checkpoint
<db>/collections/<name>/index/          the index's files (INDEX names the one in force)
<db>/quarantine/<name>-<time>/          a damaged collection moved aside by check(repair=True)
```
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["COLUMNS_FILE", "CollectionFiles", "DatabaseFiles"]

#: a collection's metadata columns, saved with each checkpoint (``filters/columns.py``)
COLUMNS_FILE = "columns.bin"

_SEGMENT_RE = re.compile(r"^(\d{12})\.log$")
_SNAPSHOT_RE = re.compile(r"^snapshot-(\d{12})\.bin$")


class DatabaseFiles:
    """Paths of a database directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = root / "vectordb.meta"
        self.lock = root / "LOCK"
        self.checkpoint_pause = root / "PAUSE"
        #: every process with the database open holds it shared; the one that closes last
        #: (it gets it exclusively) deletes the log a checkpoint covers and trims vectors.bin
        self.open_lock = root / "OPEN"
        self.idempotency = root / "IDEMPOTENCY"
        self.wal_dir = root / "wal"
        self.collections_dir = root / "collections"
        self.quarantine_dir = root / "quarantine"
        #: derived, never backed up: vectors of texts already embedded (EmbeddingCache)
        self.embedding_cache = root / "cache" / "embeddings.sqlite"

    def collection(self, name: str) -> CollectionFiles:
        return CollectionFiles(self.collections_dir / name)

    def segment(self, first_lsn: int) -> Path:
        return self.wal_dir / f"{first_lsn:012d}.log"

    def segments(self) -> list[tuple[int, Path]]:
        """WAL segments sorted by their first LSN."""
        if not self.wal_dir.is_dir():
            return []
        found = []
        for entry in self.wal_dir.iterdir():
            match = _SEGMENT_RE.match(entry.name)
            if match:
                found.append((int(match.group(1)), entry))
        return sorted(found)


class CollectionFiles:
    """Paths of one collection directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.manifest = directory / "MANIFEST"
        self.vectors = directory / "vectors.bin"
        self.columns = directory / COLUMNS_FILE
        self.index_dir = directory / "index"
        #: derived, never backed up: the SQLite FTS5 keyword index of the documents
        self.keywords = directory / "keywords.sqlite"

    def snapshot(self, lsn: int) -> Path:
        return self.directory / f"snapshot-{lsn:012d}.bin"

    def snapshots(self) -> list[tuple[int, Path]]:
        found = []
        for entry in self.directory.iterdir():
            match = _SNAPSHOT_RE.match(entry.name)
            if match:
                found.append((int(match.group(1)), entry))
        return sorted(found)
