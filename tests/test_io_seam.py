"""Every call of the package that changes a file goes through ``vectordb/files/io.py``.

The fault tests (``tests/crash/test_io_faults.py``) reach only the calls made through that
seam, so a direct ``os.write`` or ``Path.unlink`` elsewhere would be a call no test ever
fails. This test reads every module of ``vectordb/`` (except the seam) and lists the direct
calls it finds: ``os`` / ``shutil`` functions that write, create, rename or remove, ``Path``
methods that do, ``open()`` with a mode that writes, memory-mapped arrays that write past
the seam. Reading stays free (``open(path, "rb")``, ``os.pread``, ``read_bytes``).
"""

from __future__ import annotations

import ast
import errno
import os
from pathlib import Path

import pytest

from vectordb.files import io

PACKAGE = Path(__file__).resolve().parents[1] / "vectordb"
SEAM = PACKAGE / "files" / "io.py"
SEAM_NAME = "io"  # how modules name the seam: ``from vectordb.files import io``

#: module functions that write: ``os.write(...)``, ``shutil.rmtree(...)``, ...
FORBIDDEN_FUNCTIONS = {
    "os": {
        "open", "write", "writev", "pwrite", "pwritev", "fsync", "fdatasync", "ftruncate",
        "truncate", "posix_fallocate", "replace", "rename", "renames", "link", "symlink",
        "unlink", "remove", "rmdir", "removedirs", "mkdir", "makedirs", "mkfifo",
    },
    "shutil": {
        "rmtree", "copyfile", "copy", "copy2", "copytree", "copyfileobj", "move",
        "copymode", "copystat",
    },
    "fcntl": {"fcntl"},  # F_FULLFSYNC
}  # fmt: skip
#: methods that write whatever their receiver (``Path`` methods, a file's ``truncate``)
FORBIDDEN_METHODS = {
    "unlink", "rmdir", "mkdir", "rename", "touch", "write_bytes", "write_text",
    "symlink_to", "hardlink_to", "truncate", "tofile", "open_memmap", "memmap",
}  # fmt: skip
WRITE_MODE_LETTERS = set("wax+")


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _writes_by_mode(mode: ast.expr) -> bool:
    """A mode argument holding any string constant with w, a, x or + in it (both branches
    of ``"a+b" if create else "rb"`` are looked at)."""
    return any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(WRITE_MODE_LETTERS & set(node.value))
        for node in ast.walk(mode)
    )


def _mode_argument(call: ast.Call, position: int) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "mode":
            return keyword.value
    return call.args[position] if len(call.args) > position else None


