"""The engine behind the UDFs: one event loop thread and one client per worker, and
``predict()``, which turns one batch of columns into batched requests and back into one
result per row, in row order.

No PyFlink here: the UDF classes (``udf.py``) are thin shells around :class:`ModelRuntime`,
which is tested on its own against a real Triton.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import weakref
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from .binding import Column, ModelBinding, TensorSpec, bind_model
from ..client.client import InferPart, TritonClient
from .columns import array_lengths, null_mask, parse_default_value, to_column, to_tensor
from ..errors import TritonError, TritonSchemaError, TritonTimeoutError, describe_target
from ..config import TritonOptions

__all__ = ["LoopThread", "ModelRuntime", "fetch_binding", "rows_predicted"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_NUMPY_OF = {
    "BOOLEAN": np.dtype(bool), "TINYINT": np.dtype(np.int8), "SMALLINT": np.dtype(np.int16),
    "INT": np.dtype(np.int32), "BIGINT": np.dtype(np.int64), "FLOAT": np.dtype(np.float32),
    "DOUBLE": np.dtype(np.float64),
}


# Runtimes open in this process: a local job's progress can be read off them.
_OPEN_RUNTIMES: weakref.WeakSet[ModelRuntime] = weakref.WeakSet()
_CLOSED_ROWS = [0]


_FIRST_BATCH_AT: list[float] = []


def rows_predicted() -> tuple[int, float | None]:
    """Rows that model runtimes in this process have handled so far, and when the first
    batch arrived (``time.monotonic``). Local jobs only: on a cluster the functions run in
    the TaskManagers' Python workers."""
    rows = _CLOSED_ROWS[0] + sum(r.rows for r in list(_OPEN_RUNTIMES))
    return rows, (_FIRST_BATCH_AT[0] if _FIRST_BATCH_AT else None)


class LoopThread:
    """An asyncio event loop running in a daemon thread.

    PyFlink calls ``eval`` as a plain function on its own thread; the client's requests run
    concurrently on this loop, and ``run`` waits for their result.
    """

    def __init__(self, name: str = "triton-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LoopThread:
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=main, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for it; on timeout cancel it and raise TimeoutError."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the event loop thread is not started")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no result within {timeout}s") from None

    def stop(self) -> None:
        """Stop the loop and join the thread. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()


async def _fetch(client: TritonClient) -> tuple[dict[str, Any], dict[str, Any]]:
    return await client.model_metadata(), await client.model_config()


def fetch_binding(
    options: TritonOptions,
    inputs: Sequence[Column] | None,
    outputs: Sequence[Column] | None = None,
) -> ModelBinding:
    """Ask the server for the model's metadata and bind columns to it (a blocking call).

    Used where a job is defined, to derive result types the user did not declare.
    """

    async def go() -> ModelBinding:
        async with TritonClient(options) as client:
            meta, config = await _fetch(client)
        return bind_model(meta, config, inputs, outputs, flatten_batch_dim=options.flatten_batch_dim)

    loop = LoopThread("triton-metadata").start()
    try:
        return loop.run(go())
    finally:
        loop.stop()


class _Output:
    """Collects one output's row values in place; typed when it can stay typed."""

    def __init__(self, spec: TensorSpec, n: int) -> None:
        self.spec = spec
        self.dtype = None if spec.flink_type.is_array else _NUMPY_OF.get(spec.flink_type.root)
        self.values: np.ndarray = np.empty(n, dtype=self.dtype or object)
        self.present = np.zeros(n, dtype=bool)  # False: NULL

    def put(self, positions: np.ndarray, values: Any) -> None:
        if self.dtype is None and isinstance(values, np.ndarray):
            values = list(values)
        if self.dtype is None:
            # A list into an object array: assign element-wise, so lists stay lists.
            for p, v in zip(positions.tolist(), values):
                self.values[p] = v
        else:
            self.values[positions] = values
        self.present[positions] = True

    def put_default(self, positions: np.ndarray, value: Any) -> None:
        if value is None:
            return
        if self.dtype is not None:
            self.values[positions] = value
        else:
            for p in positions.tolist():
                # Each fallback row gets a fresh object (a list must not be shared).
                self.values[p] = list(value) if isinstance(value, list) else value
        self.present[positions] = True

    def series(self) -> pd.Series:
        if self.present.all():
            if self.dtype is None:
                return pd.Series(self.values, dtype=object)
            return pd.Series(self.values)
        out = self.values.astype(object)
        out[~self.present] = None
        return pd.Series(out, dtype=object)


