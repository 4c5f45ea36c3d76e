"""The ``vectordb`` command: each subcommand, exit codes and --json output."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vectordb
from vectordb.cli import EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, _parser, main
from vectordb.version import VERSION


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


# ----------------------------------------------------------------- the command's surface
def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


_RST = re.compile(r"``|:[a-z]+:`|`[^`]+`_")


def test_version_in_process_and_python_dash_m_vectordb(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "--version")
    assert code == EXIT_OK and out.strip() == f"vectordb {VERSION}"
    done = subprocess.run(
        [sys.executable, "-m", "vectordb", "--version"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"vectordb {VERSION}" == f"vectordb {vectordb.__version__}"
    listed = subprocess.run(
        [sys.executable, "-m", "vectordb", "--json", "ls", str(database)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert [c["name"] for c in json.loads(listed.stdout)] == ["docs"]
    usage = subprocess.run(
        [sys.executable, "-m", "vectordb", "drop", str(database), "docs"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert usage.returncode == EXIT_USAGE and "--yes" in usage.stderr


def test_every_argument_has_plain_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == EXIT_OK and "exit codes" in out and not _RST.search(out)
    subcommands = _subcommands()
    assert {"ls", "create", "drop", "count", "get", "delete", "search", "import"} <= set(
        subcommands
    )
    for name, sub in subcommands.items():
        for action in sub._actions:
            assert action.help and action.help.strip(), f"{name} {action.dest} has no help"
        code, out, _ = _run(capsys, name, "--help")
        assert code == EXIT_OK and out.startswith(f"usage: vectordb {name}"), name
        assert not _RST.search(out), f"vectordb {name} --help has markup: {_RST.search(out)}"
        assert sub.description, name


def test_bad_usage_returns_2_without_raising(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "create", "db", "docs")  # no --dim
    assert code == EXIT_USAGE and "--dim" in err
    code, _, err = _run(capsys, "create", "db", "docs", "--dim", "3", "--metric", "l2")
    assert code == EXIT_USAGE and "invalid choice" in err


def test_create_ls_and_drop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new"  # create makes the database too
    code, out, _ = _run(capsys, "create", str(path), "docs", "--dim", "4", "--metric", "dot")
    assert code == EXIT_OK and "created collection 'docs'" in out and "dim 4, dot" in out
    code, out, _ = _run(capsys, "--json", "create", str(path), "graph", "--dim", "2",
                        "--index", "hnsw", "--normalize")  # fmt: skip
    assert code == EXIT_OK
    assert json.loads(out)["index"] == "hnsw" and json.loads(out)["normalize"] is True
    with vectordb.open(path) as db:
        assert db.get_collection("docs").config.dim == 4
        assert db.get_collection("docs").metric == "dot"
        db.get_collection("docs").add([[1, 2, 3, 4]] * 2, ids=["x", "y"])
    code, _, err = _run(capsys, "create", str(path), "docs", "--dim", "4")
    assert code == EXIT_ERROR and "CollectionExistsError" in err

    code, out, _ = _run(capsys, "ls", str(path))
    lines = out.splitlines()
    assert code == EXIT_OK and lines[0].split() == ["NAME", "COUNT", "DIM", "METRIC", "INDEX"]
    assert lines[1].split() == ["docs", "2", "4", "dot", "flat"]
    assert lines[2].split() == ["graph", "0", "2", "cosine", "hnsw"]
    code, out, _ = _run(capsys, "--json", "ls", str(path))
    assert json.loads(out)[0] == {
        "name": "docs", "count": 2, "dim": 4, "metric": "dot", "index": "flat",
        "available": True, "problem": None,
    }  # fmt: skip

    # drop refuses without --yes, deletes nothing, exit 2
    code, out, err = _run(capsys, "drop", str(path), "docs")
    assert code == EXIT_USAGE and out == ""
    assert "not dropping collection 'docs' (2 records) without --yes" in err
    code, out, _ = _run(capsys, "--json", "drop", str(path), "docs")
    assert code == EXIT_USAGE and json.loads(out)["error"] == "UsageError"
    with vectordb.open(path, read_only=True) as db:
        assert "docs" in db and db.get_collection("docs").count() == 2
    code, out, _ = _run(capsys, "drop", str(path), "docs", "--yes")
    assert code == EXIT_OK and out.strip() == "dropped collection 'docs' (2 records)"
    code, out, _ = _run(capsys, "--json", "drop", str(path), "graph", "-y")
    assert code == EXIT_OK and json.loads(out) == {"dropped": "graph", "records": 0}
    with vectordb.open(path, read_only=True) as db:
        assert db.list_collections() == []
    code, _, err = _run(capsys, "drop", str(path), "docs", "--yes")
    assert code == EXIT_ERROR and "CollectionNotFoundError" in err
    code, out, _ = _run(capsys, "ls", str(path))
    assert code == EXIT_OK and out.strip() == "(no collections)"


def test_ls_lists_an_unavailable_collection(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with vectordb.open(database) as db:
        db.create_collection("bad", dim=2).add([[3, 4]], ids=["b"])
    manifest = database / "collections" / "bad" / "MANIFEST"
    raw = bytearray(manifest.read_bytes())
    raw[-3] ^= 0xFF
    manifest.write_bytes(bytes(raw))
    code, out, _ = _run(capsys, "ls", str(database))
    assert code == EXIT_OK
    assert out.splitlines()[1].startswith("bad") and "unavailable:" in out.splitlines()[1]
    assert out.splitlines()[2].split() == ["docs", "3", "3", "euclidean", "flat"]
    code, out, _ = _run(capsys, "--json", "ls", str(database))
    bad = json.loads(out)[0]
    assert bad["name"] == "bad" and bad["available"] is False and bad["problem"]


def test_write_commands_never_create_a_missing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing"
    for argv in (
        ["drop", str(missing), "docs", "--yes"],
        ["delete", str(missing), "docs", "a"],
        ["compact", str(missing)],
        ["import", str(missing), "docs", str(tmp_path / "x.jsonl")],
    ):
        code, _, err = _run(capsys, *argv)
        assert code == EXIT_ERROR and "no database at" in err, argv
    assert not missing.exists()


def test_count_with_and_without_where(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "count", str(database), "docs")
    assert code == EXIT_OK and out.strip() == "3"
    code, out, _ = _run(capsys, "count", str(database), "docs", "--where", '{"t": {"$gte": 2}}')
    assert code == EXIT_OK and out.strip() == "1"
    code, out, _ = _run(capsys, "--json", "count", str(database), "docs", "--where", '{"t": 1}')
    assert json.loads(out) == {"collection": "docs", "count": 1, "where": {"t": 1}}
    # a --where that is not JSON, or not an object, or not a filter: the project's error
    code, out, err = _run(capsys, "--json", "count", str(database), "docs", "--where", "{t: 1}")
    assert code == EXIT_ERROR and json.loads(out)["error"] == "InvalidFilterError"
    assert "--where is not valid JSON" in err and "Traceback" not in err
    code, _, err = _run(capsys, "count", str(database), "docs", "--where", "[1, 2]")
    assert code == EXIT_ERROR and "--where must be a JSON object" in err
    code, _, err = _run(capsys, "count", str(database), "docs", "--where", '{"t": {"$near": 1}}')
    assert code == EXIT_ERROR and "InvalidFilterError" in err
    code, _, err = _run(capsys, "count", str(database), "nope")
    assert code == EXIT_ERROR and "CollectionNotFoundError" in err


def test_get_records(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "get", str(database), "docs", "a", "b")
    assert code == EXIT_OK and err == ""
    assert out.splitlines() == [
        'a  [1.00, 0.00, 0.00] (3)  {"t": 1}',
        "b  [0.00, 1.00, 0.00] (3)  null",
    ]
    code, out, _ = _run(capsys, "get", str(database), "docs", "c", "--include", "metadata")
    assert code == EXIT_OK and out.strip() == 'c  {"t": 3}'
    code, out, _ = _run(capsys, "--json", "get", str(database), "docs", "a", "--include", "vector")
    assert code == EXIT_OK
    assert json.loads(out) == {"records": [{"id": "a", "vector": [1.0, 0.0, 0.0]}], "missing": []}
    # ids that are not stored: the rest are shown, the missing named, exit 1
    code, out, err = _run(capsys, "--json", "get", str(database), "docs", "c", "zz", "zz")
    assert code == EXIT_PROBLEMS
    data = json.loads(out)
    assert [r["id"] for r in data["records"]] == ["c"] and data["missing"] == ["zz"]
    assert data["records"][0] == {"id": "c", "metadata": {"t": 3}, "vector": [0.0, 0.0, 1.0]}
    assert "not stored in 'docs': 'zz'" in err
    code, _, err = _run(capsys, "get", str(database), "docs", "a", "--include", "vectors")
    assert code == EXIT_ERROR and "--include takes metadata, vector and document" in err


def test_get_and_search_previews_long_vectors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "db"
    vector = np.linspace(-1, 1, 384, dtype=np.float32)
    vector[:3] = [0.123, -0.4, 0.5]
    with vectordb.open(path) as db:
        db.create_collection("emb", dim=384).add([vector], ids=["v"])
    code, out, _ = _run(capsys, "get", str(path), "emb", "v", "--include", "vector")
    assert code == EXIT_OK and out.strip() == "v  [0.12, -0.40, 0.50, ...] (384)"
    code, out, _ = _run(capsys, "get", str(path), "emb", "v", "--include", "vector", "--full")
    shown = out.strip().removeprefix("v  [").removesuffix("] (384)").split(", ")
    assert np.array_equal(np.array(shown, np.float32), vector)  # every component, exactly
    code, out, _ = _run(capsys, "--json", "get", str(path), "emb", "v")
    stored = json.loads(out)["records"][0]["vector"]
    assert stored[0] == 0.123 and np.array_equal(np.array(stored, np.float32), vector)
    code, out, _ = _run(capsys, "search", str(path), "emb", "--id", "v", "--include",
                        "vector,metadata")  # fmt: skip
    assert code == EXIT_OK and out.split()[1:] == [
        "v", "[0.12,", "-0.40,", "0.50,", "...]", "(384)", "null"
    ]  # fmt: skip


def test_delete_by_ids_and_where(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def stored() -> list[str]:
        with vectordb.open(database, read_only=True) as db:
            return sorted(db.get_collection("docs").ids())

    code, _, err = _run(capsys, "delete", str(database), "docs")
    assert code == EXIT_USAGE and "exactly one of them" in err
    code, _, err = _run(capsys, "delete", str(database), "docs", "a", "--where", '{"t": 1}')
    assert code == EXIT_USAGE and "exactly one of them" in err
    code, _, err = _run(capsys, "delete", str(database), "docs", "a", "zz")
    assert code == EXIT_ERROR and "IdNotFoundError" in err and "nothing was changed" in err
    code, _, err = _run(capsys, "delete", str(database), "docs", "--where", "{oops")
    assert code == EXIT_ERROR and "--where is not valid JSON" in err
    assert stored() == ["a", "b", "c"]
    code, out, _ = _run(capsys, "delete", str(database), "docs", "a", "zz", "--missing-ok")
    assert code == EXIT_OK and out.strip() == "deleted 1 record from 'docs' (2 left)"
    assert stored() == ["b", "c"]
    code, out, _ = _run(capsys, "--json", "delete", str(database), "docs", "--where",
                        '{"t": {"$gte": 3}}')  # fmt: skip
    assert code == EXIT_OK and json.loads(out) == {"deleted": 1, "count": 1}
    assert stored() == ["b"]
    code, out, _ = _run(capsys, "delete", str(database), "docs", "b")
    assert code == EXIT_OK and "deleted 1 record" in out and stored() == []


def test_search_where_include_and_terminal_width(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with vectordb.open(database) as db:
        db.get_collection("docs").add(
            [[0.9, 0.1, 0]], ids=["long"], metadata=[{"text": "word " * 40, "t": 2}]
        )
    monkeypatch.setenv("COLUMNS", "50")
    code, out, _ = _run(capsys, "search", str(database), "docs", "--vector", "1,0,0", "-k", "2")
    lines = out.splitlines()
    assert code == EXIT_OK and len(lines) == 2
    assert lines[0].split()[1] == "a" and lines[1].split()[1] == "long"
    assert len(lines[1]) == 50 and lines[1].endswith("...") and all(len(x) <= 50 for x in lines)
    code, out, _ = _run(capsys, "search", str(database), "docs", "--vector", "1,0,0", "-k", "2",
                        "--full")  # fmt: skip
    assert out.splitlines()[1].endswith('"t": 2}') and len(out.splitlines()[1]) > 200
    # --where: only matching records; --include: what the hits carry
    code, out, _ = _run(capsys, "--json", "search", str(database), "docs", "--vector", "1,0,0",
                        "--where", '{"t": {"$gte": 2}}', "--include", "vector")  # fmt: skip
    hits = json.loads(out)
    assert code == EXIT_OK and [h["id"] for h in hits] == ["long", "c"]
    assert set(hits[0]) == {"id", "score", "vector"} and hits[1]["vector"] == [0.0, 0.0, 1.0]
    code, out, _ = _run(capsys, "--json", "search", str(database), "docs", "--id", "b",
                        "--include", "", "-k", "1")  # fmt: skip
    assert json.loads(out) == [{"id": "b", "score": 0.0}]
    code, out, _ = _run(capsys, "search", str(database), "docs", "--vector=-1,0,0", "-k", "1",
                        "--where", '{"t": 3}')  # fmt: skip
    assert code == EXIT_OK and out.split()[1] == "c"
    code, _, err = _run(capsys, "search", str(database), "docs", "--id", "a", "--where", "nope")
    assert code == EXIT_ERROR and "InvalidFilterError: --where is not valid JSON" in err
    code, _, err = _run(capsys, "search", str(database), "docs", "--id", "a", "--include", "x")
    assert code == EXIT_ERROR and "include accepts" in err
    code, out, _ = _run(capsys, "search", str(database), "docs", "--id", "a", "--where",
                        '{"t": 99}')  # fmt: skip
    assert code == EXIT_OK and out.strip() == "(no records)"


def test_import_into_a_missing_collection_and_the_summary(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text(
        '{"id": "a", "vector": [5, 5, 5], "metadata": {"t": 9}}\n'
        '{"id": "n", "vector": [1, 1, 1], "metadata": null}\n'
    )
    code, _, err = _run(capsys, "import", str(database), "fresh", str(source))
    assert code == EXIT_ERROR and "CollectionNotFoundError" in err
    assert "--create-dim" in err and "existing: ['docs']" in err
    with vectordb.open(database, read_only=True) as db:
        assert "fresh" not in db
    code, out, _ = _run(capsys, "import", str(database), "docs", str(source),
                        "--on-conflict", "skip")  # fmt: skip
    assert code == EXIT_OK
    assert "read 2 rows" in out and "1 imported, 1 skipped (id already stored), 0 replaced" in out
    with vectordb.open(database, read_only=True) as db:
        docs = db.get_collection("docs")
        assert docs.count() == 4 and docs.get("a").metadata == {"t": 1}  # type: ignore[union-attr]
    code, out, _ = _run(capsys, "--json", "import", str(database), "docs", str(source),
                        "--on-conflict", "replace")  # fmt: skip
    report = json.loads(out)
    assert code == EXIT_OK and (report["replaced"], report["skipped"], report["rows_read"]) == (
        2, 0, 2
    )  # fmt: skip
    with vectordb.open(database, read_only=True) as db:
        assert db.get_collection("docs").get("a").metadata == {"t": 9}  # type: ignore[union-attr]
    code, out, _ = _run(capsys, "import", str(database), "fresh", str(source),
                        "--create-dim", "3", "--start-at", "1")  # fmt: skip
    assert code == EXIT_OK and "after passing over the first 1" in out and "1 imported" in out
    with vectordb.open(database, read_only=True) as db:
        assert db.get_collection("fresh").ids() == ["n"]


def test_search_a_text_and_show_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "texts.vdb"
    with vectordb.open(path) as db:
        db.create_collection("docs", dim=2).add(
            np.eye(2), ids=["mkfs", "tar"], metadata=[{"s": 8}, {"s": 1}],
            documents=["mkfs.ext4 builds an ext4 file system", 'tar --dry-run "quoted"'],
        )  # fmt: skip
    code, out, _ = _run(capsys, "search", str(path), "docs", "--text", "ext4")
    assert code == EXIT_OK and out.split()[1:] == ["mkfs", '{"s":', "8}", '"mkfs.ext4', "builds",
                                                  "an", "ext4", "file", 'system"']  # fmt: skip
    code, out, _ = _run(capsys, "--json", "search", str(path), "docs", "--text", "dry-run",
                        "--where", '{"s": 1}', "--include", "document")  # fmt: skip
    hits = json.loads(out)
    assert code == EXIT_OK and [(h["id"], h["document"]) for h in hits] == [
        ("tar", 'tar --dry-run "quoted"')]  # fmt: skip
    code, _, err = _run(capsys, "search", str(path), "docs", "--text", "ext4",
                        "--query-type", "vector")  # fmt: skip
    assert code == EXIT_ERROR and "has no embedding function" in err
    code, _, err = _run(capsys, "search", str(path), "docs", "--vector", "1,0",
                        "--query-type", "keyword")  # fmt: skip
    assert code == EXIT_ERROR and "--query-type is for a --text query" in err
    code, out, _ = _run(capsys, "--json", "get", str(path), "docs", "tar", "--include", "document")
    assert json.loads(out)["records"] == [{"id": "tar", "document": 'tar --dry-run "quoted"'}]
