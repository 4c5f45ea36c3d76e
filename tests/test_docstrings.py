"""Every public function and method of the API is documented the numpydoc way (Parameters,
Returns, Raises, Examples), and its Examples run as doctests and print what they show.

Every public class has Examples that run too; the value and configuration classes (dataclasses,
enums, ``Hit``) list each of their fields in a Parameters or Attributes section; every public
exception derives from ``VectorDBError`` and has a docstring of its own saying when it is
raised."""

from __future__ import annotations

import dataclasses
import doctest
import enum
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


def _public(name: str) -> Any:
    return getattr(vectordb, name)  # ImportReport is a lazy attribute: getattr loads it


EXCEPTIONS: dict[str, type[BaseException]] = {
    name: _public(name)
    for name in vectordb.__all__
    if isinstance(_public(name), type) and issubclass(_public(name), BaseException)
}
#: every public class that is not an exception (Database, Collection, the config classes and
#: enums, the values results hold, ImportReport ...), and the root of the exceptions, whose
#: Examples show how to catch them
CLASSES: list[type] = [
    _public(name)
    for name in sorted(vectordb.__all__)
    if isinstance(_public(name), type) and name not in EXCEPTIONS
] + [vectordb.VectorDBError]


def _fields(cls: type) -> list[str]:
    """The fields a value or configuration class must document (none for other classes)."""
    if dataclasses.is_dataclass(cls):
        return [field.name for field in dataclasses.fields(cls)]
    if issubclass(cls, enum.Enum):
        return [member.name for member in cls]
    return list(getattr(cls, "_fields", ()))  # Hit: a tuple with named fields


FIELD_CLASSES = [cls for cls in CLASSES if _fields(cls)]


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


def _entries(doc: str, titles: tuple[str, ...]) -> dict[str, str]:
    """The entries of the sections ``titles`` of ``doc``: each documented name (``a, b`` and
    ``a : type`` lines give ``a`` and ``b``) mapped to its description."""
    entries: dict[str, str] = {}
    lines = doc.splitlines()
    for start, line in enumerate(lines[:-1]):
        if line not in titles or lines[start + 1] != "-" * len(line):
            continue
        names: list[str] = []
        following = lines[start + 2 :]
        for index, text in enumerate(following):
            if index + 1 < len(following) and re.fullmatch(r"-+", following[index + 1]):
                break  # the title of the next section
            if text and not text[0].isspace():
                names = [name.strip() for name in text.split(" : ")[0].split(",")]
                entries.update(dict.fromkeys(names, ""))
            elif text.strip():
                for name in names:
                    entries[name] = (entries[name] + " " + text.strip()).strip()
    return entries


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_public_classes_have_examples(cls: type) -> None:
    assert _section(inspect.getdoc(cls) or "", "Examples"), cls.__name__


def test_value_and_config_classes_are_checked() -> None:
    expected = {"CollectionConfig", "CollectionInfo", "DatabaseConfig", "Durability", "Hit",
                "HnswConfig", "ImportReport", "IvfConfig", "Metric", "Problem",
                "QuantizationConfig", "Record"}  # fmt: skip
    assert expected <= {cls.__name__ for cls in FIELD_CLASSES}


@pytest.mark.parametrize("cls", FIELD_CLASSES, ids=lambda cls: cls.__name__)
def test_every_field_is_documented(cls: type) -> None:
    doc = inspect.getdoc(cls) or ""
    assert _section(doc, "Parameters") or _section(doc, "Attributes"), cls.__name__
    entries = _entries(doc, ("Parameters", "Attributes"))
    undocumented = [name for name in _fields(cls) if not entries.get(name)]
    assert undocumented == [], f"{cls.__name__}'s docstring does not describe {undocumented}"


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_exceptions_say_when_they_are_raised(name: str) -> None:
    cls = EXCEPTIONS[name]
    assert issubclass(cls, vectordb.VectorDBError), f"{name} is not a VectorDBError"
    doc = cls.__dict__.get("__doc__") or ""  # its own, not one inherited
    assert len(doc.split()) >= 8, f"{name}'s docstring does not say when it is raised: {doc!r}"


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
