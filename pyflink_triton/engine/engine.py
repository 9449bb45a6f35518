"""The inference engine behind both UDF modes: rows in, one outcome per row out, in input order.

:class:`InferenceEngine` takes a batch of columns (pandas, as PyFlink hands a pandas UDF, or as
the async UDF's coalescer gathers rows), leaves NULL rows out, groups the others into requests
(rows of equal array lengths together; one row per request for a model without a batch
dimension; a sequence's batches one at a time), lets the client split and send them, and
collects one outcome per row: the model's values, the ``default-value`` for rows of a failed
request, or the error. It also counts what it did (:class:`EngineStats`). No PyFlink here: the
UDFs in ``pyflink_triton.flink`` are thin shells around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..client import InferPart, TritonClient
from ..client.correlation import BatchTag, RequestIds
from ..config import TritonOptions
from ..errors import TritonConfigError, TritonError, TritonSchemaError, TritonTimeoutError, describe_target
from .binding import Column, ModelBinding, bind_model
from .columns import array_lengths, null_mask, to_column, to_tensor
from .defaults import parse_default_value
from .generate import GenerationStats, generate_rows
from .loop import LoopThread
from .outcomes import ERROR_MODES, Outcomes

__all__ = ["EngineConfig", "EngineStats", "InferenceEngine", "RowsPredicted", "fetch_binding", "rows_predicted"]

log = logging.getLogger(__name__)

# A string: pandas 2.2 has no runtime pd.Series[...], which only its stubs know.
Columns: TypeAlias = "Sequence[pd.Series[Any] | pd.DataFrame]"

# Engines open in this process: a local job's progress can be read off them (CLI).
_OPEN_ENGINES: weakref.WeakSet[InferenceEngine] = weakref.WeakSet()
_CLOSED_ROWS = [0, 0]  # rows, failed rows of the engines closed so far
_FIRST_BATCH_AT: list[float] = []


class RowsPredicted(NamedTuple):
    """What :func:`rows_predicted` counts: the ``rows`` and ``failedRows`` of the ``triton``
    metric group, summed over this process's engines."""

    rows: int
    failed_rows: int
    first_batch_at: float | None  #: ``time.monotonic()`` of the first batch, None before it


def rows_predicted() -> RowsPredicted:
    """Rows that engines in this process have handled so far, those that failed, and when the
    first batch came. Local jobs only: on a cluster the UDFs run in the TaskManagers."""
    engines = list(_OPEN_ENGINES)
    return RowsPredicted(
        _CLOSED_ROWS[0] + sum(e.stats.rows for e in engines),
        _CLOSED_ROWS[1] + sum(e.stats.failed_rows for e in engines),
        _FIRST_BATCH_AT[0] if _FIRST_BATCH_AT else None,
    )


@dataclass
class EngineStats:
    """What one engine did; the client's own counters (requests, retries...) are beside it."""

    rows: int = 0  #: rows handed in, NULL rows included
    null_rows: int = 0  #: rows with a NULL argument: not sent, NULL result
    fallback_rows: int = 0  #: rows of failed requests given the ``default-value``
    failed_rows: int = 0  #: rows whose outcome is an error
    batches: int = 0  #: batches handed in


