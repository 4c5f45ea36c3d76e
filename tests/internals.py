"""The few places tests look inside a database, in one module: when the engine's insides move,
only this file follows them.

- ``store_of(db, name)``: the collection's in-memory rows, ids, metadata (``CollectionStore``);
- ``state_of(collection)``: its state in the engine (store, latch, index, columns);
- ``index_of(collection)``: its background index (None for a flat collection);
- ``columns_of(collection)``: its metadata columns;
- ``engine_of(db)``: the engine shared by the process's handles on the directory;
- ``simulate_crash(db)``: the handle stops as if its process were killed now: nothing more is
  written, not even the checkpoint a close makes, so what reaches the next open is what the
  log and the files hold at this moment.
"""

from __future__ import annotations

from typing import Any

import vectordb


def engine_of(db: vectordb.Database) -> Any:
    return db._engine


def store_of(db: vectordb.Database, name: str) -> Any:
    return db._engine.collections.states[name].store


def state_of(collection: vectordb.Collection) -> Any:
    """The collection's state in the engine: its store, latch, index and columns."""
    return collection._state


def index_of(collection: vectordb.Collection) -> Any:
    return collection._state.index


def columns_of(collection: vectordb.Collection) -> Any:
    return collection._state.columns


def simulate_crash(db: vectordb.Database, why: str = "simulated crash") -> None:
    db._engine.health.failure = vectordb.StorageError(why)