class ModelRuntime:
    """Runs one model for one function instance.

    :param options: the model's options.
    :param inputs: the function's arguments (names when known, for matching tensor names);
        None: every model input in order.
    :param outputs: the wanted outputs (names and declared types), None for all.
    :param fill_value: sent in place of NULL elements inside arrays (None: such rows fail).
    :param total_timeout_s: bound on one batch's total time, retries included (None: none
        beyond the client's per-request timeouts and retries).
    """

    def __init__(
        self,
        options: TritonOptions,
        inputs: Sequence[Column] | None,
        outputs: Sequence[Column] | None = None,
        *,
        fill_value: Any = None,
        total_timeout_s: float | None = None,
    ) -> None:
        self.options = options
        self.inputs = None if inputs is None else list(inputs)
        self.outputs = None if outputs is None else list(outputs)
        self.fill_value = fill_value
        self.total_timeout_s = total_timeout_s
        self.binding: ModelBinding | None = None
        self.client: TritonClient | None = None
        self.rows = 0
        self.null_rows = 0
        self.fallback_rows = 0
        self._loop: LoopThread | None = None
        self._has_default = False
        self._default: Any = None
        self._datatypes: dict[str, str] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def open(self) -> ModelBinding:
        """Start the loop and the client, fetch the model's metadata, bind, parse defaults."""
        self._loop = LoopThread(f"triton-{self.options.model_name}").start()
        self.client = TritonClient(self.options)
        meta, config = self._loop.run(self._open_client())
        self.binding = bind_model(meta, config, self.inputs, self.outputs,
                                  flatten_batch_dim=self.options.flatten_batch_dim)
        self._datatypes = {spec.name: spec.datatype for spec in self.binding.inputs}
        self._has_default, self._default = parse_default_value(
            self.options.default_value, self.binding.result_type())
        _OPEN_RUNTIMES.add(self)
        return self.binding

    async def _open_client(self) -> tuple[dict[str, Any], dict[str, Any]]:
        assert self.client is not None
        await self.client.open()
        return await _fetch(self.client)

    def close(self) -> None:
        """Close the client and stop the loop. Idempotent; safe after a failed open."""
        if self in _OPEN_RUNTIMES:
            _OPEN_RUNTIMES.discard(self)
            _CLOSED_ROWS[0] += self.rows
        if self._loop is not None and self.client is not None:
            try:
                self._loop.run(self.client.close(), timeout=10)
            except Exception:  # closing must not hide the error that got us here
                log.debug("closing the Triton client failed", exc_info=True)
        if self._loop is not None:
            self._loop.stop()
        self._loop = None
        self.client = None

    # -- prediction -----------------------------------------------------------------------

    def predict(self, columns: Sequence[pd.Series | pd.DataFrame]) -> pd.Series | pd.DataFrame:
        """One result per input row, in input order; NULL inputs give NULL.

        :raises TritonError: when a request fails and no ``default-value`` is set.
        """
        if self.binding is None or self._loop is None:
            raise RuntimeError("ModelRuntime.open() was not called")
        binding = self.binding
        if len(columns) != len(binding.inputs):
            raise TypeError(f"expected {len(binding.inputs)} arguments, got {len(columns)}")
        n = len(columns[0])
        if not _FIRST_BATCH_AT:
            _FIRST_BATCH_AT.append(time.monotonic())
        valid = np.ones(n, dtype=bool)
        for col in columns:
            valid &= ~null_mask(col)
        rows = np.flatnonzero(valid)
        outs = [_Output(spec, n) for spec in binding.outputs]
        self.rows += n
        self.null_rows += n - len(rows)
        if len(rows):
            coro = self._predict_rows(columns, rows, outs)
            try:
                self._loop.run(coro, timeout=self.total_timeout_s)
            except TimeoutError:
                err = TritonTimeoutError(
                    f"a batch of {len(rows)} rows got no result within {self.total_timeout_s:g}s",
                    **self._context())
                self._fallback(outs, rows, err)
        if len(outs) == 1:
            return outs[0].series()
        return pd.DataFrame({o.spec.name: o.series() for o in outs})

    async def _predict_rows(
        self, columns: Sequence[pd.Series | pd.DataFrame], rows: np.ndarray, outs: list[_Output]
    ) -> None:
        binding = self.binding
        assert binding is not None and self.client is not None
        groups = self._groups(columns, rows)
        calls = [self._predict_group(columns, g, outs) for g in groups]
        if binding.sequence:
            for call in calls:  # a sequence's rows go in order
                await call
        else:
            await asyncio.gather(*calls)

    def _groups(self, columns: Sequence[pd.Series | pd.DataFrame], rows: np.ndarray) -> list[np.ndarray]:
        """Row positions that can share a request: all of them, or rows of equal array
        lengths when arrays vary; one row each for models without a batch dimension."""
        binding = self.binding
        assert binding is not None
        if not binding.batching:
            return [rows[i:i + 1] for i in range(len(rows))]
        ragged = [
            i for i, spec in enumerate(binding.inputs)
            if spec.is_array and (not spec.dims or spec.dims[-1] < 0)
        ]
        if not ragged:
            return [rows]
        lengths = np.stack([array_lengths(columns[i].iloc[rows]) for i in ragged], axis=1)
        keys, inverse = np.unique(lengths, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        return [rows[inverse == k] for k in range(len(keys))]

    async def _predict_group(
        self, columns: Sequence[pd.Series | pd.DataFrame], positions: np.ndarray, outs: list[_Output]
    ) -> None:
        binding = self.binding
        client = self.client
        assert binding is not None and client is not None
        batched = binding.batching
        tensors = {
            spec.name: to_tensor(col.iloc[positions], spec, batched=batched, fill_value=self.fill_value)
            for spec, col in zip(binding.inputs, columns)
        }
        parts: list[InferPart] = await client.infer_parts(
            tensors, binding.output_names, datatypes=self._datatypes, split=batched)
        for part in parts:
            where = positions[part.start:part.stop] if batched else positions
            count = len(where)
            if part.error is not None:
                self._fallback(outs, where, part.error)
                continue
            assert part.outputs is not None
            try:
                for out in outs:
                    array = part.outputs.get(out.spec.name)
                    if array is None:
                        raise TritonSchemaError(
                            f"the response has no output '{out.spec.name}' "
                            f"(got: {', '.join(part.outputs) or 'none'})", **self._context())
                    if not batched:
                        array = array.reshape((1, *array.shape))
                    out.put(where, to_column(array, out.spec, count))
            except TritonError as exc:
                self._fallback(outs, where, exc)

    def _fallback(self, outs: list[_Output], positions: np.ndarray, error: TritonError) -> None:
        if not self._has_default:
            raise error
        self.fallback_rows += len(positions)
        log.warning("Triton inference failed for %d rows; using 'default-value': %s", len(positions), error)
        values = self._default
        if len(outs) == 1:
            outs[0].put_default(positions, values)
        elif values is not None:
            for out, value in zip(outs, values):
                out.put_default(positions, value)

    def _context(self) -> dict[str, Any]:
        o = self.options
        return {"model": o.model_name, "version": o.model_version, "endpoint": o.safe_endpoint}

    def __repr__(self) -> str:
        where = describe_target(self.options.model_name, self.options.model_version, self.options.safe_endpoint)
        return f"ModelRuntime({where})"

