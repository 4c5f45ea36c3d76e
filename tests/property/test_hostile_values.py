"""Property test: the values users actually send, through every write path, against a model.

Hostile values: 64-bit ints and beyond, huge and tiny floats (subnormals, -0.0, inf, NaN),
numpy scalars and arrays, non-string keys at any depth, odd Unicode (lone surrogates, NUL,
right-to-left text, emoji, 10,000-character strings), empty containers, deep nesting, and
vectors with huge, tiny, infinite or NaN components. Each example writes one batch through
one path - ``add``, ``upsert``, ``update(metadata=)``, ``update(vectors=)``, a transaction,
``import_file`` (a .jsonl file) or ``add_dataframe`` - and checks it against a plain dict
model (as ``test_state_machine.py`` does): either the call raised a ``VectorDBError`` and the
collection is unchanged (ids, vectors, metadata), or the model says the batch is storable
and what is read back equals the model's conversion of it (numpy scalars become Python
values, tuples lists; see ``vectordb/inputs.py``). Afterwards a filter on every stored field
and a search reaching every record never raise, and ``check()`` finds nothing.

The model's rules are written out here independently of ``vectordb.inputs``: metadata is a
mapping with str keys at every depth, nested at most ``MAX_DEPTH`` levels (the record's
mapping is level 1), holding None, bool, int in [-2**63, 2**64), float other than NaN, valid
UTF-8 str, bytes, lists and maps; a vector is finite in float32, has a squared norm of at most
2**125, and is not all zeros for cosine.

The default run keeps each path to a few dozen examples (the whole file in 5-15 s); ``pytest
-m slow`` (or ``VECTORDB_SLOW=1``) runs many more. The number of examples run is printed at
the end of the module's tests (and counted in hypothesis' statistics as events).
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import vectordb

try:
    import pandas
except ImportError:  # pragma: no cover - pandas is optional
    pandas = None

DIM = 4
MAX_DEPTH = 32
INT_RANGE = (-(2**63), 2**64)  # [low, high)
MAX_SQUARED_NORM = 2.0**125
PATHS = ["add", "upsert", "update-metadata", "update-vectors", "transaction", "import", "dataframe"]
DEFAULT_EXAMPLES = 40
SLOW_EXAMPLES = 600

_COUNTS: collections.Counter[str] = collections.Counter()
# flat mostly; the indexes as the state machine sets them up to answer exactly
INDEXES: dict[str, dict[str, Any]] = {
    "flat": {},
    "flat ": {},
    "hnsw": {"index": "hnsw"},
    "ivf": {"index": "ivf", "ivf": {"nlist": 2, "nprobe": 2, "train_after": 3}},
}


# ------------------------------------------------------------------ strategies
BOUNDARY_INTS = [
    0,
    -1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    10**30,
    -(10**30),
]
int_st = st.one_of(st.sampled_from(BOUNDARY_INTS), st.integers(-(2**65), 2**65), st.integers(-5, 5))
SPECIAL_FLOATS = [
    0.0,
    -0.0,
    math.inf,
    -math.inf,
    math.nan,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    1e-45,
    3.4028234663852886e38,
    1e19,
]
float_st = st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(), st.floats(width=32))
any_char_st = st.characters(exclude_categories=())  # surrogates included
SPECIAL_STRINGS = [
    "",
    "\x00",
    "a\x00b",
    "\u202eerom\u202c \u05e9\u05dc\u05d5\u05dd",
    "\U0001f600\U0001f44d\U0001f3fd",
    "\ud800",
    "x\udfff",
    "\ud83d\ude00",
    "\ufeff",
    "\u2028\x85",
    "e\u0301",
    "a.b",
    "$gt",
    " ",
    "\U0010ffff",
]
text_st = st.one_of(
    st.text(max_size=6),
    st.sampled_from(SPECIAL_STRINGS),
    st.text(any_char_st, max_size=4),
    st.builds(lambda c, n: c * n, any_char_st, st.integers(1_000, 10_000)),
)
numpy_scalar_st = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.integers(0, 2**64 - 1).map(np.uint64),
    st.integers(-128, 127).map(np.int8),
    st.floats(width=32).map(np.float32),
    st.floats().map(np.float64),
    st.booleans().map(np.bool_),
    st.text(max_size=4).map(np.str_),
)
unstorable_st = st.sampled_from(
    [
        {1, 2},
        frozenset(),
        datetime.date(2024, 1, 2),  # stored as ISO text
        datetime.datetime(2024, 1, 2, 3, 4),
        1j,
        np.datetime64("2024-01-02"),
        np.datetime64("NaT"),
        np.timedelta64(3, "s"),
    ]
)
leaf_st = st.one_of(
    st.none(), st.booleans(), int_st, float_st, text_st, st.binary(max_size=6), numpy_scalar_st
)
key_st = st.one_of(
    text_st,
    st.text(max_size=4),
    st.one_of(
        st.integers(-3, 2**64),
        st.none(),
        st.booleans(),
        st.floats(allow_nan=False),
        st.binary(max_size=2),
        st.tuples(st.integers(0, 3)),
    ),
)


def nested(depth: int, leaf: Any) -> Any:
    """``leaf`` inside ``depth`` containers (lists and maps alternating)."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


