"""The keyword index: BM25 over a collection's documents, in an SQLite FTS5 sidecar.

``<collection>/keywords.sqlite`` is derived data, like the HNSW graph: never backed up, never
migrated, rebuilt when missing or damaged. Every process with the collection open shares it.

**Tokens.** ``tokens()`` reads text the way people search code and man pages: NFKC, case
folded, accents removed, runs of CJK characters as overlapping pairs (no spaces to split
on), and a word with inner punctuation (``mkfs.ext4``, ``--dry-run``, ``snake_case``,
``c++``) is kept whole *and* split into its parts, so ``mkfs.ext4`` is found by
``"mkfs.ext4"``, ``mkfs`` and ``ext4``. FTS5 (``porter unicode61``, with the punctuation as
token characters) stems and indexes the tokens joined by spaces, in a contentless table: the
file keeps the index, and beside each row's hash its tokens zlib-compressed (a contentless
table forgets a row only given exactly what it indexed), not the text again (1.4x the
documents' bytes, against 1.95x with FTS5 keeping its own copy). A query is its own tokens
joined by ``OR``, ranked by FTS5's ``bm25()`` (k1 1.2, b 0.75). The score is ``-bm25()``:
higher is better.

**Kept in step by content, not by log position.** A search must see exactly the documents of
its reader's snapshot, while processes at different log positions (and writes with durability
"off", which are in no log) share one file. So the file is versioned by what it holds: every
row with a document has a 64-bit hash (xxh3 of the text, seeded with the row), and the file
records the XOR of all of them (``total``). This process keeps the same hashes for its own
state, updated as writes are applied (``rows_changed``, under the collection's exclusive
latch). Before a keyword search (under the shared latch, so the state cannot move):

- the file's ``total`` equals this process's: it holds exactly this snapshot; search it;
- else the rows to rewrite are this process's changed rows since its last sync plus the rows
  other processes rewrote since then (the file's ``changes`` journal, by ``generation``; a
  sync rewriting thousands of rows journals none and raises the journal's ``floor``
  instead); they are set to this process's documents, and the new ``total`` must then equal
  its own;
- when that does not add up (the journal was trimmed, the file is new or was rebuilt) the
  row hashes of the file are compared with this process's, and only the rows that differ
  are rewritten: the catch-up never re-tokenizes unchanged documents.

All of a sync and the search that follows run in one SQLite transaction, so a SIGKILL at any
point leaves the file as it was before or after, and a reader never sees a half-applied
sync. A file that cannot be read (damaged, another schema) is deleted and rebuilt from the
documents. A read-only handle never writes the file: it copies it into memory once (or
builds it there) and keeps that copy in step in the same way.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import threading
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import xxhash

from vectordb.files import io, sqlite

__all__ = [
    "DocumentSource", "KEYWORD_SCHEMA_VERSION", "KeywordIndex", "match_expression", "tokens",
]  # fmt: skip

log = logging.getLogger("vectordb")

#: the sidecar's schema and tokenization; a file of another version is rebuilt
#: (2: accents removed before tokenizing, runs of CJK characters as overlapping pairs;
#: 3: a contentless FTS5 table, the indexed tokens kept compressed beside the row hashes)
KEYWORD_SCHEMA_VERSION = 3
#: characters that join the parts of one compound token (``mkfs.ext4``, ``dry-run``)
_JOINERS = ".-_+#/:@"
_FTS_TOKENIZE = f"porter unicode61 remove_diacritics 2 tokenchars '{_JOINERS}'"
_COMPOUND = re.compile(r"[\w.\-+#/:@]+")
_PART = re.compile(r"[^\W_]+")
#: combining marks, removed after canonical decomposition: "école" is "ecole", "İ" is "i"
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
#: characters of scripts written without spaces between words (kana, CJK ideographs, Hangul
#: syllables): a run of them is indexed as its overlapping pairs, as Lucene's CJK analyzer does
_CJK = re.compile("([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+)")
#: at most this many distinct tokens of a query are searched for
MAX_QUERY_TOKENS = 64
#: generations of the ``changes`` journal kept; a process further behind compares hashes
_JOURNAL_GENERATIONS = 256
#: a sync that rewrites more rows than this (a first build, a compaction's renumbering)
#: journals none of them, and a process that synced before it compares hashes instead
_JOURNAL_MAX_ROWS = 4096
_BUSY_TIMEOUT_S = 30.0


def tokens(text: str) -> list[str]:
    """``text``'s search tokens, in order: each word case-folded and without accents, a word
    with inner punctuation both whole (outer ``.-/:@`` stripped) and as its alphanumeric
    parts, and a run of CJK characters as its overlapping pairs.

    >>> tokens("Run mkfs.ext4 --dry-run on /dev/sda1 (C++)")  # doctest: +NORMALIZE_WHITESPACE
    ['run', 'mkfs.ext4', 'mkfs', 'ext4', 'dry-run', 'dry', 'run', 'on', 'dev/sda1', 'dev',
     'sda1', 'c++', 'c']
    >>> tokens("École 中文文本")
    ['ecole', '中文', '文文', '文本']
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    if not folded.isascii():
        decomposed = _MARKS.sub("", unicodedata.normalize("NFD", folded))
        folded = unicodedata.normalize("NFC", decomposed)
    found: list[str] = []
    for match in _COMPOUND.finditer(folded):
        word = match.group().strip(".-/:@_")
        if not word:
            continue
        parts = _PART.findall(word)
        if _CJK.search(word) is not None:
            for part in parts:
                found.extend(_cjk_pairs(part))
            continue
        if len(parts) != 1 or parts[0] != word:
            found.append(word)
        found.extend(parts)
    return found


