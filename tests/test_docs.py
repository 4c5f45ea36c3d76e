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


ARCHITECTURE = QUICKSTART.parent / "architecture.md"
PACKAGE = QUICKSTART.parent.parent / "vectordb"


def _defined_names() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Every class's methods and attributes (by class name) and every module's functions and
    classes (by each dotted suffix of the module name: ``records``, ``storage.records``)."""
    import ast

    classes: dict[str, set[str]] = {}
    modules: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {
            node.name
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        }
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        for start in range(len(parts)):
            modules.setdefault(".".join(parts[start:]), set()).update(top)
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                members = classes.setdefault(node.name, set())
                for item in ast.walk(node):
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        members.add(item.name)
                    elif isinstance(item, ast.Attribute) and isinstance(item.ctx, ast.Store):
                        members.add(item.attr)
    return classes, modules


def test_architecture_walk_throughs_name_real_functions() -> None:
    """docs/architecture.md section 1.1 lists the functions a write, a search and recovery
    pass through: every ``Class.method`` and ``module.function`` it names exists."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text[text.index("### 1.1 Walk-throughs") : text.index("## 2.")]
    classes, modules = _defined_names()
    named = re.findall(r"`([A-Za-z_][\w.]*\.[A-Za-z_]\w*)`", section)
    assert len(named) > 40  # the section is read
    missing = []
    for dotted in named:
        owner, _, member = dotted.rpartition(".")
        if owner == "vectordb" and hasattr(vectordb, member):
            continue  # the public API
        if member not in classes.get(owner, set()) | modules.get(owner, set()):
            missing.append(dotted)
    assert missing == [], f"architecture.md names functions that do not exist: {missing}"
