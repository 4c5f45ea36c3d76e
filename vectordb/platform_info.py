"""``vectordb.info()``: what this process runs on and with, for bug reports and tuning.

Reads CPU features without importing numba (``import vectordb`` stays cheap): from
``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS; elsewhere the list is empty.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from vectordb.version import VERSION

__all__ = ["info"]

_INTERESTING = ("avx2", "avx512f", "avx512bw", "avx512vnni", "fma", "sse4_2", "neon", "asimd")


def _cpu_features() -> list[str]:
    import subprocess

    flags: set[str] = set()
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    key, _, value = line.partition(":")
                    if key.strip() in ("flags", "Features"):
                        flags.update(value.split())
                        break
        elif sys.platform == "darwin":
            out = subprocess.run(
                ["sysctl", "-a"], capture_output=True, text=True, check=False, timeout=5
            ).stdout
            for line in out.splitlines():
                if line.startswith(("machdep.cpu.features", "machdep.cpu.leaf7_features")):
                    flags.update(word.lower() for word in line.split(":", 1)[1].split())
                if line.startswith("hw.optional.neon: 1"):
                    flags.add("neon")
    except (OSError, subprocess.SubprocessError):
        return []
    if platform.machine().lower() in ("arm64", "aarch64"):
        flags.add("neon")  # mandatory on 64-bit ARM
    return sorted(flag for flag in flags if flag in _INTERESTING)


def _version(name: str) -> str | None:
    import importlib.metadata  # ~25 ms: only when info() is called

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def info() -> dict[str, Any]:
    """Versions, CPU and the state of the search kernels.

    Returns
    -------
    dict
        ``vectordb``, ``python``, ``platform``, ``machine``, ``cpu_count``,
        ``cpu_features`` (of avx2 / avx512* / fma / sse4_2 / neon), ``numpy``, ``numba``,
        ``hnswlib`` versions, ``kernels_loaded`` (numba kernels compiled or loaded in this
        process), and ``execution_modes`` (the ``mode=`` values search accepts).

    Raises
    ------
    Never raises: what cannot be read is left empty (CPU features) or None (versions).

    Examples
    --------
    >>> import vectordb
    >>> sorted(vectordb.info())[:3]
    ['cpu_count', 'cpu_features', 'execution_modes']
    """
    from vectordb.index.jit import kernels_ready

    return {
        "vectordb": VERSION,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu_features": _cpu_features(),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "hnswlib": _version("hnswlib"),
        "kernels_loaded": kernels_ready(),
        "execution_modes": ["auto", "numba", "numpy", "scalar"],
    }