def _cjk_pairs(part: str) -> list[str]:
    """``part`` with each run of CJK characters as its overlapping pairs (a single character
    as itself) and the text between runs as it is."""
    pieces: list[str] = []
    for piece in _CJK.split(part):
        if not piece:
            continue
        if _CJK.fullmatch(piece) is None or len(piece) == 1:
            pieces.append(piece)
        else:
            pieces.extend(piece[i : i + 2] for i in range(len(piece) - 1))
    return pieces


def match_expression(text: str) -> str | None:
    """The FTS5 query of a keyword search for ``text``: its distinct tokens, each quoted,
    joined by ``OR``; None when it has none."""
    distinct = list(dict.fromkeys(tokens(text)))[:MAX_QUERY_TOKENS]
    if not distinct:
        return None
    return " OR ".join(f'"{token}"' for token in distinct)


@dataclass(frozen=True)
class DocumentSource:
    """How the index reads its collection's state (under the collection's latch): the
    number of rows, and a row's document as UTF-8 bytes (b"" when it has none or is not
    live)."""

    n_rows: Callable[[], int]
    document: Callable[[int], bytes]


def _row_hash(row: int, blob: bytes) -> int:
    """A row's hash as a signed 64-bit int (SQLite's INTEGER); 0 for no document."""
    if not blob:
        return 0
    value = xxhash.xxh3_64_intdigest(blob, seed=row)
    return value - (1 << 64) if value >= 1 << 63 else value or 1


class _Sidecar:
    """An open keyword database (the file, or a memory copy for a read-only handle)."""

    def __init__(self, connection: sqlite3.Connection, *, in_memory: bool) -> None:
        self.db = connection
        self.in_memory = in_memory
        self.db.isolation_level = None  # transactions are explicit

    def prepare(self, uid: str) -> None:
        """Create the schema, or check the one found (``sqlite3.DatabaseError`` if it is
        damaged, another version or another collection's)."""
        db = self.db
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "meta" not in tables:
            with self.transaction(immediate=True):
                # contentless: FTS5 keeps only its index; the tokens a row was indexed with
                # (needed to take it out again) are kept zlib-compressed in ``hashes.body``
                db.execute(
                    "CREATE VIRTUAL TABLE docs USING fts5(body, content = '', "
                    f"tokenize = \"{_FTS_TOKENIZE}\")"
                )
                db.execute(
                    "CREATE TABLE hashes(row INTEGER PRIMARY KEY, h INTEGER NOT NULL, "
                    "body BLOB NOT NULL)"
                )
                db.execute(
                    "CREATE TABLE changes(generation INTEGER NOT NULL, row INTEGER NOT NULL)"
                )
                db.execute("CREATE INDEX changes_by_generation ON changes(generation)")
                db.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("version", KEYWORD_SCHEMA_VERSION), ("uid", uid), ("total", 0),
                     ("generation", 0), ("floor", 0), ("sqlite", sqlite3.sqlite_version)],
                )  # fmt: skip
            return
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("version") != KEYWORD_SCHEMA_VERSION or meta.get("uid") != uid:
            raise sqlite3.DatabaseError(
                f"keyword index of version {meta.get('version')!r} for collection "
                f"{meta.get('uid')!r}, not {KEYWORD_SCHEMA_VERSION} for {uid!r}"
            )
        if meta.get("sqlite") != sqlite3.sqlite_version:
            # a row leaves a contentless table by its tokens as the tokenizer that indexed
            # it read them: another SQLite's tokenizer might read them otherwise
            raise sqlite3.DatabaseError(
                f"keyword index built by SQLite {meta.get('sqlite')}, not "
                f"{sqlite3.sqlite_version}"
            )

    @contextlib.contextmanager
    def transaction(self, *, immediate: bool) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def state(self) -> tuple[int, int]:
        """``(total, generation)`` as the file holds them now."""
        meta = dict(self.db.execute(
            "SELECT key, value FROM meta WHERE key IN ('total', 'generation')"
        ).fetchall())  # fmt: skip
        return int(meta["total"]), int(meta["generation"])

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()


