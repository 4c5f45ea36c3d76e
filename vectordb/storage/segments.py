"""Arithmetic over the log's segments, and moving them to an archive.

A segment is named after the first LSN it holds; it holds every record up to the first LSN
of the next segment, minus one. So a segment is *covered* by an LSN (every record in it is
at or before that LSN) when a next segment exists and starts at most one past it; the last
segment is never covered (it may still grow).
"""

from __future__ import annotations

from pathlib import Path

from vectordb.files import io
from vectordb.files.atomic import fsync_dir
from vectordb.storage.layout import DatabaseFiles

__all__ = ["archive_segment", "covered_segments", "segments_after"]


def covered_segments(
    segments: list[tuple[int, Path]], lsn: int | None, *, keep: Path | None = None
) -> list[Path]:
    """The segments (sorted ``(first LSN, path)`` pairs) whose every record is at or before
    ``lsn``, except ``keep``; None: nothing is covered (an LSN could not be known)."""
    if lsn is None:
        return []
    covered = []
    for position, (_, path) in enumerate(segments):
        following = segments[position + 1][0] if position + 1 < len(segments) else None
        if path != keep and following is not None and following - 1 <= lsn:
            covered.append(path)
    return covered


def segments_after(directory: Path, lsn: int) -> list[tuple[int, Path]]:
    """Log segments in ``directory`` that may hold records after ``lsn``, in LSN order."""
    files = DatabaseFiles(directory.parent)
    files.wal_dir = directory
    segments = files.segments()
    covered = set(covered_segments(segments, lsn))
    return [(first, path) for first, path in segments if path not in covered]


def archive_segment(path: Path, archive: Path, *, keep: bool = False) -> None:
    """Move a log segment into the archive directory (copy + fsync across file systems);
    ``keep``: leave it in the log too (a hard link where possible)."""
    io.mkdir(archive, parents=True, exist_ok=True)
    target = archive / path.name
    if target.exists():
        if not keep:
            io.unlink(path, missing_ok=True)
        return
    try:
        if keep:
            io.link(path, target)
        else:
            io.replace(path, target)
    except OSError:
        io.copy_file(path, target)
        io.fsync_file(target)
        if not keep:
            io.unlink(path, missing_ok=True)
    fsync_dir(archive)
