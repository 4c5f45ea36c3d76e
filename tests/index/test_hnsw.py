"""HNSW collections: recall, freshness through the delta scan, deletes, persistence, fallback."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from internals import index_of, state_of

import vectordb
from tests.index.data import clustered, recall_at_10


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_recall_with_default_parameters_on_20k_clustered(
    tmp_path: Path, rng: np.random.Generator, metric: str
) -> None:
    points = clustered(rng, 20_050, 32)
    data, queries = points[:20_000], points[20_000:]  # held-out queries, same distribution
    with vectordb.open(tmp_path / "db", config={"durability": "normal"}) as db:
        collection = db.create_collection("c", dim=32, metric=metric, index="hnsw")
        collection.add(data, ids=[f"v{i}" for i in range(len(data))])
        assert collection.wait_indexed(timeout=300)
        info = collection.stats().index_info
        assert info is not None and info["indexed"] == 20_000 and info["pending"] == 0
        assert recall_at_10(collection, queries) >= 0.95


def test_scores_match_exact_search(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.standard_normal((500, 8)).astype(np.float32)
    with vectordb.open(tmp_path / "db") as db:
        for metric in ("cosine", "euclidean", "dot"):
            collection = db.create_collection(metric, dim=8, metric=metric, index="hnsw")
            collection.add(data, ids=[str(i) for i in range(500)])
            collection.wait_indexed(timeout=60)
            query = rng.standard_normal(8)
            ann = collection.search(query, k=5, ef=500)
            exact = collection.search(query, k=5, exact=True)
            assert [h.id for h in ann] == [h.id for h in exact]
            np.testing.assert_allclose([h.score for h in ann], [h.score for h in exact], rtol=1e-4)


def test_write_is_searchable_before_the_indexer_reaches_it(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=16, metric="euclidean", index="hnsw")
        collection.add(rng.standard_normal((2000, 16)), ids=[f"old{i}" for i in range(2000)])
        assert collection.wait_indexed(timeout=60)
        index_of(collection).stop()  # type: ignore[union-attr]  # freeze the indexer
        fresh = rng.standard_normal((20, 16)).astype(np.float32) + 10
        collection.add(fresh, ids=[f"new{i}" for i in range(20)])
        info = collection.stats().index_info
        assert info is not None and info["pending"] == 20
        for i, vector in enumerate(fresh):
            hit = collection.search(vector, k=1)[0]
            assert hit.id == f"new{i}"
            assert hit.score == pytest.approx(0.0, abs=1e-3)
        # an upsert of an indexed record: the old vector must not answer for it any more
        moved = rng.standard_normal(16).astype(np.float32) - 10
        old_vector = collection.get("old7").vector  # type: ignore[union-attr]
        collection.upsert(moved[None, :], ids=["old7"])
        assert collection.search(moved, k=1)[0].id == "old7"
        assert "old7" not in {h.id for h in collection.search(old_vector, k=3)}
        index_of(collection).start()  # type: ignore[union-attr]
        assert collection.wait_indexed(timeout=60)
        assert collection.search(fresh[3], k=1)[0].id == "new3"
        assert collection.search(moved, k=1)[0].id == "old7"


def test_deleted_ids_are_never_returned(tmp_path: Path, rng: np.random.Generator) -> None:
    data = clustered(rng, 3000, 16)
    ids = [f"v{i}" for i in range(3000)]
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=16, index="hnsw")
        collection.add(data, ids=ids)
        collection.wait_indexed(timeout=60)
        deleted = set(ids[::2])
        collection.delete(sorted(deleted))
        for phase in ("before the indexer caught up", "after"):
            for query in data[:50]:
                hits = collection.search(query, k=10)
                assert len(hits) == 10, phase
                assert not deleted & {h.id for h in hits}, phase
            collection.wait_indexed(timeout=60)
        # deleted rows are reused by later adds, which must then be found under the new ids
        collection.add(data[:100], ids=[f"again{i}" for i in range(100)])
        assert collection.search(data[5], k=1)[0].id in {"again5", "v5"}


def test_index_survives_close_and_reopen(tmp_path: Path, rng: np.random.Generator) -> None:
    points = clustered(rng, 4020, 16)
    data, queries = points[:4000], points[4000:]
    path = tmp_path / "db"
    with vectordb.open(path) as db:
        collection = db.create_collection("c", dim=16, index="hnsw", hnsw={"M": 8})
        collection.add(data, ids=[f"v{i}" for i in range(4000)])
        collection.delete([f"v{i}" for i in range(0, 4000, 7)])
        collection.wait_indexed(timeout=60)
        before = [[h.id for h in collection.search(q, k=10)] for q in queries]
    assert any((path / "collections" / "c" / "index").glob("hnsw-*.bin"))
    with vectordb.open(path) as db:
        collection = db.get_collection("c")
        info = collection.stats().index_info
        assert info is not None
        assert info["fallback"] is None and info["pending"] == 0 and info["M"] == 8
        assert info["indexed"] == len(collection)
        after = [[h.id for h in collection.search(q, k=10)] for q in queries]
    assert after == before


def test_log_tail_after_checkpoint_reaches_the_index(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """Writes after the last checkpoint live only in the log; replay must feed them to the
    index (as pending rows) so they are searchable after a crash-style reopen."""
    path = tmp_path / "db"
    data = rng.standard_normal((600, 8)).astype(np.float32)
    db = vectordb.open(path, config={"checkpoint_records": 1_000_000})
    collection = db.create_collection("c", dim=8, metric="euclidean", index="hnsw")
    collection.add(data[:500], ids=[str(i) for i in range(500)])
    db.checkpoint()
    collection.add(data[500:], ids=[str(i) for i in range(500, 600)])
    collection.delete(["3"])
    # simulate a crash: copy the files as they are now (the log holds the tail)
    import shutil

    shutil.copytree(path, tmp_path / "copy")
    db.close()
    with vectordb.open(tmp_path / "copy") as copy:
        collection = copy.get_collection("c")
        assert len(collection) == 599
        assert collection.search(data[550], k=1)[0].id == "550"
        assert "3" not in {h.id for h in collection.search(data[3], k=5)}
        collection.wait_indexed(timeout=60)
        assert collection.search(data[550], k=1)[0].id == "550"


def test_damaged_graph_file_falls_back_to_exact_and_rebuilds(
    tmp_path: Path, rng: np.random.Generator, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "db"
    data = rng.standard_normal((1500, 8)).astype(np.float32)
    with vectordb.open(path) as db:
        collection = db.create_collection("c", dim=8, metric="euclidean", index="hnsw")
        collection.add(data, ids=[str(i) for i in range(1500)])
        collection.wait_indexed(timeout=60)
    (graph,) = (path / "collections" / "c" / "index").glob("hnsw-*.bin")
    raw = bytearray(graph.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    graph.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="vectordb"), vectordb.open(path) as db:
        collection = db.get_collection("c")
        assert any("checksum" in record.getMessage() for record in caplog.records)
        for i in (0, 700, 1499):
            assert collection.search(data[i], k=1)[0].id == str(i)
        assert collection.wait_indexed(timeout=60)
        info = collection.stats().index_info
        assert info is not None and info["indexed"] == 1500
    with vectordb.open(path) as db:  # the rebuilt graph was saved at close
        info = db.get_collection("c").stats().index_info
        assert info is not None and info["fallback"] is None and info["pending"] == 0


def test_hnsw_parameters_are_validated(tmp_path: Path) -> None:
    with vectordb.open(tmp_path / "db") as db:
        with pytest.raises(vectordb.InvalidConfigError, match="M must be"):
            db.create_collection("a", dim=4, index="hnsw", hnsw={"M": 1000})
        with pytest.raises(vectordb.InvalidConfigError, match="unknown hnsw config"):
            db.create_collection("b", dim=4, index="hnsw", hnsw={"m": 16})
        with pytest.raises(vectordb.InvalidConfigError, match="need index='hnsw'"):
            db.create_collection("c", dim=4, index="flat", hnsw={"M": 16})
        collection = db.create_collection("d", dim=4, index="hnsw")
        collection.add([[1, 2, 3, 4]], ids=["x"])
        with pytest.raises(vectordb.InvalidArgumentError, match="ef must be"):
            collection.search([1, 2, 3, 4], ef=0)
        assert db.list_collections()[0].config["hnsw"] == {
            "M": 16,
            "ef_construction": 200,
            "ef_search": 64,
        }
        assert collection.search([1, 2, 3, 4], k=3)[0].id == "x"


def test_k_hits_come_back_after_heavy_deletes(tmp_path: Path, rng: np.random.Generator) -> None:
    """A graph cut up by deletions must not return fewer than k hits while k records exist."""
    data = rng.standard_normal((2000, 8)).astype(np.float32)
    ids = [str(i) for i in range(2000)]
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=8, metric="euclidean", index="hnsw")
        collection.add(data, ids=ids)
        collection.wait_indexed(timeout=60)
        survivors = set(ids[::40])  # 50 of 2000 remain
        collection.delete(sorted(set(ids) - survivors))
        for _ in range(2):
            for query in data[:30]:
                hits = collection.search(query, k=20, include=())
                assert len(hits) == 20
                assert {h.id for h in hits} <= survivors
            all_hits = collection.search(data[0], k=100, include=())
            assert {h.id for h in all_hits} == survivors
            collection.wait_indexed(timeout=60)


def test_reused_row_saved_before_reindexing_is_not_trusted(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """A row freed by a delete is reused at once by the next add; if a checkpoint saves the
    graph before the indexer re-added that row, the graph still holds the old vector for it.
    After reopening, searches must find the new record by its new vector, not the old one."""
    path = tmp_path / "db"
    base = rng.standard_normal((300, 8)).astype(np.float32)
    old = np.full(8, 5.0, np.float32)
    new = np.full(8, -5.0, np.float32)
    with vectordb.open(path) as db:
        collection = db.create_collection("c", dim=8, metric="euclidean", index="hnsw")
        collection.add(base, ids=[f"b{i}" for i in range(300)])
        db.checkpoint()
        collection.add(old[None, :], ids=["old"])
        assert collection.wait_indexed(timeout=60)
        index_of(collection).stop()  # type: ignore[union-attr]  # freeze the indexer
        collection.delete(["old"])
        collection.add(new[None, :], ids=["new"])  # takes the row "old" had
        db.checkpoint()
    with vectordb.open(path) as db:
        collection = db.get_collection("c")
        for _ in range(2):
            assert collection.search(new, k=1)[0].id == "new"
            assert collection.search(new, k=1)[0].score == pytest.approx(0.0, abs=1e-4)
            assert "new" not in {h.id for h in collection.search(old, k=1)}
            collection.wait_indexed(timeout=60)


def test_deleted_elements_make_room_for_later_adds(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """Churn (delete, then add under new ids) must not grow the graph without bound: rows freed
    by deletes are reused after the next checkpoint, and the graph overwrites the element of a
    reused row (its label) instead of adding one; searches stay correct throughout."""
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=8, metric="euclidean", index="hnsw")
        index = index_of(collection)
        assert index is not None
        live: dict[str, np.ndarray] = {}
        for round_ in range(6):
            vectors = rng.standard_normal((500, 8)).astype(np.float32)
            ids = [f"r{round_}-{i}" for i in range(500)]
            collection.add(vectors, ids=ids)
            live.update(zip(ids, vectors))
            db.checkpoint()  # frees the rows deleted before it for reuse
            assert collection.wait_indexed(timeout=60)
            if round_ >= 1:
                victims = [f"r{round_ - 1}-{i}" for i in range(500)]
                collection.delete(victims)
                for victim in victims:
                    del live[victim]
                assert collection.wait_indexed(timeout=60)
        assert len(collection) == len(live) == 500
        assert index.structure.element_count() <= 1500  # not 3000: deleted elements reused
        for vector_id, vector in list(live.items())[:50]:
            assert collection.search(vector, k=1, include=())[0].id == vector_id
    with vectordb.open(tmp_path / "db") as db:  # and the reused graph reloads correctly
        collection = db.get_collection("c")
        info = collection.stats().index_info
        assert info is not None and info["fallback"] is None and info["pending"] == 0
        for vector_id, vector in list(live.items())[-50:]:
            assert collection.search(vector, k=1, include=())[0].id == vector_id


def test_rebuild_index_drops_deleted_elements_and_keeps_answering(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    import threading

    data = rng.standard_normal((4000, 8)).astype(np.float32)
    ids = [str(i) for i in range(4000)]
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=8, metric="euclidean", index="hnsw")
        collection.add(data, ids=ids)
        collection.wait_indexed(timeout=60)
        index = index_of(collection)
        assert index is not None
        index.stop()  # no automatic rebuild: this test calls rebuild_index() itself
        collection.delete(ids[:3000])
        index.index_some()  # marks the 3000 deleted
        assert index.structure.element_count() == 4000
        index.start()
        failures: list[str] = []
        extra = (rng.standard_normal((200, 8)) + 20).astype(np.float32)

        def write_during_rebuild() -> None:
            for i in range(0, 200, 20):
                collection.add(extra[i : i + 20], ids=[f"x{j}" for j in range(i, i + 20)])
                hit = collection.search(extra[i], k=1, include=())[0]
                if hit.id != f"x{i}":
                    failures.append(f"x{i} not found during rebuild: {hit}")

        writer = threading.Thread(target=write_during_rebuild)
        writer.start()
        collection.rebuild_index()
        writer.join()
        assert not failures, failures
        assert collection.wait_indexed(timeout=60)
        assert index.structure.element_count() < 2000  # the 3000 deleted elements are gone
        info = collection.stats().index_info
        assert info is not None and info["indexed"] == 1200 and info["pending"] == 0
        for i in (3000, 3500, 3999):
            assert collection.search(data[i], k=1, include=())[0].id == str(i)
        for i in (0, 50, 199):
            assert collection.search(extra[i], k=1, include=())[0].id == f"x{i}"
        deleted = set(ids[:3000])
        for query in data[:20]:
            assert not deleted & {h.id for h in collection.search(query, k=10, include=())}
    with vectordb.open(tmp_path / "db") as db:
        assert db.get_collection("c").search(extra[7], k=1)[0].id == "x7"


def test_graph_is_rebuilt_automatically_when_tombstones_outnumber_live_elements(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    data = rng.standard_normal((3000, 8)).astype(np.float32)
    ids = [str(i) for i in range(3000)]
    with vectordb.open(tmp_path / "db") as db:
        collection = db.create_collection("c", dim=8, metric="euclidean", index="hnsw")
        collection.add(data, ids=ids)
        assert collection.wait_indexed(timeout=60)
        index = index_of(collection)
        assert index is not None and index.structure.element_count() == 3000
        collection.delete(ids[:2000])
        import time

        deadline = time.monotonic() + 60
        while index.structure.element_count() > 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert index.structure.element_count() == 1000
        assert collection.wait_indexed(timeout=60)
        for i in (2000, 2500, 2999):
            assert collection.search(data[i], k=1)[0].id == ids[i]


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_filtered_graph_walk_keeps_only_allowed_rows_and_finds_the_best(
    rng: np.random.Generator, metric: str
) -> None:
    """The compiled walk over a copy of hnswlib's links: every hit is allowed, scores are
    the exact ones, recall@10 against brute force over the allowed rows >= 0.95 from 10 %
    to 100 % of rows allowed."""
    import hnswlib

    from vectordb.config import Metric
    from vectordb.index.flat import exact_search
    from vectordb.index.hnsw import GraphLinks

    points = clustered(rng, 6_040, 16)
    data, queries = points[:6_000], points[6_000:]
    space = {"cosine": "cosine", "euclidean": "l2", "dot": "ip"}[metric]
    graph = hnswlib.Index(space=space, dim=16)
    graph.init_index(max_elements=6_000, M=16, ef_construction=200, random_seed=100)
    rows = rng.permutation(6_000)  # labels are rows, inserted in another order
    graph.add_items(data[rows], rows.astype(np.uint64))
    links = GraphLinks(graph)
    assert links.size == 6_000 and links.covered.all()
    sq_norms = np.einsum("ij,ij->i", data, data).astype(np.float32)
    kind = Metric(metric)
    for share in (0.1, 0.5, 0.9, 1.0):
        accept = rng.random(6_000) < share
        got_rows, got_scores, counts = links.search(data, sq_norms, accept, queries, 10, 256, kind)
        truth_rows, _ = exact_search(data, accept, sq_norms, queries, 10, kind, mode="scalar")
        assert (counts == 10).all()
        assert accept[got_rows].all()
        found = sum(len(set(g) & set(t)) for g, t in zip(got_rows, truth_rows))
        assert found / truth_rows.size >= 0.95, (share, found / truth_rows.size)
        # each returned score is the exact score of its row for its query
        for q, (line, line_scores) in enumerate(zip(got_rows, got_scores)):
            picked = np.zeros(6_000, np.bool_)
            picked[line] = True
            want_rows, want = exact_search(data, picked, sq_norms, queries[q : q + 1], 10, kind,
                                           mode="scalar")  # fmt: skip
            np.testing.assert_array_equal(line, want_rows[0])
            np.testing.assert_allclose(line_scores, want[0], rtol=1e-9, atol=1e-9)


def test_filtered_walk_scans_rows_changed_since_its_copy(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """Rows the graph re-inserted after the walk's copy of its links are not trusted from
    the copy: they are scanned exactly, so a moved vector is found where it is now."""
    from vectordb.index.background import SearchKnobs

    data = rng.standard_normal((3_000, 8)).astype(np.float32)
    with vectordb.open(tmp_path / "db") as db:
        docs = db.create_collection("docs", dim=8, index="hnsw")
        docs.add(data, ids=[str(i) for i in range(3_000)])
        assert docs.wait_indexed(timeout=60)
        slot = state_of(docs)
        index = slot.index
        everything = np.ones(3_000, np.bool_)
        rows = np.arange(3_000, dtype=np.int64)
        knobs = SearchKnobs(mode="numba")
        with slot.latch.read():
            assert index.filtered_search(data[:1], 5, everything, rows, knobs) is not None
        links = index.structure._links
        assert links is not None and links.covered.all()
        moved = rng.standard_normal(8).astype(np.float32) * 50  # far from everything
        docs.upsert([moved], ids=["17"])
        assert docs.wait_indexed(timeout=60)
        with slot.latch.read():
            n = slot.store.n_rows
            accept = slot.store.live[:n].copy()
            found = index.filtered_search(moved[None, :], 3, accept, np.flatnonzero(accept),
                                          knobs)  # fmt: skip
        assert found is not None
        assert slot.store.row_ids[int(found[0][0][0])] == "17"
        assert links.stale >= 1 or index.structure._links is not links
