"""Bytes on disk: the log, vector files, snapshots and manifests. Knows nothing of indexes."""
