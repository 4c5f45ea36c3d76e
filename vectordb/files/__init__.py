"""Durable file primitives, below every other layer that touches disk: the I/O seam every
file-changing call goes through (``io``), atomic replace and ``OSError`` translation
(``atomic``), the common file header (``headers``: magic, format version), checksummed
msgpack maps (``checksummed``) and connections to the SQLite side files (``sqlite``).
Storage, the index and the locks build on these; nothing
here knows what a collection is."""
