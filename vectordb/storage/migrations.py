"""Migrations: bring a database written in an older on-disk format up to ``FORMAT_VERSION``.

Every format version after the first has an entry in ``MIGRATIONS``: a docstring saying what
changed, and the step that converts a database of the version before. A read-write open that
finds the writer lock free (so no other process has the database open) runs the steps in
order once recovery has replayed the log, then rewrites ``vectordb.meta`` with the new
version as the last step: a crash before that runs the steps again, so each step must be
idempotent. A read-only open, or one while another process holds the lock, reads the older
format as it is (every reader accepts every version up to its own).

Derived files (index files, ``columns.bin``) are not migrated: they are rebuilt when they do
not load.
"""

from __future__ import annotations

from collections.abc import Callable

from vectordb.files.atomic import atomic_write_bytes
from vectordb.files.headers import DATABASE_MAGIC, FORMAT_VERSION, HEADER, pack_header
from vectordb.storage.layout import DatabaseFiles

__all__ = ["MIGRATIONS", "migrate"]


def _to_format_2(files: DatabaseFiles) -> None:
    """Format 2: a ``create`` log record carries the collection's configuration (``config``),
    so a restore that replays the log onto an older backup creates the collection again.

    Nothing to convert: format-1 records stay as they are, and recovery replays a format-1
    ``create`` only where the collection's directory exists (as format 1 did)."""


def _to_format_3(files: DatabaseFiles) -> None:
    """Format 3: a record may carry a document (UTF-8 text): an optional ``doc`` list in
    ``put`` and ``meta`` log records, optional ``doc_offsets`` / ``docs`` in snapshots.

    Nothing to convert: the new keys are optional, and a record of format 1 or 2 (which has
    none of them) reads as a record without a document. Only ``vectordb.meta`` changes (to
    version 3), which makes a vectordb that knows only format 2 refuse the database instead
    of dropping documents it cannot see; snapshots and log segments take version 3 as they
    are rewritten (the next checkpoint, the next segment)."""


def _to_format_4(files: DatabaseFiles) -> None:
    """Format 4: a collection's configuration may hold ``embedding``, the spec of its
    embedding function (in its MANIFEST and its ``create`` log record). Nothing to convert: a
    collection of format 3 or before has none, and reads as a collection without an embedding
    function. Only ``vectordb.meta`` changes (to version 4), which makes a vectordb that knows
    only format 3 refuse the database instead of failing on a configuration key it does not
    know. Two derived files may appear beside it, neither migrated nor backed up: the
    embedding cache (``cache/embeddings.sqlite``) and a collection's keyword index
    (``keywords.sqlite``)."""


#: format version -> the step from the version before it
MIGRATIONS: dict[int, Callable[[DatabaseFiles], None]] = {
    2: _to_format_2, 3: _to_format_3, 4: _to_format_4,
}  # fmt: skip


def migrate(files: DatabaseFiles, version: int) -> None:
    """Run the steps from ``version`` up to ``FORMAT_VERSION``, then mark the database as
    ``FORMAT_VERSION`` (caller holds the writer lock and has recovered the database)."""
    if version >= FORMAT_VERSION:
        return
    for step in range(version + 1, FORMAT_VERSION + 1):
        MIGRATIONS[step](files)
    body = files.meta.read_bytes()[HEADER.size :]
    atomic_write_bytes(files.meta, pack_header(DATABASE_MAGIC) + body)
