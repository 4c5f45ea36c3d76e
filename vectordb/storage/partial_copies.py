"""The copies a backup or a restore writes before renaming them into place, and what a
killed one leaves behind.

A backup or restore to ``dest`` writes ``<dest>.partial-<pid>`` and renames it to ``dest``
when complete, so a failed one never leaves a half copy under ``dest``. One killed on the way
leaves that directory behind: the next backup or restore to the same destination deletes it
once its process is gone. A backup also writes a marker into the database it copies
(``<db>/BACKUP-<pid>-<tag>``, JSON naming the copy; ``<tag>``: the first 8 hex digits of
xxh3-64 of the copy's path) until it ends, so ``check()`` can report a killed backup's
leftover copy (``unfinished_backups``) and a repair delete it.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import sys
from pathlib import Path

import xxhash

from vectordb.files import io
from vectordb.files.atomic import atomic_write_bytes
from vectordb.results import Problem

__all__ = [
    "BACKUP_MARKER_PREFIX",
    "abandon_partial",
    "process_gone",
    "start_partial",
    "unfinished_backups",
]

log = logging.getLogger("vectordb")

#: ``<db>/BACKUP-<pid>-<tag>``: a backup is writing the copy the file names
BACKUP_MARKER_PREFIX = "BACKUP-"


def start_partial(dest: Path, root: Path | None) -> Path:
    """The directory a backup (of the database ``root``) or a restore (``root`` None) writes
    before it is renamed to ``dest``: ``<dest>.partial-<pid>``. Copies left by a backup or
    restore to the same destination whose process is gone (killed) are deleted first. A
    backup also leaves a marker in the database (``<root>/BACKUP-<pid>-<tag>``, naming the
    directory) until it ends, so ``check()`` can report a killed backup's leftovers."""
    for leftover in dest.parent.glob(f"{glob.escape(dest.name)}.partial-*"):
        pid = leftover.name.rsplit("-", 1)[-1]
        if pid.isdigit() and process_gone(int(pid)):
            log.warning("deleting %s, left by a backup or restore that did not finish", leftover)
            io.rmtree(leftover, ignore_errors=True)
            if root is not None:
                io.unlink(marker_path(root, leftover, int(pid)), missing_ok=True)
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    if root is not None:
        marker = marker_path(root, partial, os.getpid())
        note = {"partial": str(partial), "dest": str(dest)}
        atomic_write_bytes(marker, json.dumps(note).encode())
    io.rmtree(partial, ignore_errors=True)
    return partial


def abandon_partial(partial: Path, root: Path | None) -> None:
    """Delete what is left of ``partial`` (nothing once published) and its marker."""
    io.rmtree(partial, ignore_errors=True)
    if root is not None:
        with contextlib.suppress(OSError):
            io.unlink(marker_path(root, partial, os.getpid()))


def marker_path(root: Path, partial: Path, pid: int) -> Path:
    tag = xxhash.xxh3_64_hexdigest(str(partial).encode())[:8]
    return root / f"{BACKUP_MARKER_PREFIX}{pid}-{tag}"


def process_gone(pid: int) -> bool:
    """True only if no process ``pid`` exists (never for this one; on Windows, where no
    cheap and harmless check exists, never)."""
    if pid == os.getpid() or sys.platform == "win32":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists (another user's)
    return False


def unfinished_backups(root: Path, *, repair: bool) -> list[Problem]:
    """Leftovers of backups of ``root`` whose process was killed: each copy it was writing
    (``repair`` deletes them and their markers)."""
    problems = []
    for marker in sorted(root.glob(f"{BACKUP_MARKER_PREFIX}*")):
        pid = marker.name[len(BACKUP_MARKER_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not process_gone(int(pid)):
            continue  # running now (or not ours to judge)
        try:
            partial = Path(json.loads(marker.read_text())["partial"])
        except (OSError, ValueError, KeyError, TypeError):
            partial = marker
        message = (f"a backup by process {pid} did not finish (the process is gone); its "
                   f"unfinished copy {partial} is left over")  # fmt: skip
        if repair:
            io.rmtree(partial, ignore_errors=True)
            with contextlib.suppress(OSError):
                io.unlink(marker)
            message += "; repaired: deleted"
        else:
            message += "; check(repair=True) or the next backup to it deletes it"
        problems.append(Problem(str(partial), None, message))
    return problems
