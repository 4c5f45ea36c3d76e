"""Fuzzing of every decoder of bytes on disk (atheris); see ``targets.py`` and ``run.py``."""
