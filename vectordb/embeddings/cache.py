"""``EmbeddingCache`` and ``CachedEmbeddings``: embed a text once per model, not once per call,
also across restarts.

An entry is keyed by the model (the stable JSON of its embedder's ``spec()`` without the knobs
that do not change the vectors: timeouts, retries, batch sizes, the key's variable name; see
``model_key``) and the SHA-256 of the text; its value is the float32 vector.

Two layers:

- **memory**: an LRU of at most ``max_entries`` vectors, each kept at most ``ttl`` seconds
  (None: no expiry), in front of
- **a file** (optional): SQLite (stdlib ``sqlite3``), table
  ``embeddings(model, text_sha256, vector, last_used)``; WAL mode while open for writing, so
  several processes may share it, and back in rollback-journal mode when the last writer
  closes, so a read-only opener needs to create nothing beside it. It holds at most about
  ``max_bytes`` of vectors: past that, the least recently used entries go (``last_used`` is
  wall-clock time, updated on every hit). ``read_only=True`` reads it and never writes it
  (not even ``last_used``); what it would have stored stays in memory.

The file is derived data: one that cannot be opened or read (corrupt, not a cache, from a newer
version) is treated as empty with a warning in the log, and never modified or deleted: delete
it to start a fresh cache there. A cache is thread-safe (one lock around both layers).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

from vectordb.embeddings.base import Embeddings, checked_texts
from vectordb.embeddings.http import EmbeddingMetrics, check_int, check_number
from vectordb.errors import InvalidArgumentError
from vectordb.files import io, sqlite

__all__ = ["CachedEmbeddings", "EmbeddingCache", "model_key"]

log = logging.getLogger("vectordb.embeddings")

#: spec keys that do not change the vectors a model gives, so not part of a cache key
OPERATIONAL_KEYS = frozenset(
    {
        "api_key_env",
        "dim",  # informational: a learned dim must not move the key
        "timeout",
        "max_batch_size",
        "max_concurrency",
        "max_retries",
        "retry_base_delay",
        "retry_max_delay",
        "breaker_threshold",
        "breaker_cooldown",
        "price_per_million_tokens",
        "device",
        "batch_size",
    }
)
#: bytes an entry costs beyond its vector (key, row and index overhead), for ``max_bytes``
ENTRY_OVERHEAD = 100
#: the cache file's format, in its ``cache_info`` table
FORMAT = "1"
#: SQLite variables per statement (the oldest supported limit is 999)
_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    model BLOB NOT NULL,
    text_sha256 BLOB NOT NULL,
    vector BLOB NOT NULL,
    last_used REAL NOT NULL,
    PRIMARY KEY (model, text_sha256)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS embeddings_last_used ON embeddings (last_used);
"""


