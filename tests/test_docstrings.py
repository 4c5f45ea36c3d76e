"""Every public function and method of the API is documented the numpydoc way (Parameters,
Returns, Raises, Examples), and its Examples run as doctests and print what they show."""

from __future__ import annotations

import doctest
import inspect
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import vectordb
from vectordb import Collection, Database, Transaction

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "vectordb.open": vectordb.open,
    "vectordb.restore": vectordb.restore,
    "vectordb.info": vectordb.info,
    "Transaction.rollback": Transaction.rollback,
    "SearchResults.to_pandas": vectordb.SearchResults.to_pandas,
    "Records.to_pandas": vectordb.Records.to_pandas,
    "Record.to_dict": vectordb.Record.to_dict,
    "Hit.to_dict": vectordb.Hit.to_dict,
}
for _cls in (Database, Collection):
    for _name, _member in inspect.getmembers(_cls, inspect.isfunction):
        if not _name.startswith("_"):
            FUNCTIONS[f"{_cls.__name__}.{_name}"] = _member

CLASSES = [Database, Collection, Transaction, vectordb.SearchResults, vectordb.Records]


def _section(doc: str, title: str) -> bool:
    return re.search(rf"^{title}\n-{{{len(title)}}}$", doc, re.MULTILINE) is not None


def _takes_arguments(function: Callable[..., Any]) -> bool:
    parameters = list(inspect.signature(function).parameters.values())
    return any(p.name not in ("self", "cls") for p in parameters)


def _returns_something(function: Callable[..., Any]) -> bool:
    annotation = inspect.signature(function).return_annotation
    return annotation not in ("None", None, inspect.Signature.empty)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_numpydoc_sections(name: str) -> None:
    function = FUNCTIONS[name]
    doc = inspect.getdoc(function) or ""
    missing = []
    if _takes_arguments(function) and not _section(doc, "Parameters"):
        missing.append("Parameters")
    if _returns_something(function) and not _section(doc, "Returns"):
        missing.append("Returns")
    for title in ("Raises", "Examples"):
        if not _section(doc, title):
            missing.append(title)
    assert missing == [], f"{name}'s docstring lacks {missing}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_public_classes_have_examples(cls: type) -> None:
    assert _section(inspect.getdoc(cls) or "", "Examples"), cls.__name__


def _doctests() -> list[tuple[str, Any]]:
    finder = doctest.DocTestFinder(recurse=False)
    found = []
    for name, function in sorted(FUNCTIONS.items()):
        found += [(name, test) for test in finder.find(function, name, globs={}) if test.examples]
    for cls in CLASSES:
        found += [(cls.__name__, t) for t in finder.find(cls, cls.__name__, globs={}) if t.examples]
    return found


DOCTESTS = _doctests()


def test_every_documented_function_has_a_doctest() -> None:
    documented = {name for name, _test in DOCTESTS}
    assert set(FUNCTIONS) <= documented, sorted(set(FUNCTIONS) - documented)


@pytest.mark.parametrize(("name", "test"), DOCTESTS, ids=[name for name, _ in DOCTESTS])
def test_examples_run(name: str, test: doctest.DocTest, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # examples call mkdtemp()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VECTORDB_NO_WARMUP", "1")
    failures: list[str] = []
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)
    assert runner.tries > 0
