"""The three workloads every contender runs: one model each, with its inputs in every form a
contender needs (numpy for the clients, Flink SQL for the jobs, JSON for the Java pattern,
command-line data for perf_analyzer).

- ``classifier``: 4 FP32 features -> INT64 class; tiny payload, per-row overhead dominates.
- ``text-classification``: STRING -> STRING; a lexicon model, so the server's own work shows.
- ``embedding``: STRING -> FP32[384]; 1.5 KB out per row, so payload size shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Reviews in the style of Flink's Triton example (seed of sql/movie_reviews.sql), English and
# Chinese; rows cycle through them. No single quotes: they go into SQL literals as they are.
REVIEWS = (
    "这部电影绝对精彩！演技和故事情节都很棒。",
    "我看到一半就睡着了。非常失望。",
    "还可以，没什么特别的，但也不算糟糕。",
    "This movie was absolutely wonderful, the cast is brilliant",
    "Boring, I fell asleep. Very disappointing.",
    "It was okay, nothing special.",
)


def _features(rows: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(5.0, 2.0, size=(rows, 4)).astype(np.float32)


def _texts(rows: int, rng: np.random.Generator) -> np.ndarray:
    encoded = [r.encode() for r in REVIEWS]
    return np.array([[encoded[i % len(encoded)]] for i in range(rows)], dtype=object)


def _json_float_row(row: np.ndarray) -> list[Any]:
    return [float(v) for v in row]


def _json_text_row(row: np.ndarray) -> list[Any]:
    return [row[0].decode()]


_FLOAT_SOURCE = (
    "a FLOAT, b FLOAT, c FLOAT, d FLOAT",
    "'fields.a.min' = '4.3', 'fields.a.max' = '7.9', 'fields.b.min' = '2.0', 'fields.b.max' = '4.4', "
    "'fields.c.min' = '1.0', 'fields.c.max' = '6.9', 'fields.d.min' = '0.1', 'fields.d.max' = '2.5'",
    "ARRAY[a, b, c, d]",
)
# datagen has no list of values to pick from: a CASE over the sequence id picks the review.
_TEXT_SOURCE = (
    "",
    "",
    "CASE MOD(id, {n}) {whens} END".format(
        n=len(REVIEWS),
        whens=" ".join(f"WHEN {i} THEN '{r}'" for i, r in enumerate(REVIEWS)),
    ),
)


@dataclass(frozen=True)
class Workload:
    """One model and the same rows for every contender."""

    name: str
    model: str
    input_name: str  # Triton tensor names and datatype
    input_datatype: str
    output_name: str
    input_column: str  # Flink column names and types of the model's INPUT and OUTPUT
    input_type: str
    output_column: str
    output_type: str
    source_columns: str  # datagen columns besides `id`, their options, the input expression
    source_options: str
    input_expr: str
    make_inputs: Callable[[int, np.random.Generator], np.ndarray]
    json_row: Callable[[np.ndarray], list[Any]]
    perf_analyzer_args: tuple[str, ...] = field(default=())
    bundled: bool = True  # in model_repository/ (False: in benchmarks/models/)

    def json_tensor(self, row: np.ndarray) -> dict[str, Any]:
        """One row as a KServe v2 JSON input tensor, as Flink's Java provider sends it."""
        data = self.json_row(row)
        return {"name": self.input_name, "shape": [1, len(data)], "datatype": self.input_datatype, "data": data}


WORKLOADS: dict[str, Workload] = {
    "classifier": Workload(
        "classifier",
        "classifier",
        "features",
        "FP32",
        "class_id",
        "features",
        "ARRAY<FLOAT>",
        "class_id",
        "BIGINT",
        *_FLOAT_SOURCE,
        make_inputs=_features,
        json_row=_json_float_row,
    ),
    "text-classification": Workload(
        "text-classification",
        "text-classification",
        "INPUT_TEXT",
        "BYTES",
        "OUTPUT_TEXT",
        "review",
        "STRING",
        "label",
        "STRING",
        *_TEXT_SOURCE,
        make_inputs=_texts,
        json_row=_json_text_row,
        perf_analyzer_args=("--string-data", REVIEWS[3]),
    ),
    "embedding": Workload(
        "embedding",
        "embedding",
        "TEXT",
        "BYTES",
        "EMBEDDING",
        "review",
        "STRING",
        "embedding",
        "ARRAY<FLOAT>",
        *_TEXT_SOURCE,
        make_inputs=_texts,
        json_row=_json_text_row,
        perf_analyzer_args=("--string-data", REVIEWS[3]),
        bundled=False,
    ),
}
