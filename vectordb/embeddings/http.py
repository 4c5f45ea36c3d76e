"""What every HTTP embedding provider shares: ``HttpEmbeddings``, the base of
``OpenAIEmbeddings``, ``OllamaEmbeddings``, ``TEIEmbeddings`` and ``HuggingFaceEmbeddings``.

A provider subclass says only what its wire format is (the URL, the request body, where the
vectors and the token count are in the answer); this module does the rest, the same way for all:

- **batching**: ``embed(texts)`` splits the texts into requests of at most ``max_batch_size``
  texts and sends up to ``max_concurrency`` of them at once (a small thread pool per call;
  the bound holds across calls from several threads too);
  row ``i`` of the result is text ``i`` whatever order the answers come back in.
- **retries**: a request that times out, cannot connect, or is answered 408, 429 or 5xx is
  sent again, at most ``max_retries`` times, after a full-jitter exponential backoff (a random
  wait in ``[0, min(retry_max_delay, retry_base_delay * 2**attempt))``). A ``Retry-After``
  (seconds or an HTTP date; also ``retry-after-ms``) on a 429 or 503 is honoured exactly; one
  longer than ``retry_max_delay`` ends the retries at once, since waiting less is pointless.
  Other answers (4xx, bad JSON, the wrong number or length of vectors) are not retried.
- **circuit breaker**: after ``breaker_threshold`` requests in a row that failed for want of
  the provider (their retries exhausted), calls fail at once with ``CircuitOpenError`` for
  ``breaker_cooldown`` seconds; then one trial request (without retries) goes through: its
  success closes the circuit, its failure opens it for another cooldown.
- **secrets**: an API key comes from the ``api_key=`` argument or, read at every request,
  from the environment variable named by ``api_key_env``. It is sent only in the
  ``Authorization`` header; never in ``spec()``, ``repr()``, metrics, logs or error messages
  (an answer that echoes it is masked before any excerpt of it is shown).
- **dim**: given as ``dim=`` (or known from the model), else learned from the first answer.
  Reading ``dim`` before any answer sends one request embedding a short probe text. Once
  known it is in ``spec()``, so a reopened collection's embedder knows it without asking.
  Every answer is checked: one vector per text, all of ``dim`` finite numbers.
- **metrics**: ``metrics()`` counts requests, retries, errors, texts, tokens (as the provider
  reports them, estimated at 4 characters a token when it does not), latency, cache hits and
  misses (see ``vectordb.embeddings.cache``) and, given ``price_per_million_tokens``, the
  estimated cost in US dollars.

Importing this module imports no optional package; building a provider imports httpx (the
``embeddings`` extra), or raises ``MissingDependencyError`` saying how to install it.
"""

from __future__ import annotations

import datetime
import email.utils
import logging
import math
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

from vectordb.dependencies import require_module
from vectordb.embeddings.base import Embeddings, checked_texts
from vectordb.errors import (
    CircuitOpenError,
    InvalidConfigError,
    ProviderResponseError,
    ProviderUnavailableError,
    RateLimitedError,
)
from vectordb.version import VERSION

__all__ = [
    "CircuitBreaker",
    "check_int",
    "check_number",
    "check_text",
    "EmbeddingMetrics",
    "HttpEmbeddings",
    "HttpOptions",
    "parse_retry_after",
    "redact_url",
]

log = logging.getLogger("vectordb.embeddings")

#: answers worth asking again: request timeout, too many requests, and server-side failures
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529})
#: answers whose Retry-After header is honoured
RETRY_AFTER_STATUS = frozenset({429, 503})
#: characters of an answer's body quoted in an error message
EXCERPT_CHARS = 200
#: the text embedded to learn ``dim`` when nothing else says it
DIM_PROBE_TEXT = "dimension probe"
#: a rough count of characters per token, for the cost estimate of providers that report none
CHARS_PER_TOKEN = 4


class HttpOptions(TypedDict, total=False):
    """The knobs every HTTP provider takes as keyword arguments (see ``HttpEmbeddings``)."""

    dim: int | None
    timeout: float
    max_batch_size: int | None
    max_concurrency: int
    max_retries: int
    retry_base_delay: float
    retry_max_delay: float
    breaker_threshold: int
    breaker_cooldown: float
    price_per_million_tokens: float | None


# ----------------------------------------------------------------------------------- metrics