value_st = st.recursive(
    st.one_of(leaf_st, leaf_st, leaf_st, unstorable_st),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(key_st, children, max_size=3),
        st.lists(st.integers(-5, 5), max_size=3).map(np.array),
        st.lists(st.floats(width=32), min_size=1, max_size=2).map(np.float32).map(np.array),
    ),
    max_leaves=6,
)
deep_st = st.builds(nested, st.integers(MAX_DEPTH - 4, MAX_DEPTH + 3), leaf_st)
metadata_st = st.one_of(
    st.none(),
    st.just({}),
    st.dictionaries(key_st, st.one_of(value_st, value_st, value_st, deep_st), max_size=4),
)
component_st = st.one_of(
    st.floats(-8, 8, allow_nan=False),
    st.floats(-8, 8, allow_nan=False),
    st.sampled_from(
        [
            0.0,
            -0.0,
            1e-45,
            1e-40,
            2.0**62,
            -(2.0**62),
            3e18,
            1e19,
            3e38,
            1e39,
            math.inf,
            -math.inf,
            math.nan,
        ]
    ),
    st.floats(width=32),
)
vector_st = st.lists(component_st, min_size=DIM, max_size=DIM)
entry_st = st.tuples(vector_st, metadata_st)


# ------------------------------------------------------------------ the model
class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


def utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def model_value(value: Any, level: int) -> Any:
    """``value`` as stored (``level``: the level it has if it is a container), or INVALID."""
    if value is None or type(value) is bool:
        return value
    if isinstance(value, np.datetime64):  # ISO text, NaT refused
        return INVALID if np.isnat(value) else str(np.datetime_as_string(value))
    if isinstance(value, np.timedelta64):
        return INVALID
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        value = int(value)
    elif isinstance(value, np.floating):
        value = float(value)
    elif isinstance(value, np.ndarray):
        return model_value(value.tolist(), level)
    if isinstance(value, int):
        return int(value) if INT_RANGE[0] <= value < INT_RANGE[1] else INVALID
    if isinstance(value, float):
        return INVALID if math.isnan(value) else float(value)
    if isinstance(value, str):
        return str(value) if utf8(value) else INVALID
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        if level > MAX_DEPTH:
            return INVALID
        items = [model_value(item, level + 1) for item in value]
        return INVALID if any(item is INVALID for item in items) else items
    if isinstance(value, dict):
        if level > MAX_DEPTH:
            return INVALID
        result = {}
        for key, item in value.items():
            if not isinstance(key, str) or not utf8(key) or "." in key:
                return INVALID  # a dotted key: filters could never match it
            result[str(key)] = model_value(item, level + 1)
            if result[str(key)] is INVALID:
                return INVALID
        return result
    return INVALID


def model_metadata(metadata: Any) -> Any:
    return None if metadata is None else model_value(metadata, 1)


def model_vector(values: list[float], metric: str) -> Any:
    with np.errstate(over="ignore", invalid="ignore"):
        vector = np.asarray(values, np.float64).astype(np.float32)
    if not np.isfinite(vector).all():
        return INVALID
    wide = vector.astype(np.float64)
    squared = float(wide @ wide)
    if squared > MAX_SQUARED_NORM or (metric == "cosine" and squared == 0):
        return INVALID
    return vector


def json_round_trip(metadata: Any) -> tuple[bool, Any]:
    """What a .jsonl file says for ``metadata`` (json writes non-str scalar keys as text,
    tuples as lists, NaN as NaN); (False, None) if json cannot write it."""
    try:
        return True, json.loads(json.dumps(metadata))
    except (TypeError, ValueError, RecursionError):
        return False, None


Model = dict[str, tuple[np.ndarray, Any]]


