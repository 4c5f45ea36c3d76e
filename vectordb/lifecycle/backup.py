"""Online backup: a consistent copy of a database taken while writers continue.

How it stays consistent without stopping writers for the copy: under the writer mutex (one
commit's wait), checkpoint every collection and *pause checkpoints*. Until they resume, the
files a checkpoint describes do not change: the MANIFEST and snapshot in force are replaced
only by a checkpoint; rows live at the checkpoint are never rewritten before the next one
(copy-on-write reuse, architecture.md section 6); saved index files are replaced only by a
checkpoint. New writes meanwhile go to the log and to rows past the checkpoint's ``n_rows``,
which the copy leaves out. So the copy is exactly the state at the checkpoint's LSN: a backup is
an ordinary database directory (with an empty log) that ``vectordb.open`` opens as it is.

A checkpoint due while the copy runs is deferred, and runs when the copy ends. The copy is
written to ``<dest>.partial-<pid>`` and renamed to ``dest`` when complete, with
``backup.json`` (LSN, time, source, every file's size and xxh3-64) inside.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from vectordb.errors import InvalidArgumentError, LogGapError, StorageError
from vectordb.files import io
from vectordb.files.atomic import atomic_write_bytes, built_or_removed, os_error
from vectordb.index.saved import saved_index_files
from vectordb.storage.partial_copies import abandon_partial, start_partial
from vectordb.storage.segments import covered_segments, segments_after

if TYPE_CHECKING:
    from vectordb.engine import Engine

__all__ = [
    "BACKUP_MANIFEST",
    "backup_database",
    "restore_database",
    "verify_backup",
]

log = logging.getLogger("vectordb")

BACKUP_MANIFEST = "backup.json"
_CHUNK = 8 * 1024 * 1024


def _check_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidArgumentError(
            f"backup destination {dest} exists and is not an empty directory"
        )


def backup_database(
    engine: Engine, dest: Path, *, incremental_from: Path | None = None
) -> dict[str, Any]:
    """Copy the database of ``engine`` to ``dest``; returns the contents of ``backup.json``.

    With ``incremental_from`` (an earlier backup of the same database, full or incremental),
    copy only the log segments written since it (they must be in the ``wal_archive``)."""
    dest = Path(os.path.abspath(dest))
    root = engine.root
    if dest == root or root in dest.parents:
        raise InvalidArgumentError(f"backup destination {dest} is inside the database {root}")
    _check_destination(dest)
    if incremental_from is not None:
        return _incremental_backup(engine, dest, Path(os.path.abspath(incremental_from)))
    started = time.monotonic()
    with engine.writing():
        if not engine.checkpoints.run():
            raise StorageError("another backup is running; take this one after it")
        engine.checkpoints.pause()
        lsn = engine.log.last_lsn
        keys_file = engine.files.idempotency
        plan = []
        for state in sorted(engine.collections, key=lambda state: state.name):
            store = state.store
            paths = store.files
            files: list[tuple[Path, int | None]] = [(paths.manifest, None)]
            if store.manifest.snapshot is not None:
                files.append((paths.directory / store.manifest.snapshot, None))
            files.append((paths.vectors, store.vectors.bytes_in_use(store.n_rows)))
            files.extend((path, None) for path in saved_index_files(paths.index_dir))
            plan.append((state.name, files))
    try:
        partial = start_partial(dest, root)
    except BaseException:
        _resume_checkpoints(engine)
        raise
    try:
        io.mkdir(partial / "wal", parents=True)
        io.mkdir(partial / "collections")
        copied: dict[str, dict[str, Any]] = {}
        copied["vectordb.meta"] = _copy(root / "vectordb.meta", partial / "vectordb.meta", None)
        if keys_file.exists():
            copied[keys_file.name] = _copy(keys_file, partial / keys_file.name, None)
        for _name, files in plan:
            for source, length in files:
                relative = source.relative_to(root)
                target = partial / relative
                io.mkdir(target.parent, parents=True, exist_ok=True)
                copied[str(relative)] = _copy(source, target, length)
    except OSError as error:
        abandon_partial(partial, root)
        raise os_error(error, f"back up {root} to {dest}") from error
    except BaseException:
        abandon_partial(partial, root)
        raise
    finally:
        _resume_checkpoints(engine)
    manifest = {
        "format": 1,
        "kind": "full",
        "source": str(root),
        "lsn": lsn,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "seconds": round(time.monotonic() - started, 3),
        "collections": [collection for collection, _ in plan],
        "files": copied,
    }
    try:
        # the copies were fsynced as they were written (_copy): only the manifest is new
        atomic_write_bytes(partial / BACKUP_MANIFEST, json.dumps(manifest, indent=1).encode())
        _publish(partial, dest, files_synced=True)
    except OSError as error:
        abandon_partial(partial, root)
        raise os_error(error, f"finish backup {dest}") from error
    abandon_partial(partial, root)  # only its marker is left
    return manifest


def _incremental_backup(engine: Engine, dest: Path, base: Path) -> dict[str, Any]:
    base_manifest = read_manifest(base)
    archive = engine.checkpoints.archive_dir()
    if archive is None:
        raise InvalidArgumentError(
            "incremental backups need the log kept: set wal_archive in the database config "
            "(before the base backup was taken)"
        )
    if base_manifest.get("source") != str(engine.root):
        raise InvalidArgumentError(
            f"{base} is a backup of {base_manifest.get('source')}, not of {engine.root}"
        )
    base_lsn = int(base_manifest["lsn"])
    started = time.monotonic()
    with engine.writing():
        if engine.checkpoints.paused:
            raise StorageError("another backup is running; take the incremental one after it")
        engine.checkpoints.run()  # moves the segments up to now into the archive
        lsn = engine.log.last_lsn
    segments = segments_after(archive, base_lsn)
    if lsn > base_lsn and (not segments or segments[0][0] > base_lsn + 1):
        raise StorageError(
            f"the log archive {archive} lacks records after LSN {base_lsn} (the base backup's); "
            "take a full backup"
        )
    partial = start_partial(dest, engine.root)
    try:
        io.mkdir(partial / "wal", parents=True)
        copied = {
            f"wal/{path.name}": _copy(path, partial / "wal" / path.name, None)
            for _, path in segments
        }
        manifest = {
            "format": 1,
            "kind": "incremental",
            "source": str(engine.root),
            "base": str(base),
            "base_lsn": base_lsn,
            "lsn": lsn,
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "seconds": round(time.monotonic() - started, 3),
            "files": copied,
        }
        # the copies were fsynced as they were written (_copy): only the manifest is new
        atomic_write_bytes(partial / BACKUP_MANIFEST, json.dumps(manifest, indent=1).encode())
        _publish(partial, dest, files_synced=True)
    except OSError as error:
        abandon_partial(partial, engine.root)
        raise os_error(error, f"incremental backup to {dest}") from error
    except BaseException:
        abandon_partial(partial, engine.root)
        raise
    abandon_partial(partial, engine.root)  # only its marker is left
    return manifest


def read_manifest(backup: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((backup / BACKUP_MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise InvalidArgumentError(f"{backup} is not a vectordb backup: {error}") from error
    return manifest


def _publish(partial: Path, dest: Path, *, files_synced: bool) -> None:
    """Make the finished copy ``partial`` durable and rename it to ``dest``: fsync every
    file (unless already done) and directory, then the rename and its parent."""
    for walked, _subdirs, names in os.walk(partial):
        if not files_synced:
            for name in names:
                io.fsync_file(Path(walked) / name)
        io.fsync_dir(Path(walked))
    if dest.exists():
        io.rmdir(dest)
    io.rename(partial, dest)
    io.fsync_dir(dest.parent)


def _resume_checkpoints(engine: Engine) -> None:
    checkpoints = engine.checkpoints
    checkpoints.resume()
    if checkpoints.paused == 0 and checkpoints.deferred and not engine.closed:
        try:
            engine.checkpoint()
        except StorageError:
            pass  # the engine records its failure; the backup itself is complete


def _copy(source: Path, target: Path, length: int | None) -> dict[str, Any]:
    """Copy ``length`` bytes (all when None) and fsync; returns size and xxh3-64."""
    digest = xxhash.xxh3_64()
    size = 0
    with open(source, "rb") as reader, io.open_output(target) as writer:
        remaining = length
        while remaining is None or remaining > 0:
            block = reader.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
            if not block:
                break
            writer.write(block)
            digest.update(block)
            size += len(block)
            if remaining is not None:
                remaining -= len(block)
        writer.flush()
        io.fsync(writer.fileno())
    if length is not None and size != length:
        raise StorageError(f"{source} is shorter than the {length} bytes its checkpoint describes")
    return {"size": size, "xxh3": digest.intdigest()}


def verify_backup(path: Path) -> list[str]:
    """Problems found comparing a backup's files with its ``backup.json`` (empty: intact)."""
    path = Path(path)
    try:
        manifest = json.loads((path / BACKUP_MANIFEST).read_text())
    except (OSError, ValueError) as error:
        return [f"{path / BACKUP_MANIFEST} is missing or unreadable: {error}"]
    problems = []
    for relative, expected in manifest.get("files", {}).items():
        try:
            actual = _digest(path / relative)
        except OSError as error:
            problems.append(f"{relative}: {error}")
            continue
        if actual != (expected["size"], expected["xxh3"]):
            problems.append(f"{relative}: size or checksum differs from backup.json")
    return problems


