"""Every decoder of bytes on disk, fuzzed: each target of ``targets.py`` runs in its own process
(atheris ends the interpreter when libFuzzer stops) from a seed corpus the real writer made.

A target fails when libFuzzer stops with a crash: an exception other than ``CorruptionError``
escaped a decoder, the process died of a signal, an input ran past ``-timeout`` (a hang) or
past the memory limit. The crashing input is written to the test's artifacts directory, named in
the failure; ``python -m tests.fuzz.run TARGET <that file>`` replays it. Each target's
execution count is printed.

The short run (every target for ``SHORT_SECONDS``, about two minutes in all on two cores) is
part of the default suite; the long run is ``pytest -m slow tests/fuzz`` (or
``VECTORDB_SLOW=1``), ``VECTORDB_FUZZ_SECONDS`` per target (default 300), and keeps its corpus
in ``VECTORDB_FUZZ_CORPUS/<target>`` when that is set, so later runs start where it stopped.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
SHORT_SECONDS = 4
#: where the test extra installs atheris (pyproject.toml): a CI run there must fuzz
_ATHERIS_EXPECTED = (
    sys.platform == "linux" and platform.machine() == "x86_64" and sys.version_info < (3, 14)
)


@pytest.fixture(scope="module")
def seeds_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("atheris") is None:
        if os.environ.get("CI") == "true" and _ATHERIS_EXPECTED:
            pytest.fail("atheris is not installed: pip install -e '.[test]' brings it")
        pytest.skip("atheris is not installed (pip install atheris)")
    path = tmp_path_factory.mktemp("fuzz-seeds") / "seeds.pickle"
    subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", f"--make-seeds={path}"],
        cwd=ROOT, check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    return path


def _fuzz(target: str, seeds: Path, work: Path, seconds: int, corpus: Path) -> int:
    """Run ``target`` for ``seconds``; fail on a crash; return libFuzzer's execution count."""
    artifacts = work / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    corpus.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "tests.fuzz.run", target, f"--seeds={seeds}",
        f"--scratch={work / 'scratch'}", f"-max_total_time={seconds}", "-timeout=30",
        "-rss_limit_mb=4096", f"-artifact_prefix={artifacts}/", str(corpus),
    ]  # fmt: skip
    env = {**os.environ, "VECTORDB_NO_WARMUP": "1"}
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 300
    )
    output = result.stdout + result.stderr
    done = re.search(r"Done (\d+) runs in (\d+) second", output)
    if result.returncode != 0 or done is None:
        crashes = sorted(str(path) for path in artifacts.iterdir())
        report = "\n".join(line for line in output.splitlines() if "Instrumenting" not in line)
        pytest.fail(
            f"fuzz target {target!r} stopped with exit code {result.returncode}; crashing "
            f"input(s): {crashes}\n{report[-6000:]}"
        )
    return int(done.group(1))


def _report(capsys: pytest.CaptureFixture[str], target: str, runs: int, seconds: int) -> None:
    with capsys.disabled():
        print(f"\nfuzz {target}: {runs} executions in {seconds} s")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_short(
    target: str, seeds_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _fuzz(target, seeds_file, tmp_path, SHORT_SECONDS, tmp_path / "corpus")
    _report(capsys, target, runs, SHORT_SECONDS)
    assert runs > 0


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_long(
    target: str,
    seeds_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """``pytest -m slow tests/fuzz`` (or ``VECTORDB_SLOW=1``): each target for
    ``VECTORDB_FUZZ_SECONDS`` (default 300)."""
    if "slow" not in (request.config.option.markexpr or "") and not os.environ.get("VECTORDB_SLOW"):
        pytest.skip("long run: select it with -m slow or VECTORDB_SLOW=1")
    seconds = int(os.environ.get("VECTORDB_FUZZ_SECONDS", "300"))
    kept = os.environ.get("VECTORDB_FUZZ_CORPUS")
    corpus = Path(kept) / target if kept else tmp_path / "corpus"
    runs = _fuzz(target, seeds_file, tmp_path, seconds, corpus)
    _report(capsys, target, runs, seconds)
    assert runs > 0