class KeywordIndex:
    """BM25 search over one collection's documents (see the module docstring).

    ``path``: the sidecar file; ``uid``: the collection's (a file of another collection is
    rebuilt); ``read_only``: never write the file; ``source``: the collection's documents.
    Nothing is read or built until the first search (``activate``); until then writes cost
    nothing here.
    """

    def __init__(self, path: Path, uid: str, source: DocumentSource, *, read_only: bool) -> None:
        self.path = path
        self.uid = uid
        self.source = source
        self.read_only = read_only
        self._lock = threading.Lock()  # one search or sync at a time on the connection
        self._sidecar: _Sidecar | None = None
        self._hashes: npt.NDArray[np.int64] | None = None  # None: not active yet
        self._total = 0
        self._dirty: set[int] = set()
        #: (total, generation) of the file as of this process's last sync; None: never
        self._synced: tuple[int, int] | None = None
        self.rebuilds = 0  # files found damaged and rebuilt (for tests and check())
        self.diffs = 0  # catch-ups that compared every row hash (for tests and benchmarks)

    # ---------------------------------------------------------------- kept by the state
    @property
    def active(self) -> bool:
        return self._hashes is not None

    def rows_changed(self, rows: Iterable[int]) -> None:
        """Rows whose document may have changed (written, replaced, deleted); the caller
        holds the collection's exclusive latch. Nothing to do before the first search."""
        hashes = self._hashes
        if hashes is None:
            return
        document = self.source.document
        for row in rows:
            row = int(row)
            if row >= len(hashes):
                hashes = self._grow(row + 1)
            new = _row_hash(row, document(row))
            old = int(hashes[row])
            if new != old:
                self._total ^= old ^ new
                hashes[row] = new
                self._dirty.add(row)

    def _grow(self, rows: int) -> npt.NDArray[np.int64]:
        assert self._hashes is not None
        grown = np.zeros(max(rows, len(self._hashes) * 5 // 4 + 64), np.int64)
        grown[: len(self._hashes)] = self._hashes
        self._hashes = grown
        return grown

    def close(self) -> None:
        with self._lock:
            if self._sidecar is not None:
                self._sidecar.close()
                self._sidecar = None

    # ---------------------------------------------------------------- searching
    def search(
        self, text: str, k: int, allowed: npt.NDArray[np.bool_] | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The ``k`` rows whose documents best match ``text`` (BM25, best first) among
        ``allowed`` rows (None: all), and their scores; the caller holds the collection's
        shared latch, so the rows are those of its snapshot."""
        expression = match_expression(text)
        with self._lock:
            self._activate()
            if expression is None or k <= 0:
                return np.empty(0, np.int64), np.empty(0, np.float64)
            return self._synced_search(expression, k, allowed)

    def _activate(self) -> None:
        """Hash every row's document and open the sidecar (first search only)."""
        if self._hashes is None:
            n = self.source.n_rows()
            document = self.source.document
            hashes = np.zeros(max(n, 64), np.int64)
            total = 0
            for row in range(n):
                value = _row_hash(row, document(row))
                if value:
                    hashes[row] = value
                    total ^= value
            self._hashes, self._total = hashes, total
            self._dirty = set()
        if self._sidecar is None:
            self._sidecar = self._open()

    def _synced_search(
        self, expression: str, k: int, allowed: npt.NDArray[np.bool_] | None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        for attempt in range(2):
            sidecar = self._sidecar
            assert sidecar is not None
            try:
                with sidecar.transaction(immediate=False):
                    state = sidecar.state()
                    if state[0] == self._total:  # it holds exactly this snapshot
                        self._synced = state
                        self._dirty.clear()
                        return _ranked(sidecar.db, expression, k, allowed)
                if self.read_only and not sidecar.in_memory:
                    self._sidecar = self._memory_copy(sidecar)
                    sidecar.close()
                    sidecar = self._sidecar
                with sidecar.transaction(immediate=True):
                    self._sync(sidecar)
                    return _ranked(sidecar.db, expression, k, allowed)
            except sqlite3.DatabaseError as error:  # damaged: rebuild it, once
                if attempt:
                    raise
                self._rebuild(error)
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- keeping in step
    def _sync(self, sidecar: _Sidecar) -> None:
        """Make the sidecar hold exactly this process's documents (inside a write
        transaction)."""
        assert self._hashes is not None
        db = sidecar.db
        total, generation = sidecar.state()
        rows = set(self._dirty)
        journal_ok = self._synced is not None
        if journal_ok and self._synced != (total, generation):
            assert self._synced is not None
            since = self._synced[1]
            # kept: the generations after ``generation - _JOURNAL_GENERATIONS``, and after
            # the last sync too large to journal (``floor``)
            floor = int(db.execute("SELECT value FROM meta WHERE key = 'floor'").fetchone()[0])
            journal_ok = since >= max(generation - _JOURNAL_GENERATIONS, floor)
            if journal_ok:
                rows.update(r for (r,) in db.execute(
                    "SELECT DISTINCT row FROM changes WHERE generation > ?", (since,)
                ))  # fmt: skip
        if journal_ok:
            total = self._rewrite(db, sorted(rows), total, generation + 1)
        if total != self._total:  # the journal did not cover it: compare every row's hash
            self.diffs += 1
            stored = dict(db.execute("SELECT row, h FROM hashes").fetchall())
            mine = self._hashes
            differing = {row for row, value in stored.items()
                         if row >= len(mine) or int(mine[row]) != value}  # fmt: skip
            differing.update(int(row) for row in np.flatnonzero(mine) if row not in stored)
            total = self._rewrite(db, sorted(differing), total, generation + 1)
        if total != self._total:
            raise sqlite3.DatabaseError("keyword index hashes disagree after a full comparison")
        generation += 1
        db.execute("UPDATE meta SET value = ? WHERE key = 'total'", (total,))
        db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (generation,))
        db.execute(
            "DELETE FROM changes WHERE generation <= ?", (generation - _JOURNAL_GENERATIONS,)
        )
        self._synced = (total, generation)
        self._dirty.clear()

    def _rewrite(
        self, db: sqlite3.Connection, rows: list[int], total: int, generation: int
    ) -> int:
        """Set ``rows`` of the sidecar to this process's documents, journaled under
        ``generation``; returns the new total (the old one with the rewritten rows' old and
        new hashes folded in)."""
        if not rows:
            return total
        assert self._hashes is not None
        mine = self._hashes
        document = self.source.document
        old_rows: dict[int, tuple[int, bytes]] = {}
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            marks = ",".join("?" * len(chunk))
            old_rows.update((row, (h, body)) for row, h, body in db.execute(
                f"SELECT row, h, body FROM hashes WHERE row IN ({marks})", chunk
            ))  # fmt: skip
        changed: list[tuple[int]] = []
        taken_out: list[tuple[int, str]] = []
        written: list[tuple[int, str]] = []
        hashed: list[tuple[int, int, bytes]] = []
        for row in rows:
            new = int(mine[row]) if row < len(mine) else 0
            old, old_body = old_rows.get(row, (0, b""))
            if new == old:
                continue
            total ^= old ^ new
            changed.append((row,))
            if old:  # a contentless table forgets a row given exactly what it indexed
                taken_out.append((row, zlib.decompress(old_body).decode("utf-8")))
            if new:
                body = " ".join(tokens(document(row).decode("utf-8", "replace")))
                written.append((row, body))
                hashed.append((row, new, zlib.compress(body.encode("utf-8"), 1)))
        db.executemany("INSERT INTO docs(docs, rowid, body) VALUES ('delete', ?, ?)", taken_out)
        db.executemany("DELETE FROM hashes WHERE row = ?", changed)
        db.executemany("INSERT INTO docs(rowid, body) VALUES (?, ?)", written)
        db.executemany("INSERT INTO hashes VALUES (?, ?, ?)", hashed)
        if len(changed) > _JOURNAL_MAX_ROWS:  # too many to journal: a floor instead
            db.execute("UPDATE meta SET value = ? WHERE key = 'floor'", (generation,))
        else:
            journal = [(generation, row) for (row,) in changed]
            db.executemany("INSERT INTO changes VALUES (?, ?)", journal)
        return total

    # ---------------------------------------------------------------- files
    def _open(self) -> _Sidecar:
        """The sidecar: the file (created if missing), or for a read-only handle the file
        opened read-only (copied into memory once it must change)."""
        try:
            return self._open_file()
        except sqlite3.DatabaseError as error:
            self.rebuilds += 1
            if self.read_only:
                log.warning("keyword index %s not used (%s); built in memory", self.path, error)
                return self._empty_memory()
            self._delete_files(error)
            return self._open_file()

    def _open_file(self) -> _Sidecar:
        if self.read_only and not self.path.exists():
            return self._empty_memory()
        connection = sqlite.connect(self.path, read_only=self.read_only, timeout=_BUSY_TIMEOUT_S)
        sidecar = _Sidecar(connection, in_memory=False)
        try:
            sidecar.prepare(self.uid)
        except BaseException:
            sidecar.close()
            raise
        return sidecar

    def _empty_memory(self) -> _Sidecar:
        sidecar = _Sidecar(sqlite3.connect(":memory:", check_same_thread=False), in_memory=True)
        sidecar.prepare(self.uid)
        self._synced = None
        return sidecar

    def _memory_copy(self, sidecar: _Sidecar) -> _Sidecar:
        """A read-only handle's private copy of the file, to bring in step in memory."""
        memory = sqlite3.connect(":memory:", check_same_thread=False)
        sidecar.db.backup(memory)
        self._synced = None  # compare hashes once: this process never synced the copy
        return _Sidecar(memory, in_memory=True)

    def _rebuild(self, error: BaseException) -> None:
        """The sidecar is damaged: start again from an empty one, built from the documents."""
        self.rebuilds += 1
        if self._sidecar is not None:
            self._sidecar.close()
            self._sidecar = None
        self._synced = None
        if self.read_only:
            log.warning("keyword index %s damaged (%s); built in memory", self.path, error)
            self._sidecar = self._empty_memory()
            return
        self._delete_files(error)
        self._sidecar = self._open_file()

    def _delete_files(self, error: BaseException) -> None:
        log.warning("keyword index %s damaged or outdated (%s); rebuilt from the documents",
                    self.path, error)  # fmt: skip
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                io.unlink(Path(f"{self.path}{suffix}"))

    def check(self) -> str | None:
        """What is wrong with the sidecar file, or None (missing counts as fine: it is
        built on first use). Reads only."""
        if not self.path.exists():
            return None
        try:
            # FTS5's integrity check is an INSERT, refused on a read-only connection: it
            # runs on a copy in memory, so a check never writes the file
            disk = sqlite.connect(self.path, read_only=True, timeout=_BUSY_TIMEOUT_S)
            with contextlib.closing(disk), contextlib.closing(sqlite3.connect(":memory:")) as db:
                disk.backup(db)
                sidecar = _Sidecar(db, in_memory=True)
                sidecar.prepare(self.uid)
                db.execute("INSERT INTO docs(docs) VALUES ('integrity-check')")
                total = 0
                for (value,) in db.execute("SELECT h FROM hashes"):
                    total ^= int(value)
                if total != sidecar.state()[0]:
                    return "keyword index: its row hashes do not add up to its total"
                counted = db.execute("SELECT count(*) FROM docs_docsize").fetchone()[0]
                hashed = db.execute("SELECT count(*) FROM hashes").fetchone()[0]
                if counted != hashed:
                    return f"keyword index: {counted} documents but {hashed} row hashes"
        except sqlite3.Error as error:
            return f"keyword index: {error}"
        return None

    def repair(self) -> None:
        """Delete the sidecar files (the next search rebuilds them from the documents)."""
        with self._lock:
            if self._sidecar is not None:
                self._sidecar.close()
                self._sidecar = None
            self._synced = None
            if not self.read_only:
                self._delete_files(RuntimeError("check(repair=True)"))


def _ranked(
    db: sqlite3.Connection, expression: str, k: int, allowed: npt.NDArray[np.bool_] | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The best ``k`` matches of ``expression`` among ``allowed`` rows: asks FTS5 for the
    best ``k`` (then 4x more each time a filter leaves fewer) until enough pass."""
    query = "SELECT rowid, bm25(docs) FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?"
    limit = k if allowed is None else max(4 * k, 64)
    while True:
        found = db.execute(query, (expression, limit)).fetchall()
        rows = np.fromiter((row for row, _ in found), np.int64, len(found))
        scores = -np.fromiter((score for _, score in found), np.float64, len(found))
        if allowed is not None:
            inside = rows < len(allowed)
            keep = np.zeros(len(rows), bool)
            keep[inside] = allowed[rows[inside]]
            rows, scores = rows[keep], scores[keep]
        if len(rows) >= k or len(found) < limit:
            return rows[:k], scores[:k]
        limit *= 4