def _digest(path: Path) -> tuple[int, int]:
    digest = xxhash.xxh3_64()
    size = 0
    with open(path, "rb") as reader:
        while block := reader.read(_CHUNK):
            digest.update(block)
            size += len(block)
    return size, digest.intdigest()


def restore_database(
    backup: Path,
    dest: Path,
    *,
    until: int | float | datetime.datetime | None = None,
    wal_archive: Path | list[Path] | None = None,
) -> dict[str, Any]:
    """Restore ``backup`` (full, or incremental: its chain of bases is followed) into the new
    directory ``dest``, after verifying every file against its ``backup.json``. Log segments
    from incremental backups and from ``wal_archive`` (one directory or several, e.g. the
    archive and the live ``wal/``) are added, and cut after ``until``: an LSN (int), or a
    time (``datetime`` or Unix seconds as float) compared with each record's commit time.
    The next open replays them. Returns the manifest of ``backup`` plus ``restored_lsn``."""
    backup, dest = Path(backup), Path(os.path.abspath(dest))
    chain = [backup]
    manifest = read_manifest(backup)
    while manifest.get("kind") == "incremental":
        base = Path(manifest["base"])
        chain.insert(0, base)
        manifest = read_manifest(base)
    for part in chain:
        problems = verify_backup(part)
        if problems:
            raise StorageError(f"backup {part} is damaged: " + "; ".join(problems[:5]))
    full_lsn = int(manifest["lsn"])
    if isinstance(until, int) and not isinstance(until, bool) and until < full_lsn:
        raise InvalidArgumentError(
            f"the full backup {chain[0]} is at LSN {full_lsn}, after until={until}; restore "
            "from an older full backup"
        )
    _check_destination(dest)
    partial = start_partial(dest, None)
    with built_or_removed(partial, f"restore {backup} to {dest}"):
        io.copy_tree(chain[0], partial, skip=[BACKUP_MANIFEST])
        wal = partial / "wal"
        io.mkdir(wal, exist_ok=True)
        sources = [part / "wal" for part in chain[1:]]
        if wal_archive is not None:
            sources += [Path(p) for p in (wal_archive if isinstance(wal_archive, list)
                                          else [wal_archive])]  # fmt: skip
        for directory in sources:
            for _first, path in segments_after(directory, full_lsn):
                if not (wal / path.name).exists():
                    io.copy_file(path, wal / path.name)
        restored_lsn = _cut_log(partial, full_lsn, until)
        _recover_restored(partial)
        _publish(partial, dest, files_synced=False)
    result = dict(read_manifest(backup))
    result["restored_lsn"] = restored_lsn
    return result


