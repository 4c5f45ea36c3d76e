"""The engine: one open database directory's state, shared by every handle in the process.

``engine.Engine`` is the entry point (its module docstring maps the parts); a collection's
in-memory state is ``state.CollectionState``; ``transaction.Transaction`` is what
``Database.transaction()`` returns.
"""

from vectordb.engine.engine import Engine, validate_collection_name
from vectordb.engine.state import CollectionState
from vectordb.engine.transaction import Transaction

__all__ = ["CollectionState", "Engine", "Transaction", "validate_collection_name"]
