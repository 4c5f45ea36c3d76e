"""Search structures over a collection's rows. Imports only numpy (numba lazily)."""