def _recover_restored(root: Path) -> None:
    """Open the restored copy once for writing: the log is replayed onto the backup's files
    (collections created, dropped and compacted since are created, dropped and compacted
    again) and checkpointed, so what is published opens as it is, read-only too."""
    from vectordb.config import DatabaseConfig
    from vectordb.engine import Engine

    engine = Engine.acquire(root, read_only=False, config=DatabaseConfig())
    engine.release()


def _cut_log(root: Path, full_lsn: int, until: int | float | datetime.datetime | None) -> int:
    """Drop segments wholly at or before ``full_lsn`` and every record after ``until``;
    returns the last LSN kept."""
    from vectordb.storage.layout import DatabaseFiles
    from vectordb.storage.records import decode
    from vectordb.storage.wal import WalScan

    files = DatabaseFiles(root)
    for path in covered_segments(files.segments(), full_lsn):
        io.unlink(path)
    deadline: float | None = None
    until_lsn: int | None = None
    if isinstance(until, datetime.datetime):
        deadline = until.timestamp()
    elif isinstance(until, float):
        deadline = until
    elif isinstance(until, int) and not isinstance(until, bool):
        until_lsn = until
    elif until is not None:
        raise InvalidArgumentError(
            f"until must be an LSN (int), a datetime or Unix seconds (float); got {until!r}"
        )
    last = full_lsn
    scan = WalScan(files)
    cut: tuple[Path, int] | None = None
    try:
        for record in scan.records(after_lsn=full_lsn, needed_from=full_lsn + 1):
            if deadline is not None:
                stamp = decode(record.payload).committed_at
                if stamp is None:
                    raise InvalidArgumentError(
                        f"log record {record.lsn} carries no commit time (written by an older "
                        "vectordb): restore until an LSN instead"
                    )
                past = stamp > deadline
            else:
                past = until_lsn is not None and record.lsn > until_lsn
            if past:
                cut = (record.segment, record.offset)
                break
            last = record.lsn
    except LogGapError as error:
        if until_lsn is not None and error.first_missing_lsn > until_lsn:
            # every record wanted is here: the log simply ends before the gap
            gap_at = Path(error.path or "").name
            for _first, path in files.segments():
                if path.name >= gap_at:
                    io.unlink(path)
            return last
        raise LogGapError(
            f"cannot restore past LSN {error.first_missing_lsn - 1}: the log records from LSN "
            f"{error.first_missing_lsn} on are in none of the given directories (pass the "
            "database's wal_archive and its wal/ directory, or restore with until= before it)",
            first_missing_lsn=error.first_missing_lsn,
            path=error.path,
        ) from error
    if cut is not None:
        segment, offset = cut
        io.truncate_file(segment, offset)
        cut_at = int(segment.name.split(".")[0])
        for first, path in files.segments():
            if first > cut_at:
                io.unlink(path)
    return last