class EmbeddingMetrics:
    """Thread-safe counters of one embedder, read with ``snapshot()``.

    Counters: ``requests`` (HTTP requests sent, retries included), ``retries``, ``errors``
    (batches whose error reached the caller), ``circuit_rejections`` (calls the open circuit
    refused), ``texts`` (texts embedded), ``tokens`` (as the provider reported them),
    ``estimated_tokens`` (texts' characters / 4 where it reported none),
    ``latency_seconds_sum`` / ``latency_seconds_count`` (over answered requests),
    ``cache_hits`` / ``cache_misses`` (texts found / not found in an ``EmbeddingCache``).
    With a price, ``estimated_cost_usd`` is ``(tokens + estimated_tokens)`` at that price.
    """

    FIELDS: ClassVar[tuple[str, ...]] = (
        "requests",
        "retries",
        "errors",
        "circuit_rejections",
        "texts",
        "tokens",
        "estimated_tokens",
        "latency_seconds_sum",
        "latency_seconds_count",
        "cache_hits",
        "cache_misses",
    )

    def __init__(self, *, price_per_million_tokens: float | None = None) -> None:
        self.price_per_million_tokens = price_per_million_tokens
        self._lock = threading.Lock()
        self._counts: dict[str, float] = dict.fromkeys(self.FIELDS, 0)

    def add(self, **amounts: float) -> None:
        """Add each amount to its counter (``KeyError`` for an unknown counter)."""
        with self._lock:
            for field, amount in amounts.items():
                if field not in self._counts:
                    raise KeyError(f"unknown embedding metric {field!r}")
                self._counts[field] += amount

    def snapshot(self) -> dict[str, float]:
        """The counters now (ints as ints), plus ``estimated_cost_usd`` when priced."""
        with self._lock:
            counts = dict(self._counts)
        result: dict[str, float] = {
            field: value if field == "latency_seconds_sum" else int(value)
            for field, value in counts.items()
        }
        if self.price_per_million_tokens is not None:
            tokens = counts["tokens"] + counts["estimated_tokens"]
            result["estimated_cost_usd"] = tokens * self.price_per_million_tokens / 1e6
        return result


# ---------------------------------------------------------------------------- circuit breaker


