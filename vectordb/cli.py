"""The ``vectordb`` command: inspect, check, back up, restore, search, import and export.

Exit codes: 0 success; 1 the command ran and found problems (``check`` found damage, ``health``
is not ``ok``); 2 bad usage (argparse); 3 a vectordb error (the message says which). Every
command takes ``--json`` for output a script can parse.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_ERROR = 3


def _plain(value: Any) -> Any:
    """``value`` as JSON-able data (dataclasses, enums, numpy values, paths)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "value") and type(value).__module__.startswith("vectordb"):
        return value.value  # enums
    if isinstance(value, Path):
        return str(value)
    return value


def _emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    if args.json:
        print(json.dumps(_plain(data), indent=2, default=str))
    else:
        print(text if text is not None else _human(_plain(data)))


def _human(data: Any, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(data, dict):
        lines = []
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{pad}{key}:")
                lines.append(_human(value, indent + 1))
            else:
                lines.append(f"{pad}{key}: {value}")
        return "\n".join(lines)
    if isinstance(data, list):
        return "\n".join(
            f"{pad}-\n{_human(item, indent + 1)}" if isinstance(item, dict) else f"{pad}- {item}"
            for item in data
        )
    return f"{pad}{data}"


def _open(args: argparse.Namespace, *, write: bool = False) -> Any:
    import vectordb

    return vectordb.open(args.path, read_only=not write)


def _cmd_info(args: argparse.Namespace) -> int:
    import vectordb

    data: dict[str, Any] = {"vectordb": vectordb.info()}
    if args.path is not None:
        with _open(args) as db:
            data["database"] = {
                "path": db.path,
                "collections": [
                    {"name": c.name, "count": c.count, "config": c.config}
                    for c in db.list_collections()
                ],
            }
    _emit(args, data)
    return EXIT_OK


def _cmd_stats(args: argparse.Namespace) -> int:
    with _open(args) as db:
        names = [args.collection] if args.collection else [c.name for c in db.list_collections()]
        data = {name: db.get_collection(name).stats() for name in names}
    _emit(args, data)
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    with _open(args, write=args.repair) as db:
        problems = db.check(repair=args.repair)
    _emit(
        args,
        {"ok": not problems, "problems": problems},
        "ok: every checksum and invariant holds"
        if not problems
        else "\n".join(f"PROBLEM {_plain(p)}" for p in problems),
    )
    return EXIT_OK if not problems else EXIT_PROBLEMS


def _cmd_compact(args: argparse.Namespace) -> int:
    with _open(args, write=True) as db:
        names = [args.collection] if args.collection else [c.name for c in db.list_collections()]
        results = {name: db.get_collection(name).compact() for name in names}
    text = "\n".join(
        f"{name}: {r['rows_before']} -> {r['rows_after']} rows, "
        f"{r['bytes_before']:,} -> {r['bytes_after']:,} bytes"
        for name, r in results.items()
    )
    _emit(args, results, text or "(no collections)")
    return EXIT_OK


def _cmd_health(args: argparse.Namespace) -> int:
    with _open(args) as db:
        report = db.health()
    _emit(args, report)
    return EXIT_OK if report["status"] == "ok" else EXIT_PROBLEMS


def _cmd_config(args: argparse.Namespace) -> int:
    with _open(args) as db:
        config = _plain(db.config)
        sources = db.config_sources()
    data = {
        key: {"value": value, "source": sources.get(key, "default")}
        for key, value in config.items()
    }
    text = "\n".join(
        f"{key} = {entry['value']!r}  ({entry['source']})" for key, entry in data.items()
    )
    _emit(args, data, text)
    return EXIT_OK


def _cmd_backup(args: argparse.Namespace) -> int:
    with _open(args, write=True) as db:
        manifest = db.backup(args.dest, incremental_from=args.incremental_from)
    summary = {k: manifest.get(k) for k in ("kind", "lsn", "created_at", "seconds", "collections")}
    summary["files"] = len(manifest["files"])
    _emit(args, summary, f"backed up {args.path} to {args.dest} at LSN {manifest['lsn']}")
    return EXIT_OK


def _until(text: str | None) -> int | datetime.datetime | None:
    import vectordb

    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise vectordb.InvalidArgumentError(
            f"--until must be an LSN or an ISO 8601 time such as 2026-12-01T12:00:00+00:00; "
            f"got {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def _cmd_restore(args: argparse.Namespace) -> int:
    import vectordb

    manifest = vectordb.restore(
        args.backup, args.dest, until=_until(args.until), wal_archive=args.wal_archive
    )
    _emit(
        args,
        {"lsn": manifest["lsn"], "restored_lsn": manifest["restored_lsn"], "dest": args.dest},
        f"restored {args.backup} to {args.dest} (up to LSN {manifest['restored_lsn']})",
    )
    return EXIT_OK


def _query(args: argparse.Namespace, collection: Any) -> np.ndarray:
    import vectordb

    given = [x for x in (args.id, args.vector, args.vector_file) if x is not None]
    if len(given) != 1:
        raise vectordb.InvalidArgumentError("give exactly one of --id, --vector or --vector-file")
    if args.id is not None:
        record = collection.get(args.id)
        if record is None:
            raise vectordb.IdNotFoundError(f"no record {args.id!r} in {collection.name!r}")
        return np.asarray(record.vector, np.float32)
    if args.vector is not None:
        try:
            return np.array([float(x) for x in args.vector.split(",")], np.float32)
        except ValueError:
            raise vectordb.InvalidArgumentError(
                f"--vector must be comma-separated numbers; got {args.vector!r}"
            ) from None
    loaded = np.load(args.vector_file, allow_pickle=False)
    return np.asarray(loaded, np.float32).reshape(-1)


def _cmd_search(args: argparse.Namespace) -> int:
    with _open(args) as db:
        collection = db.get_collection(args.collection)
        query = _query(args, collection)
        hits = collection.search(query, k=args.k, exact=args.exact)
    data = [{"id": h.id, "score": h.score, "metadata": h.metadata} for h in hits]
    text = "\n".join(f"{h.score:12.6f}  {h.id}  {json.dumps(h.metadata)}" for h in hits)
    _emit(args, data, text or "(no records)")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from vectordb.transfer.export import export_collection

    with _open(args) as db:
        count = export_collection(
            db.get_collection(args.collection),
            args.file,
            format=args.format,
            progress=args.progress,
        )
    _emit(args, {"exported": count, "file": args.file}, f"exported {count} records to {args.file}")
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    from vectordb.transfer.load import import_records

    with _open(args, write=True) as db:
        if args.create_dim is not None:
            collection = db.create_collection(
                args.collection, dim=args.create_dim, metric=args.metric, exist_ok=True
            )
        else:
            collection = db.get_collection(args.collection)
        report = import_records(
            collection,
            args.file,
            format=args.format,
            on_conflict=args.on_conflict,
            start_at=args.start_at,
            progress=args.progress,
        )
    _emit(args, report, f"imported {report.imported} records from {args.file}")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vectordb", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                         help="machine-readable output")  # fmt: skip
        return sub

    sub = command("info", "versions, CPU features, and a database's collections")
    sub.add_argument("path", nargs="?", help="a database directory")
    sub.set_defaults(run=_cmd_info)
    sub = command("stats", "statistics of every collection (or one)")
    sub.add_argument("path")
    sub.add_argument("--collection")
    sub.set_defaults(run=_cmd_stats)
    sub = command("check", "verify every checksum and invariant (exit 1 on problems)")
    sub.add_argument("path")
    sub.add_argument("--repair", action="store_true",
                     help="rebuild damaged indexes and delete stray files")  # fmt: skip
    sub.set_defaults(run=_cmd_check)
    sub = command("compact", "rewrite collections with only their live records")
    sub.add_argument("path")
    sub.add_argument("--collection", help="only this one (default: every collection)")
    sub.set_defaults(run=_cmd_compact)
    sub = command("health", "storage and index health (exit 1 unless ok)")
    sub.add_argument("path")
    sub.set_defaults(run=_cmd_health)
    sub = command("config", "the resolved configuration and where each value came from")
    sub.add_argument("path")
    sub.set_defaults(run=_cmd_config)
    sub = command("backup", "an online, consistent copy into a new directory")
    sub.add_argument("path")
    sub.add_argument("dest")
    sub.add_argument(
        "--incremental-from",
        metavar="BACKUP",
        help="copy only the log since this earlier backup (needs wal_archive)",
    )
    sub.set_defaults(run=_cmd_backup)
    sub = command("restore", "restore a backup into a new database directory")
    sub.add_argument("backup")
    sub.add_argument("dest")
    sub.add_argument("--wal-archive", action="append", metavar="DIR",
                     help="log segments to replay after the backup (repeatable)")  # fmt: skip
    sub.add_argument("--until", help="stop at this LSN (an integer) or ISO 8601 time")
    sub.set_defaults(run=_cmd_restore)
    sub = command("search", "nearest records to a stored record or a given vector")
    sub.add_argument("path")
    sub.add_argument("collection")
    sub.add_argument("--id", help="search with this stored record's vector")
    sub.add_argument("--vector", help="comma-separated numbers")
    sub.add_argument("--vector-file", help="a .npy file holding one vector")
    sub.add_argument("-k", type=int, default=10)
    sub.add_argument("--exact", action="store_true", help="scan everything in full precision")
    sub.set_defaults(run=_cmd_search)
    sub = command("export", "write a collection to .jsonl, .csv, .npy or .parquet")
    sub.add_argument("path")
    sub.add_argument("collection")
    sub.add_argument("file")
    sub.add_argument("--format", choices=["jsonl", "csv", "npy", "parquet"])
    sub.add_argument("--progress", action="store_true")
    sub.set_defaults(run=_cmd_export)
    sub = command("import", "read records into a collection, all or nothing")
    sub.add_argument("path")
    sub.add_argument("collection")
    sub.add_argument("file")
    sub.add_argument("--format", choices=["jsonl", "csv", "npy", "parquet"])
    sub.add_argument("--on-conflict", choices=["error", "skip", "replace"], default="error")
    sub.add_argument("--start-at", type=int, default=0, help="skip this many data rows")
    sub.add_argument("--create-dim", type=int, help="create the collection with this dim")
    sub.add_argument("--metric", default="cosine", help="metric of a created collection")
    sub.add_argument("--progress", action="store_true")
    sub.set_defaults(run=_cmd_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    import vectordb

    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except vectordb.VectorDBError as error:
        if args.json:
            print(json.dumps({"error": type(error).__name__, "message": str(error)}))
        print(f"vectordb {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