def model_key(embedder: Embeddings) -> str:
    """The stable JSON naming ``embedder``'s model for the cache: its ``spec()`` without the
    keys that do not change the vectors (``OPERATIONAL_KEYS``), keys sorted."""
    spec = {key: value for key, value in embedder.spec().items() if key not in OPERATIONAL_KEYS}
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """Vectors of texts already embedded, in memory and optionally in a SQLite file.

    Parameters
    ----------
    path
        The SQLite file (created with its directory if missing); None: memory only.
    max_entries
        The most vectors held in memory (least recently used go first).
    ttl
        Seconds a vector stays in memory; None: until evicted. The file has no expiry.
    max_bytes
        About the most bytes of entries in the file (least recently used go first).
    read_only
        Read the file, never write it.
    clock
        The memory layer's clock for ``ttl`` (``time.monotonic``); tests pass their own.

    Raises
    ------
    InvalidConfigError
        A parameter is out of range.

    Examples
    --------
    >>> cache = EmbeddingCache(max_entries=1000)
    >>> cache.put_many("model", ["hi"], np.ones((1, 3), dtype=np.float32))
    >>> cache.get_many("model", ["hi", "new"])[1] is None
    True
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        max_entries: int = 10_000,
        ttl: float | None = None,
        max_bytes: int = 1 << 30,
        read_only: bool = False,
        clock: Any = time.monotonic,
    ) -> None:
        check_int("EmbeddingCache", "max_entries", max_entries, minimum=0)
        check_number("EmbeddingCache", "ttl", ttl, positive=True, optional=True)
        check_int("EmbeddingCache", "max_bytes", max_bytes, minimum=0)
        self.path = None if path is None else Path(path)
        self.max_entries = max_entries
        self.ttl = None if ttl is None else float(ttl)
        self.max_bytes = max_bytes
        self.read_only = bool(read_only)
        self._clock = clock
        self._lock = threading.Lock()
        # (model digest, text digest) -> (vector, expiry or None)
        self._memory: collections.OrderedDict[
            tuple[bytes, bytes], tuple[npt.NDArray[np.float32], float | None]
        ] = collections.OrderedDict()
        self._db: sqlite3.Connection | None = None
        self._stored_bytes = 0
        if self.path is not None:
            self._db = self._open(self.path)

    # ------------------------------------------------------------------------------ public

    def get_many(self, model: str, texts: Sequence[str]) -> list[npt.NDArray[np.float32] | None]:
        """The cached vector of each text for ``model`` (a ``model_key``), None where missing.

        Parameters
        ----------
        model
            The model's key, as ``model_key(embedder)`` gives it.
        texts
            The texts.

        Returns
        -------
        list
            One read-only float32 vector or None per text.
        """
        model_digest = _digest(model)
        keys = [(model_digest, _digest(text)) for text in texts]
        found: list[npt.NDArray[np.float32] | None] = [None] * len(keys)
        with self._lock:
            now = self._clock()
            wanted: dict[bytes, list[int]] = {}
            for position, key in enumerate(keys):
                entry = self._memory.get(key)
                if entry is not None and (entry[1] is None or entry[1] > now):
                    self._memory.move_to_end(key)
                    found[position] = entry[0]
                else:
                    if entry is not None:
                        del self._memory[key]
                    wanted.setdefault(key[1], []).append(position)
            if wanted and self._db is not None:
                for text_digest, vector in self._stored(model_digest, list(wanted)).items():
                    self._remember((model_digest, text_digest), vector, now)
                    for position in wanted[text_digest]:
                        found[position] = vector
        return found

    def put_many(self, model: str, texts: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Cache ``vectors[i]`` as ``model``'s vector of ``texts[i]``.

        Parameters
        ----------
        model
            The model's key, as ``model_key(embedder)`` gives it.
        texts
            The texts.
        vectors
            One vector per text (a 2-D array).

        Raises
        ------
        InvalidArgumentError
            ``vectors`` is not one row per text.
        """
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] != len(texts):
            raise InvalidArgumentError(
                f"put_many needs one vector per text: {len(texts)} texts, "
                f"vectors of shape {array.shape}"
            )
        model_digest = _digest(model)
        rows = []
        with self._lock:
            now = self._clock()
            for text, row in zip(texts, array):
                vector = np.array(row, dtype=np.float32)  # a copy, not a view of the caller's
                vector.flags.writeable = False
                key = (model_digest, _digest(text))
                self._remember(key, vector, now)
                rows.append((key[1], vector.astype("<f4").tobytes()))
            if self._db is not None and not self.read_only:
                self._store(model_digest, rows)

    def stats(self) -> dict[str, int]:
        """``memory_entries``, ``stored_entries`` and ``stored_bytes`` (the file's, 0 without)."""
        with self._lock:
            stored_entries, stored_bytes = 0, 0
            if self._db is not None:
                result = self._run(
                    "reading its size",
                    lambda db: db.execute(
                        "SELECT COUNT(*), COALESCE(SUM(LENGTH(vector)), 0) FROM embeddings"
                    ).fetchone(),
                )
                if result is not None:
                    stored_entries = int(result[0])
                    stored_bytes = int(result[1]) + ENTRY_OVERHEAD * stored_entries
            return {
                "memory_entries": len(self._memory),
                "stored_entries": stored_entries,
                "stored_bytes": stored_bytes,
            }

    def clear_memory(self) -> None:
        """Forget the memory layer (the file stays)."""
        with self._lock:
            self._memory.clear()

    def close(self) -> None:
        """Close the file (idempotent); the cache goes on in memory only."""
        with self._lock:
            db, self._db = self._db, None
        if db is None:
            return
        if not self.read_only:
            # Leave the file in rollback-journal mode when no one else has it open: a
            # read-only opener of a WAL file creates -wal and -shm files beside it (or, on a
            # read-only disk, cannot open it); while others have it open, it stays WAL.
            try:
                db.execute("PRAGMA busy_timeout = 0")
                db.execute("PRAGMA journal_mode = DELETE")
            except sqlite3.Error:
                pass
        db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "memory" if self.path is None else os.fspath(self.path)
        mode = ", read-only" if self.read_only else ""
        return f"<EmbeddingCache {where}{mode}>"

    # --------------------------------------------------------------------------- the memory

    def _remember(
        self, key: tuple[bytes, bytes], vector: npt.NDArray[np.float32], now: float
    ) -> None:
        if self.max_entries == 0:
            return
        expiry = None if self.ttl is None else now + self.ttl
        self._memory[key] = (vector, expiry)
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)

    # ----------------------------------------------------------------------------- the file

    def _open(self, path: Path) -> sqlite3.Connection | None:
        if self.read_only and not path.exists():
            log.info("embedding cache %s does not exist; read-only, so memory only", path)
            return None
        try:
            if not self.read_only:
                io.mkdir(path.parent, parents=True, exist_ok=True)
            db = sqlite.connect(path, read_only=self.read_only, timeout=5.0)
        except (sqlite3.Error, OSError) as error:
            log.warning("embedding cache %s cannot be opened (%s); memory only", path, error)
            return None
        db.isolation_level = None  # autocommit; transactions are explicit
        try:
            problem = self._prepare(db)
        except sqlite3.Error as error:
            problem = f"{type(error).__name__}: {error}"
        if problem == "":  # an empty file opened read-only: nothing to read
            db.close()
            return None
        if problem is not None:
            db.close()
            log.warning(
                "embedding cache %s is unreadable or not a cache (%s); treated as empty, "
                "memory only, the file left as it is (delete it to start a fresh cache there)",
                path,
                problem,
            )
            return None
        return db

    def _prepare(self, db: sqlite3.Connection) -> str | None:
        """Check (or create) the schema and count the bytes stored: None when usable, else
        why not ("" for an empty database opened read-only)."""
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            if self.read_only:
                return ""
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT OR IGNORE INTO cache_info (key, value) VALUES ('format', ?)", (FORMAT,)
            )
        elif {"cache_info", "embeddings"} <= tables:
            row = db.execute("SELECT value FROM cache_info WHERE key = 'format'").fetchone()
            if row is None or row[0] != FORMAT:
                return f"cache format {None if row is None else row[0]!r}, expected {FORMAT!r}"
            if not self.read_only:
                db.execute("PRAGMA journal_mode = WAL")
        else:
            return f"its tables {sorted(tables)} are not an embedding cache's"
        if not self.read_only:
            db.execute("PRAGMA synchronous = NORMAL")
        # reads every vector's length: checks the pages are readable, too
        (total,) = db.execute(
            "SELECT COALESCE(SUM(LENGTH(vector)), 0) + ? * COUNT(*) FROM embeddings",
            (ENTRY_OVERHEAD,),
        ).fetchone()
        self._stored_bytes = int(total)
        return None

    def _run(self, doing: str, operation: Any) -> Any:
        """``operation(db)``, or None with a warning when SQLite fails: a busy file skips this
        one operation, any other error drops the file for the rest of this cache's life."""
        db = self._db
        if db is None:
            return None
        try:
            return operation(db)
        except sqlite3.Error as error:
            if db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                log.warning("embedding cache %s busy while %s; skipped", self.path, doing)
                return None
            log.warning(
                "embedding cache %s failed while %s (%s); memory only from now on",
                self.path,
                doing,
                error,
            )
            self._db = None
            db.close()
            return None

    def _stored(
        self, model_digest: bytes, text_digests: list[bytes]
    ) -> dict[bytes, npt.NDArray[np.float32]]:
        def read(db: sqlite3.Connection) -> dict[bytes, npt.NDArray[np.float32]]:
            found: dict[bytes, npt.NDArray[np.float32]] = {}
            for start in range(0, len(text_digests), _CHUNK):
                chunk = text_digests[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for text_digest, blob in db.execute(
                    "SELECT text_sha256, vector FROM embeddings "
                    f"WHERE model = ? AND text_sha256 IN ({marks})",
                    (model_digest, *chunk),
                ):
                    if isinstance(blob, bytes) and blob and len(blob) % 4 == 0:
                        vector = np.frombuffer(blob, dtype="<f4").astype(np.float32)
                        vector.flags.writeable = False
                        found[bytes(text_digest)] = vector
            if found and not self.read_only:
                now = time.time()
                db.execute("BEGIN")
                db.executemany(
                    "UPDATE embeddings SET last_used = ? WHERE model = ? AND text_sha256 = ?",
                    [(now, model_digest, text_digest) for text_digest in found],
                )
                db.execute("COMMIT")
            return found

        result: dict[bytes, npt.NDArray[np.float32]] | None = self._run("reading", read)
        return {} if result is None else result

    def _store(self, model_digest: bytes, rows: list[tuple[bytes, bytes]]) -> None:
        rows = [row for row in rows if len(row[1]) + ENTRY_OVERHEAD <= self.max_bytes]
        if not rows:
            return
        now = time.time()

        def write(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (model, text_sha256, vector, last_used) "
                "VALUES (?, ?, ?, ?)",
                [(model_digest, text_digest, blob, now) for text_digest, blob in rows],
            )
            self._stored_bytes += sum(len(blob) + ENTRY_OVERHEAD for _, blob in rows)
            if self._stored_bytes > self.max_bytes:
                self._evict(db)
            db.execute("COMMIT")

        self._run("writing", write)

    def _evict(self, db: sqlite3.Connection) -> None:
        """Delete the least recently used entries until the file holds 90% of ``max_bytes``
        (counted afresh: other processes may have written too)."""
        (total,) = db.execute(
            "SELECT COALESCE(SUM(LENGTH(vector)), 0) + ? * COUNT(*) FROM embeddings",
            (ENTRY_OVERHEAD,),
        ).fetchone()
        excess = int(total) - int(self.max_bytes * 0.9)
        doomed = []
        if int(total) > self.max_bytes:
            cursor = db.execute(
                "SELECT model, text_sha256, LENGTH(vector) FROM embeddings ORDER BY last_used"
            )
            while excess > 0:
                row = cursor.fetchone()
                if row is None:
                    break
                doomed.append((row[0], row[1]))
                excess -= int(row[2]) + ENTRY_OVERHEAD
                total -= int(row[2]) + ENTRY_OVERHEAD
            cursor.close()
            db.executemany("DELETE FROM embeddings WHERE model = ? AND text_sha256 = ?", doomed)
        self._stored_bytes = int(total)


class CachedEmbeddings(Embeddings):
    """An embedder that asks ``embedder`` only for texts ``cache`` does not have.

    Texts repeated in one call are embedded once. Hits and misses are counted in the
    embedder's metrics (``cache_hits``, ``cache_misses``) when it has ``EmbeddingMetrics``
    counters, else in this wrapper's own.

    ``spec()`` is the embedder's: the cache is where this process keeps vectors, not part of
    what they mean, so a collection reopened from the spec gets the bare embedder (wrap it
    again to cache).

    Parameters
    ----------
    embedder
        What computes the vectors.
    cache
        Where they are kept; one cache may serve several embedders (keys include the model).

    Examples
    --------
    >>> from vectordb.embeddings.cache import CachedEmbeddings, EmbeddingCache
    >>> cached = CachedEmbeddings(embedder, EmbeddingCache("embeddings.sqlite"))  # doctest: +SKIP
    """

    def __init__(self, embedder: Embeddings, cache: EmbeddingCache) -> None:
        if not isinstance(embedder, Embeddings):
            raise InvalidArgumentError(
                f"CachedEmbeddings wraps an Embeddings; got {type(embedder).__name__}"
            )
        if not isinstance(cache, EmbeddingCache):
            raise InvalidArgumentError(
                f"CachedEmbeddings needs an EmbeddingCache; got {type(cache).__name__}"
            )
        self.embedder = embedder
        self.cache = cache
        counters = getattr(embedder, "counters", None)
        #: the embedder counts its own calls (HTTP providers); else this wrapper counts them
        self._own_counters = not isinstance(counters, EmbeddingMetrics)
        self.counters = counters if isinstance(counters, EmbeddingMetrics) else EmbeddingMetrics()

    @property
    def name(self) -> str:
        return self.embedder.name

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """``texts`` as a C-contiguous float32 ``(len(texts), dim)`` array, from the cache
        where it has them, from the embedder (then cached) where not.

        Parameters
        ----------
        texts
            One string or a sequence of them.

        Returns
        -------
        numpy.ndarray
            float32, shape ``(len(texts), dim)``.

        Raises
        ------
        EmbeddingError
            The embedder failed (see its ``embed``).
        """
        items = checked_texts(texts)
        if not items:
            return self.embedder.embed([])
        key = model_key(self.embedder)
        found = self.cache.get_many(key, items)
        missing = list(dict.fromkeys(t for t, v in zip(items, found) if v is None))
        hits = len(items) - sum(1 for vector in found if vector is None)
        fresh: dict[str, npt.NDArray[np.float32]] = {}
        if missing:
            started = time.perf_counter()
            computed = self.embedder.embed(missing)
            if self._own_counters:  # a local model: one call, its texts and time
                self.counters.add(requests=1, texts=len(missing), latency_seconds_count=1,
                                  latency_seconds_sum=time.perf_counter() - started)  # fmt: skip
            self.cache.put_many(key, missing, computed)
            fresh = dict(zip(missing, computed))
            dim = computed.shape[1]
        else:
            dim = next(vector for vector in found if vector is not None).shape[0]
        stale = list(
            dict.fromkeys(
                text
                for text, vector in zip(items, found)
                if vector is not None and len(vector) != dim
            )
        )
        if stale:  # cached under this key with another length: the cache is wrong, not the model
            log.warning("embedding cache: %d vectors of the wrong dim re-embedded", len(stale))
            computed = self.embedder.embed(stale)
            self.cache.put_many(key, stale, computed)
            fresh.update(zip(stale, computed))
            restale = set(stale)
            hits -= sum(1 for text in items if text in restale)
        self.counters.add(cache_hits=hits, cache_misses=len(items) - hits)
        result = np.empty((len(items), dim), dtype=np.float32)
        for row, (text, vector) in enumerate(zip(items, found)):
            result[row] = fresh.get(text, vector)
        return result

    def spec(self) -> dict[str, Any]:
        return self.embedder.spec()

    def metrics(self) -> dict[str, float]:
        """The embedder's metrics (with the cache's hits and misses), or this wrapper's."""
        inner = getattr(self.embedder, "metrics", None)
        if callable(inner) and self.counters is getattr(self.embedder, "counters", None):
            result: dict[str, float] = inner()
            return result
        return self.counters.snapshot()

    def close(self) -> None:
        """Close the embedder if it can be closed (the cache may serve others: close it
        yourself)."""
        closer = getattr(self.embedder, "close", None)
        if callable(closer):
            closer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CachedEmbeddings {self.embedder!r} in {self.cache!r}>"