@dataclass(frozen=True)
class EngineConfig:
    """What one function instance runs: configuration only (UDFs pickle it to the workers).

    :param options: the model's options.
    :param inputs: the function's arguments (names when known, for matching tensor names);
        None: every model input in order.
    :param outputs: the wanted outputs (names and declared types), None for all.
    :param fill_value: sent in place of NULL elements inside arrays (None: such rows fail).
    :param total_timeout_s: bound on one batch's total time, retries included.
    :param error_mode: ``fail`` (a failed row fails the job, or takes ``default-value``) or
        ``column`` (every row also gets an ``error`` field: NULL, or why it failed).
    """

    options: TritonOptions
    inputs: tuple[Column, ...] | None = None
    outputs: tuple[Column, ...] | None = None
    fill_value: Any = None
    total_timeout_s: float | None = None
    error_mode: str = "fail"

    def __post_init__(self) -> None:
        if self.error_mode not in ERROR_MODES:
            raise TritonConfigError(
                f"Invalid error mode {self.error_mode!r}. Accepted: {', '.join(map(repr, ERROR_MODES))}.",
                option="error-mode",
            )

    @classmethod
    def of(
        cls,
        options: TritonOptions,
        inputs: Sequence[Column] | None = None,
        outputs: Sequence[Column] | None = None,
        **kwargs: Any,
    ) -> EngineConfig:
        """Build one from sequences of columns (kept as tuples)."""
        return cls(
            options, None if inputs is None else tuple(inputs), None if outputs is None else tuple(outputs), **kwargs
        )


