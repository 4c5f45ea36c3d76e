"""The ``vectordb`` command: inspect, check, back up, restore, query, import and export.

Exit codes: 0 success; 1 the command ran and found problems (``check`` found damage, ``health``
is not ``ok``, ``get`` was given ids that are not stored); 2 bad usage (argparse, ``drop``
without ``--yes``, ``delete`` with both or neither of ids and ``--where``); 3 a vectordb error
(the message says which). Every command takes ``--json`` for output a script can parse.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shutil
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vectordb.display import vector_preview

__all__ = ["main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_ERROR = 3

#: components a vector preview shows before ``...``
PREVIEW_COMPONENTS = 3

_DESCRIPTION = "Inspect, check, back up, restore, query, import and export a vectordb database."
_EPILOG = """\
exit codes:
  0  success
  1  the command ran and found problems (check found damage, health is not ok,
     get was given ids that are not stored)
  2  bad usage (a wrong or missing argument, drop without --yes, delete with
     both or neither of ids and --where)
  3  a vectordb error; the message on stderr says which

Every command takes --json for output a script can parse. Run
"vectordb COMMAND --help" for a command's arguments.
"""


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


# ----------------------------------------------------------------- output helpers
def _vector_json(vector: npt.NDArray[np.float32]) -> list[float]:
    """A float32 vector as JSON numbers: each the shortest decimal that reads back to the
    same float32 (``0.1``, not ``0.10000000149011612``)."""
    return [float(str(x)) for x in np.asarray(vector, np.float32).reshape(-1)]


def _vector_text(vector: npt.NDArray[np.float32], *, full: bool) -> str:
    """``[0.12, -0.40, 0.03, ...] (384)``; every component (shortest float32 text) when
    ``full``."""
    values = np.asarray(vector, np.float32).reshape(-1)
    if not full:
        return vector_preview(values, PREVIEW_COMPONENTS)
    return f"[{', '.join(str(x) for x in values)}] ({values.size})"


def _n_records(count: int) -> str:
    return f"{count:,} record" if count == 1 else f"{count:,} records"


def _metadata_text(metadata: Any) -> str:
    return json.dumps(metadata, ensure_ascii=False, default=str)


def _cells(char: str) -> int:
    """Terminal columns ``char`` takes (2 for wide East Asian characters, 0 for combining
    marks)."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _fit(line: str, width: int) -> str:
    """``line`` cut to ``width`` terminal columns, ending in ``...`` when cut."""
    if len(line) <= width and all(ord(c) < 0x1100 for c in line):
        return line
    if sum(_cells(c) for c in line) <= width:
        return line
    room = max(width - 3, 1)
    used = 0
    kept = []
    for char in line:
        used += _cells(char)
        if used > room:
            break
        kept.append(char)
    return "".join(kept) + "..."


def _lines(args: argparse.Namespace, lines: Iterable[str]) -> str:
    """``lines`` joined, each cut to the terminal width unless ``--full``."""
    if getattr(args, "full", False):
        return "\n".join(lines)
    width = max(shutil.get_terminal_size().columns, 20)
    return "\n".join(_fit(line, width) for line in lines)


# ----------------------------------------------------------------- argument helpers
def _where(text: str | None) -> dict[str, Any] | None:
    """``--where`` JSON as a filter mapping (``InvalidFilterError`` when it does not parse)."""
    import vectordb

    if text is None:
        return None
    try:
        where = json.loads(text)
    except json.JSONDecodeError as error:
        raise vectordb.InvalidFilterError(
            f"--where is not valid JSON ({error.msg} at character {error.pos + 1}): {text!r}; "
            """write a JSON object such as '{"lang": "en", "year": {"$gte": 2020}}'"""
        ) from None
    except RecursionError:
        raise vectordb.InvalidFilterError("--where is nested too deeply") from None
    if not isinstance(where, dict):
        raise vectordb.InvalidFilterError(
            f'--where must be a JSON object such as \'{{"lang": "en"}}\'; got {text!r}'
        )
    return where


def _include(text: str) -> tuple[str, ...]:
    """``--include vector,metadata`` as a tuple (an empty string: nothing)."""
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def _require_database(path: str) -> None:
    """Raise unless ``path`` holds a database (a write open would create one)."""
    import vectordb
    from vectordb.storage.layout import DatabaseFiles

    if not DatabaseFiles(Path(path)).meta.is_file():
        raise vectordb.InvalidArgumentError(
            f"no database at {Path(path).absolute()}; 'vectordb create' or 'vectordb import "
            "--create-dim' makes one"
        )


