"""``KeywordIndex`` on its own: two indexes over one sidecar file stand for two processes whose
snapshots differ, each with its own documents (a ``DocumentSource`` over a dict). Whatever
the other wrote into the file, a search must return exactly its own documents' matches; the
``changes`` journal must be what catches it up (no full hash comparison) while it reaches
back far enough, and a full comparison when it does not."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from vectordb.index import keywords
from vectordb.index.keywords import DocumentSource, KeywordIndex, tokens


class Documents:
    """A process's view: row -> text (absent: no document), like a collection's store."""

    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = dict(texts)

    def source(self) -> DocumentSource:
        return DocumentSource(
            n_rows=lambda: max(self.texts, default=-1) + 1,
            document=lambda row: self.texts.get(row, "").encode(),
        )

    def expected(self, word: str) -> set[int]:
        return {row for row, text in self.texts.items() if word in tokens(text)}


def _index(path: Path, documents: Documents) -> KeywordIndex:
    return KeywordIndex(path, "uid-1", documents.source(), read_only=False)


def _found(index: KeywordIndex, word: str) -> set[int]:
    rows, _ = index.search(word, 1000)
    return {int(row) for row in rows}


def test_the_journal_catches_up_a_file_another_process_moved_back(tmp_path: Path) -> None:
    sidecar = tmp_path / "keywords.sqlite"
    start = {row: f"alpha row{row}" for row in range(20)}
    ahead, behind = Documents(start), Documents(start)
    first, second = _index(sidecar, ahead), _index(sidecar, behind)
    assert _found(first, "alpha") == set(range(20))
    # the first process moves on: rows 0-4 lose "alpha", row 25 gains it
    for row in range(5):
        ahead.texts[row] = f"beta row{row}"
    ahead.texts[25] = "alpha late"
    first.rows_changed([0, 1, 2, 3, 4, 25])
    assert _found(first, "alpha") == ahead.expected("alpha")
    # the second, still at the old snapshot, searches: the file goes back to its view
    assert _found(second, "alpha") == behind.expected("alpha") == set(range(20))
    assert _found(second, "beta") == set()
    # the first has nothing dirty of its own now: only the journal tells it rows 0-4 and 25
    assert _found(first, "alpha") == ahead.expected("alpha")
    assert _found(first, "beta") == set(range(5))
    # one full comparison each: the first building the empty file, the second at its first
    # sync (it never synced, so it has no journal position); the first's catch-up above
    # came from the journal
    assert (first.diffs, second.diffs) == (1, 1)


def test_a_process_further_behind_than_the_journal_compares_hashes(tmp_path: Path) -> None:
    sidecar = tmp_path / "keywords.sqlite"
    mine, theirs = Documents({0: "alpha", 1: "beta"}), Documents({0: "alpha", 1: "beta"})
    me, other = _index(sidecar, mine), _index(sidecar, theirs)
    assert _found(me, "alpha") == {0}
    diffs = me.diffs
    for step in range(300):  # 300 syncs by the other: more than the journal keeps
        theirs.texts[2] = f"gamma{step % 2}"
        other.rows_changed([2])
        assert _found(other, f"gamma{step % 2}") == {2}
    assert _found(me, "gamma0") == set() and _found(me, "alpha") == {0}
    assert me.diffs == diffs + 1  # the journal no longer reached back: one full comparison
    mine.texts[3] = "delta"
    me.rows_changed([3])
    assert _found(me, "delta") == {3}
    assert me.diffs == diffs + 1  # and from then on the journal again


def test_many_processes_random_views_stay_exact(tmp_path: Path) -> None:
    sidecar = tmp_path / "keywords.sqlite"
    rng = np.random.default_rng(7)
    words = ["alpha", "beta", "gamma", "delta"]
    views = [Documents({}) for _ in range(3)]
    indexes = [_index(sidecar, view) for view in views]
    for _ in range(200):
        which = int(rng.integers(3))
        view, index = views[which], indexes[which]
        row = int(rng.integers(30))
        if rng.random() < 0.25:
            view.texts.pop(row, None)
        else:
            view.texts[row] = " ".join(rng.choice(words, size=2))
        index.rows_changed([row])
        probe = int(rng.integers(3))
        for word in words:
            assert _found(indexes[probe], word) == views[probe].expected(word)
    for index in indexes:
        index.close()
    assert KeywordIndex(sidecar, "uid-1", views[0].source(), read_only=True).check() is None


def test_a_rewrite_too_large_to_journal_sets_a_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keywords, "_JOURNAL_MAX_ROWS", 3)
    sidecar = tmp_path / "keywords.sqlite"
    mine, theirs = Documents({0: "alpha"}), Documents({0: "alpha"})
    me, other = _index(sidecar, mine), _index(sidecar, theirs)
    assert _found(me, "alpha") == {0}
    for row in range(1, 6):  # five rows rewritten in one sync: no journal, a floor
        theirs.texts[row] = "beta"
    other.rows_changed(range(1, 6))
    assert _found(other, "beta") == set(range(1, 6))
    diffs = me.diffs
    assert _found(me, "beta") == set() and me.diffs == diffs + 1  # compared hashes
    with contextlib.closing(sqlite3.connect(sidecar)) as db:
        assert db.execute("SELECT count(*) FROM changes WHERE row > 0").fetchone()[0] == 0
    mine.texts[0] = "delta"  # a change of this process's own: no hash comparison
    me.rows_changed([0])
    assert _found(me, "delta") == {0} and _found(me, "alpha") == set()
    assert me.diffs == diffs + 1


def test_the_file_keeps_only_the_index_and_compressed_tokens(tmp_path: Path) -> None:
    sidecar = tmp_path / "keywords.sqlite"
    sentence = "the quick brown fox jumps over the lazy dog " * 20
    view = Documents(dict.fromkeys(range(200), sentence))
    index = _index(sidecar, view)
    assert _found(index, "fox") == set(range(200))
    index.close()
    text_bytes = sum(len(text.encode()) for text in view.texts.values())
    assert sidecar.stat().st_size < text_bytes  # contentful, it held all the text again


def test_a_file_built_by_another_sqlite_is_rebuilt(tmp_path: Path) -> None:
    sidecar = tmp_path / "keywords.sqlite"
    view = Documents({0: "alpha", 1: "beta"})
    index = _index(sidecar, view)
    assert _found(index, "alpha") == {0}
    index.close()
    with contextlib.closing(sqlite3.connect(sidecar)) as db:
        db.execute("UPDATE meta SET value = '3.0.0' WHERE key = 'sqlite'")
        db.commit()
    again = _index(sidecar, view)
    assert again.check() is not None  # reported, and rebuilt on use
    assert _found(again, "beta") == {1} and again.rebuilds == 1
    assert again.check() is None
