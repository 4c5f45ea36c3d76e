"""The data lifecycle: backup and restore (compaction and archiving come later)."""