# ------------------------------------------------------------------ the checks
@contextlib.contextmanager
def collection_for(
    metric: str, index: str
) -> Iterator[tuple[vectordb.Database, vectordb.Collection, Model]]:
    root = tempfile.mkdtemp(prefix="vectordb-hostile-")
    try:
        with vectordb.open(Path(root) / "db", config={"durability": "off"}) as db:
            c = db.create_collection("c", dim=DIM, metric=metric, **INDEXES[index])
            seeds = np.array([[1, 0, 0, 0], [0, 1, 0.5, 0]], np.float32)
            c.add(seeds, ids=["s0", "s1"], metadata=[{"seed": 1, "tags": ["a"]}, None])
            model: Model = {"s0": (seeds[0], {"seed": 1, "tags": ["a"]}), "s1": (seeds[1], None)}
            yield db, c, model
    finally:
        shutil.rmtree(root, ignore_errors=True)


def snapshot(c: vectordb.Collection) -> Model:
    ids = c.ids()
    return {r.id: (r.vector.copy(), r.metadata) for r in c.get_many(ids) if r is not None}


def assert_matches(c: vectordb.Collection, model: Model) -> None:
    state = snapshot(c)
    assert state.keys() == model.keys()
    for vector_id, (vector, metadata) in model.items():
        np.testing.assert_array_equal(state[vector_id][0], vector, err_msg=vector_id)
        assert state[vector_id][1] == metadata, vector_id
        assert type(state[vector_id][1]) is type(metadata)


def filterable(key: str) -> bool:
    return bool(key) and "." not in key and not key.startswith("$")


