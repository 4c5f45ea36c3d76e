"""The ``vectordb`` command: each subcommand, exit codes and --json output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vectordb
from vectordb.cli import EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS, main


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=3, metric="euclidean")
        docs.add(
            [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
            ids=["a", "b", "c"],
            metadata=[{"t": 1}, None, {"t": 3}],
        )
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_info_stats_config_health(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--json", "info", str(database))
    assert code == EXIT_OK
    info = json.loads(out)
    assert info["vectordb"]["vectordb"] == vectordb.__version__
    assert info["database"]["collections"][0]["name"] == "docs"
    code, out, _ = _run(capsys, "stats", str(database), "--collection", "docs", "--json")
    assert code == EXIT_OK and json.loads(out)["docs"]["count"] == 3
    code, out, _ = _run(capsys, "--json", "config", str(database))
    config = json.loads(out)
    assert config["durability"] == {"value": "full", "source": "default"}
    code, out, _ = _run(capsys, "health", str(database))
    assert code == EXIT_OK and "status: ok" in out


def test_search_by_id_vector_and_file(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "--json", "search", str(database), "docs", "--id", "c", "-k", "2")
    hits = json.loads(out)
    assert code == EXIT_OK and hits[0]["id"] == "c" and len(hits) == 2
    assert hits[0]["metadata"] == {"t": 3} and hits[0]["score"] == 0.0
    code, out, _ = _run(capsys, "search", str(database), "docs", "--vector", "0.9,0.1,0", "-k", "1")
    assert code == EXIT_OK and " a " in out
    query = tmp_path / "q.npy"
    np.save(query, np.array([0, 1, 0.1], np.float32))
    code, out, _ = _run(
        capsys, "--json", "search", str(database), "docs", "--vector-file", str(query)
    )
    assert json.loads(out)[0]["id"] == "b"
    code, _, err = _run(capsys, "search", str(database), "docs", "--vector", "1,x")
    assert code == EXIT_ERROR and "comma-separated numbers" in err
    code, _, err = _run(capsys, "search", str(database), "docs")
    assert code == EXIT_ERROR and "exactly one of --id" in err
    code, _, err = _run(capsys, "search", str(database), "docs", "--vector", "1,2")
    assert code == EXIT_ERROR and "DimensionMismatchError" in err


def test_check_reports_damage_with_exit_code_1(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "check", str(database))[0] == EXIT_OK
    with vectordb.open(database) as db:
        db.checkpoint()
    vectors = database / "collections" / "docs" / "vectors.bin"
    raw = bytearray(vectors.read_bytes())
    raw[4096 + 2] ^= 0x40  # first byte of row 0's vector
    vectors.write_bytes(bytes(raw))
    code, out, _ = _run(capsys, "--json", "check", str(database))
    report = json.loads(out)
    assert code == EXIT_PROBLEMS and report["ok"] is False and report["problems"]


def test_backup_and_restore_commands(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "--json", "backup", str(database), str(tmp_path / "copy"))
    assert code == EXIT_OK and json.loads(out)["collections"] == ["docs"]
    code, out, _ = _run(capsys, "restore", str(tmp_path / "copy"), str(tmp_path / "restored"))
    assert code == EXIT_OK and "restored" in out
    with vectordb.open(tmp_path / "restored") as db:
        assert db.get_collection("docs").get("a").metadata == {"t": 1}  # type: ignore[union-attr]
    code, _, err = _run(capsys, "backup", str(database), str(tmp_path / "copy"))
    assert code == EXIT_ERROR and "not an empty directory" in err


def test_errors_exit_3_with_a_message_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "--json", "stats", str(tmp_path / "missing"))
    assert code == EXIT_ERROR
    assert json.loads(out)["error"] == "InvalidArgumentError" and "no database at" in err


def test_console_script_runs_in_a_subprocess(database: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vectordb.cli", "--json", "check", str(database)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True, "problems": []}
    usage = subprocess.run(
        [sys.executable, "-m", "vectordb.cli", "frobnicate"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_compact_and_repairing_check_commands(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with vectordb.open(database) as db:
        db.get_collection("docs").delete(["a", "b"])
    with vectordb.open(database) as db:
        db.checkpoint()
    assert _run(capsys, "check", "--repair", str(database))[0] == EXIT_OK  # nothing to repair
    code, out, _ = _run(capsys, "--json", "compact", str(database))
    result = json.loads(out)["docs"]
    assert code == EXIT_OK and result["rows_after"] == 1 and result["rows_before"] == 3


def test_restore_until_an_lsn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "db"
    with vectordb.open(path, config={"wal_archive": str(tmp_path / "archive")}) as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 2]], ids=["a"])
        db.backup(tmp_path / "full")
        docs.add([[3, 4]], ids=["b"])
        lsn = db.health()["last_lsn"]
        docs.add([[5, 6]], ids=["c"])
        db.checkpoint()
    code, out, _ = _run(
        capsys, "--json", "restore", str(tmp_path / "full"), str(tmp_path / "r"),
        "--wal-archive", str(tmp_path / "archive"), "--until", str(lsn),
    )  # fmt: skip
    assert code == EXIT_OK and json.loads(out)["restored_lsn"] == lsn
    with vectordb.open(tmp_path / "r") as db:
        assert sorted(db.get_collection("docs").ids()) == ["a", "b"]
    code, _, err = _run(capsys, "restore", str(tmp_path / "full"), str(tmp_path / "x"),
                        "--until", "last tuesday")  # fmt: skip
    assert code == EXIT_ERROR and "--until must be an LSN or an ISO 8601 time" in err


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".npy", ".parquet"])
def test_export_and_import_commands_round_trip(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    target = tmp_path / f"docs{suffix}"
    code, out, _ = _run(capsys, "--json", "export", str(database), "docs", str(target))
    assert code == EXIT_OK and json.loads(out)["exported"] == 3
    other = tmp_path / "other"
    code, out, _ = _run(
        capsys, "--json", "import", str(other), "copy", str(target),
        "--create-dim", "3", "--metric", "euclidean",
    )  # fmt: skip
    assert code == EXIT_OK and json.loads(out)["imported"] == 3
    with vectordb.open(other) as db, vectordb.open(database, read_only=True) as source:
        copy, docs = db.get_collection("copy"), source.get_collection("docs")
        for record in docs.get_many(["a", "b", "c"]):
            assert record is not None
            mine = copy.get(record.id)
            assert mine is not None and mine.metadata == record.metadata
            np.testing.assert_array_equal(mine.vector, record.vector)
    # importing again conflicts, and says so without storing anything
    code, _, err = _run(capsys, "import", str(other), "copy", str(target))
    assert code == EXIT_ERROR and "DuplicateIdError" in err
    code, out, _ = _run(capsys, "--json", "import", str(other), "copy", str(target),
                        "--on-conflict", "skip")  # fmt: skip
    assert code == EXIT_OK and json.loads(out)["skipped"] == 3


def test_collection_export_and_import_methods(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=2)
        docs.add([[1, 2], [3, 4]], ids=["x", "y"], metadata=[{"k": [1, 2]}, None])
        assert docs.export(tmp_path / "out.jsonl") == 2
        copy = db.create_collection("copy", dim=2)
        report = copy.import_file(tmp_path / "out.jsonl")
        assert report.imported == 2 and copy.get("x").metadata == {"k": [1, 2]}  # type: ignore[union-attr]
        pytest.importorskip("pandas")
        frame = docs.to_dataframe()
        assert list(frame["id"]) == ["x", "y"]
        third = db.create_collection("third", dim=2)
        assert third.add_dataframe(frame).imported == 2
