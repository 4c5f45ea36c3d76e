"""Metrics: per-operation counts, errors, latency histograms, volumes; Prometheus text.

One ``Metrics`` per open database (shared by its handles). Updates take a lock (about a
quarter of a microsecond): counts from several threads must add up exactly.
"""

from __future__ import annotations

import bisect
import threading
import time
from typing import Any

__all__ = ["LATENCY_BUCKETS", "Metrics"]

#: histogram upper bounds in seconds (Prometheus ``le`` labels); the last bucket is +Inf
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class _Operation:
    __slots__ = ("buckets", "count", "errors", "seconds", "slow")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.slow = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)


class Metrics:
    """Counters by (collection, operation) and database-wide totals."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: dict[tuple[str, str], _Operation] = {}
        self.vectors_written = 0
        self.bytes_written = 0
        self.queries = 0
        self.checkpoints = 0
        self.started = time.time()

    def observe(
        self,
        collection: str,
        operation: str,
        seconds: float,
        *,
        error: bool = False,
        slow: bool = False,
        vectors: int = 0,
        bytes_written: int = 0,
        queries: int = 0,
    ) -> None:
        position = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        with self._lock:
            entry = self._operations.get((collection, operation))
            if entry is None:
                entry = self._operations[(collection, operation)] = _Operation()
            entry.count += 1
            entry.seconds += seconds
            entry.buckets[position] += 1
            if error:
                entry.errors += 1
            if slow:
                entry.slow += 1
            self.vectors_written += vectors
            self.bytes_written += bytes_written
            self.queries += queries

    def count_checkpoint(self) -> None:
        with self._lock:
            self.checkpoints += 1

    def snapshot(self) -> dict[str, Any]:
        """Everything as plain data: ``operations`` is a list of per (collection, operation)
        entries with ``count``, ``errors``, ``slow``, ``seconds_total``, ``mean_ms`` and the
        cumulative ``buckets`` ({upper bound in seconds or "+Inf": count})."""
        with self._lock:
            operations = []
            for (collection, operation), entry in sorted(self._operations.items()):
                cumulative, running = {}, 0
                for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), entry.buckets):
                    running += count
                    cumulative[str(bound)] = running
                operations.append(
                    {
                        "collection": collection,
                        "operation": operation,
                        "count": entry.count,
                        "errors": entry.errors,
                        "slow": entry.slow,
                        "seconds_total": entry.seconds,
                        "mean_ms": 1000 * entry.seconds / entry.count if entry.count else 0.0,
                        "buckets": cumulative,
                    }
                )
            return {
                "operations": operations,
                "vectors_written": self.vectors_written,
                "bytes_written": self.bytes_written,
                "queries": self.queries,
                "checkpoints": self.checkpoints,
                "uptime_s": time.time() - self.started,
            }

    def prometheus(
        self,
        extra_gauges: dict[str, float] | None = None,
        embeddings: list[dict[str, Any]] | None = None,
    ) -> str:
        """The Prometheus text exposition format (version 0.0.4); ``embeddings``: the
        entries of ``Database.metrics()["embeddings"]``, as ``vectordb_embedding_*``
        counters labelled by collection and model."""
        data = self.snapshot()
        lines = [
            "# HELP vectordb_operation_seconds Latency of vectordb operations.",
            "# TYPE vectordb_operation_seconds histogram",
        ]
        for entry in data["operations"]:
            labels = f'collection="{_escape(entry["collection"])}",operation="{entry["operation"]}"'
            for bound, count in entry["buckets"].items():
                lines.append(f'vectordb_operation_seconds_bucket{{{labels},le="{bound}"}} {count}')
            lines.append(f"vectordb_operation_seconds_sum{{{labels}}} {entry['seconds_total']:.9f}")
            lines.append(f"vectordb_operation_seconds_count{{{labels}}} {entry['count']}")
        for name, key, text in (
            ("vectordb_operation_errors_total", "errors", "Operations that raised."),
            ("vectordb_slow_queries_total", "slow", "Searches over the slow-query threshold."),
        ):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
            for entry in data["operations"]:
                labels = (
                    f'collection="{_escape(entry["collection"])}",operation="{entry["operation"]}"'
                )
                lines.append(f"{name}{{{labels}}} {entry[key]}")
        for name, key, text in (
            ("vectordb_vectors_written_total", "vectors_written", "Vectors written."),
            ("vectordb_bytes_written_total", "bytes_written", "Vector and metadata bytes written."),
            ("vectordb_queries_total", "queries", "Query vectors searched."),
            ("vectordb_checkpoints_total", "checkpoints", "Checkpoints written."),
        ):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} counter", f"{name} {data[key]}"]
        lines += _embedding_lines(embeddings or [])
        typed: set[str] = set()
        for name, value in (extra_gauges or {}).items():
            family = name.partition("{")[0]
            if family not in typed:  # one TYPE line per family, before its first sample
                typed.add(family)
                lines.append(f"# TYPE {family} gauge")
            lines.append(f"{name} {value}")
        return "\n".join(lines) + "\n"


#: embedding counters in the Prometheus text: (metrics key, family, help)
_EMBEDDING_FAMILIES = (
    ("requests", "vectordb_embedding_requests_total", "Embedding requests (retries included)."),
    ("retries", "vectordb_embedding_retries_total", "Embedding requests retried."),
    ("errors", "vectordb_embedding_errors_total", "Embedding calls that failed."),
    ("circuit_rejections", "vectordb_embedding_circuit_rejections_total",
     "Embedding calls refused by an open circuit breaker."),
    ("texts", "vectordb_embedding_texts_total", "Texts embedded by the model."),
    ("tokens", "vectordb_embedding_tokens_total", "Tokens the provider reported."),
    ("estimated_tokens", "vectordb_embedding_estimated_tokens_total",
     "Tokens estimated (characters / 4) where the provider reported none."),
    ("latency_seconds_sum", "vectordb_embedding_latency_seconds_sum",
     "Seconds spent in answered embedding requests."),
    ("latency_seconds_count", "vectordb_embedding_latency_seconds_count",
     "Answered embedding requests."),
    ("cache_hits", "vectordb_embedding_cache_hits_total", "Texts found in the embedding cache."),
    ("cache_misses", "vectordb_embedding_cache_misses_total",
     "Texts not in the embedding cache."),
    ("estimated_cost_usd", "vectordb_embedding_estimated_cost_usd_total",
     "Estimated cost at the provider's configured price per million tokens."),
)  # fmt: skip


def _embedding_lines(entries: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for key, family, text in _EMBEDDING_FAMILIES:
        samples = [entry for entry in entries if key in entry]
        if not samples:
            continue
        lines += [f"# HELP {family} {text}", f"# TYPE {family} counter"]
        for entry in samples:
            labels = (
                f'collection="{_escape(str(entry["collection"]))}",'
                f'model="{_escape(str(entry["model"]))}"'
            )
            lines.append(f"{family}{{{labels}}} {entry[key]}")
    return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