def direct_calls(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` for every call in ``source`` that should go through the seam."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN_FUNCTIONS:
            for alias in node.names:
                if alias.name in FORBIDDEN_FUNCTIONS[node.module]:
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            mode = _mode_argument(node, 1)
            if mode is not None and _writes_by_mode(mode):
                found.append((node.lineno, "open() for writing"))
            continue
        if not isinstance(func, ast.Attribute):
            continue
        owner = _dotted(func.value)
        name = func.attr
        if owner == SEAM_NAME:
            continue
        if name in FORBIDDEN_FUNCTIONS.get(owner, ()):
            found.append((node.lineno, f"{owner}.{name}()"))
        elif owner in FORBIDDEN_FUNCTIONS:
            continue  # another function of os / shutil (os.fspath, shutil.disk_usage, ...)
        elif name in FORBIDDEN_METHODS:
            found.append((node.lineno, f"{owner}.{name}()"))
        elif name == "open":  # Path.open("w")
            mode = _mode_argument(node, 0)
            if mode is not None and _writes_by_mode(mode):
                found.append((node.lineno, f"{owner}.open() for writing"))
        elif name == "replace" and owner != "dataclasses":
            # Path.replace(target) takes one argument; str.replace(old, new) two
            if len(node.args) == 1 and not node.keywords:
                found.append((node.lineno, f"{owner}.replace()"))
        elif name == "flush" and any(word in owner.lower() for word in ("map", "array")):
            found.append((node.lineno, f"{owner}.flush() (msync)"))
    return found


def test_no_direct_io_call_outside_the_seam() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == SEAM:
            continue
        for line, what in direct_calls(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {what}")
    assert offenders == [], (
        "direct I/O calls outside vectordb/files/io.py (call the seam instead, so the "
        "fault tests reach them):\n" + "\n".join(offenders)
    )


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("os.write(fd, b'x')", "os.write()"),
        ("os.pwritev(fd, parts, 0)", "os.pwritev()"),
        ("shutil.rmtree(path, ignore_errors=True)", "shutil.rmtree()"),
        ("path.unlink(missing_ok=True)", "path.unlink()"),
        ("(root / 'wal').mkdir()", "?.mkdir()"),
        ("temp.replace(target)", "temp.replace()"),
        ("open(path, 'wb')", "open() for writing"),
        ("open(path, 'a+b' if create else 'rb')", "open() for writing"),
        ("path.open(mode='w')", "path.open() for writing"),
        ("self._map.flush()", "self._map.flush() (msync)"),
        ("from os import fsync", "from os import fsync"),
        ("np.lib.format.open_memmap(path, mode='w+')", "np.lib.format.open_memmap()"),
    ],
)
def test_the_check_finds_direct_calls(snippet: str, expected: str) -> None:
    assert [what for _, what in direct_calls(snippet)] == [expected]


@pytest.mark.parametrize(
    "snippet",
    [
        "open(path, 'rb')",
        "open(path)",
        "os.pread(fd, 10, 0)",
        "shutil.disk_usage(root)",
        "text.replace('a', 'b')",
        "dataclasses.replace(config, dim=3)",
        "io.write(fd, data)",
        "io.rmtree(path, ignore_errors=True)",
        "self.vectors.flush()",
        "path.read_bytes()",
    ],
)
def test_the_check_lets_reads_and_seam_calls_pass(snippet: str) -> None:
    assert direct_calls(snippet) == []


def test_the_injector_fails_the_nth_call_once(tmp_path: Path) -> None:
    injector = io.FaultInjector(2, error=errno.EIO)
    with io.injecting(injector):
        io.mkdir(tmp_path / "a")
        with pytest.raises(OSError, match="injected") as raised:
            io.mkdir(tmp_path / "b")
        io.mkdir(tmp_path / "c")
    assert raised.value.errno == errno.EIO
    assert [kind for kind, _ in injector.calls] == ["mkdir", "mkdir", "mkdir"]
    assert injector.failed == ("mkdir", str(tmp_path / "b"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "c"]
    assert io.inject(None) is None  # disarmed after the block


def test_the_injector_counts_one_kind_and_can_persist(tmp_path: Path) -> None:
    injector = io.FaultInjector(2, kind="write", persistent=True)
    with io.injecting(injector):
        fd = io.open_fd(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
        try:
            io.write_all(fd, b"one")
            with pytest.raises(OSError) as raised:
                io.write_all(fd, b"two")
            with pytest.raises(OSError):  # from there on every call fails, of any kind
                io.ftruncate(fd, 0)
        finally:
            os.close(fd)
    assert raised.value.errno == errno.ENOSPC
    assert injector.raised_kinds == {"write", "ftruncate"}
    assert (tmp_path / "f").read_bytes() == b"one"
    assert injector.failed is not None and injector.failed[1] == str(tmp_path / "f")


def test_faults_of_clean_up_calls_follow_their_flags(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    with io.injecting(io.FaultInjector(1)):
        io.rmtree(tmp_path / "tree", ignore_errors=True)  # swallowed, as shutil would
    with io.injecting(io.FaultInjector(1)) as injector:
        io.mkdir(tmp_path / "tree", exist_ok=True)  # exists: no call made, none to fail
    assert injector.calls == []
    with io.injecting(io.FaultInjector(1)), pytest.raises(OSError):
        io.rmtree(tmp_path / "tree")
    assert (tmp_path / "tree").is_dir()
