"""The documentation's examples run: docs/quickstart.md as one script, and the docstring
example of ``vectordb.open``."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import vectordb

QUICKSTART = Path(__file__).resolve().parent.parent / "docs" / "quickstart.md"
_PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(markdown: str) -> list[str]:
    """Every fenced ```python block of ``markdown``, in order."""
    return _PYTHON_BLOCK.findall(markdown)


def test_quickstart_has_examples() -> None:
    blocks = python_blocks(QUICKSTART.read_text(encoding="utf-8"))
    assert len(blocks) >= 10
    assert all(block.strip() for block in blocks)


def test_quickstart_runs_as_one_script(tmp_path: Path) -> None:
    blocks = python_blocks(QUICKSTART.read_text(encoding="utf-8"))
    script = tmp_path / "quickstart_script.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, VECTORDB_NO_WARMUP="1")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"docs/quickstart.md failed as a script:\n--- stdout\n{result.stdout}\n"
        f"--- stderr\n{result.stderr}"
    )
    assert (work / "quickstart.vdb" / "vectordb.meta").is_file()


def test_open_docstring_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the example calls mkdtemp()
    finder = doctest.DocTestFinder(recurse=False)
    tests = finder.find(vectordb.open, "vectordb.open", globs={})
    assert tests and tests[0].examples, "vectordb.open lost its docstring example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0
    assert results.attempted >= 2
    assert any(tmp_path.iterdir()), "the example did not create its database"