def _open(args: argparse.Namespace, *, write: bool = False, create: bool = False) -> Any:
    """The database at ``args.path``: read-only unless ``write``; a write open creates a
    missing database only when ``create``."""
    import vectordb

    if write and not create:
        _require_database(args.path)
    return vectordb.open(args.path, read_only=not write)


def _refuse(args: argparse.Namespace, message: str) -> int:
    """Report bad usage found after parsing (exit code 2)."""
    if args.json:
        print(json.dumps({"error": "UsageError", "message": message}))
    print(f"vectordb {args.command}: {message}", file=sys.stderr)
    return EXIT_USAGE


# ----------------------------------------------------------------- commands
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


def _cmd_ls(args: argparse.Namespace) -> int:
    with _open(args) as db:
        infos = db.list_collections()
    data = [
        {
            "name": c.name,
            "count": c.count,
            "dim": c.dim,
            "metric": c.metric,
            "index": c.index,
            "available": c.available,
            "problem": c.problem,
        }
        for c in infos
    ]
    if not data:
        _emit(args, data, "(no collections)")
        return EXIT_OK
    header = ["NAME", "COUNT", "DIM", "METRIC", "INDEX"]
    rows = [
        [c.name, f"{c.count:,}", str(c.dim), c.metric, c.index]
        if c.available
        else [c.name, "-", "-", "-", "-", f"unavailable: {c.problem}"]
        for c in infos
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {1, 2}  # numbers

    def line(row: list[str]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row[: len(header)])
        ]
        return "  ".join([*cells, *row[len(header) :]]).rstrip()

    _emit(args, data, "\n".join(line(row) for row in [header, *rows]))
    return EXIT_OK


def _cmd_create(args: argparse.Namespace) -> int:
    with _open(args, write=True, create=True) as db:
        collection = db.create_collection(
            args.collection,
            dim=args.dim,
            metric=args.metric,
            index=args.index,
            normalize=args.normalize,
        )
        info = collection.stats()
    _emit(
        args,
        {
            "name": info.name,
            "dim": info.dim,
            "metric": info.metric,
            "index": info.index,
            "normalize": info.normalize,
            "config": info.config,
        },
        f"created collection {info.name!r} in {args.path}: dim {info.dim}, {info.metric}, "
        f"{info.index} index" + (", normalized" if info.normalize else ""),
    )
    return EXIT_OK


def _cmd_drop(args: argparse.Namespace) -> int:
    if not args.yes:
        with _open(args) as db:
            count = db.get_collection(args.collection).count()
        return _refuse(
            args,
            f"not dropping collection {args.collection!r} ({_n_records(count)}) without --yes; "
            "run it again with --yes to delete the collection and all its records",
        )
    with _open(args, write=True) as db:
        count = db.get_collection(args.collection).count()
        db.drop_collection(args.collection)
    _emit(
        args,
        {"dropped": args.collection, "records": count},
        f"dropped collection {args.collection!r} ({_n_records(count)})",
    )
    return EXIT_OK


def _cmd_count(args: argparse.Namespace) -> int:
    where = _where(args.where)
    with _open(args) as db:
        count = db.get_collection(args.collection).count(where=where)
    data: dict[str, Any] = {"collection": args.collection, "count": count}
    if where is not None:
        data["where"] = where
    _emit(args, data, str(count))
    return EXIT_OK


def _record_data(
    vector_id: str,
    metadata: Any,
    vector: npt.NDArray[np.float32] | None,
    include: Sequence[str],
    score: float | None = None,
    document: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"id": vector_id}
    if score is not None:
        data["score"] = score
    if "metadata" in include:
        data["metadata"] = metadata
    if "vector" in include and vector is not None:
        data["vector"] = _vector_json(vector)
    if "document" in include:
        data["document"] = document
    return data


def _record_line(
    args: argparse.Namespace,
    vector_id: str,
    metadata: Any,
    vector: npt.NDArray[np.float32] | None,
    include: Sequence[str],
    document: str | None = None,
) -> str:
    parts = [vector_id]
    if "vector" in include and vector is not None:
        parts.append(_vector_text(vector, full=args.full))  # before what may be cut off
    if "metadata" in include:
        parts.append(_metadata_text(metadata))
    if "document" in include and document is not None:
        parts.append(json.dumps(document, ensure_ascii=False))  # one line, quotes escaped
    return "  ".join(parts)


