from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import vectordb

os.environ.setdefault("VECTORDB_NO_WARMUP", "1")  # tests choose their search mode explicitly


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.vdb"


@pytest.fixture
def db(db_path: Path) -> Iterator[vectordb.Database]:
    database = vectordb.open(db_path)
    yield database
    database.close()
