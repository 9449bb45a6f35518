"""``TritonClient``: an async KServe v2 client for one Triton model.

What it adds over ``tritonclient.http.aio``: a pool made on the loop that uses it, tensors
encoded with numpy in one pass, large batches split to the model's limit and sent
concurrently, retries (tenacity), timeouts, an optional circuit breaker and health checks.
Every error names the model, version and endpoint (without credentials), the HTTP status
and Triton's own message. The parts live next door: :mod:`.transport` (the pool, and its
errors made ours), :mod:`.request`, :mod:`.retry`, :mod:`.breaker`, :mod:`.health`,
:mod:`.stats`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ..config import TritonOptions
from ..errors import TritonCircuitOpenError, TritonError, TritonSchemaError
from ..protocol import InferResponse, Tensor, decode_response, encode_request
from ..protocol.generate import encode_generate
from .breaker import CircuitBreaker
from .correlation import BatchTag, RequestIds
from .generate import ROUTES, GenerateAttempt, Generation, generate_headers
from .health import HealthChecker
from .request import (
    Batch,
    build_headers,
    check_outputs,
    check_rows,
    error_context,
    json_object,
    output_datatypes,
    plan_chunks,
    request_parameters,
    status_error,
)
from .retry import RetryPolicy
from .stats import ClientStats
from .transport import Response, Transport

__all__ = ["ClientStats", "Generation", "InferPart", "TritonClient"]

T = TypeVar("T")


@dataclass(frozen=True)
class InferPart:
    """The outcome of one inference request: rows ``[start, stop)`` of the batch.

    ``request_id``: the id the server echoed in its response (``None`` if it echoed none);
    for a failed request, the id that was sent (the error names it too).
    """

    start: int
    stop: int
    outputs: dict[str, npt.NDArray[Any]] | None = None
    error: TritonError | None = None
    request_id: str | None = None

    def result(self) -> dict[str, npt.NDArray[Any]]:
        """The outputs, or raise the request's error."""
        if self.error is not None:
            raise self.error
        assert self.outputs is not None
        return self.outputs


