"""Configuration sources, reload, metrics, Prometheus text, slow-query log, health, JSON logs."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from internals import engine_of, index_of

import vectordb
from vectordb.config_sources import ENV_KINDS, resolve_database_config
from vectordb.observability.logs import JsonFormatter


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("VECTORDB_") and name not in ("VECTORDB_SLOW", "VECTORDB_NO_WARMUP"):
            monkeypatch.delenv(name)


def test_every_setting_can_come_from_the_environment() -> None:
    fields = {f.name for f in dataclasses.fields(vectordb.DatabaseConfig)} - {"collections"}
    assert set(ENV_KINDS) == fields


def test_precedence_defaults_file_environment_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "db"
    root.mkdir()
    (root / "vectordb.yaml").write_text(
        "durability: normal\nlock_timeout: 7\ncheckpoint_records: 500\nthreads: 1\n"
        "collections:\n  docs: {durability: off, ef: 99}\n"
    )
    monkeypatch.setenv("VECTORDB_LOCK_TIMEOUT", "9.5")
    monkeypatch.setenv("VECTORDB_USE_MMAP", "false")
    monkeypatch.setenv("VECTORDB_CHECKPOINT_RECORDS", "600")
    resolved = resolve_database_config(root, {"checkpoint_records": 700})
    config = resolved.config
    assert config.durability is vectordb.Durability.NORMAL  # file
    assert config.lock_timeout == 9.5  # environment over file
    assert config.use_mmap is False  # environment
    assert config.checkpoint_records == 700  # argument over both
    assert config.threads == 1 and config.initial_capacity == 1024  # file, default
    assert config.overrides_for("docs").ef == 99
    assert config.overrides_for("other").ef is None
    assert resolved.sources["lock_timeout"] == "environment VECTORDB_LOCK_TIMEOUT"
    assert resolved.sources["checkpoint_records"] == "argument"
    assert resolved.sources["durability"].startswith("file ")
    with vectordb.open(root) as db:
        assert db.config.lock_timeout == 9.5
        assert db.config_sources()["durability"].endswith("vectordb.yaml")
        # a DatabaseConfig object is complete: file and environment are not consulted
    with vectordb.open(root, config=vectordb.DatabaseConfig()) as db:
        assert db.config.lock_timeout == 5.0


def test_config_file_argument_and_environment_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "elsewhere.yaml"
    settings.write_text("durability: off\n")
    with vectordb.open(tmp_path / "a", config_file=settings) as db:
        assert db.config.durability is vectordb.Durability.OFF
    monkeypatch.setenv("VECTORDB_CONFIG", str(settings))
    with vectordb.open(tmp_path / "b") as db:
        assert db.config.durability is vectordb.Durability.OFF
    monkeypatch.setenv("VECTORDB_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(vectordb.ConfigError, match=r"VECTORDB_CONFIG names .*missing\.yaml"):
        vectordb.open(tmp_path / "c")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("durability: sometimes\n", r"vectordb.yaml: durability must be one of 'full'"),
        ("lock_timeout: -1\n", r"vectordb.yaml: lock_timeout must be a positive number"),
        ("colour: blue\n", r"unknown database config key\(s\) \['colour'\]"),
        ("collections:\n  docs: {ef: 0}\n", r"ef must be a positive integer"),
        ("collections:\n  docs: {size: 3}\n", r"unknown collection override for 'docs'"),
        ("log_level: LOUD\n", r"log_level must be one of \['DEBUG'"),
        ("- a list\n", r"must hold a mapping of settings"),
        ("durability: [unclosed\n", r"not valid YAML"),
    ],
)
def test_bad_config_files_name_the_source_key_and_allowed_values(
    tmp_path: Path, text: str, message: str
) -> None:
    root = tmp_path / "db"
    root.mkdir()
    (root / "vectordb.yaml").write_text(text)
    with pytest.raises(vectordb.ConfigError, match=message):
        vectordb.open(root)


def test_bad_environment_values_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("VECTORDB_USE_MMAP", "perhaps")
    with pytest.raises(vectordb.ConfigError, match=r"VECTORDB_USE_MMAP='perhaps': expected"):
        vectordb.open(tmp_path / "a")
    monkeypatch.delenv("VECTORDB_USE_MMAP")
    monkeypatch.setenv("VECTORDB_DURABILTY", "off")  # misspelt: not silently ignored
    with caplog.at_level(logging.WARNING, logger="vectordb"), vectordb.open(tmp_path / "a") as db:
        assert db.config.durability is vectordb.Durability.FULL
    assert any(
        "ignoring environment variable VECTORDB_DURABILTY" in r.getMessage() for r in caplog.records
    )
    monkeypatch.delenv("VECTORDB_DURABILTY")
    monkeypatch.setenv("VECTORDB_THREADS", "many")
    with pytest.raises(vectordb.ConfigError, match="environment VECTORDB_THREADS: threads must be"):
        vectordb.open(tmp_path / "a")


def test_per_collection_overrides_apply_to_writes_and_searches(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    root = tmp_path / "db"
    root.mkdir()
    (root / "vectordb.yaml").write_text(
        "collections:\n  cells: {nprobe: 1}\n  quick: {durability: 'off'}\n"
    )
    data = rng.standard_normal((2000, 8)).astype(np.float32)
    with vectordb.open(root) as db:
        cells = db.create_collection("cells", dim=8, index="ivf", ivf={"nlist": 16})
        cells.add(data)
        assert cells.wait_indexed(timeout=60)
        exact = cells.search_batch(data[:50], k=10, exact=True)
        one_cell = cells.search_batch(data[:50], k=10)  # the override: nprobe 1
        all_cells = cells.search_batch(data[:50], k=10, nprobe=16)
        assert all_cells == exact and one_cell != exact
        quick = db.create_collection("quick", dim=8)
        before = db.health()["last_lsn"]
        quick.add(data[:10])
        assert db.health()["last_lsn"] == before  # durability "off": nothing logged
        cells.add(data[:1])
        assert db.health()["last_lsn"] == before + 1


def test_reload_config_applies_the_safe_subset(tmp_path: Path) -> None:
    root = tmp_path / "db"
    root.mkdir()
    settings = root / "vectordb.yaml"
    settings.write_text("slow_query_ms: 1000\n")
    with vectordb.open(root) as db:
        assert db.config.slow_query_ms == 1000
        settings.write_text(
            "slow_query_ms: 5\nlog_level: info\nlock_timeout: 2\ncollections:\n  x: {ef: 12}\n"
        )
        report = db.reload_config()
        assert sorted(report["applied"]) == ["collections", "log_level", "slow_query_ms"]
        assert report["needs_reopen"] == ["lock_timeout"]
        assert db.config.slow_query_ms == 5 and db.config.lock_timeout == 5.0
        assert db.config.overrides_for("x").ef == 12
        assert logging.getLogger("vectordb").level == logging.INFO
        settings.write_text("slow_query_ms: -3\n")
        with pytest.raises(vectordb.ConfigError, match="slow_query_ms"):
            db.reload_config()
        assert db.config.slow_query_ms == 5  # unchanged by the failed reload
    logging.getLogger("vectordb").setLevel(logging.NOTSET)


def test_metrics_count_operations_errors_and_volumes(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=4)
        docs.add(rng.standard_normal((10, 4)), ids=[str(i) for i in range(10)])
        docs.upsert(rng.standard_normal((2, 4)), ids=["1", "new"])
        docs.search([1, 0, 0, 0], k=3)
        docs.search_batch(rng.standard_normal((5, 4)), k=2)
        docs.get("1")
        with pytest.raises(vectordb.DimensionMismatchError):
            docs.add([[1, 2]])
        db.checkpoint()
        metrics = db.metrics()
        by_op = {(m["collection"], m["operation"]): m for m in metrics["operations"]}
        assert by_op[("docs", "add")]["count"] == 2 and by_op[("docs", "add")]["errors"] == 1
        assert by_op[("docs", "search")]["count"] == 1  # not also counted as a batch
        assert by_op[("docs", "search_batch")]["count"] == 1
        assert by_op[("docs", "get")]["count"] == 1 and ("docs", "get_many") not in by_op
        assert metrics["vectors_written"] == 12 and metrics["bytes_written"] == 12 * 16
        assert metrics["queries"] == 6 and metrics["checkpoints"] >= 1
        buckets = by_op[("docs", "search")]["buckets"]
        assert buckets["+Inf"] == 1 and list(buckets.values()) == sorted(buckets.values())
        text = db.metrics_prometheus()
        assert 'vectordb_operation_seconds_count{collection="docs",operation="add"} 2' in text
        assert 'vectordb_operation_errors_total{collection="docs",operation="add"} 1' in text
        assert 'vectordb_records{collection="docs"} 11' in text
        assert "# TYPE vectordb_operation_seconds histogram" in text
        for line in text.splitlines():  # every sample line is "name{labels} value"
            if line and not line.startswith("#"):
                float(line.rsplit(" ", 1)[1])


def test_slow_searches_are_logged_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with vectordb.open(tmp_path / "db", config={"slow_query_ms": 1e-6}) as db:
        docs = db.create_collection("docs", dim=4)
        docs.add([[1, 0, 0, 0]], ids=["a"])
        with caplog.at_level(logging.WARNING, logger="vectordb.slow"):
            docs.search([1, 0, 0, 0], k=1)
        (record,) = [r for r in caplog.records if r.name == "vectordb.slow"]
        assert "slow search on 'docs'" in record.getMessage()
        slow = [m for m in db.metrics()["operations"] if m["operation"] == "search"]
        assert slow[0]["slow"] == 1


def test_health_reports_storage_and_index_state(tmp_path: Path, rng: np.random.Generator) -> None:
    with vectordb.open(tmp_path / "db") as db:
        db.create_collection("flat", dim=4).add(rng.standard_normal((5, 4)))
        graph = db.create_collection("graph", dim=4, index="hnsw")
        graph.add(rng.standard_normal((5, 4)))
        health = db.health()
        assert health["status"] == "ok" and health["problems"] == []
        assert health["wal_bytes"] > 0 and health["wal_segments"] >= 1
        assert health["free_disk_bytes"] > 0 and health["last_lsn"] >= 2
        assert health["collections"]["flat"] == {"count": 5, "index": "flat"}
        assert health["collections"]["graph"]["index"] == "hnsw"
        index_of(graph).indexer_error = RuntimeError("boom")  # type: ignore[union-attr]
        health = db.health()
        assert health["status"] == "degraded"
        assert "graph: background indexer stopped" in health["problems"][0]
        index_of(graph).indexer_error = None  # type: ignore[union-attr]
    with pytest.raises(vectordb.DatabaseClosedError):
        db.health()


def test_json_log_formatter_and_handler(tmp_path: Path) -> None:
    record = logging.LogRecord(
        "vectordb.index", logging.WARNING, __file__, 1, "hi %s", ("x",), None
    )
    record.collection = "docs"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hi x" and entry["level"] == "WARNING"
    assert entry["logger"] == "vectordb.index" and entry["collection"] == "docs"
    assert entry["time"].endswith("+00:00")
    logger = logging.getLogger("vectordb")
    with vectordb.open(tmp_path / "db", config={"log_json": True}):
        assert any(h.get_name() == "vectordb-json" for h in logger.handlers)
    with vectordb.open(tmp_path / "db"):
        assert not any(h.get_name() == "vectordb-json" for h in logger.handlers)


def test_collection_limits_refuse_writes_and_change_nothing(tmp_path: Path) -> None:
    config = {"max_vectors": 5, "collections": {"small": {"max_bytes": 3 * 4 * 4}}}
    with vectordb.open(tmp_path / "db", config=config) as db:
        docs = db.create_collection("docs", dim=4)
        docs.add(np.ones((4, 4)), ids=["a", "b", "c", "d"])
        with pytest.raises(
            vectordb.CollectionFullError, match="max_vectors=5; nothing was written"
        ):
            docs.add(np.ones((2, 4)), ids=["e", "f"])
        assert len(docs) == 4 and docs.get("e") is None
        docs.upsert(np.full((2, 4), 2.0), ids=["a", "e"])  # one new record: 5, within the limit
        assert len(docs) == 5
        docs.upsert(np.ones((1, 4)), ids=["a"])  # replacing is not growing
        with pytest.raises(vectordb.CollectionFullError):
            docs.upsert(np.ones((1, 4)), ids=["z"])
        small = db.create_collection("small", dim=4)
        small.add(np.ones((3, 4)))
        with pytest.raises(vectordb.CollectionFullError, match="over max_bytes=48"):
            small.add(np.ones((1, 4)))
        assert len(small) == 3
        assert isinstance(vectordb.CollectionFullError("x"), vectordb.StorageFullError)


def test_low_disk_space_refuses_writes_until_space_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with vectordb.open(tmp_path / "db", config={"min_free_disk_bytes": 10_000_000}) as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 2]], ids=["a"])
        engine = engine_of(db)
        free = {"bytes": 5_000_000}
        monkeypatch.setattr(engine, "free_disk_bytes", lambda: free["bytes"])
        with (
            caplog.at_level(logging.WARNING, logger="vectordb"),
            pytest.raises(vectordb.ReadOnlyError, match="until space returns; reads go on"),
        ):
            docs.add([[3, 4]], ids=["b"])
        assert any("writes refused" in r.getMessage() for r in caplog.records)
        assert docs.get("a") is not None and docs.search([1, 2], k=1)[0].id == "a"  # reads go on
        assert len(docs) == 1
        health = db.health()  # one free-space probe: the engine's
        assert health["writes_refused_low_disk"] and health["status"] == "degraded"
        free["bytes"] = 50_000_000  # space returns
        docs.add([[3, 4]], ids=["b"])
        assert len(docs) == 2 and not engine.low_disk
    with pytest.raises(vectordb.ConfigError, match="min_free_disk_bytes must be"):
        vectordb.open(tmp_path / "db", config={"min_free_disk_bytes": -1})


def test_a_full_disk_during_an_automatic_checkpoint_fails_no_write_and_no_read(
    tmp_path: Path,
) -> None:
    """The fault adversarial testing found: an add() that triggered a checkpoint on a full
    disk raised StorageFullError although its record was logged and applied (a retry
    duplicated it), and every later call, reads included, raised until reopen."""
    import errno

    from vectordb.files import io

    path = tmp_path / "db"
    with vectordb.open(path, config={"checkpoint_records": 3}) as db:
        docs = db.create_collection("docs", dim=2, index="hnsw")
        docs.add([[1, 0], [0, 1]], ids=["a", "b"])
        # the disk is full for every new file (a snapshot, an index, a MANIFEST) from now on;
        # appending to the log still fits
        with io.injecting(io.FaultInjector(at=1, kind="open", error=errno.ENOSPC, persistent=True)):
            assert docs.add([[1, 1]], ids=["c"]) == ["c"]  # the checkpoint it triggers fails
            assert docs.add([[2, 1]], ids=["d"]) == ["d"]  # and is tried again, quietly
            with pytest.raises(vectordb.DuplicateIdError):
                docs.add([[1, 1]], ids=["c"])  # it was stored once: a retry is refused
            assert sorted(docs.ids()) == ["a", "b", "c", "d"]
            assert docs.search([1, 1], k=1)[0].id == "c" and docs.count() == 4
            health = db.health()
            assert health["status"] == "degraded"
            assert any("automatic checkpoint failed" in p for p in health["problems"])
            with pytest.raises(vectordb.StorageFullError):
                db.checkpoint()  # asked for explicitly: the caller hears why
        db.checkpoint()  # space is back: it runs
        assert db.health()["status"] == "ok" and db.check() == []
        docs.add([[3, 1]], ids=["e"])
    with vectordb.open(path) as db:
        assert sorted(db.get_collection("docs").ids()) == ["a", "b", "c", "d", "e"]
