"""Stateful property test: a collection behaves exactly like a plain dict model.

The model is ``{id: (float32 vector, metadata or None)}``. Every rule performs one public
operation on the collection and the same operation on the model (or checks that the operation
raised the documented error and changed nothing). After every step an invariant compares
everything observable - ``len``, membership, ``get``/``get_many``, ``ids()`` paging and exact
search in every mode - against the model and a brute-force search over it.

Transactions mix those writes (all applied, or none when one is refused or the block raises).
Databases are closed and reopened mid-sequence with random durability modes, mmap on/off, and
tiny ``checkpoint_records`` so automatic checkpoints happen between (and during) the steps.

The default run keeps to a few dozen examples; ``pytest -m slow`` (or ``VECTORDB_SLOW=1``)
also runs a variant with many more.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import vectordb

DIM = 4

# Collections under test. The IVF and quantized ones are set up to answer exactly (every cell
# probed; more candidates re-scored than records exist), so they must agree with brute force
# through training, the delta scan, deletes, reopen and retraining.
INDEXES: dict[str, dict[str, Any]] = {
    "flat": {},
    "hnsw": {"index": "hnsw"},
    "ivf": {"index": "ivf", "ivf": {"nlist": 3, "nprobe": 3, "train_after": 8}},
    "int8": {"quantization": {"kind": "int8", "rescore": 200}},
    "ivf-pq": {
        "index": "ivf",
        "ivf": {"nlist": 2, "nprobe": 2, "train_after": 6, "retrain_growth": 2},
        "quantization": {"kind": "pq", "m": 2, "rescore": 200},
    },
}

# a small pool so that adds collide, updates hit unknown ids and deletes miss
ID_POOL = [f"id{i}" for i in range(8)] + ["ünï-çødé", "x y"]
NAME = "things"

ids_st = st.sampled_from(ID_POOL)
# half-integers make exact score ties common; float32 values exercise real rounding
component_st = st.one_of(
    st.integers(-4, 4).map(lambda value: value / 2),
    st.floats(-8, 8, width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False),
)
vector_st = st.lists(component_st, min_size=DIM, max_size=DIM)
nonzero_vector_st = vector_st.filter(lambda values: any(values))
leaf_st = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=4)
    | st.binary(max_size=4)
)
# keys without "." (a dotted key is refused: filters read dots as paths)
key_st = st.text(st.characters(exclude_characters=".", exclude_categories=("Cs",)), max_size=4)
meta_value_st = st.recursive(
    leaf_st,
    lambda children: (
        st.lists(children, max_size=2) | st.dictionaries(key_st, children, max_size=2)
    ),
    max_leaves=4,
)
metadata_st = st.none() | st.dictionaries(key_st, meta_value_st, max_size=3)
entry_st = st.tuples(ids_st, vector_st, metadata_st)
# a batch of ids in which at least one id appears twice
repeated_ids_st = st.tuples(st.lists(ids_st, min_size=1, max_size=3), st.integers(0, 2)).flatmap(
    lambda pair: st.permutations([*pair[0], pair[0][pair[1] % len(pair[0])]])
)
config_st = st.fixed_dictionaries(
    {
        "durability": st.sampled_from(["full", "normal", "off"]),
        "checkpoint_records": st.integers(1, 6),
        "use_mmap": st.booleans(),
        "verify_checksums_on_open": st.booleans(),
        "initial_capacity": st.integers(1, 4),
    }
)

Model = dict[str, tuple[np.ndarray, Any]]
# one write inside a transaction: ("add" | "upsert", id, vector, metadata), ("delete", id),
# ("meta", id, metadata)
transaction_step_st = st.one_of(
    st.tuples(st.sampled_from(["add", "upsert"]), ids_st, nonzero_vector_st, metadata_st),
    st.tuples(st.just("delete"), ids_st),
    st.tuples(st.just("meta"), ids_st, metadata_st),
)


def as_vector(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


class CollectionMachine(RuleBasedStateMachine):
    """Collection vs. dict model; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.root = tempfile.mkdtemp(prefix="vectordb-prop-")
        self.path = os.path.join(self.root, "db.vdb")
        self.db: vectordb.Database | None = None
        self.collection: vectordb.Collection | None = None
        self.model: Model = {}
        self.metric = "cosine"
        self.index = "flat"

    # ------------------------------------------------------------------ setup / teardown
    @initialize(
        metric=st.sampled_from(["cosine", "dot", "euclidean"]),
        config=config_st,
        index=st.sampled_from(list(INDEXES)),
    )
    def open_database(self, metric: str, config: dict[str, Any], index: str) -> None:
        self.metric = metric
        self.index = index
        self.db = vectordb.open(self.path, config=config)
        self.collection = self.db.create_collection(NAME, dim=DIM, metric=metric, **INDEXES[index])

    def teardown(self) -> None:
        try:
            if self.db is not None:
                self.db.close()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def c(self) -> vectordb.Collection:
        assert self.collection is not None
        return self.collection

    # ------------------------------------------------------------------ helpers
    def snapshot(self) -> Model:
        """The collection's whole state, read through the public API."""
        ids = self.c.ids()
        records = self.c.get_many(ids) if ids else []
        state: Model = {}
        for vector_id, record in zip(ids, records):
            assert record is not None, vector_id
            state[vector_id] = (record.vector.copy(), record.metadata)
        return state

    def assert_unchanged(self, before: Model) -> None:
        after = self.snapshot()
        assert after.keys() == before.keys()
        for vector_id, (vector, metadata) in before.items():
            np.testing.assert_array_equal(after[vector_id][0], vector)
            assert after[vector_id][1] == metadata

    def zero_vector_invalid(self, vectors: list[list[float]]) -> bool:
        return self.metric == "cosine" and any(not any(values) for values in vectors)

    def expect_failure(self, errors: tuple[type[Exception], ...], call: Any) -> None:
        """``call()`` must raise one of ``errors`` and leave the collection as it was."""
        before = self.snapshot()
        with pytest.raises(errors):
            call()
        self.assert_unchanged(before)
        assert len(self.c) == len(self.model)

    @staticmethod
    def metadata_arg(metadata: list[Any], as_none: bool) -> list[Any] | None:
        if as_none and all(entry is None for entry in metadata):
            return None
        return metadata

    # ------------------------------------------------------------------ writes
    @rule(batch=st.lists(entry_st, min_size=1, max_size=4), metadata_none=st.booleans())
    def add(self, batch: list[tuple[str, list[float], Any]], metadata_none: bool) -> None:
        ids = [vector_id for vector_id, _, _ in batch]
        vectors = [values for _, values, _ in batch]
        metadata = self.metadata_arg([meta for _, _, meta in batch], metadata_none)
        errors: list[type[Exception]] = []
        if self.zero_vector_invalid(vectors):
            errors.append(vectordb.InvalidVectorError)
        if len(set(ids)) != len(ids) or any(vector_id in self.model for vector_id in ids):
            errors.append(vectordb.DuplicateIdError)
        if errors:
            self.expect_failure(
                tuple(errors), lambda: self.c.add(vectors, ids=ids, metadata=metadata)
            )
            return
        assert self.c.add(vectors, ids=ids, metadata=metadata) == ids
        for vector_id, values, meta in batch:
            self.model[vector_id] = (as_vector(values), meta)

    @rule(vectors=st.lists(nonzero_vector_st, min_size=1, max_size=3), with_meta=st.booleans())
    def add_generated_ids(self, vectors: list[list[float]], with_meta: bool) -> None:
        metadata = [{"n": i} for i in range(len(vectors))] if with_meta else None
        ids = self.c.add(vectors, metadata=metadata)
        assert len(ids) == len(set(ids)) == len(vectors)
        for position, (vector_id, values) in enumerate(zip(ids, vectors)):
            assert isinstance(vector_id, str)
            assert vector_id not in self.model
            self.model[vector_id] = (as_vector(values), {"n": position} if with_meta else None)

    @rule(batch=st.lists(entry_st, min_size=1, max_size=4), metadata_none=st.booleans())
    def upsert(self, batch: list[tuple[str, list[float], Any]], metadata_none: bool) -> None:
        ids = [vector_id for vector_id, _, _ in batch]
        vectors = [values for _, values, _ in batch]
        metadata = self.metadata_arg([meta for _, _, meta in batch], metadata_none)
        errors: list[type[Exception]] = []
        if self.zero_vector_invalid(vectors):
            errors.append(vectordb.InvalidVectorError)
        if len(set(ids)) != len(ids):
            errors.append(vectordb.DuplicateIdError)
        if errors:
            self.expect_failure(
                tuple(errors), lambda: self.c.upsert(vectors, ids=ids, metadata=metadata)
            )
            return
        assert self.c.upsert(vectors, ids=ids, metadata=metadata) == ids
        for vector_id, values, meta in batch:
            self.model[vector_id] = (as_vector(values), meta)  # whole record replaced

    @rule(
        ids=st.lists(ids_st, min_size=1, max_size=4, unique=True),
        data=st.data(),
        kind=st.sampled_from(["vectors", "metadata", "both"]),
    )
    def update(self, ids: list[str], data: st.DataObject, kind: str) -> None:
        vectors = (
            data.draw(st.lists(vector_st, min_size=len(ids), max_size=len(ids)), label="vectors")
            if kind != "metadata"
            else None
        )
        metadata = (
            data.draw(st.lists(metadata_st, min_size=len(ids), max_size=len(ids)), label="meta")
            if kind != "vectors"
            else None
        )
        errors: list[type[Exception]] = []
        if vectors is not None and self.zero_vector_invalid(vectors):
            errors.append(vectordb.InvalidVectorError)
        if any(vector_id not in self.model for vector_id in ids):
            errors.append(vectordb.IdNotFoundError)
        merge = data.draw(st.booleans(), label="merge")
        if errors:
            self.expect_failure(
                tuple(errors),
                lambda: self.c.update(ids, vectors=vectors, metadata=metadata, merge=merge),
            )
            return
        assert self.c.update(ids, vectors=vectors, metadata=metadata, merge=merge) == len(ids)
        for position, vector_id in enumerate(ids):
            vector, meta = self.model[vector_id]
            if vectors is not None:
                vector = as_vector(vectors[position])
            given = None if metadata is None else metadata[position]
            if given is not None:  # a None entry leaves the record's metadata as it is
                meta = {**(meta or {}), **given} if merge else given
            self.model[vector_id] = (vector, meta)

    @rule(ids=repeated_ids_st)
    def repeated_ids_are_refused(self, ids: list[str]) -> None:
        vectors = [[1.0] * DIM] * len(ids)
        self.expect_failure((vectordb.DuplicateIdError,), lambda: self.c.upsert(vectors, ids=ids))
        self.expect_failure((vectordb.DuplicateIdError,), lambda: self.c.add(vectors, ids=ids))
        errors = (vectordb.DuplicateIdError, vectordb.IdNotFoundError)
        self.expect_failure(errors, lambda: self.c.update(ids, metadata=[None] * len(ids)))

    @rule(
        entry=entry_st,
        bad=st.sampled_from(["nan", "inf", "dim", "metadata", "ids"]),
        operation=st.sampled_from(["add", "upsert"]),
    )
    def invalid_batch_changes_nothing(
        self, entry: tuple[str, list[float], Any], bad: str, operation: str
    ) -> None:
        """A batch with one malformed element after a valid one is refused as a whole."""
        fresh = next((i for i in ID_POOL if i not in self.model), None)
        if fresh is None or fresh == entry[0]:
            return
        good_vector = [1.0] * DIM
        ids = [fresh, entry[0]]
        vectors: list[list[float]] = [good_vector, [2.0] * DIM]
        metadata: list[Any] = [{"ok": 1}, entry[2]]
        error: type[Exception] = vectordb.InvalidVectorError
        if bad == "nan":
            vectors[1] = [math.nan] + [1.0] * (DIM - 1)
        elif bad == "inf":
            vectors[1] = [1.0] * (DIM - 1) + [math.inf]
        elif bad == "dim":
            vectors = [[*good_vector, 1.0], [2.0] * (DIM + 1)]
            error = vectordb.DimensionMismatchError
        elif bad == "metadata":
            metadata[1] = {"bad": {1, 2}}  # sets are not storable
            error = vectordb.InvalidMetadataError
        else:
            ids[1] = ""  # empty ids are invalid
            error = vectordb.InvalidArgumentError
        errors: tuple[type[Exception], ...] = (error,)
        if operation == "add" and entry[0] in self.model:
            errors += (vectordb.DuplicateIdError,)  # either report is fine; nothing may change
        method = self.c.add if operation == "add" else self.c.upsert
        self.expect_failure(errors, lambda: method(vectors, ids=ids, metadata=metadata))

    @rule(ids=st.lists(ids_st, min_size=1, max_size=5), missing_ok=st.booleans())
    def delete(self, ids: list[str], missing_ok: bool) -> None:
        present = list(dict.fromkeys(i for i in ids if i in self.model))
        if not missing_ok and len(present) != len(set(ids)):
            self.expect_failure(
                (vectordb.IdNotFoundError,), lambda: self.c.delete(ids, missing_ok=missing_ok)
            )
            return
        assert self.c.delete(ids, missing_ok=missing_ok) == len(present)
        for vector_id in present:
            del self.model[vector_id]

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def delete_everything_then_add_back(self, data: st.DataObject) -> None:
        """Empties the collection (rows freed) and refills one record into a reused row."""
        ids = list(self.model)
        assert self.c.delete(ids) == len(ids)
        assert len(self.c) == 0
        assert self.c.search([1.0] * DIM, k=3) == []
        vector_id = data.draw(ids_st, label="id")
        values = data.draw(nonzero_vector_st, label="vector")
        self.c.add([values], ids=[vector_id])
        self.model = {vector_id: (as_vector(values), None)}

    @rule(
        steps=st.lists(transaction_step_st, min_size=1, max_size=4),
        abort=st.booleans(),
    )
    def transaction(self, steps: list[tuple[Any, ...]], abort: bool) -> None:
        """Several writes in one transaction: all applied, or - when one of them is refused
        or the block raises - none. Validation counts the block's own earlier writes."""
        assert self.db is not None
        pending = dict(self.model)
        refused: type[Exception] | None = None

        class Abort(Exception):
            pass

        def body() -> None:
            nonlocal refused
            assert self.db is not None
            with self.db.transaction():
                for step in steps:
                    kind, vector_id = step[0], step[1]
                    if kind in ("add", "upsert"):
                        if kind == "add" and vector_id in pending:
                            refused = vectordb.DuplicateIdError
                        write = self.c.add if kind == "add" else self.c.upsert
                        write([step[2]], ids=[vector_id], metadata=[step[3]])
                        pending[vector_id] = (as_vector(step[2]), step[3])
                    elif kind == "delete":
                        assert self.c.delete([vector_id], missing_ok=True) == int(
                            vector_id in pending
                        )
                        pending.pop(vector_id, None)
                    else:
                        if vector_id not in pending:
                            refused = vectordb.IdNotFoundError
                        self.c.update([vector_id], metadata=[step[2]])
                        if step[2] is not None:  # a None entry leaves the record as it is
                            vector, stored = pending[vector_id]
                            pending[vector_id] = (vector, {**(stored or {}), **step[2]})
                if abort:
                    raise Abort

        before = self.snapshot()
        raised: BaseException | None = None
        try:
            body()
        except (vectordb.DuplicateIdError, vectordb.IdNotFoundError, Abort) as error:
            raised = error
        if raised is None:
            assert refused is None, f"a write that must be refused went through: {refused}"
            self.model = pending
            return
        expected = Abort if refused is None else refused
        assert type(raised) is expected, (raised, expected)
        self.assert_unchanged(before)

    # ------------------------------------------------------------------ lifecycle
    @rule()
    def checkpoint(self) -> None:
        assert self.db is not None
        self.db.checkpoint()

    @rule(config=config_st)
    def close_and_reopen(self, config: dict[str, Any]) -> None:
        assert self.db is not None
        self.db.close()
        self.db = None
        self.collection = None
        self.db = vectordb.open(self.path, config=config)
        self.collection = self.db.get_collection(NAME)
        assert self.c.metric == self.metric
        assert self.c.dim == DIM

    @rule(config=config_st)
    def reopen_read_only_and_back(self, config: dict[str, Any]) -> None:
        assert self.db is not None
        self.db.close()
        self.db = None
        self.collection = None
        reader = vectordb.open(self.path, read_only=True)
        try:
            self.collection = reader.get_collection(NAME)
            self.check_against_model()
            with pytest.raises(vectordb.ReadOnlyError):
                self.c.upsert([[1.0] * DIM], ids=[ID_POOL[0]])
            with pytest.raises(vectordb.ReadOnlyError):
                self.c.delete(ID_POOL, missing_ok=True)
            with pytest.raises(vectordb.ReadOnlyError):
                reader.checkpoint()
        finally:
            self.collection = None
            reader.close()
        self.db = vectordb.open(self.path, config=config)
        self.collection = self.db.get_collection(NAME)

    @rule()
    def check_files(self) -> None:
        assert self.db is not None
        assert self.db.check() == []

    # ------------------------------------------------------------------ the invariant
    @invariant()
    def matches_model(self) -> None:
        if self.collection is None:  # before initialize
            return
        self.check_against_model()

    def check_against_model(self) -> None:
        c = self.c
        model = self.model
        assert len(c) == len(model)
        assert c.count() == len(model)
        for vector_id in ID_POOL:
            assert (vector_id in c) == (vector_id in model), vector_id
        assert 42 not in c  # type: ignore[operator]
        # get() for a sample, get_many() for everything plus unknown ids and a repeat
        for vector_id in ID_POOL[:4]:
            record = c.get(vector_id)
            if vector_id in model:
                assert record is not None
                assert record.id == vector_id
                assert record.vector.dtype == np.float32
                np.testing.assert_array_equal(record.vector, model[vector_id][0])
                assert record.metadata == model[vector_id][1]
            else:
                assert record is None
        asked = [*model, "never-stored", *list(model)[:1]]
        for vector_id, record in zip(asked, c.get_many(asked)):
            if vector_id in model:
                assert record is not None
                np.testing.assert_array_equal(record.vector, model[vector_id][0])
                assert record.metadata == model[vector_id][1]
            else:
                assert record is None
        # ids(): the whole list, and pages of every small size, cover exactly the model
        everything = c.ids()
        assert len(everything) == len(set(everything)) == len(model)
        assert set(everything) == set(model)
        for page_size in (1, 2, 3):
            paged: list[str] = []
            offset = 0
            while True:
                page = c.ids(offset=offset, limit=page_size)
                assert len(page) <= page_size
                if not page:
                    break
                paged.extend(page)
                offset += page_size
            assert paged == everything
        assert c.ids(offset=len(model) + 3) == []
        assert c.ids(limit=0) == []
        self.check_search()

    def check_search(self) -> None:
        c = self.c
        queries = np.array(
            [[1.0, 0.5, -0.5, 0.0], [-2.0, 1.0, 3.0, 0.5], [0.5, 0.5, 0.5, 0.5]], np.float32
        )
        k_values = (1, 3, len(self.model) + 2)
        for mode in ("scalar", "numpy", "numba"):
            for k in k_values:
                batch = c.search_batch(queries, k=k, mode=mode)
                assert len(batch) == len(queries)
                for query, hits in zip(queries, batch):
                    self.check_hits(query, k, hits, mode)
                    single = c.search(query, k=k, include=("metadata", "vector"), mode=mode)
                    if self.index != "hnsw" or mode == "scalar":
                        assert [h.id for h in single] == [h.id for h in hits]
                    else:
                        # a graph search may return either of two records with equal scores
                        # (duplicate vectors) at the k-th place: the scores must agree
                        self.check_hits(query, k, single, mode, with_vectors=True)
                        assert [h.score for h in single] == pytest.approx(
                            [h.score for h in hits], rel=2e-5, abs=2e-5
                        )
                    for hit in single:
                        np.testing.assert_array_equal(hit.vector, self.model[hit.id][0])
                        assert hit.metadata == self.model[hit.id][1]

    def check_hits(
        self,
        query: np.ndarray,
        k: int,
        hits: list[vectordb.Hit],
        mode: str,
        *,
        with_vectors: bool = False,
    ) -> None:
        model = self.model
        assert len(hits) == min(k, len(model)), mode
        if not model:
            return
        truth = brute_force_scores(model, query, self.metric)
        expected = sorted(truth.values(), reverse=self.metric != "euclidean")[:k]
        hit_ids = [hit.id for hit in hits]
        assert len(set(hit_ids)) == len(hit_ids), (mode, hit_ids)
        # exact scans score in float64; HNSW graph hits carry hnswlib's float32 distances
        tolerance = 1e-9 if self.index != "hnsw" or mode == "scalar" else 2e-5
        for hit in hits:
            assert hit.id in model, (mode, hit.id)
            assert hit.metadata == model[hit.id][1]
            assert (hit.vector is not None) == with_vectors  # only when asked for
            # each hit carries its own true score ...
            assert hit.score == pytest.approx(truth[hit.id], rel=tolerance, abs=tolerance), (
                mode,
                hit,
            )
        # ... and the hits' scores are the k best, best first: so among records with
        # distinct scores the ids are exactly the brute-force ones (ties may come in any order)
        got = [hit.score for hit in hits]
        assert got == pytest.approx(expected, rel=tolerance, abs=tolerance), (mode, hit_ids)


