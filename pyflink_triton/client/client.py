"""``TritonClient``: an async KServe v2 client on one pooled aiohttp session.

What it adds over ``tritonclient.http.aio``: the session is made on the loop that uses it,
the pool is sized to the requests in flight and kept alive, tensors are encoded with numpy
in one pass, large batches are split to the model's limit and sent concurrently, and every
request has retries (tenacity), a timeout, an optional circuit breaker and health checks.
Every error names the model, version and endpoint (without credentials), the HTTP status and
Triton's own message.

This is the only module that touches aiohttp: its errors are translated into ours here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from .breaker import CircuitBreaker, CircuitState
from ..errors import (
    TritonCircuitOpenError,
    TritonConfigError,
    TritonConnectionError,
    TritonError,
    TritonProtocolError,
    TritonSchemaError,
    TritonTimeoutError,
    server_error_for_status,
)
from ..config import TritonOptions
from ..protocol import InferResponse, Tensor, decode_response, encode_request, error_message
from .retry import is_retryable, wait_equal_jitter

__all__ = ["TritonClient", "ClientStats", "InferPart"]

log = logging.getLogger(__name__)

_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class InferPart:
    """The outcome of one inference request: rows ``[start, stop)`` of the batch."""

    start: int
    stop: int
    outputs: dict[str, np.ndarray] | None = None
    error: TritonError | None = None

    def result(self) -> dict[str, np.ndarray]:
        """The outputs, or raise the request's error."""
        if self.error is not None:
            raise self.error
        assert self.outputs is not None
        return self.outputs


@dataclass
class ClientStats:
    """Counters of one client, for metrics. Plain numbers: safe to read at any time.

    ``requests``/``failures``/``retries`` count HTTP inference requests (one per chunk of a
    split batch); ``rows`` counts rows answered successfully.
    """

    requests: int = 0
    rows: int = 0
    failures: int = 0
    retries: int = 0
    breaker_rejections: int = 0
    in_flight_requests: int = 0
    in_flight_rows: int = 0
    latencies_s: list[float] = field(default_factory=list, repr=False)

    def drain_latencies(self) -> list[float]:
        """Return the request latencies recorded since the last call, and forget them."""
        out, self.latencies_s = self.latencies_s, []
        return out


