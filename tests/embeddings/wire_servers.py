"""Real HTTP servers on 127.0.0.1 speaking the embedding providers' wire formats, for tests.

``WireServer("openai")`` (or ``"ollama"``, ``"tei"``, ``"huggingface"``) listens on a free port
in a thread; ``server.base_url`` is what the provider's ``base_url=`` takes. Its vectors are
deterministic (``vector_for(text, dim)``, from the text's SHA-256), so tests compare against
them exactly. ``server.faults`` is a queue: each request takes the next ``Fault`` (a status and
body, headers such as ``Retry-After``, a delay before answering, a dropped connection, or a
change to the normal answer) until the queue is empty, then answers normally.
``server.requests`` records every request (path, headers, JSON body), and
``server.max_in_flight`` the most requests handled at once.
"""

from __future__ import annotations

import collections
import hashlib
import http.server
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WIRES = ("openai", "ollama", "tei", "huggingface")


def vector_for(text: str, dim: int) -> list[float]:
    """The server's vector of ``text``: float32 values (exact through JSON), from its hash."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return [float(value) for value in vector]


@dataclass
class Fault:
    """What one request gets instead of the normal answer (fields combine)."""

    status: int = 200
    body: bytes | None = None  # None: the normal answer (after ``mutate``)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drop: bool = False  # close the connection without an answer
    mutate: Callable[[Any], Any] | None = None  # changes the normal JSON answer

    @classmethod
    def rate_limited(cls, retry_after: str | None = None) -> Fault:
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        return cls(429, b'{"error": {"message": "Rate limit reached"}}', headers)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls(status, b'{"error": "internal error"}')

    @classmethod
    def slow(cls, delay: float) -> Fault:
        return cls(delay=delay)

    @classmethod
    def dropped(cls) -> Fault:
        return cls(drop=True)

    @classmethod
    def bad_json(cls) -> Fault:
        return cls(200, b'{"data": [oops')


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: WireServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout) is expected here, not a test failure


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        owner._record(
            Recorded(
                self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
            )
        )
        fault = owner._next_fault()
        owner._enter()
        try:
            delay = owner.delay + (fault.delay if fault else 0.0)
            if delay:
                owner._stopping.wait(delay)
            if fault is not None and fault.drop:
                self.close_connection = True
                return
            if fault is not None and fault.body is not None:
                self._send(fault.status, fault.body, fault.headers)
                return
            status, answer, headers = owner._answer(self.path, body, dict(self.headers.items()))
            if fault is not None:
                if fault.mutate is not None:
                    answer = fault.mutate(answer)
                headers = {**headers, **fault.headers}
                status = fault.status if fault.status != 200 else status
            self._send(status, json.dumps(answer).encode(), headers)
        finally:
            owner._leave()

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client went away (it timed out)


class WireServer:
    """A fake provider (see the module docstring).

    Parameters
    ----------
    wire
        ``"openai"``, ``"ollama"``, ``"tei"`` or ``"huggingface"``.
    dim
        The length of its vectors (OpenAI's ``dimensions`` overrides it per request).
    delay
        Seconds every request waits before its answer (to observe concurrency).
    api_key
        When set, requests without ``Authorization: Bearer <api_key>`` get 401 (whose body
        echoes the key that came, as some providers do).
    max_batch
        TEI: more inputs than this in one request get 413.
    shuffle
        OpenAI: answer ``data`` in reverse order (clients must sort by ``index``).
    """

    def __init__(
        self,
        wire: str,
        *,
        dim: int = 8,
        delay: float = 0.0,
        api_key: str | None = None,
        max_batch: int | None = None,
        shuffle: bool = False,
    ) -> None:
        if wire not in WIRES:
            raise ValueError(f"unknown wire {wire!r}")
        self.wire = wire
        self.dim = dim
        self.delay = delay
        self.api_key = api_key
        self.max_batch = max_batch
        self.shuffle = shuffle
        self.faults: collections.deque[Fault] = collections.deque()
        self.requests: list[Recorded] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """What the provider's ``base_url=`` takes."""
        return f"{self.url}/v1" if self.wire == "openai" else self.url

    def batch_sizes(self) -> list[int]:
        """The number of texts in each recorded request, in arrival order."""
        key = {"openai": "input", "ollama": "input", "tei": "inputs", "huggingface": "inputs"}
        return [len(r.body[key[self.wire]]) for r in self.requests if isinstance(r.body, dict)]

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> WireServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ called by handlers

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def _next_fault(self) -> Fault | None:
        try:
            return self.faults.popleft()
        except IndexError:
            return None

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _answer(
        self, path: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        if self.api_key is not None:
            sent = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
            if sent != f"Bearer {self.api_key}":
                came = sent.removeprefix("Bearer ")
                message = f"Incorrect API key provided: {came}"
                return 401, {"error": {"message": message, "type": "invalid_request_error"}}, {}
        if not isinstance(body, dict):
            return 400, {"error": "body is not a JSON object"}, {}
        answer: tuple[int, Any, dict[str, str]] = getattr(self, f"_{self.wire}")(path, body)
        return answer

    def _openai(self, path: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if path != "/v1/embeddings":
            return 404, {"error": {"message": f"no route {path}"}}, {}
        texts = body["input"]
        dim = body.get("dimensions") or self.dim
        data = [
            {"object": "embedding", "index": i, "embedding": vector_for(text, dim)}
            for i, text in enumerate(texts)
        ]
        if self.shuffle:
            data.reverse()
        tokens = sum(len(text.split()) for text in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return 200, {"object": "list", "data": data, "model": body["model"], "usage": usage}, {}

    def _ollama(self, path: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if path != "/api/embed":
            return 404, {"error": "not found"}, {}
        if body.get("model") == "missing":
            return 404, {"error": 'model "missing" not found, try pulling it first'}, {}
        texts = body["input"]
        answer = {
            "model": body["model"],
            "embeddings": [vector_for(text, self.dim) for text in texts],
            "prompt_eval_count": sum(len(text.split()) for text in texts),
        }
        return 200, answer, {}

    def _tei(self, path: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if path != "/embed":
            return 404, {"error": "not found"}, {}
        texts = body["inputs"]
        if self.max_batch is not None and len(texts) > self.max_batch:
            message = f"batch size {len(texts)} > maximum allowed batch size {self.max_batch}"
            return 413, {"error": message, "error_type": "Validation"}, {}
        tokens = sum(len(text.split()) for text in texts)
        return (
            200,
            [vector_for(text, self.dim) for text in texts],
            {"x-compute-tokens": str(tokens)},
        )

    def _huggingface(self, path: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if not (path.startswith("/models/") and path.endswith("/pipeline/feature-extraction")):
            return 404, {"error": "not found"}, {}
        texts = body["inputs"]
        if "token-level" in path:  # a model that is not a sentence embedder
            return 200, [[vector_for(text, self.dim)] * 2 for text in texts], {}
        return 200, [vector_for(text, self.dim) for text in texts], {}