class InferenceEngine:
    """Runs one model for one function instance, on the event loop that calls it.

    :param request_ids: names the requests (the UDF gives job and subtask); default: random.
    """

    def __init__(self, config: EngineConfig, request_ids: RequestIds | None = None) -> None:
        self.config = config
        self.request_ids = request_ids or RequestIds(tracing=config.options.tracing)
        self.options = config.options
        self.stats = EngineStats()
        self.generation_stats = GenerationStats()
        self.binding: ModelBinding | None = None
        self.client: TritonClient | None = None
        self._has_default = False
        self._default: Any = None
        self._datatypes: dict[str, str] = {}
        self._sequence_lock: asyncio.Lock | None = None
        #: Generate requests in flight, at most ``max-concurrent-requests`` (made on the loop).
        self.generate_slots = asyncio.Semaphore(1)

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self, binding: ModelBinding | None = None) -> ModelBinding:
        """Open the client on the running loop; bind (unless ``binding`` is given), parse
        ``default-value`` for the result type."""
        self.client = TritonClient(self.options, request_ids=self.request_ids)
        await self.client.open()
        if binding is None:
            meta, config = await self.client.model_metadata(), await self.client.model_config()
            binding = bind(self.options, meta, config, self.config.inputs, self.config.outputs)
        self._has_default, self._default = parse_default_value(self.options.default_value, binding.result_type())
        self._datatypes = {spec.name: spec.datatype for spec in binding.inputs if not spec.parameter}
        self._sequence_lock = asyncio.Lock() if binding.sequence else None
        self.generate_slots = asyncio.Semaphore(self.options.max_concurrent_requests)
        self.binding = binding
        _OPEN_ENGINES.add(self)
        return binding

    async def close(self) -> None:
        """Close the client (kept, closed, so that its counters stay readable). Idempotent;
        safe after a failed open."""
        if self in _OPEN_ENGINES:
            _OPEN_ENGINES.discard(self)
            _CLOSED_ROWS[0] += self.stats.rows
            _CLOSED_ROWS[1] += self.stats.failed_rows
        if self.client is not None:
            await self.client.close()

    # -- prediction -----------------------------------------------------------------------

    async def predict(self, columns: Columns) -> Outcomes:
        """One outcome per input row, in input order; NULL inputs give NULL."""
        binding = self.binding
        if binding is None or self.client is None:
            raise RuntimeError("InferenceEngine.open() was not called")
        if len(columns) != len(binding.inputs):
            raise TypeError(f"expected {len(binding.inputs)} arguments, got {len(columns)}")
        n = len(columns[0]) if columns else 0
        if not _FIRST_BATCH_AT:
            _FIRST_BATCH_AT.append(time.monotonic())
        outcomes = Outcomes(binding.outputs, n, error_column=self.config.error_mode == "column")
        valid = np.ones(n, dtype=bool)
        for column, spec in zip(columns, binding.inputs):
            if not spec.parameter:  # a NULL generation parameter is not sent; the row is
                valid &= ~null_mask(column)
        rows = np.flatnonzero(valid)
        tag = self.request_ids.batch(self.stats.batches)
        self.stats.rows += n
        self.stats.batches += 1
        self.stats.null_rows += n - len(rows)
        if len(rows):
            lock = self._sequence_lock or contextlib.nullcontext()
            async with lock:  # a sequence's batches go one at a time, in order
                await self._predict_bounded(columns, rows, outcomes, tag)
        self.stats.failed_rows += outcomes.failed_rows
        return outcomes

    async def _predict_bounded(
        self, columns: Columns, rows: npt.NDArray[Any], outcomes: Outcomes, tag: BatchTag
    ) -> None:
        try:
            async with asyncio.timeout(self.config.total_timeout_s):
                await self._predict_rows(columns, rows, outcomes, tag)
        except TimeoutError as exc:
            if isinstance(exc, TritonError):  # not our bound: a client error, already named
                raise
            undecided = rows[~outcomes.decided()[rows]]
            error = self._named(
                TritonTimeoutError(
                    f"a batch of {len(rows)} rows got no result within {self.config.total_timeout_s:g}s "
                    f"(the 'timeout' of ML_PREDICT's config or of the function); {len(undecided)} "
                    f"rows were still waiting; its requests' ids begin with {tag.prefix}"
                )
            )
            self.fallback(outcomes, undecided, error)

    async def _predict_rows(self, columns: Columns, rows: npt.NDArray[Any], outcomes: Outcomes, tag: BatchTag) -> None:
        if self.binding is not None and self.binding.generates:
            await generate_rows(self, columns, rows, outcomes, tag)
            return
        calls = [self._predict_group(columns, group, outcomes, tag) for group in self._groups(columns, rows)]
        if self.binding is not None and self.binding.sequence:
            for call in calls:  # a sequence's rows go in order
                await call
        else:
            await asyncio.gather(*calls)

    def _groups(self, columns: Columns, rows: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
        """Row positions that can share a request: all of them, or rows of equal array
        lengths when arrays vary; one row each for models without a batch dimension."""
        binding = self.binding
        assert binding is not None
        if not binding.batching:
            return [rows[i : i + 1] for i in range(len(rows))]
        ragged = [i for i, spec in enumerate(binding.inputs) if spec.is_array and (not spec.dims or spec.dims[-1] < 0)]
        if not ragged:
            return [rows]
        lengths = np.stack([array_lengths(_input(_take(columns[i], rows))) for i in ragged], axis=1)
        keys, inverse = np.unique(lengths, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        return [rows[inverse == k] for k in range(len(keys))]

    async def _predict_group(
        self, columns: Columns, positions: npt.NDArray[Any], outcomes: Outcomes, tag: BatchTag
    ) -> None:
        binding, client = self.binding, self.client
        assert binding is not None and client is not None
        batched = binding.batching
        positions, tensors = self._tensors(columns, positions, outcomes)
        if not len(positions):
            return
        parts: list[InferPart] = await client.infer_parts(
            tensors, binding.output_names, datatypes=self._datatypes, split=batched, tag=tag
        )
        for part in parts:
            where = positions[part.start : part.stop] if batched else positions
            try:
                outcomes.put(where, self._values(part, len(where)))
            except TritonError as exc:
                self.fallback(outcomes, where, exc)

    def _tensors(
        self, columns: Columns, positions: npt.NDArray[Any], outcomes: Outcomes
    ) -> tuple[npt.NDArray[Any], dict[str, npt.NDArray[Any]]]:
        """The group's tensors, and the positions they hold. Rows that do not fit the model
        (an input error, never replaced by the default) fail alone: on the error path each
        row is converted on its own, so that the others still go."""
        binding = self.binding
        assert binding is not None
        fill = self.config.fill_value

        def convert(rows: npt.NDArray[Any]) -> dict[str, npt.NDArray[Any]]:
            return {
                spec.name: to_tensor(_input(_take(col, rows)), spec, batched=binding.batching, fill_value=fill)
                for spec, col in zip(binding.inputs, columns)
            }

        try:
            return positions, convert(positions)
        except TritonError as exc:
            if len(positions) == 1:
                outcomes.fail(positions, self._named(exc))
                return positions[:0], {}
        good = []
        for p in positions:
            try:
                convert(np.array([p]))
                good.append(p)
            except TritonError as exc:
                outcomes.fail(np.array([p]), self._named(exc))
        kept = np.array(good, dtype=positions.dtype)
        return kept, (convert(kept) if len(kept) else {})

    def _values(self, part: InferPart, rows: int) -> list[Any]:
        """Each output's row values from one request's answer (or raise its error)."""
        binding = self.binding
        assert binding is not None
        outputs = part.result()
        values = []
        for spec in binding.outputs:
            array = outputs.get(spec.name)
            if array is None:
                raise self._named(
                    TritonSchemaError(f"the response has no output '{spec.name}' (got: {', '.join(outputs) or 'none'})")
                )
            if not binding.batching:
                array = array.reshape((1, *array.shape))
            values.append(to_column(array, spec, rows))
        return values

    def fallback(self, outcomes: Outcomes, positions: npt.NDArray[Any], error: TritonError) -> None:
        """Rows of a failed request: the ``default-value`` when there is one, else the error."""
        error = self._named(error)
        if not self._has_default:
            outcomes.fail(positions, error)
            return
        self.stats.fallback_rows += len(positions)
        log.warning("Triton inference failed for %d rows; using 'default-value': %s", len(positions), error)
        outcomes.put_default(positions, self._default, error)

    def _named(self, error: TritonError) -> TritonError:
        return with_context(error, self.options)

    def __repr__(self) -> str:
        o = self.options
        return f"InferenceEngine({describe_target(o.model_name, o.model_version, o.safe_endpoint)})"


def _take(column: pd.Series[Any] | pd.DataFrame, rows: npt.NDArray[Any]) -> pd.Series[Any] | pd.DataFrame:
    """The rows at ``rows`` (increasing positions); the column itself when that is all of them."""
    return column if len(rows) == len(column) else column.iloc[rows]


def _input(column: pd.Series[Any] | pd.DataFrame) -> pd.Series[Any]:
    """An input column, a Series: a ROW column (a DataFrame) never binds to an input tensor."""
    assert isinstance(column, pd.Series), "the binding refuses ROW inputs"
    return column


def with_context(error: TritonError, options: TritonOptions) -> TritonError:
    """The error with the model's name, version and endpoint, where it lacks them."""
    if error.model is None or error.endpoint is None:
        error.model = error.model or options.model_name
        error.version, error.endpoint = options.model_version, options.safe_endpoint
    return error


def bind(
    options: TritonOptions,
    metadata: dict[str, Any],
    config: dict[str, Any],
    inputs: Sequence[Column] | None,
    outputs: Sequence[Column] | None,
) -> ModelBinding:
    """:func:`bind_model` with the options' flags, its errors naming model and endpoint."""
    try:
        return bind_model(
            metadata,
            config,
            inputs,
            outputs,
            flatten_batch_dim=options.flatten_batch_dim,
            inference_api=options.inference_api,
            generate_fields=options.generate_parameters,
        )
    except TritonError as exc:
        raise with_context(exc, options) from None


def fetch_binding(
    options: TritonOptions,
    inputs: Sequence[Column] | None,
    outputs: Sequence[Column] | None = None,
) -> ModelBinding:
    """Ask the server for the model's metadata and bind columns to it (a blocking call).

    Used where a job is defined, to derive result types the user did not declare, and by
    the async UDF, whose own event loop does not exist yet when it opens.
    """

    async def fetch() -> ModelBinding:
        async with TritonClient(options) as client:
            meta, config = await client.model_metadata(), await client.model_config()
        return bind(options, meta, config, inputs, outputs)

    loop = LoopThread("triton-metadata").start()
    try:
        return loop.run(fetch())
    finally:
        loop.stop()
