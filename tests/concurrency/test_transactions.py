"""Transactions: all or nothing, across collections, validated against their own writes,
serializable, and refused when misused; plus idempotency keys."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from internals import simulate_crash

import vectordb


@pytest.fixture
def db(tmp_path: Path):
    with vectordb.open(tmp_path / "db") as database:
        yield database


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 4)).astype(np.float32)


def _snapshot(collection: vectordb.Collection) -> dict[str, tuple[bytes, object]]:
    ids = collection.ids()
    records = collection.get_many(ids) if ids else []
    return {r.id: (r.vector.tobytes(), r.metadata) for r in records if r is not None}


def test_commit_applies_every_write_across_two_collections(db: vectordb.Database) -> None:
    docs = db.create_collection("docs", dim=4)
    chunks = db.create_collection("chunks", dim=4, index="hnsw")
    docs.add(_vectors(3), ids=["a", "b", "c"], metadata=[{"v": 1}, None, None])
    with db.transaction() as txn:
        docs.add(_vectors(2, 1), ids=["d", "e"])
        docs.delete(["b"])
        docs.update(["a"], metadata={"v": 2})
        chunks.add(_vectors(4, 2), ids=["c0", "c1", "c2", "c3"])
        chunks.delete(["c1"])
        assert txn.state == "open"
        assert docs.get("d") is None and len(chunks) == 0  # reads see the committed state
    assert txn.state == "committed" and txn.lsn is not None
    assert sorted(docs.ids()) == ["a", "c", "d", "e"]
    assert docs.get("a").metadata == {"v": 2}
    assert sorted(chunks.ids()) == ["c0", "c2", "c3"]
    np.testing.assert_array_equal(chunks.get("c2").vector, _vectors(4, 2)[2])
    assert chunks.search(_vectors(4, 2)[3], k=1)[0].id == "c3"


def test_an_exception_discards_every_write(db: vectordb.Database) -> None:
    docs = db.create_collection("docs", dim=4)
    other = db.create_collection("other", dim=4)
    docs.add(_vectors(2), ids=["a", "b"])
    before, before_other = _snapshot(docs), _snapshot(other)
    txn = db.transaction()

    def failing_body() -> None:
        with txn:
            docs.add(_vectors(1, 3), ids=["new"])
            docs.delete(["a"])
            other.upsert(_vectors(1, 4), ids=["x"])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_body()
    assert txn.state == "rolled back"
    assert _snapshot(docs) == before and _snapshot(other) == before_other

    def failing_write() -> None:  # a failed write rolls back the ones before it too
        with db.transaction():
            docs.add(_vectors(1, 5), ids=["fresh"])
            docs.add(_vectors(1, 6), ids=["b"])

    with pytest.raises(vectordb.DuplicateIdError):
        failing_write()
    assert _snapshot(docs) == before
    # and the rows the discarded writes planned are used by the next ones
    docs.add(_vectors(3, 7), ids=["p", "q", "r"])
    assert len(docs) == 5 and docs.get("q") is not None


def test_rollback_discards_and_later_writes_are_refused(db: vectordb.Database) -> None:
    docs = db.create_collection("docs", dim=4)
    with db.transaction() as txn:
        docs.add(_vectors(1), ids=["a"])
        txn.rollback()
        with pytest.raises(vectordb.TransactionError, match="rolled back"):
            docs.add(_vectors(1), ids=["b"])
    assert len(docs) == 0
    with pytest.raises(vectordb.TransactionError, match="rolled back"):
        txn.rollback()
    with pytest.raises(vectordb.TransactionError, match="start a new one"), txn:
        pass
    docs.add(_vectors(1), ids=["after"])  # outside any transaction again
    assert docs.ids() == ["after"]


def test_validation_counts_the_transactions_own_writes(db: vectordb.Database) -> None:
    docs = db.create_collection("docs", dim=4)
    docs.add(_vectors(2), ids=["a", "b"], metadata=[{"k": "old"}, {"k": "x"}])
    with db.transaction():
        docs.add(_vectors(1, 1), ids=["n"], metadata={"k": "x"})
        with pytest.raises(vectordb.DuplicateIdError):
            docs.add(_vectors(1, 2), ids=["n"])  # added earlier in this transaction
        docs.delete(["a"])
        with pytest.raises(vectordb.IdNotFoundError):
            docs.update(["a"], metadata={"k": 1})  # deleted earlier in this transaction
        docs.add(_vectors(1, 3), ids=["a"], metadata={"k": "again"})  # free to add again
        docs.update(["n"], vectors=_vectors(1, 4))  # vector only: keeps n's pending metadata
        assert docs.delete(where={"k": "x"}) == 2  # b (committed) and n (pending)
    assert sorted(docs.ids()) == ["a"]
    assert docs.get("a").metadata == {"k": "again"}


def test_rows_planned_in_a_transaction_do_not_collide(db: vectordb.Database) -> None:
    docs = db.create_collection("docs", dim=4, initial_capacity=2)
    data = _vectors(40, 9)
    with db.transaction():
        for i in range(0, 40, 4):  # grows the vector file several times
            docs.add(data[i : i + 4], ids=[str(j) for j in range(i, i + 4)])
    records = docs.get_many([str(i) for i in range(40)])
    for i, record in enumerate(records):
        assert record is not None
        np.testing.assert_array_equal(record.vector, data[i])


def test_nested_and_foreign_thread_use_are_refused(db: vectordb.Database) -> None:
    docs = db.create_collection("docs", dim=4)
    with db.transaction() as txn:
        with pytest.raises(vectordb.TransactionError, match="nested"), db.transaction():
            pass
        errors: list[BaseException] = []

        def misuse() -> None:
            try:
                txn.rollback()
            except BaseException as error:
                errors.append(error)

        thread = threading.Thread(target=misuse)
        thread.start()
        thread.join()
        assert isinstance(errors[0], vectordb.TransactionError)
        assert "thread" in str(errors[0])
        docs.add(_vectors(1), ids=["kept"])
    assert docs.ids() == ["kept"]


def test_other_threads_wait_for_the_transaction(tmp_path: Path) -> None:
    """Serializable: a write from another thread waits until the transaction ends (and a
    reader never waits); with a short lock_timeout it gives up with LockTimeoutError."""
    with vectordb.open(tmp_path / "db", config={"lock_timeout": 0.3}) as db:
        docs = db.create_collection("docs", dim=4)
        docs.add(_vectors(1), ids=["a"])
        outcome: dict[str, object] = {}

        def write() -> None:
            try:
                docs.add(_vectors(1, 1), ids=["other"])
                outcome["write"] = "done"
            except vectordb.LockTimeoutError:
                outcome["write"] = "timeout"

        def read() -> None:
            outcome["read"] = len(docs)

        with db.transaction():
            docs.add(_vectors(1, 2), ids=["t"])
            writer, reader = threading.Thread(target=write), threading.Thread(target=read)
            writer.start()
            reader.start()
            reader.join(timeout=5)
            assert outcome["read"] == 1  # answered at once, without the pending write
            writer.join(timeout=5)
            assert outcome["write"] == "timeout"
        assert sorted(docs.ids()) == ["a", "t"]


def test_counter_increments_in_threads_lose_nothing(db: vectordb.Database) -> None:
    docs = db.create_collection("docs", dim=4)
    docs.add(_vectors(1), ids=["counter"], metadata={"n": 0})

    def increment() -> None:
        for _ in range(25):
            with db.transaction():
                n = docs.get("counter").metadata["n"]
                time.sleep(0.0005)  # widen the read-then-write window
                docs.update("counter", metadata={"n": n + 1})

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert docs.get("counter").metadata == {"n": 100}


def test_committed_transaction_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        a, b = db.create_collection("a", dim=4), db.create_collection("b", dim=4)
        with db.transaction():
            a.add(_vectors(2), ids=["x", "y"])
            b.add(_vectors(1, 1), ids=["z"])
            a.delete(["y"])
        expected = (_snapshot(a), _snapshot(b))
        simulate_crash(db, "simulated crash: no checkpoint at close")
    with vectordb.open(path) as db:  # replayed from the one txn record
        assert (_snapshot(db.get_collection("a")), _snapshot(db.get_collection("b"))) == expected


def test_read_only_database_refuses_transactions(tmp_path: Path) -> None:
    vectordb.open(tmp_path / "db").close()
    with (
        vectordb.open(tmp_path / "db", read_only=True) as db,
        pytest.raises(vectordb.ReadOnlyError),
    ):
        db.transaction()


# --------------------------------------------------------------------- idempotency keys
def test_a_retried_add_is_applied_once_and_returns_the_first_ids(db: vectordb.Database) -> None:
    docs = db.create_collection("docs", dim=4)
    first = docs.add(_vectors(3), idempotency_key="req-1")  # generated ids
    again = docs.add(_vectors(3), idempotency_key="req-1")
    assert again == first and len(docs) == 3
    assert docs.delete(first[:2], idempotency_key="del-1") == 2
    assert docs.delete(first[:2], idempotency_key="del-1") == 2  # not IdNotFoundError
    assert len(docs) == 1
    docs.update(first[2], metadata={"v": 1}, idempotency_key="upd-1")
    docs.update(first[2], metadata={"v": 1}, idempotency_key="upd-1")
    assert docs.get(first[2]).metadata == {"v": 1}
    with pytest.raises(vectordb.IdempotencyKeyReuseError, match="different request"):
        docs.add(_vectors(3, 1), idempotency_key="req-1")
    with pytest.raises(vectordb.InvalidArgumentError, match="idempotency_key"):
        docs.add(_vectors(1), idempotency_key="")
    assert len(docs) == 1


def test_idempotency_keys_outlive_checkpoints_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=4)
        ids = docs.add(_vectors(2), idempotency_key="before-checkpoint")
        db.checkpoint()
        docs.upsert(_vectors(1, 1), ids=["u"], idempotency_key="in-the-log")
        simulate_crash(db, "simulated crash: the key is only in the log")
    with vectordb.open(path) as db:
        docs = db.get_collection("docs")
        assert docs.add(_vectors(2), idempotency_key="before-checkpoint") == ids
        assert docs.upsert(_vectors(1, 1), ids=["u"], idempotency_key="in-the-log") == ["u"]
        assert len(docs) == 3
    with vectordb.open(path) as db:  # after the close's checkpoint: from the saved table
        docs = db.get_collection("docs")
        assert docs.add(_vectors(2), idempotency_key="before-checkpoint") == ids


def test_idempotency_keys_expire_after_the_window(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db", config={"idempotency_window": 0.2}) as db:
        docs = db.create_collection("docs", dim=4)
        first = docs.add(_vectors(1), idempotency_key="k")
        time.sleep(0.3)
        second = docs.add(_vectors(1), idempotency_key="k")  # a new request now
        assert first != second and len(docs) == 2


def test_a_retried_transaction_is_applied_once(db: vectordb.Database) -> None:
    docs = db.create_collection("docs", dim=4)
    for attempt in range(2):
        with db.transaction(idempotency_key="txn-1") as txn:
            assert txn.already_applied == (attempt == 1)
            docs.add(_vectors(2), ids=["a", "b"])  # no DuplicateIdError on the retry:
            docs.delete(["a"])  # validated against the state, then discarded
    assert docs.ids() == ["b"]

    def different_retry() -> None:
        with db.transaction(idempotency_key="txn-1"):
            docs.add(_vectors(1, 5), ids=["different"])

    with pytest.raises(vectordb.IdempotencyKeyReuseError):
        different_retry()
    assert docs.ids() == ["b"]

    def keyed_inside() -> None:
        with db.transaction():
            docs.add(_vectors(1), ids=["c"], idempotency_key="inner")

    with pytest.raises(vectordb.TransactionError, match="give the key to transaction"):
        keyed_inside()


def test_structure_changes_are_refused_inside_a_transaction(
    db: vectordb.Database, tmp_path: Path
) -> None:
    docs = db.create_collection("docs", dim=4)
    docs.add(_vectors(2), ids=["a", "b"])
    with db.transaction():
        docs.add(_vectors(1, 1), ids=["c"])
        for call in (
            db.checkpoint,
            docs.compact,
            lambda: db.create_collection("new", dim=4),
            lambda: db.drop_collection("docs"),
            lambda: db.backup(tmp_path / "backup"),
        ):
            with pytest.raises(vectordb.TransactionError, match="inside a transaction"):
                call()
    assert sorted(docs.ids()) == ["a", "b", "c"] and "new" not in db


def test_a_keyed_transaction_stays_applied_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        docs = db.create_collection("docs", dim=4)
        with db.transaction(idempotency_key="once"):
            docs.add(_vectors(1), ids=["x"])
        simulate_crash(db, "simulated crash: the key is only in the log")
    with vectordb.open(path) as db:
        with db.transaction(idempotency_key="once") as txn:
            assert txn.already_applied
            db.get_collection("docs").add(_vectors(1), ids=["x"])
        assert db.get_collection("docs").ids() == ["x"]