def _cmd_get(args: argparse.Namespace) -> int:
    import vectordb

    include = _include(args.include)
    unknown = sorted(set(include) - {"metadata", "vector", "document"})
    if unknown:
        raise vectordb.InvalidArgumentError(
            f"--include takes metadata, vector and document, comma-separated; got {unknown}"
        )
    with _open(args) as db:
        records = db.get_collection(args.collection).get_many(args.ids, include=include)
    found = [r for r in records if r is not None]
    missing = list(dict.fromkeys(i for i, r in zip(args.ids, records) if r is None))
    data = {
        "records": [
            _record_data(r.id, r.metadata, r.vector, include, document=r.document) for r in found
        ],
        "missing": missing,
    }
    if args.json:
        _emit(args, data)
    elif found:
        lines = (
            _record_line(args, r.id, r.metadata, r.vector, include, r.document) for r in found
        )
        print(_lines(args, lines))
    if missing:
        print(
            f"vectordb get: not stored in {args.collection!r}: {', '.join(map(repr, missing))}",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS
    return EXIT_OK


def _cmd_delete(args: argparse.Namespace) -> int:
    if bool(args.ids) == (args.where is not None):
        return _refuse(args, "give the ids to delete, or --where JSON, exactly one of them")
    where = _where(args.where)
    with _open(args, write=True) as db:
        collection = db.get_collection(args.collection)
        if where is not None:
            deleted = collection.delete(where=where)
        else:
            deleted = collection.delete(args.ids, missing_ok=args.missing_ok)
        left = collection.count()
    _emit(
        args,
        {"deleted": deleted, "count": left},
        f"deleted {_n_records(deleted)} from {args.collection!r} ({left:,} left)",
    )
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


def _query(args: argparse.Namespace, collection: Any) -> np.ndarray | str:
    import vectordb

    given = [x for x in (args.id, args.vector, args.vector_file, args.text) if x is not None]
    if len(given) != 1:
        raise vectordb.InvalidArgumentError(
            "give exactly one of --id, --vector, --vector-file or --text"
        )
    if args.text is not None:
        return str(args.text)
    if args.query_type is not None:
        raise vectordb.InvalidArgumentError("--query-type is for a --text query")
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
    where = _where(args.where)
    # default: the metadata, and the document when the collection holds any (as search's)
    include = ("metadata", "document") if args.include is None else _include(args.include)
    with _open(args) as db:
        collection = db.get_collection(args.collection)
        query = _query(args, collection)
        options = {} if args.query_type is None else {"query_type": args.query_type}
        hits = collection.search(query, k=args.k, exact=args.exact, where=where,
                                 include=None if args.include is None else include,
                                 **options)  # fmt: skip
    data = [
        _record_data(h.id, h.metadata, h.vector, include, score=h.score, document=h.document)
        for h in hits
    ]
    text = _lines(
        args,
        (
            f"{h.score:12.6f}  "
            f"{_record_line(args, h.id, h.metadata, h.vector, include, h.document)}"
            for h in hits
        ),
    )
    _emit(args, data, text or "(no records)")
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from vectordb.transfer.export import export_collection

    where = _where(args.where)
    with _open(args) as db:
        count = export_collection(
            db.get_collection(args.collection),
            args.file,
            format=args.format,
            progress=args.progress,
            where=where,
            overwrite=args.overwrite,
        )
    _emit(args, {"exported": count, "file": args.file}, f"exported {count} records to {args.file}")
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    import vectordb
    from vectordb.transfer.load import import_records

    creating = args.create_dim is not None
    with _open(args, write=True, create=creating) as db:
        if creating:
            collection = db.create_collection(
                args.collection, dim=args.create_dim, metric=args.metric, exist_ok=True
            )
        elif args.collection in db:
            collection = db.get_collection(args.collection)
        else:
            existing = [c.name for c in db.list_collections()]
            raise vectordb.CollectionNotFoundError(
                f"no collection named {args.collection!r} in {db.path} (existing: {existing}); "
                "pass --create-dim N (and --metric) to create it"
            )
        report = import_records(
            collection,
            args.file,
            format=args.format,
            on_conflict=args.on_conflict,
            start_at=args.start_at,
            progress=args.progress,
        )
    passed = f" (after passing over the first {args.start_at:,})" if args.start_at else ""
    _emit(
        args,
        report,
        f"read {report.rows_read:,} rows from {args.file}{passed} into {args.collection!r}: "
        f"{report.imported:,} imported, {report.skipped:,} skipped (id already stored), "
        f"{report.replaced:,} replaced",
    )
    return EXIT_OK


# ----------------------------------------------------------------- the parser
def _parser() -> argparse.ArgumentParser:
    from vectordb.config import AVAILABLE_INDEXES, Metric
    from vectordb.version import VERSION

    metrics = [m.value for m in Metric]
    parser = argparse.ArgumentParser(
        prog="vectordb",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"vectordb {VERSION}",
        help="print the vectordb version and exit",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output"
        )
        return sub

    def database(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("path", metavar="DB", help="the database directory")

    def collection(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("collection", metavar="COLLECTION", help="the collection's name")

    def where(sub: argparse.ArgumentParser, what: str) -> None:
        sub.add_argument(
            "--where",
            metavar="JSON",
            help=f"""{what} whose metadata match this filter, a JSON object such as """
            """'{"lang": "en", "year": {"$gte": 2020}}' (see docs/filters.md)""",
        )

    def full(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--full",
            action="store_true",
            help="show whole lines and whole vectors instead of cutting lines to "
            "the terminal width",
        )

    sub = command("info", "versions, CPU features, and a database's collections")
    sub.add_argument("path", metavar="DB", nargs="?", help="a database directory (optional)")
    sub.set_defaults(run=_cmd_info)

    sub = command("ls", "list the collections with their count, dim, metric and index")
    database(sub)
    sub.set_defaults(run=_cmd_ls)

    sub = command("create", "create a collection (and the database, if the directory is new)")
    database(sub)
    sub.add_argument(
        "collection",
        metavar="COLLECTION",
        help="the new collection's name: 1-128 letters, digits, _, - or ., "
        "starting with a letter or digit",
    )
    sub.add_argument("--dim", type=int, required=True, help="length of every vector")
    sub.add_argument(
        "--metric",
        choices=metrics,
        default="cosine",
        help="how vectors are compared (default: %(default)s)",
    )
    sub.add_argument(
        "--index",
        choices=list(AVAILABLE_INDEXES),
        default="flat",
        help="flat (exact scan), hnsw (graph) or ivf (clusters); default: %(default)s",
    )
    sub.add_argument("--normalize", action="store_true", help="store vectors scaled to unit length")
    sub.set_defaults(run=_cmd_create)

    sub = command("drop", "delete a collection and all its records (needs --yes)")
    database(sub)
    collection(sub)
    sub.add_argument(
        "-y", "--yes", action="store_true", help="really drop it; without this nothing is deleted"
    )
    sub.set_defaults(run=_cmd_drop)

    sub = command("count", "the number of records in a collection (matching a filter)")
    database(sub)
    collection(sub)
    where(sub, "count only the records")
    sub.set_defaults(run=_cmd_count)

    sub = command("get", "show stored records by id (exit 1 if an id is not stored)")
    database(sub)
    collection(sub)
    sub.add_argument("ids", metavar="ID", nargs="+", help="ids of the records to show")
    sub.add_argument(
        "--include",
        default="metadata,vector",
        metavar="FIELDS",
        help="what to show besides the id, comma-separated: metadata, vector, document "
        "(default: %(default)s)",
    )
    full(sub)
    sub.set_defaults(run=_cmd_get)

    sub = command("delete", "delete records by id, or every record matching --where")
    database(sub)
    collection(sub)
    sub.add_argument("ids", metavar="ID", nargs="*", help="ids of the records to delete")
    where(sub, "instead of ids: delete every record")
    sub.add_argument(
        "--missing-ok",
        action="store_true",
        help="ignore ids that are not stored (default: refuse, deleting nothing)",
    )
    sub.set_defaults(run=_cmd_delete)

    sub = command("stats", "statistics of every collection (or one)")
    database(sub)
    sub.add_argument("--collection", help="only this one (default: every collection)")
    sub.set_defaults(run=_cmd_stats)
    sub = command("check", "verify every checksum and invariant (exit 1 on problems)")
    database(sub)
    sub.add_argument(
        "--repair", action="store_true", help="rebuild damaged indexes and delete stray files"
    )
    sub.set_defaults(run=_cmd_check)
    sub = command("compact", "rewrite collections with only their live records")
    database(sub)
    sub.add_argument("--collection", help="only this one (default: every collection)")
    sub.set_defaults(run=_cmd_compact)
    sub = command("health", "storage and index health (exit 1 unless ok)")
    database(sub)
    sub.set_defaults(run=_cmd_health)
    sub = command("config", "the resolved configuration and where each value came from")
    database(sub)
    sub.set_defaults(run=_cmd_config)
    sub = command("backup", "an online, consistent copy into a new directory")
    database(sub)
    sub.add_argument("dest", metavar="DEST", help="a new or empty directory for the copy")
    sub.add_argument(
        "--incremental-from",
        metavar="BACKUP",
        help="copy only the log since this earlier backup (needs wal_archive)",
    )
    sub.set_defaults(run=_cmd_backup)
    sub = command("restore", "restore a backup into a new database directory")
    sub.add_argument("backup", metavar="BACKUP", help="the backup directory to restore")
    sub.add_argument("dest", metavar="DEST", help="the new database directory")
    sub.add_argument(
        "--wal-archive",
        action="append",
        metavar="DIR",
        help="log segments to replay after the backup (repeatable)",
    )
    sub.add_argument("--until", help="stop at this LSN (an integer) or ISO 8601 time")
    sub.set_defaults(run=_cmd_restore)

    sub = command("search", "nearest records to a stored record, a vector or a text")
    database(sub)
    collection(sub)
    sub.add_argument("--id", help="search with this stored record's vector")
    sub.add_argument(
        "--vector",
        metavar="NUMBERS",
        help="the query vector as comma-separated numbers; write --vector=-0.1,0.2 when the "
        "first is negative",
    )
    sub.add_argument("--vector-file", metavar="FILE", help="a .npy file holding one vector")
    sub.add_argument(
        "--text",
        metavar="TEXT",
        help="a text query: by keywords (BM25 over the documents), or with the collection's "
        "embedding function by meaning or both",
    )
    sub.add_argument(
        "--query-type",
        choices=["vector", "keyword", "hybrid"],
        help="how a --text query is searched (default: hybrid with an embedding function and "
        "documents, vector without documents, keyword without an embedding function)",
    )
    sub.add_argument(
        "-k", type=int, default=10, help="how many hits at most (default: %(default)s)"
    )
    where(sub, "search only the records")
    sub.add_argument(
        "--include",
        metavar="FIELDS",
        help="what the hits show besides id and score, comma-separated: "
        "metadata, vector, document, or an empty string for none "
        "(default: metadata, and the document when the collection holds documents)",
    )
    sub.add_argument("--exact", action="store_true", help="scan everything in full precision")
    full(sub)
    sub.set_defaults(run=_cmd_search)

    sub = command("export", "write a collection to .jsonl, .csv, .npy or .parquet")
    database(sub)
    collection(sub)
    sub.add_argument("file", metavar="FILE", help="the file to write")
    sub.add_argument(
        "--format",
        choices=["jsonl", "csv", "npy", "parquet"],
        help="the file format (default: from the file's suffix)",
    )
    where(sub, "export only the records")
    sub.add_argument(
        "--overwrite",
        action="store_true",
        help="replace FILE if it exists (without it, an existing file is an error)",
    )
    sub.add_argument("--progress", action="store_true", help="show a progress bar (needs tqdm)")
    sub.set_defaults(run=_cmd_export)
    sub = command("import", "read records into a collection, all or nothing")
    database(sub)
    collection(sub)
    sub.add_argument("file", metavar="FILE", help="the file to read")
    sub.add_argument(
        "--format",
        choices=["jsonl", "csv", "npy", "parquet"],
        help="the file format (default: from the file's suffix)",
    )
    sub.add_argument(
        "--on-conflict",
        choices=["error", "skip", "replace"],
        default="error",
        help="what to do with a row whose id is stored already: error (import "
        "nothing), skip it or replace the stored record "
        "(default: %(default)s)",
    )
    sub.add_argument(
        "--start-at",
        type=int,
        default=0,
        metavar="N",
        help="pass over the first N data rows (to resume an interrupted import)",
    )
    sub.add_argument(
        "--create-dim",
        type=int,
        metavar="DIM",
        help="create the collection (and the database) with this dim if missing",
    )
    sub.add_argument(
        "--metric",
        choices=metrics,
        default="cosine",
        help="metric of a created collection (default: %(default)s)",
    )
    sub.add_argument("--progress", action="store_true", help="show progress bars (needs tqdm)")
    sub.set_defaults(run=_cmd_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    import vectordb

    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or bad usage (argparse printed why)
        if done.code is None:
            return EXIT_OK
        return done.code if isinstance(done.code, int) else EXIT_USAGE
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
