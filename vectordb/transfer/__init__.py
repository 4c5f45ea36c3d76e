"""Import and export of whole collections: JSON Lines, CSV, NumPy ``.npy`` and Parquet files,
and pandas DataFrames.

Modules:

- ``formats``: the file formats, told apart by name or suffix, and where ``.npy`` keeps ids
  and metadata beside the vectors.
- ``writers`` / ``readers``: one writer and one reader per format, each streaming batches of
  rows so memory stays bounded by the batch size, never by the file.
- ``validation``: the checks every imported row passes before anything is stored.
- ``fields``: metadata as flat columns (a column per field, dotted names for nested ones),
  read into records on import and written by ``to_dataframe``.
- ``export``: ``export_collection`` (temp file, then an atomic rename).
- ``load``: ``import_records`` and ``ImportReport`` (validate the whole file, then apply).
- ``dataframe``: ``collection_to_dataframe`` and ``add_dataframe``.
- ``progress``: the tqdm bar (optional packages are imported at first use, through
  ``vectordb.dependencies``).

pyarrow, pandas and tqdm are optional: each is imported at first use, and a missing one
raises ``MissingDependencyError`` naming the extra that installs it (tqdm only draws a
progress bar, so without it ``progress=True`` draws none).
"""
