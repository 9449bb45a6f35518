"""The engine's path through Triton's generate extension (decoupled models: LLMs).

Each row of a batch is one ``generate`` (or ``generate_stream``) request: Triton takes no batch
on these endpoints, and an LLM backend batches requests in flight itself. The rows go
concurrently, at most ``max-concurrent-requests`` at a time (a few workers take the next row
as they finish, so a batch of 20,000 rows makes no more than that many tasks), and each
outcome lands at its row's position, so results keep the input order.

A request's fields are the row's model inputs, the options' ``request-parameters`` and
``generate-parameters``, and the row's parameter columns (a NULL there sends nothing, so the
options' value, if any, applies). A text output is the concatenation of its pieces, in the
order the events came; any other output takes its last value. Failures go the way of
``infer``'s: the row gets the ``default-value``, or its error (fails the job, or fills the
error column).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import TritonError, TritonSchemaError
from .binding import ModelBinding, TensorSpec

if TYPE_CHECKING:
    from ..client.correlation import BatchTag
    from .engine import Columns, InferenceEngine
    from .outcomes import Outcomes

__all__ = ["GenerationStats", "answer_values", "generate_rows", "request_fields"]

#: Per-answer times kept between two drains (metrics), as the client keeps its latencies.
RECENT_ANSWERS = 1024
_INTEGERS = ("TINYINT", "SMALLINT", "INT", "BIGINT")


@dataclass
class GenerationStats:
    """What the generate path did: answers, pieces (events of a streamed answer, or the one
    answer of ``generate``), and per answer its time to the first piece and its pieces per
    second while streaming (recent ones only: memory stays bounded)."""

    answers: int = 0
    pieces: int = 0
    first_piece_s: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_ANSWERS))
    pieces_per_s: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_ANSWERS))

    def record(self, pieces: int, first_event_s: float, elapsed_s: float) -> None:
        """Count one answer (on the engine's loop)."""
        self.answers += 1
        self.pieces += pieces
        self.first_piece_s.append(first_event_s)
        streaming = elapsed_s - first_event_s
        # One piece, or all in one instant: no rate to speak of.
        if pieces > 1 and streaming > 0:
            self.pieces_per_s.append((pieces - 1) / streaming)

    @staticmethod
    def drain(values: deque[float]) -> list[float]:
        """The values recorded since the last drain, oldest first (safe from another thread:
        exactly what is there now is popped, one atomic popleft at a time)."""
        return [values.popleft() for _ in range(len(values))]


async def generate_rows(
    engine: InferenceEngine, columns: Columns, rows: npt.NDArray[Any], outcomes: Outcomes, tag: BatchTag
) -> None:
    """One generate request per row of ``rows``, concurrently within the client's bound."""
    client, binding = engine.client, engine.binding
    assert client is not None and binding is not None
    options = engine.options
    base = {**options.request_parameters, **options.generate_parameters}
    stream = binding.api == "generate-stream"
    stats = engine.generation_stats
    pending: Iterator[int] = iter(rows.tolist())

    async def one(position: int) -> None:
        where = np.array([position])
        try:
            fields = request_fields(binding, columns, position, base)
            answer = await client.generate(fields, stream=stream, request_id=tag.next_id())
            values = answer_values(answer.events, binding)
        except TritonError as exc:
            engine.fallback(outcomes, where, exc)
            return
        stats.record(len(answer.events), answer.first_event_s, answer.elapsed_s)
        outcomes.put(where, [[v] for v in values])

    async def worker() -> None:
        for position in pending:  # shared: each worker takes the next row left
            # The engine's slots bound the requests of every batch at once: the async UDF runs
            # many one-row batches concurrently.
            async with engine.generate_slots:
                await one(position)

    workers = max(1, min(options.max_concurrent_requests, len(rows)))
    await asyncio.gather(*(worker() for _ in range(workers)))


def request_fields(binding: ModelBinding, columns: Columns, position: int, base: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON fields of one row's request: ``base``, then the row's inputs and parameters.

    :raises TritonSchemaError: for a value the JSON request cannot carry.
    """
    fields = dict(base)
    for spec, column in zip(binding.inputs, columns):
        assert isinstance(column, pd.Series), "the binding refuses ROW inputs"
        value = column.iloc[position]
        if _is_null(value):
            continue  # only parameter columns get here with NULL: such rows are not sent
        fields[spec.name] = _json_value(value, spec)
    return fields


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _json_value(value: Any, spec: TensorSpec) -> Any:
    """A row's value as JSON: text as str, numbers and booleans as Python's, arrays as lists."""
    root = spec.flink_type.root
    if isinstance(value, np.ndarray):
        return value.tolist()  # a flat JSON array: Triton shapes it from the model's dims
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise TritonSchemaError(
                f"input '{spec.name}': the generate endpoint takes text (JSON), and this row's bytes are not UTF-8"
            ) from None
    if isinstance(value, np.generic):
        value = value.item()
    if root in _INTEGERS and isinstance(value, float):
        if not value.is_integer():
            raise TritonSchemaError(f"'{spec.name}' is {root} but this row holds {value!r}")
        return int(value)  # an INT column with NULLs comes as float64
    return value


def answer_values(events: Sequence[Mapping[str, Any]], binding: ModelBinding) -> list[Any]:
    """Each output's value for one row, from its answer's events.

    :raises TritonSchemaError: when no event holds an output.
    """
    values = []
    for spec in binding.outputs:
        pieces = [event[spec.name] for event in events if spec.name in event]
        if not pieces:
            got = sorted({k for event in events for k in event}) or ["no event"]
            raise TritonSchemaError(f"the answer has no output '{spec.name}' (got: {', '.join(got)})")
        values.append(_output_value(pieces, spec))
    return values


def _output_value(pieces: list[Any], spec: TensorSpec) -> Any:
    ftype = spec.flink_type
    if spec.datatype == "BYTES" and ftype.root in ("STRING", "BYTES") and not ftype.is_array:
        text = "".join("".join(map(str, p)) if isinstance(p, list) else str(p) for p in pieces)
        return text.encode("utf-8") if ftype.root == "BYTES" else text
    last = pieces[-1]
    if ftype.is_array:
        if spec.datatype == "BYTES":  # ARRAY<STRING>: the pieces themselves
            return [v for p in pieces for v in (p if isinstance(p, list) else [p])]
        return last if isinstance(last, list) else [last]
    if isinstance(last, list):
        if len(last) != 1:
            raise TritonSchemaError(f"output '{spec.name}' holds {len(last)} values; its column {ftype} takes one")
        last = last[0]
    return last