def scalar_fields(metadata: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of the fields a filter can name, down to a few levels."""
    if not isinstance(metadata, dict) or depth > 3:
        return
    for key, value in metadata.items():
        if not filterable(key):
            continue
        path = f"{prefix}{key}"
        yield path, value
        yield from scalar_fields(value, f"{path}.", depth + 1)


def assert_usable(db: vectordb.Database, c: vectordb.Collection, model: Model) -> None:
    """Filters on every stored field and searches reaching every record never raise."""
    n = len(model)
    assert c.count() == n
    for vector_id, (_, metadata) in model.items():
        for path, value in scalar_fields(metadata):
            assert c.count(where={path: {"$exists": True}}) >= 1, path
            c.count(where={path: {"$gt": 0}})
            c.count(where={path: {"$contains": "a"}})
            if isinstance(value, (bool, int, float, str)) or value is None:
                matches = c.find(where={path: value})
                assert vector_id in {record.id for record in matches}, (path, value)
    c.wait_indexed()
    for mode in ("numba", "numpy", "scalar"):
        hits = c.search(np.ones(DIM, np.float32), k=n + 1, mode=mode, include=("metadata",))
        assert sorted(hit.id for hit in hits) == sorted(model), mode
        for hit in hits:
            assert hit.metadata == model[hit.id][1]
            assert math.isfinite(hit.score), hit
    for vector_id, (vector, _) in model.items():
        if np.any(vector):
            assert vector_id in {hit.id for hit in c.search(vector, k=n)}
    assert db.check() == []


def expect(
    c: vectordb.Collection, model: Model, valid: bool, write: Any, new_model: Model
) -> Model:
    """Run ``write``: it raises a VectorDBError and changes nothing, or the model said it is
    valid and the collection now matches ``new_model``. Returns the model in force."""
    refused: vectordb.VectorDBError | None = None
    try:
        write()
    except vectordb.VectorDBError as error:
        refused = error
    if refused is not None:
        assert not valid, f"a valid write was refused: {refused!r}"
        expected = (vectordb.InvalidMetadataError, vectordb.InvalidVectorError)
        assert isinstance(refused, expected), refused
        assert len(str(refused)) < 1_000, "messages quote at most ~80 characters of a value"
        assert_matches(c, model)
        event("refused")
        return model
    assert valid, "an invalid write was stored"
    assert_matches(c, new_model)
    event("stored")
    return new_model


def run_path(path: str, data: st.DataObject) -> None:
    metric = data.draw(st.sampled_from(["cosine", "dot", "euclidean"]), label="metric")
    index = data.draw(st.sampled_from(list(INDEXES)), label="index")
    _COUNTS[path] += 1
    with collection_for(metric, index) as (db, c, model):
        if path in ("update-metadata", "update-vectors"):
            ids = data.draw(st.sampled_from([["s0"], ["s1"], ["s0", "s1"]]), label="ids")
            new_model = dict(model)
            valid = True
            if path == "update-metadata":
                metadata = data.draw(
                    st.lists(metadata_st, min_size=len(ids), max_size=len(ids)), label="metadata"
                )
                for vector_id, entry in zip(ids, metadata):
                    stored = model_metadata(entry)
                    valid = valid and stored is not INVALID
                    vector, old = model[vector_id]
                    if stored is not None and stored is not INVALID:  # merged; None: kept
                        new_model[vector_id] = (vector, {**(old or {}), **stored})
                write: Any = lambda: c.update(ids, metadata=metadata)  # noqa: E731
            else:
                vectors = data.draw(
                    st.lists(vector_st, min_size=len(ids), max_size=len(ids)), label="vectors"
                )
                for vector_id, values in zip(ids, vectors):
                    stored = model_vector(values, metric)
                    valid = valid and stored is not INVALID
                    new_model[vector_id] = (stored, model[vector_id][1])
                write = lambda: c.update(ids, vectors=vectors)  # noqa: E731
            model = expect(c, model, valid, write, new_model)
            assert_usable(db, c, model)
            return
        entries = data.draw(st.lists(entry_st, min_size=1, max_size=3), label="entries")
        ids = [f"n{i}" for i in range(len(entries))]
        if path == "upsert":
            ids[0] = "s0"  # replaces a whole record
        vectors = [values for values, _ in entries]
        metadata = [entry for _, entry in entries]
        if path == "import":
            written = [json_round_trip(entry) for entry in metadata]
            # what json cannot write (bytes, numpy, sets, tuple keys) is no file's content
            metadata = [entry if ok else None for ok, entry in written]
        stored = [model_metadata(entry) for entry in metadata]
        kept = [model_vector(values, metric) for values in vectors]
        valid = all(item is not INVALID for item in (*stored, *kept))
        new_model = dict(model)
        for vector_id, vector, meta in zip(ids, kept, stored):
            new_model[vector_id] = (vector, meta)
        if path in ("add", "upsert"):
            method = c.add if path == "add" else c.upsert
            write = lambda: method(vectors, ids=ids, metadata=metadata)  # noqa: E731
        elif path == "transaction":
            new_model["s1"] = (model["s1"][0], {"touched": True})

            def write() -> None:
                with db.transaction():
                    c.update(["s1"], metadata=[{"touched": True}])
                    c.add(vectors[:1], ids=ids[:1], metadata=metadata[:1])
                    if len(ids) > 1:
                        c.upsert(vectors[1:], ids=ids[1:], metadata=metadata[1:])
        elif path == "import":
            file = Path(db.path) / "rows.jsonl"
            lines = [
                json.dumps({"id": i, "vector": v, "metadata": m})
                for i, v, m in zip(ids, vectors, metadata)
            ]
            file.write_text("\n".join(lines) + "\n", encoding="utf-8")
            write = lambda: c.import_file(file)  # noqa: E731
        else:
            assert pandas is not None
            frame = pandas.DataFrame(
                {"id": ids, "vector": [np.asarray(v) for v in vectors], "metadata": metadata}
            )
            write = lambda: c.add_dataframe(frame)  # noqa: E731
        model = expect(c, model, valid, write, new_model)
        assert_usable(db, c, model)


# ------------------------------------------------------------------ the tests
_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}


def _path_params() -> list[Any]:
    marks = pytest.mark.skipif(pandas is None, reason="pandas is not installed")
    return [pytest.param(path, marks=[marks] if path == "dataframe" else []) for path in PATHS]


@pytest.fixture(scope="module", autouse=True)
def report_examples(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many examples ran per path (pytest shows it without -s)."""
    yield
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    total = sum(_COUNTS.values())
    if reporter is not None and capture is not None and total:
        detail = ", ".join(f"{path}: {_COUNTS[path]}" for path in PATHS if _COUNTS[path])
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nhostile values: {total} examples ran ({detail})")


@pytest.mark.parametrize("path", _path_params())
@settings(max_examples=DEFAULT_EXAMPLES, **_SETTINGS)
@given(data=st.data())
def test_hostile_values(path: str, data: st.DataObject) -> None:
    run_path(path, data)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("path", _path_params())
def test_hostile_values_many_examples(path: str, request: pytest.FixtureRequest) -> None:
    """The same with many more examples (``pytest -m slow`` or ``VECTORDB_SLOW=1``)."""
    if "slow" not in (request.config.option.markexpr or "") and not os.environ.get("VECTORDB_SLOW"):
        pytest.skip("long run: select it with -m slow or VECTORDB_SLOW=1")

    @settings(max_examples=SLOW_EXAMPLES, **_SETTINGS)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        run_path(path, data)

    run()