class TritonClient:
    """Async client for one Triton model.

    Use it as an async context manager, or call :meth:`open` and :meth:`close` on the loop
    that uses it::

        async with TritonClient(options) as client:
            outputs = await client.infer({"features": np.zeros((8, 4), np.float32)})

    :param options: the validated options of the model.
    :param sleep: awaitable sleep between retries and health checks (injectable for tests).
    :param clock: monotonic clock for the breaker and latencies (injectable for tests).
    :param rng: jitter source in ``[0, 1)`` (injectable for tests).
    :param request_ids: names the requests (job, subtask, batch); default: a random prefix.
    """

    def __init__(
        self,
        options: TritonOptions,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        request_ids: RequestIds | None = None,
    ) -> None:
        self.options = options
        self.request_ids = request_ids or RequestIds(tracing=options.tracing)
        self.endpoint = options.parsed_endpoint
        self.stats = ClientStats()
        self.breaker: CircuitBreaker | None = None
        if options.circuit_breaker_enabled:
            self.breaker = CircuitBreaker(
                options.circuit_breaker_failure_threshold,
                options.circuit_breaker_timeout_s,
                options.circuit_breaker_half_open_requests,
                clock=clock,
            )
        self._clock = clock
        self._context = error_context(options)
        self._model_url = self.endpoint.model_url(options.model_name, options.version)
        self._infer_url = f"{self._model_url}/infer"
        self._transport = Transport(options, headers=build_headers(options), context=self._context)
        self._retry = RetryPolicy.from_options(options, rng=rng, sleep=sleep)
        self._health = HealthChecker(
            self._probe,
            self.endpoint,
            self._model_url,
            breaker=self.breaker,
            sleep=sleep,
            interval_s=options.health_check_interval_s,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._closed = False
        self._sequence_open = False  # a sequence_start was sent and no sequence_end since
        self._metadata: dict[str, Any] | None = None
        self._config: dict[str, Any] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> TritonClient:
        """Create the pooled session on the running loop; start health checks if enabled.

        :raises RuntimeError: the client is closed, or open on another loop.
        :raises TritonConfigError: ``tls-ca-file`` cannot be loaded.
        """
        if self._closed:
            raise RuntimeError("TritonClient is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._transport.is_open:
            if loop is not self._loop:
                raise RuntimeError("TritonClient is bound to another event loop")
            return self
        await self._transport.open()
        self._loop = loop
        self._semaphore = asyncio.Semaphore(self.options.max_concurrent_requests)
        if self.options.health_check_enabled:
            self._health.start()
        return self

    async def close(self) -> None:
        """Stop health checks and close the pool. Idempotent."""
        self._closed = True
        await self._health.stop()
        await self._transport.close()

    async def __aenter__(self) -> TritonClient:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def pool_open(self) -> bool:
        """Whether the connection pool is open (after :meth:`open`, until :meth:`close`)."""
        return self._transport.session is not None

    # -- health and metadata --------------------------------------------------------------

    @property
    def healthy(self) -> bool | None:
        """The last health check's verdict; ``None`` before the first."""
        return self._health.healthy

    async def server_live(self) -> bool:
        """``GET /v2/health/live`` with the health timeout; ``False`` on any failure."""
        return await self._health.server_live()

    async def server_ready(self) -> bool:
        """``GET /v2/health/ready`` with the health timeout; ``False`` on any failure."""
        return await self._health.server_ready()

    async def model_ready(self) -> bool:
        """``GET /v2/models/{m}[/versions/{v}]/ready``; ``False`` on any failure."""
        return await self._health.model_ready()

    async def check_health(self) -> bool:
        """One health check: live, and ready only after a non-200 answer; its verdict,
        success or failure, is told to the breaker."""
        return await self._health.check()

    async def model_metadata(self, *, refresh: bool = False) -> dict[str, Any]:
        """The model's metadata (name, versions, inputs, outputs), cached after the first call.

        :raises TritonError: the request failed (after retries), or the answer is not JSON.
        """
        if self._metadata is None or refresh:
            self._metadata = await self._get_json(self._model_url, "model metadata")
        return self._metadata

    async def model_config(self, *, refresh: bool = False) -> dict[str, Any]:
        """The model's configuration as JSON (``max_batch_size``, ``input``, ...), cached.

        :raises TritonError: the request failed (after retries), or the answer is not JSON.
        """
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

    async def decoupled(self) -> bool:
        """Whether the model is decoupled (``model_transaction_policy { decoupled: true }``, as
        LLMs on vLLM or TensorRT-LLM): Triton then serves it through :meth:`generate` only.

        :raises TritonError: the configuration could not be fetched.
        """
        policy = (await self.model_config()).get("model_transaction_policy")
        return isinstance(policy, dict) and policy.get("decoupled") is True

    # -- generate extension ---------------------------------------------------------------

    async def generate(
        self, fields: Mapping[str, Any], *, stream: bool = False, request_id: str | None = None
    ) -> Generation:
        """One request to Triton's ``/generate`` (one JSON object back) or, with ``stream``,
        ``/generate_stream`` (one object per server-sent event, read as they come); with the
        breaker, bound, retries, headers and auth of :meth:`infer`. A stream cut short is retried
        whole: a failed attempt's events are dropped, never returned.

        :param fields: the request's JSON object: input names (``text_input``) and request
            parameters (``max_tokens``) as top-level keys and/or in a ``"parameters"`` object.
        :param request_id: sent as ``X-Request-ID`` (default: the next id of :attr:`request_ids`);
            see :mod:`.generate` for why not as the body's ``id``.
        :raises TritonModelError: an ``error`` in a 200 answer (e.g. mid-stream); not retried.
        :raises TritonClientRequestError: 4xx, also a server without the generate extension.
        :raises TritonProtocolError: a malformed answer, a line or a stream over its bound.
        :raises TritonError: others as for :meth:`infer` (timeout, network, 5xx, breaker).
        """
        body = encode_generate(fields)
        tag = self.request_ids.batch()
        request_id = request_id or tag.next_id()
        headers = {**generate_headers(stream), **tag.headers(request_id)}
        route = ROUTES[stream]
        attempt = GenerateAttempt(
            self._transport,
            f"{self._model_url}/{route}",
            stream,
            self._context,
            self._clock,
            self.options.max_response_size,
        )

        async def send() -> Generation:
            return await self.stats.counted(attempt(body, headers), 1, self._clock)

        return await self._guarded(send, route, request_id)

    # -- inference ------------------------------------------------------------------------

    async def infer(
        self,
        inputs: Mapping[str, npt.NDArray[Any]],
        outputs: Sequence[str] | None = None,
        *,
        datatypes: Mapping[str, str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        split: bool = True,
        tag: BatchTag | None = None,
    ) -> dict[str, npt.NDArray[Any]]:
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
            With ``split`` (or ``binary-data`` false) the model's metadata is fetched once
            too, and every response's output datatypes are checked against it; without,
            they are checked when the metadata is known already (:meth:`model_metadata`).
        :param tag: the batch's request ids (default: the next batch of :attr:`request_ids`).
        :raises TritonError: a subclass saying what failed, naming model and endpoint.
        :raises TritonSchemaError: an output named in ``outputs`` is missing from a response,
            or one comes back with another datatype than the model's metadata declares
            (the answer decodes, but its tensors do not fit: like a wrong row count).
        """
        parts = await self.infer_parts(
            inputs, outputs, datatypes=datatypes, parameters=parameters, split=split, tag=tag
        )
        if len(parts) == 1:
            return parts[0].result()
        results = [p.result() for p in parts]
        return {name: np.concatenate([r[name] for r in results]) for name in results[0]}

    async def infer_parts(
        self,
        inputs: Mapping[str, npt.NDArray[Any]],
        outputs: Sequence[str] | None = None,
        *,
        datatypes: Mapping[str, str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        split: bool = True,
        tag: BatchTag | None = None,
    ) -> list[InferPart]:
        """Like :meth:`infer`, but return each request's rows and outcome separately.

        A failed request does not stop the others: its :class:`InferPart` carries the error,
        so callers can fall back for exactly the rows it held.

        :raises TritonSchemaError: no inputs, or inputs of different batch sizes.
        """
        types = datatypes or {}
        tensors = [Tensor.from_array(name, arr, types.get(name)) for name, arr in inputs.items()]
        if not tensors:
            raise TritonSchemaError("infer() needs at least one input", **self._context)
        binary_outputs: tuple[str, ...] = ()
        required = outputs  # what the caller asked for must come back; a default need not
        declared: dict[str, str] = {}
        if split or not self.options.binary_data or self._metadata is not None:
            declared = output_datatypes(await self.model_metadata())
        if not self.options.binary_data:
            # JSON mode: name the outputs, so those JSON cannot carry (FP16/BF16) come binary.
            if outputs is None:
                outputs = list(declared)
            binary_outputs = tuple(n for n, dt in declared.items() if dt in ("FP16", "BF16"))
        limit = await self.max_batch_size() if split else 0
        rows, chunks = plan_chunks(tensors, limit, self._context)
        batch = Batch(
            tensors,
            rows,
            bool(limit),
            outputs,
            binary_outputs,
            parameters,
            required,
            declared,
            tag or self.request_ids.batch(),
        )
        if len(chunks) == 1:
            return [await self._infer_chunk(batch, *chunks[0], last=True)]
        if self.options.sequence_id:
            # A sequence is ordered state on the server: send its chunks one after another.
            final = chunks[-1]
            return [await self._infer_chunk(batch, a, b, last=(a, b) == final) for a, b in chunks]
        runs = (self._infer_chunk(batch, a, b, last=True) for a, b in chunks)
        return list(await asyncio.gather(*runs))

    async def _infer_chunk(self, batch: Batch, start: int, stop: int, *, last: bool) -> InferPart:
        """Rows ``[start, stop)`` as one logical request; its error goes into the part."""
        tensors = batch.tensors
        if (start, stop) != (0, batch.rows):
            tensors = [Tensor(t.name, t.datatype, t.data[start:stop]) for t in tensors]
        params = request_parameters(self.options, batch.parameters, sequence_open=self._sequence_open, last=last)
        request_id = batch.tag.next_id()
        try:
            request = encode_request(
                tensors,
                outputs=batch.outputs,
                binary=self.options.binary_data,
                binary_outputs=batch.binary_outputs,
                parameters=params or None,
                request_id=request_id,
                compression=self.options.compression,
            )
            headers = {**request.headers, **batch.tag.headers(request_id)}
            response = await self._send(request.body, headers, stop - start, batch, request_id)
            if "sequence_id" in params:
                self._sequence_open = not params.get("sequence_end", False)
            rows = stop - start if batch.checked else None
            outputs = check_rows(response.outputs, rows, self._context)
            return InferPart(start, stop, outputs, request_id=response.id)
        except TritonError as exc:
            exc.request_id = exc.request_id or request_id
            return InferPart(start, stop, error=exc, request_id=request_id)

    async def _send(
        self, body: bytes, headers: Mapping[str, str], rows: int, batch: Batch, request_id: str
    ) -> InferResponse:
        """One logical inference request (see :meth:`_guarded`)."""

        async def send() -> InferResponse:
            return await self._post_infer(body, headers, rows, batch)

        return await self._guarded(send, "inference", request_id)

    async def _guarded(self, send: Callable[[], Awaitable[T]], what: str, request_id: str) -> T:
        """One logical request: breaker gate, bounded concurrency, retries; one breaker outcome."""
        _, semaphore = await self._ensure_open()
        breaker = self.breaker
        if breaker is not None and not breaker.try_acquire():
            self.stats.breaker_rejections += 1
            raise TritonCircuitOpenError(breaker.refusal(), request_id=request_id, **self._context)
        unhealthy = False

        async def attempt() -> T:
            nonlocal unhealthy
            async with semaphore:  # per attempt: a backoff sleep holds no slot
                try:
                    return await send()
                except TritonError as exc:
                    unhealthy = unhealthy or exc.retryable
                    exc.request_id = request_id  # before the retry policy logs it
                    raise

        try:
            response = await self._retry.call(attempt, what=what, on_retry=self._count_retry)
        except TritonError:
            if breaker is not None:
                # One logical request, one outcome: a 4xx alone says the server is up.
                breaker.record_failure() if unhealthy else breaker.record_success()
            raise
        if breaker is not None:
            breaker.record_success()
        return response

    async def _post_infer(self, body: bytes, headers: Mapping[str, str], rows: int, batch: Batch) -> InferResponse:
        """One HTTP attempt, counted in :attr:`stats`; its outputs checked against ``batch``."""
        return await self.stats.counted(self._infer_once(body, headers, batch), rows, self._clock)

    async def _infer_once(self, body: bytes, headers: Mapping[str, str], batch: Batch) -> InferResponse:
        resp = await self._transport.post(self._infer_url, body, headers, what="inference")
        self._raise_for_status(resp, "inference")
        length = resp.headers.get("Inference-Header-Content-Length")
        try:
            # A malformed header length is the codec's protocol error, not a ValueError here.
            response = decode_response(resp.body, header_length=length)
        except TritonError as exc:
            # The message may quote the body: redacted, and the original not chained.
            message = self._transport.redact(f"inference response: {exc.message}")
            raise type(exc)(message, **self._context) from None
        problem = check_outputs(response.datatypes, batch.required, batch.declared)
        if problem:
            message = self._transport.redact(f"inference response: {problem}")
            raise TritonSchemaError(message, **self._context)
        return response

    # -- plumbing -------------------------------------------------------------------------

    async def _ensure_open(self) -> tuple[Transport, asyncio.Semaphore]:
        if not self._transport.is_open:
            await self.open()
        elif asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("TritonClient is bound to another event loop")
        assert self._semaphore is not None
        return self._transport, self._semaphore

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        """``GET`` a JSON object, retried like inference (not counted in :attr:`stats`)."""
        transport, _ = await self._ensure_open()

        async def attempt() -> dict[str, Any]:
            resp = await transport.get(url, what=what)
            self._raise_for_status(resp, what)
            return json_object(resp.body, what, self._context)

        return await self._retry.call(attempt, what=what)

    def _count_retry(self) -> None:
        self.stats.retries += 1

    async def _probe(self, url: str) -> bool | None:
        transport, _ = await self._ensure_open()
        return await transport.probe(url)

    def _raise_for_status(self, resp: Response, what: str) -> None:
        if resp.status != 200:
            raise status_error(resp.status, resp.headers, resp.body, what, self._transport.redact, self._context)

    def __repr__(self) -> str:
        return (
            f"TritonClient(model={self.options.model_name!r}, "
            f"version={self.options.model_version!r}, endpoint={str(self.endpoint)!r})"
        )
