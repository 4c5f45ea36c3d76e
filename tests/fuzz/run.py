"""Run one fuzz target with atheris (libFuzzer)::

    python -m tests.fuzz.run TARGET [--seeds=FILE] [--scratch=DIR] [flags] [CORPUS_DIR ...]
    python -m tests.fuzz.run --list
    python -m tests.fuzz.run --make-seeds=FILE

``TARGET`` is a name from ``targets.TARGETS``. The seed corpus is made by the real writer
(``seeds.py``; ``--seeds`` reuses a pickled set made with ``--make-seeds``) and written into the
first corpus directory given (a temporary one if none), so libFuzzer starts from valid files.
libFuzzer flags pass through: ``-runs=N``, ``-max_total_time=S``, ``-timeout=S`` (an input
running longer is a hang), ``-rss_limit_mb=M``, ``-artifact_prefix=DIR/`` (where a crashing
input is written). On a crash the process exits non-zero and prints the exception or signal
with the input's file name; at the end libFuzzer prints ``Done N runs in S second(s)``. Given
files instead of a directory, it runs just those inputs (to replay a crash).

vectordb's modules are instrumented for coverage (except the numba kernels, whose bytecode
numba compiles); numpy, msgpack and hnswlib are not.
"""

from __future__ import annotations

import pickle
import sys
import tempfile
from pathlib import Path

_KERNELS = ["vectordb.index.kernels", "vectordb.index.scan_kernels",
            "vectordb.index.filtered_kernels"]  # fmt: skip


def _option(argv: list[str], name: str) -> str | None:
    for arg in list(argv):
        if arg.startswith(f"--{name}="):
            argv.remove(arg)
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str]) -> int:
    seeds_file = _option(argv, "seeds")
    scratch_option = _option(argv, "scratch")
    make_seeds_file = _option(argv, "make-seeds")
    if make_seeds_file is not None:
        from tests.fuzz.seeds import make_seeds

        Path(make_seeds_file).write_bytes(pickle.dumps(make_seeds()))
        return 0
    if len(argv) < 2 or argv[1] in ("--list", "-h", "--help"):
        from tests.fuzz.targets import TARGETS

        print(__doc__ if len(argv) < 2 or argv[1] != "--list" else "\n".join(TARGETS))
        return 0
    name = argv.pop(1)

    import atheris

    with atheris.instrument_imports(include=["vectordb"], exclude=_KERNELS):
        import vectordb
        import vectordb.concurrency.idempotency
        import vectordb.engine
        import vectordb.files.checksummed
        import vectordb.filters.columns
        import vectordb.filters.evaluate
        import vectordb.index.background
        import vectordb.index.hnsw
        import vectordb.index.ivf
        import vectordb.index.quantization
        import vectordb.storage.manifest
        import vectordb.storage.snapshot
        import vectordb.storage.vector_file
        import vectordb.storage.wal  # noqa: F401
    from tests.fuzz.seeds import make_seeds
    from tests.fuzz.targets import TARGETS, build

    if name not in TARGETS:
        print(f"unknown target {name!r}; one of: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    seeds = pickle.loads(Path(seeds_file).read_bytes()) if seeds_file else make_seeds()
    scratch = Path(scratch_option or tempfile.mkdtemp(prefix=f"vectordb-fuzz-{name}-"))
    scratch.mkdir(parents=True, exist_ok=True)
    target = build(name, seeds, scratch / "files")
    positional = [Path(arg) for arg in argv[1:] if not arg.startswith("-")]
    if not positional:
        positional = [scratch / "corpus"]
        argv.append(str(positional[0]))
    if not positional[0].is_file():  # fuzzing from a corpus directory, not replaying files
        positional[0].mkdir(parents=True, exist_ok=True)
        for number, data in enumerate(target.corpus):
            (positional[0] / f"seed-{number}").write_bytes(data)
        for data in target.corpus:  # a seed must pass, or the target is wrong
            target.run(data)
    mutator = target.mutator
    if mutator is None:
        atheris.Setup(argv, target.run)
    else:
        atheris.Setup(
            argv,
            target.run,
            custom_mutator=lambda data, max_size, seed: mutator(data, max_size, seed,
                                                               atheris.Mutate),
        )  # fmt: skip
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
