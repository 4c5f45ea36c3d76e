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
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from vectordb.errors import InvalidArgumentError, StorageError
from vectordb.storage.atomic import fsync_dir, os_error

if TYPE_CHECKING:
    from vectordb.engine import Engine

__all__ = ["BACKUP_MANIFEST", "backup_database", "restore_database", "verify_backup"]

BACKUP_MANIFEST = "backup.json"
_VECTOR_HEADER = 4096
_CHUNK = 8 * 1024 * 1024


def _check_destination(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidArgumentError(
            f"backup destination {dest} exists and is not an empty directory"
        )


def backup_database(engine: Engine, dest: Path) -> dict[str, Any]:
    """Copy the database of ``engine`` to ``dest``; returns the contents of ``backup.json``."""
    dest = Path(os.path.abspath(dest))
    root = engine.root
    if dest == root or root in dest.parents:
        raise InvalidArgumentError(f"backup destination {dest} is inside the database {root}")
    _check_destination(dest)
    started = time.monotonic()
    with engine.writing():
        engine.checkpoint_locked()
        engine.checkpoints_paused += 1
        lsn = engine.last_lsn
        plan = []
        for name, slot in sorted(engine.slots.items()):
            store = slot.store
            directory = store.files.directory
            files: list[tuple[Path, int | None]] = [(directory / "MANIFEST", None)]
            if store.manifest.snapshot is not None:
                files.append((directory / store.manifest.snapshot, None))
            files.append((directory / "vectors.bin", _VECTOR_HEADER + store.n_rows * 4 * store.dim))
            index_dir = directory / "index"
            if (index_dir / "INDEX").exists():
                files.append((index_dir / "INDEX", None))
                files.extend((path, None) for path in sorted(index_dir.glob("*.bin")))
            plan.append((name, files))
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        (partial / "wal").mkdir(parents=True)
        (partial / "collections").mkdir()
        copied: dict[str, dict[str, Any]] = {}
        copied["vectordb.meta"] = _copy(root / "vectordb.meta", partial / "vectordb.meta", None)
        for _name, files in plan:
            for source, length in files:
                relative = source.relative_to(root)
                target = partial / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                copied[str(relative)] = _copy(source, target, length)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise os_error(error, f"back up {root} to {dest}") from error
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        _resume_checkpoints(engine)
    manifest = {
        "format": 1,
        "source": str(root),
        "lsn": lsn,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "seconds": round(time.monotonic() - started, 3),
        "collections": [collection for collection, _ in plan],
        "files": copied,
    }
    try:
        (partial / BACKUP_MANIFEST).write_text(json.dumps(manifest, indent=1))
        for walked, _subdirs, _names in os.walk(partial):
            fsync_dir(Path(walked))
        if dest.exists():
            dest.rmdir()
        partial.rename(dest)
        fsync_dir(dest.parent)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise os_error(error, f"finish backup {dest}") from error
    return manifest


def _resume_checkpoints(engine: Engine) -> None:
    engine.checkpoints_paused -= 1
    if engine.checkpoints_paused == 0 and engine.checkpoint_deferred and not engine.closed:
        try:
            engine.checkpoint()
        except StorageError:
            pass  # the engine records its failure; the backup itself is complete


def _copy(source: Path, target: Path, length: int | None) -> dict[str, Any]:
    """Copy ``length`` bytes (all when None) and fsync; returns size and xxh3-64."""
    digest = xxhash.xxh3_64()
    size = 0
    with open(source, "rb") as reader, open(target, "wb") as writer:
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
        os.fsync(writer.fileno())
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


def restore_database(backup: Path, dest: Path) -> dict[str, Any]:
    """Copy the backup at ``backup`` to the new database directory ``dest`` after verifying
    every file against ``backup.json``; returns the backup's manifest."""
    backup, dest = Path(backup), Path(os.path.abspath(dest))
    problems = verify_backup(backup)
    if problems:
        raise StorageError(f"backup {backup} is damaged: " + "; ".join(problems[:5]))
    _check_destination(dest)
    manifest: dict[str, Any] = json.loads((backup / BACKUP_MANIFEST).read_text())
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(backup, partial, ignore=shutil.ignore_patterns(BACKUP_MANIFEST))
        (partial / "wal").mkdir(exist_ok=True)
        for walked, _subdirs, names in os.walk(partial):
            for name in names:
                with open(Path(walked) / name, "rb+") as handle:
                    os.fsync(handle.fileno())
            fsync_dir(Path(walked))
        if dest.exists():
            dest.rmdir()
        partial.rename(dest)
        fsync_dir(dest.parent)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise os_error(error, f"restore {backup} to {dest}") from error
    return manifest
