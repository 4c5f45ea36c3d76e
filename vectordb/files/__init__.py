"""Durable file primitives, below every other layer that touches disk: the I/O seam every
file-changing call goes through (``io``), atomic replace and ``OSError`` translation
(``atomic``), the common file header (``headers``: magic, format version) and checksummed
msgpack maps (``checksummed``). Storage, the index and the locks build on these; nothing
here knows what a collection is."""