class TritonClient:
    """Async client for one Triton model.

    Use it as an async context manager, or call :meth:`open` and :meth:`close` on the loop
    that uses it::

        async with TritonClient(options) as client:
            outputs = await client.infer({"features": np.zeros((8, 4), np.float32)})

    :param options: the validated options of the model.
    :param sleep: awaitable sleep used between retries (injectable for tests).
    :param clock: monotonic clock for the breaker and latencies (injectable for tests).
    :param rng: jitter source in ``[0, 1)`` (injectable for tests).
    """

    def __init__(
        self,
        options: TritonOptions,
        *,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.options = options
        self.endpoint = options.parsed_endpoint
        self.stats = ClientStats()
        self.breaker: CircuitBreaker | None = (
            CircuitBreaker(
                options.circuit_breaker_failure_threshold,
                options.circuit_breaker_timeout_s,
                options.circuit_breaker_half_open_requests,
                clock=clock,
            )
            if options.circuit_breaker_enabled
            else None
        )
        self.healthy: bool | None = None  # last health-check verdict, None before the first
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._model_url = self.endpoint.model_url(options.model_name, options.version)
        self._headers = self._build_headers()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._closed = False
        self._sequence_open = False  # a sequence_start was sent and no sequence_end since
        self._metadata: dict[str, Any] | None = None
        self._config: dict[str, Any] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> TritonClient:
        """Create the pooled session on the running loop; start health checks if enabled."""
        if self._closed:
            raise RuntimeError("TritonClient is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._session is not None:
            if loop is not self._loop:
                raise RuntimeError("TritonClient is bound to another event loop")
            return self
        opts = self.options
        connector = aiohttp.TCPConnector(
            # Inference requests in flight, plus room for health probes and metadata calls.
            limit=opts.max_concurrent_requests + 2,
            keepalive_timeout=60,
            ssl=self._ssl_context(),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # Tensors are already encoded; aiohttp must not re-encode or re-compress them.
            auto_decompress=True,
            timeout=aiohttp.ClientTimeout(total=opts.timeout_s),
        )
        self._loop = loop
        self._semaphore = asyncio.Semaphore(opts.max_concurrent_requests)
        if opts.health_check_enabled:
            self._health_task = loop.create_task(self._health_loop(), name="triton-health-check")
        return self

    async def close(self) -> None:
        """Stop health checks and close the pool. Idempotent."""
        self._closed = True
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._health_task
            self._health_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> TritonClient:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- health and metadata --------------------------------------------------------------

    async def server_live(self) -> bool:
        """``GET /v2/health/live`` with the health timeout; ``False`` on any failure."""
        return await self._probe(self.endpoint.health_url("live"))

    async def server_ready(self) -> bool:
        """``GET /v2/health/ready`` with the health timeout; ``False`` on any failure."""
        return await self._probe(self.endpoint.health_url("ready"))

    async def model_ready(self) -> bool:
        """``GET /v2/models/{m}[/versions/{v}]/ready``; ``False`` on any failure."""
        return await self._probe(f"{self._model_url}/ready")

    async def model_metadata(self, *, refresh: bool = False) -> dict[str, Any]:
        """The model's metadata (name, versions, inputs, outputs), cached after the first call."""
        if self._metadata is None or refresh:
            self._metadata = await self._get_json(self._model_url, "model metadata")
        return self._metadata

    async def model_config(self, *, refresh: bool = False) -> dict[str, Any]:
        """The model's configuration as JSON (``max_batch_size``, ``input``, ...), cached."""
        if self._config is None or refresh:
            self._config = await self._get_json(f"{self._model_url}/config", "model config")
        return self._config

    async def max_batch_size(self) -> int:
        """Rows one request may carry: ``batch-size`` if set, capped by the model's limit.

        0 means the model has no batch dimension (requests are never split).
        """
        config = await self.model_config()
        model_max = int(config.get("max_batch_size", 0) or 0)
        if model_max == 0:
            return 0
        if "sequence_batching" in config:
            # Triton's sequence batcher takes one row of a sequence per request.
            return 1
        size = self.options.batch_size
        return min(size, model_max) if size else model_max

    # -- inference ------------------------------------------------------------------------

    async def infer(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str] | None = None,
        *,
        datatypes: Mapping[str, str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        split: bool = True,
    ) -> dict[str, np.ndarray]:
        """Run inference; return every (or every requested) output by name.

        Inputs share their first dimension (the batch) when the model batches; batches
        larger than :meth:`max_batch_size` are split into several requests, sent
        concurrently (in order, one at a time, for sequences), and re-joined in order.

        :param inputs: tensor name -> array; names are sent exactly as given.
        :param outputs: output names to return (default: all the model's outputs).
        :param datatypes: Triton datatype per input where the array's dtype does not say it
            (e.g. ``FP16`` from float32, ``BF16``).
        :param parameters: extra request parameters, merged over ``request-parameters``.
        :param split: whether to split to the model's limit (needs the model config once).
        :raises TritonError: a subclass saying what failed, naming model and endpoint.
        """
        parts = await self.infer_parts(
            inputs, outputs, datatypes=datatypes, parameters=parameters, split=split
        )
        if len(parts) == 1:
            return parts[0].result()
        results = [p.result() for p in parts]
        return {name: np.concatenate([r[name] for r in results]) for name in results[0]}

    async def infer_parts(
        self,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str] | None = None,
        *,
        datatypes: Mapping[str, str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        split: bool = True,
    ) -> list[InferPart]:
        """Like :meth:`infer`, but return each request's rows and outcome separately.

        A failed request does not stop the others: its :class:`InferPart` carries the error,
        so callers can fall back for exactly the rows it held.
        """
        tensors = [
            Tensor.from_array(name, arr, (datatypes or {}).get(name)) for name, arr in inputs.items()
        ]
        if not tensors:
            raise self._error(TritonSchemaError, "infer() needs at least one input")
        binary_outputs: tuple[str, ...] = ()
        if not self.options.binary_data:
            # JSON mode: name the outputs, so those JSON cannot carry (FP16/BF16) come binary.
            meta_outputs = (await self.model_metadata()).get("outputs", [])
            if outputs is None:
                outputs = [o["name"] for o in meta_outputs]
            binary_outputs = tuple(o["name"] for o in meta_outputs if o.get("datatype") in ("FP16", "BF16"))
        limit = await self.max_batch_size() if split else 0
        rows = tensors[0].data.shape[0] if limit and tensors[0].data.ndim else 0
        if limit and any(t.data.ndim == 0 or t.data.shape[0] != rows for t in tensors):
            shapes = ", ".join(f"{t.name}{list(t.data.shape)}" for t in tensors)
            raise self._error(
                TritonSchemaError, f"inputs must share their first (batch) dimension: {shapes}"
            )
        if not limit:
            chunks = [(0, rows)]
        else:
            chunks = [(a, min(a + limit, rows)) for a in range(0, rows, limit)] or [(0, 0)]

        async def run(a: int, b: int, last: bool) -> InferPart:
            part = tensors if (a, b) == (0, rows) else [
                Tensor(t.name, t.datatype, t.data[a:b]) for t in tensors]
            try:
                response = await self._infer_once(
                    part, outputs, binary_outputs, parameters, b - a, last=last)
                return InferPart(a, b, self._checked(response.outputs, b - a if limit else None))
            except TritonError as exc:
                return InferPart(a, b, error=exc)

        if self.options.sequence_id:
            # A sequence is ordered state on the server: send its chunks one after another.
            return [await run(a, b, i == len(chunks) - 1) for i, (a, b) in enumerate(chunks)]
        return list(await asyncio.gather(*(run(a, b, True) for a, b in chunks)))

    def _checked(self, outputs: dict[str, np.ndarray], rows: int | None) -> dict[str, np.ndarray]:
        if rows is not None:
            for name, arr in outputs.items():
                if arr.ndim == 0 or arr.shape[0] != rows:
                    raise self._error(
                        TritonSchemaError,
                        f"output '{name}' has shape {list(arr.shape)} for a batch of {rows} rows",
                    )
        return outputs

    def _request_parameters(
        self, extra: Mapping[str, Any] | None, *, last: bool
    ) -> dict[str, Any]:
        opts = self.options
        params: dict[str, Any] = dict(opts.request_parameters)
        if extra:
            params.update(extra)
        if opts.priority is not None:
            params["priority"] = opts.priority
        if opts.sequence_id:
            sid = opts.sequence_id
            # Triton takes a uint64 or a string; digits that fit go as the number.
            params["sequence_id"] = int(sid) if sid.isdigit() and int(sid) <= _UINT64_MAX else sid
            # The first request of the sequence carries 'sequence_start'; with 'sequence-end',
            # the last request of each infer() call ends it (and the next call starts anew).
            if opts.sequence_start and not self._sequence_open:
                params["sequence_start"] = True
            if opts.sequence_end and last:
                params["sequence_end"] = True
        return params

    async def _infer_once(
        self,
        tensors: list[Tensor],
        outputs: Sequence[str] | None,
        binary_outputs: tuple[str, ...],
        parameters: Mapping[str, Any] | None,
        rows: int,
        *,
        last: bool,
    ) -> InferResponse:
        """One logical request: breaker gate, bounded concurrency, retries."""
        params = self._request_parameters(parameters, last=last)
        request = encode_request(
            tensors,
            outputs=outputs,
            binary=self.options.binary_data,
            binary_outputs=binary_outputs,
            parameters=params or None,
            compression=self.options.compression,
        )
        breaker = self.breaker
        if breaker is not None and not breaker.try_acquire():
            self.stats.breaker_rejections += 1
            raise self._breaker_error()
        health_failure = False
        session, semaphore = await self._ensure_open()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.options.max_retries + 1),
            wait=wait_equal_jitter(
                self.options.retry_initial_backoff_s, self.options.retry_max_backoff_s, self._rng
            ),
            retry=retry_if_exception(is_retryable),
            sleep=self._sleep,
            before_sleep=self._on_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with semaphore:
                        try:
                            response = await self._post_infer(session, request.body, request.headers, rows)
                        except TritonError as exc:
                            health_failure = health_failure or exc.retryable
                            raise
        except TritonError:
            if breaker is not None:
                # One logical request, one outcome: a 4xx alone says the server is up.
                breaker.record_failure() if health_failure else breaker.record_success()
            raise
        if breaker is not None:
            breaker.record_success()
        if "sequence_id" in params:
            self._sequence_open = not params.get("sequence_end", False)
        return response

    async def _post_infer(
        self, session: aiohttp.ClientSession, body: bytes, headers: Mapping[str, str], rows: int
    ) -> InferResponse:
        stats = self.stats
        stats.requests += 1
        stats.in_flight_requests += 1
        stats.in_flight_rows += rows
        started = self._clock()
        try:
            async with self._translate_errors("inference"):
                async with session.post(
                    f"{self._model_url}/infer", data=body, headers={**self._headers, **headers}
                ) as resp:
                    payload = await resp.read()
                    if resp.status != 200:
                        raise server_error_for_status(
                            resp.status,
                            error_message(payload, resp.headers.get("Content-Type")),
                            action="inference",
                            **self._context(),
                        )
                    header_length = resp.headers.get("Inference-Header-Content-Length")
            try:
                response = decode_response(
                    payload, header_length=int(header_length) if header_length else None
                )
            except TritonError as exc:
                raise self._error(type(exc), f"inference response: {exc.message}") from exc
            stats.rows += rows
            return response
        except TritonError:
            stats.failures += 1
            raise
        finally:
            stats.latencies_s.append(self._clock() - started)
            stats.in_flight_requests -= 1
            stats.in_flight_rows -= rows

    def _on_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "Retrying Triton inference (retry %d of %d, in %.3fs) after: %s",
            state.attempt_number,
            self.options.max_retries,
            state.upcoming_sleep,
            exc,
        )

    # -- plumbing -------------------------------------------------------------------------

    async def _ensure_open(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._session is None:
            await self.open()
        elif asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("TritonClient is bound to another event loop")
        assert self._session is not None and self._semaphore is not None
        return self._session, self._semaphore

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        session, _ = await self._ensure_open()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.options.max_retries + 1),
            wait=wait_equal_jitter(
                self.options.retry_initial_backoff_s, self.options.retry_max_backoff_s, self._rng
            ),
            retry=retry_if_exception(is_retryable),
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                async with self._translate_errors(what):
                    async with session.get(url, headers=self._headers) as resp:
                        payload = await resp.read()
                        if resp.status != 200:
                            raise server_error_for_status(
                                resp.status,
                                error_message(payload, resp.headers.get("Content-Type")),
                                action=what,
                                **self._context(),
                            )
                try:
                    result = json.loads(payload)
                except ValueError:
                    raise self._error(
                        TritonProtocolError, f"{what}: the server's answer is not JSON"
                    ) from None
                if not isinstance(result, dict):
                    raise self._error(TritonProtocolError, f"{what}: expected a JSON object")
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _probe(self, url: str) -> bool:
        session, _ = await self._ensure_open()
        try:
            async with session.get(
                url,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.options.health_check_timeout_s),
            ) as resp:
                await resp.read()
                return resp.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.debug("Health probe of %s failed: %s", self.endpoint, type(exc).__name__)
            return False

    async def check_health(self) -> bool:
        """One health check: live, else ready. A failure counts against the breaker."""
        healthy = await self.server_live() or await self.server_ready()
        if not healthy:
            if self.healthy is not False:
                log.warning("Triton server at %s failed its health check", self.endpoint)
            if self.breaker is not None:
                self.breaker.record_failure()
        self.healthy = healthy
        return healthy

    async def _health_loop(self) -> None:
        while True:
            await self.check_health()
            await asyncio.sleep(self.options.health_check_interval_s)

    @contextlib.asynccontextmanager
    async def _translate_errors(self, what: str) -> AsyncIterator[None]:
        # The one place where aiohttp's errors become ours (cf. httpx's transport mapping).
        try:
            yield
        except TritonError:
            raise
        except asyncio.TimeoutError:
            raise self._error(
                TritonTimeoutError, f"{what} timed out after {self.options.timeout_s:g}s"
            ) from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
            raise self._error(
                TritonConnectionError, f"{what} failed: {type(exc).__name__}: {_safe(exc, self)}"
            ) from None
        except aiohttp.ClientError as exc:
            raise self._error(
                TritonConnectionError, f"{what} failed: {type(exc).__name__}: {_safe(exc, self)}"
            ) from None

    def _build_headers(self) -> dict[str, str]:
        opts = self.options
        # aiohttp would ask for gzip/deflate/br by default, and Triton would then spend CPU
        # compressing every response; ask for gzip only when compression is on.
        headers = {"Accept-Encoding": "gzip" if opts.compression == "gzip" else "identity"}
        headers.update(opts.custom_headers)
        if opts.auth_token:
            token = opts.auth_token
            # Flink's docs write 'Bearer <token>'; do not send 'Bearer Bearer <token>'.
            headers["Authorization"] = token if token.lower().startswith("bearer ") else f"Bearer {token}"
        elif self.endpoint.username is not None:
            # user:password@ in the endpoint means HTTP basic auth (RFC 7617).
            pair = f"{self.endpoint.username}:{self.endpoint.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return headers

    def _ssl_context(self) -> ssl.SSLContext | bool:
        opts = self.options
        if not opts.tls_verify:
            return False
        if opts.tls_ca_file:
            try:
                return ssl.create_default_context(cafile=opts.tls_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise TritonConfigError(
                    f"Option 'tls-ca-file': cannot load {opts.tls_ca_file!r}: {exc}",
                    option="tls-ca-file",
                ) from None
        return True

    def _context(self) -> dict[str, Any]:
        return {
            "model": self.options.model_name,
            "version": self.options.model_version,
            "endpoint": str(self.endpoint),
        }

    def _error(self, cls: type[TritonError], message: str) -> TritonError:
        return cls(message, **self._context())

    def _breaker_error(self) -> TritonCircuitOpenError:
        assert self.breaker is not None
        state = self.breaker.state
        if state is CircuitState.OPEN:
            text = (
                "circuit breaker is OPEN: the server is considered unhealthy; next probe in "
                f"{self.breaker.seconds_until_probe():.1f}s"
            )
        else:
            text = (
                f"circuit breaker is HALF_OPEN and all {self.breaker.half_open_requests} "
                "probe requests are taken; retry later"
            )
        return TritonCircuitOpenError(text, **self._context())

    def __repr__(self) -> str:
        return (
            f"TritonClient(model={self.options.model_name!r}, version={self.options.model_version!r}, "
            f"endpoint={str(self.endpoint)!r})"
        )


def _safe(exc: BaseException, client: TritonClient) -> str:
    """An aiohttp error's text without credentials (it may quote the URL)."""
    text = str(exc)
    ep = client.endpoint
    if ep.password:
        text = text.replace(ep.password, "<redacted>")
    if client.options.auth_token:
        text = text.replace(client.options.auth_token, "<redacted>")
    return text