def brute_force_scores(model: Model, query: np.ndarray, metric: str) -> dict[str, float]:
    ids = list(model)
    stored = np.array([model[i][0] for i in ids], dtype=np.float64)
    q = query.astype(np.float64)
    if metric == "euclidean":
        scores = np.sqrt(((stored - q) ** 2).sum(axis=1))
    elif metric == "cosine":
        scores = stored @ q / (np.linalg.norm(stored, axis=1) * np.linalg.norm(q))
    else:
        scores = stored @ q
    return dict(zip(ids, scores.tolist()))


_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}

TestCollectionStateMachine = CollectionMachine.TestCase
TestCollectionStateMachine.settings = settings(max_examples=60, stateful_step_count=30, **_COMMON)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # many examples, half of them HNSW collections: beyond the 600 s default
def test_collection_state_machine_many_examples(request: pytest.FixtureRequest) -> None:
    """The same machine with many more and longer runs (``pytest -m slow``)."""
    if "slow" not in (request.config.option.markexpr or "") and not os.environ.get("VECTORDB_SLOW"):
        pytest.skip("long run: select it with -m slow or VECTORDB_SLOW=1")
    run_state_machine_as_test(
        CollectionMachine,
        settings=settings(max_examples=1000, stateful_step_count=60, **_COMMON),
    )