class CircuitBreaker:
    """Fail fast while a provider is down: closed -> open (after ``threshold`` failures in a
    row) -> half-open (after ``cooldown`` seconds: one trial call) -> closed or open again.

    ``acquire()`` before a call says whether it is the trial (or raises ``CircuitOpenError``);
    the call then reports ``record_success``, ``record_failure`` or, when it ended without
    saying anything about the provider (an exception of ours), ``abandon``.
    """

    def __init__(
        self,
        *,
        threshold: int,
        cooldown: float,
        describe: str,
        clock: Any = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._describe = describe
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` (a trial call is allowed or running)."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._trial_in_flight or self._clock() >= self._opened_at + self.cooldown:
                return "half-open"
            return "open"

    def acquire(self) -> bool:
        """True when this call is the half-open trial; ``CircuitOpenError`` while open."""
        with self._lock:
            if self._opened_at is None:
                return False
            retry_in = self._opened_at + self.cooldown - self._clock()
            if self._trial_in_flight:
                raise CircuitOpenError(
                    f"{self._describe}: circuit open after {self._failures} failed requests in "
                    "a row; a trial request is under way, try again in a moment",
                    retry_in=0.0,
                )
            if retry_in > 0:
                raise CircuitOpenError(
                    f"{self._describe}: circuit open after {self._failures} failed requests in "
                    f"a row; calls fail at once, the next try is in {retry_in:.1f} s",
                    retry_in=retry_in,
                )
            self._trial_in_flight = True
            return True

    def record_success(self, trial: bool) -> None:
        with self._lock:
            if trial or self._opened_at is None:
                if self._opened_at is not None:
                    log.info("%s: trial request succeeded, circuit closed", self._describe)
                self._failures = 0
                self._opened_at = None
                self._trial_in_flight = False

    def record_failure(self, trial: bool) -> None:
        with self._lock:
            if not trial and self._opened_at is not None:
                return  # a call started before the circuit opened; it is open already
            self._failures += 1
            if trial or self._failures >= self.threshold:
                self._opened_at = self._clock()
                self._trial_in_flight = False
                log.warning(
                    "%s: %d failed requests in a row, circuit open for %g s",
                    self._describe,
                    self._failures,
                    self.cooldown,
                )

    def abandon(self, trial: bool) -> None:
        with self._lock:
            if trial:
                self._trial_in_flight = False  # the next call may try at once


# ---------------------------------------------------------------------------------- helpers


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The wait in seconds that ``Retry-After`` (delta seconds or an HTTP date) or
    ``retry-after-ms`` asks for; None when absent or unreadable. ``now``: epoch seconds."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            value = float(milliseconds) / 1000
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return max(0.0, value)
    text = headers.get("retry-after")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, value) if math.isfinite(value) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def redact_url(url: str) -> str:
    """``url`` without user info or query string: what may appear in messages and logs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _checked_base_url(base_url: object, owner: str) -> str:
    if not isinstance(base_url, str):
        raise InvalidConfigError(f"{owner}: base_url must be a string; got {base_url!r}")
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidConfigError(
            f"{owner}: base_url must be an http:// or https:// URL with a host; "
            f"got {redact_url(base_url)!r}"
        )
    return base_url.rstrip("/")


@dataclass(frozen=True)
class _Failure:
    """A request that may be worth sending again: why, and what the provider asked for."""

    reason: str
    retry_after: float | None = None
    rate_limited: bool = False


class _Secret:
    """An API key that never shows itself in a repr."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"


# ------------------------------------------------------------------------------- the base


class HttpEmbeddings(Embeddings):
    """The base of the HTTP embedding providers (see the module docstring for what it does).

    Parameters
    ----------
    base_url
        The provider's URL, up to the API's paths (``https://api.openai.com/v1``).
    api_key
        The key itself; prefer ``api_key_env``. Never stored in ``spec()``.
    api_key_env
        The environment variable holding the key, read at every request; None: no key.
    dim
        The length of the vectors, when known; else learned from the first answer.
    timeout
        Seconds one request may take (connect, send, wait, read) before it is retried.
    max_batch_size
        The most texts in one request; None: the provider's default.
    max_concurrency
        The most requests in flight at once (one ``embed`` call's batches, and all calls of
        this embedder from several threads together).
    max_retries
        How many times a failed request is sent again (0: never).
    retry_base_delay, retry_max_delay
        The backoff: a random wait up to ``retry_base_delay * 2**attempt``, capped at
        ``retry_max_delay`` seconds; a ``Retry-After`` longer than that ends the retries.
    breaker_threshold, breaker_cooldown
        After ``breaker_threshold`` failed requests in a row, calls fail at once with
        ``CircuitOpenError`` for ``breaker_cooldown`` seconds.
    price_per_million_tokens
        US dollars per million tokens, for ``metrics()["estimated_cost_usd"]``.

    Raises
    ------
    MissingDependencyError
        httpx is not installed.
    InvalidConfigError
        A parameter is out of range.
    """

    #: the provider's short name, first part of ``name``
    provider: ClassVar[str] = "http"
    #: texts per request when ``max_batch_size`` is not given
    default_max_batch_size: ClassVar[int] = 32

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        api_key_env: str | None = None,
        dim: int | None = None,
        timeout: float = 30.0,
        max_batch_size: int | None = None,
        max_concurrency: int = 4,
        max_retries: int = 5,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 20.0,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        price_per_million_tokens: float | None = None,
    ) -> None:
        owner = type(self).__name__
        self._httpx = require_module(
            "httpx", extra="embeddings", purpose=f"Embedding texts with {owner}"
        )
        self.base_url = _checked_base_url(base_url, owner)
        check_int(owner, "dim", dim, minimum=1, optional=True)
        check_int(owner, "max_batch_size", max_batch_size, minimum=1, optional=True)
        check_int(owner, "max_concurrency", max_concurrency, minimum=1)
        check_int(owner, "max_retries", max_retries, minimum=0)
        check_int(owner, "breaker_threshold", breaker_threshold, minimum=1)
        check_number(owner, "timeout", timeout, positive=True)
        check_number(owner, "retry_base_delay", retry_base_delay)
        check_number(owner, "retry_max_delay", retry_max_delay)
        check_number(owner, "breaker_cooldown", breaker_cooldown)
        check_number(owner, "price_per_million_tokens", price_per_million_tokens, optional=True)
        if api_key is not None and not isinstance(api_key, str):
            raise InvalidConfigError(f"{owner}: api_key must be a string")  # never show it
        check_text(
            owner, "api_key_env", api_key_env, what="an environment variable's name", optional=True
        )
        self._api_key = None if api_key is None else _Secret(api_key)
        self.api_key_env = api_key_env
        self._dim = dim
        self.timeout = float(timeout)
        self.max_batch_size = max_batch_size or self.default_max_batch_size
        self._max_batch_size_given = max_batch_size
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.retry_base_delay = float(retry_base_delay)
        self.retry_max_delay = float(retry_max_delay)
        self.price_per_million_tokens = price_per_million_tokens
        self.counters = EmbeddingMetrics(price_per_million_tokens=price_per_million_tokens)
        self._breaker = CircuitBreaker(
            threshold=breaker_threshold,
            cooldown=float(breaker_cooldown),
            describe=f"{self.provider} embeddings at {redact_url(self.base_url)}",
        )
        self._lock = threading.Lock()
        # bounds the requests in flight across concurrent embed() calls too, so none waits
        # for a pooled connection (and times out there)
        self._in_flight = threading.BoundedSemaphore(max_concurrency)
        self._client: Any = None
        self._sleep = time.sleep  # tests may replace it

    # ---------------------------------------------------------------- what a provider says

    @property
    def model_label(self) -> str:
        """The model part of ``name``."""
        return redact_url(self.base_url)

    @property
    def endpoint(self) -> str:
        """The URL the requests go to."""
        return self.base_url

    def _body(self, texts: list[str]) -> Any:
        """The JSON request body for ``texts``."""
        raise NotImplementedError

    def _parse(self, answer: Any, headers: Mapping[str, str]) -> tuple[Any, int | None]:
        """(the vectors, in text order, as nested lists; the token count or None) from an
        answer; ``ValueError`` with a short reason when the answer does not have them."""
        raise NotImplementedError

    def _hint(self, status: int, batch_size: int) -> str:
        """What to do about an error answer ``status``; "" when nothing useful to say."""
        if status in (401, 403):
            if self.api_key_env is None and self._api_key is None:
                return " (no API key is configured: pass api_key_env=)"
            if self._api_key is None and not os.environ.get(self.api_key_env or ""):
                return f" (the environment variable {self.api_key_env} is not set)"
            source = "api_key" if self._api_key is not None else self.api_key_env
            return f" (check the API key from {source})"
        if status == 413:
            return (
                f" (the batch of {batch_size} texts is too large: lower max_batch_size, "
                f"now {self.max_batch_size})"
            )
        return ""

    def _retry_after_from_body(self, status: int, answer: Any) -> float | None:
        """A wait the provider asks for in a retryable answer's body; None by default."""
        return None

    def _provider_parameters(self) -> dict[str, Any]:
        """The provider's own parameters for ``spec()`` (the model, its options)."""
        return {"base_url": self.base_url}

    # -------------------------------------------------------------------- the Embeddings API

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model_label}"

    @property
    def dim(self) -> int:
        """The length of the vectors: given, known, or learned from one probe request."""
        if self._dim is None:
            self.embed([DIM_PROBE_TEXT])  # its answer sets _dim, or it raises
        if self._dim is None:
            raise ProviderResponseError(f"{self.name} answered no vector to learn dim from")
        return self._dim

    @property
    def known_dim(self) -> int | None:
        """``dim`` if known already, else None (asks nothing)."""
        return self._dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """``texts`` as a C-contiguous float32 ``(len(texts), dim)`` array, row i for text i.

        Parameters
        ----------
        texts
            One string or a sequence of them.

        Returns
        -------
        numpy.ndarray
            float32, shape ``(len(texts), dim)``.

        Raises
        ------
        InvalidArgumentError
            A text is not a string.
        ProviderUnavailableError
            The provider did not answer usefully within the retries.
        RateLimitedError
            It kept answering 429.
        CircuitOpenError
            It failed so often lately that calls fail at once for a while.
        ProviderResponseError
            It answered with an error (4xx) or with something that is not the vectors.
        """
        items = checked_texts(texts)
        if not items:
            return np.empty((0, self.dim), dtype=np.float32)
        size = self.max_batch_size
        batches = [items[start : start + size] for start in range(0, len(items), size)]
        if len(batches) == 1 or self.max_concurrency == 1:
            parts = [self._embed_batch(batch) for batch in batches]
        else:
            pool = ThreadPoolExecutor(
                max_workers=min(self.max_concurrency, len(batches)),
                thread_name_prefix="vectordb-embed",
            )
            try:
                futures = [pool.submit(self._embed_batch, batch) for batch in batches]
                parts = [future.result() for future in futures]
            finally:
                # on the first error, batches not started yet are not sent
                pool.shutdown(wait=True, cancel_futures=True)
        vectors = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def spec(self) -> dict[str, Any]:
        """``{"class": ..., <parameters>}`` without the API key (``api_key_env`` names it)."""
        return {
            "class": type(self).__name__,
            **self._provider_parameters(),
            "api_key_env": self.api_key_env,
            "dim": self._dim,
            "timeout": self.timeout,
            "max_batch_size": self._max_batch_size_given,
            "max_concurrency": self.max_concurrency,
            "max_retries": self.max_retries,
            "retry_base_delay": self.retry_base_delay,
            "retry_max_delay": self.retry_max_delay,
            "breaker_threshold": self._breaker.threshold,
            "breaker_cooldown": self._breaker.cooldown,
            "price_per_million_tokens": self.price_per_million_tokens,
        }

    def metrics(self) -> dict[str, float]:
        """The counters (see ``EmbeddingMetrics``) plus ``circuit_open`` (1 while open)."""
        snapshot = self.counters.snapshot()
        snapshot["circuit_open"] = int(self._breaker.state == "open")
        return snapshot

    @property
    def circuit_state(self) -> str:
        """The circuit breaker's state: ``"closed"``, ``"open"`` or ``"half-open"``."""
        return self._breaker.state

    def close(self) -> None:
        """Close the connection pool (idempotent; a later ``embed`` opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- the machinery

    def _http(self) -> Any:
        with self._lock:
            if self._client is None:
                httpx = self._httpx
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout),
                    limits=httpx.Limits(
                        max_connections=self.max_concurrency,
                        max_keepalive_connections=self.max_concurrency,
                    ),
                    headers={"User-Agent": f"vectordb/{VERSION}", "Accept": "application/json"},
                )
            return self._client

    def _api_key_value(self) -> str | None:
        if self._api_key is not None:
            return self._api_key.value
        if self.api_key_env is not None:
            return os.environ.get(self.api_key_env) or None
        return None

    def _headers(self) -> dict[str, str]:
        key = self._api_key_value()
        return {} if key is None else {"Authorization": f"Bearer {key}"}

    def _excerpt(self, text: str) -> str:
        key = self._api_key_value()
        if key:
            text = text.replace(key, "***")
        text = " ".join(text.split())
        if len(text) > EXCERPT_CHARS:
            text = text[:EXCERPT_CHARS] + "..."
        return text or "(empty body)"

    def _embed_batch(self, batch: list[str]) -> npt.NDArray[np.float32]:
        try:
            trial = self._breaker.acquire()
        except CircuitOpenError:
            self.counters.add(circuit_rejections=1)
            raise
        try:
            vectors, tokens = self._send(batch, trial)
        except ProviderUnavailableError:
            self._breaker.record_failure(trial)
            self.counters.add(errors=1)
            raise
        except ProviderResponseError:
            # the provider is up; it disagrees with the request (or answered nonsense)
            self._breaker.record_success(trial)
            self.counters.add(errors=1)
            raise
        except BaseException:
            self._breaker.abandon(trial)
            raise
        self._breaker.record_success(trial)
        if tokens is None:
            estimated = sum(math.ceil(len(text) / CHARS_PER_TOKEN) for text in batch)
            self.counters.add(texts=len(batch), estimated_tokens=estimated)
        else:
            self.counters.add(texts=len(batch), tokens=tokens)
        return vectors

    def _send(self, batch: list[str], trial: bool) -> tuple[npt.NDArray[np.float32], int | None]:
        """One batch's vectors and token count, sending the request as often as it takes."""
        url = self.endpoint
        where = f"{self.name} at {redact_url(url)}"
        body = self._body(batch)
        allowed = 1 if trial else self.max_retries + 1
        attempt = 0
        while True:
            attempt += 1
            result = self._attempt(url, body, batch, where)
            if not isinstance(result, _Failure):
                return result
            failure = result
            giving_up = attempt >= allowed
            wait = failure.retry_after
            if wait is not None and wait > self.retry_max_delay and not giving_up:
                giving_up = True
                failure = _Failure(
                    f"{failure.reason}; it asked to wait {wait:g} s, longer than "
                    f"retry_max_delay={self.retry_max_delay:g} s",
                    failure.retry_after,
                    failure.rate_limited,
                )
            if giving_up:
                tries = f"{attempt} request" + ("s" if attempt > 1 else "")
                if trial:
                    tries += " (the trial after the circuit breaker's cooldown)"
                if failure.rate_limited:
                    raise RateLimitedError(
                        f"{where} is rate limiting: {failure.reason} (after {tries})",
                        attempts=attempt,
                        retry_after=failure.retry_after,
                    )
                raise ProviderUnavailableError(
                    f"{where} is unavailable: {failure.reason} (after {tries})", attempts=attempt
                )
            if wait is None:
                cap = min(self.retry_max_delay, self.retry_base_delay * 2 ** (attempt - 1))
                wait = random.uniform(0, cap)  # full jitter
            log.info("%s: %s; retry %d in %.2f s", where, failure.reason, attempt, wait)
            self.counters.add(retries=1)
            self._sleep(wait)

    def _attempt(
        self, url: str, body: Any, batch: list[str], where: str
    ) -> tuple[npt.NDArray[np.float32], int | None] | _Failure:
        """One request: its vectors, a failure worth retrying, or ProviderResponseError."""
        httpx = self._httpx
        with self._in_flight:
            self.counters.add(requests=1)
            started = time.perf_counter()
            try:
                response = self._http().post(url, json=body, headers=self._headers())
            except httpx.TimeoutException:
                return _Failure(f"no answer within timeout={self.timeout:g} s")
            except httpx.TransportError as error:
                return _Failure(f"connection failed ({type(error).__name__}: {error})")
        self.counters.add(
            latency_seconds_sum=time.perf_counter() - started, latency_seconds_count=1
        )
        status = response.status_code
        headers = {key.lower(): value for key, value in response.headers.items()}
        if status in RETRYABLE_STATUS:
            retry_after = None
            if status in RETRY_AFTER_STATUS:
                retry_after = parse_retry_after(headers)
                if retry_after is None:
                    retry_after = self._retry_after_from_body(status, _json_or_none(response))
            return _Failure(
                f"answered {status} {response.reason_phrase}: {self._excerpt(response.text)}",
                retry_after,
                rate_limited=status == 429,
            )
        if not 200 <= status < 300:
            raise ProviderResponseError(
                f"{where} answered {status} {response.reason_phrase}: "
                f"{self._excerpt(response.text)}{self._hint(status, len(batch))}"
            )
        try:
            answer = response.json()
        except ValueError:
            raise ProviderResponseError(
                f"{where} answered {status} with a body that is not JSON: "
                f"{self._excerpt(response.text)}"
            ) from None
        try:
            raw, tokens = self._parse(answer, headers)
            vectors = self._checked_vectors(raw, len(batch))
        except ValueError as error:
            raise ProviderResponseError(
                f"{where} answered {status} without the vectors asked for: {error}; "
                f"body: {self._excerpt(response.text)}"
            ) from None
        return vectors, tokens

    def _checked_vectors(self, raw: Any, count: int) -> npt.NDArray[np.float32]:
        if not isinstance(raw, list):
            raise ValueError(f"expected a list of vectors, got {type(raw).__name__}")
        if len(raw) != count:
            raise ValueError(f"{len(raw)} vectors for {count} texts")
        try:
            vectors = np.array(raw, dtype=np.float32)
        except (ValueError, TypeError):
            raise ValueError("vectors of different lengths, or not numbers") from None
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise ValueError(f"expected {count} vectors of numbers, got shape {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError("a vector holds NaN or infinity")
        with self._lock:
            if self._dim is None:
                self._dim = int(vectors.shape[1])
            elif vectors.shape[1] != self._dim:
                raise ValueError(f"vectors have dim {vectors.shape[1]}, expected dim {self._dim}")
        return np.ascontiguousarray(vectors)


def _json_or_none(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def check_int(
    owner: str, name: str, value: object, *, minimum: int, optional: bool = False
) -> None:
    """``InvalidConfigError`` unless ``value`` is an int >= ``minimum`` (or None, if optional)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidConfigError(f"{owner}: {name} must be an integer >= {minimum}; got {value!r}")


def check_number(
    owner: str, name: str, value: object, *, positive: bool = False, optional: bool = False
) -> None:
    """``InvalidConfigError`` unless ``value`` is a finite number >= 0 (> 0 if ``positive``;
    or None, if optional)."""
    if value is None and optional:
        return
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if positive else value >= 0)
    )
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise InvalidConfigError(f"{owner}: {name} must be a finite number {bound}; got {value!r}")


def check_text(owner: str, name: str, value: object, *, what: str, optional: bool = False) -> None:
    """``InvalidConfigError`` unless ``value`` is a non-empty string (or None, if optional)."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip("/ "):
        raise InvalidConfigError(f"{owner}: {name} must be {what}; got {value!r}")
