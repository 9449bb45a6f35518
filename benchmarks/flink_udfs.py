"""The user-defined functions the Flink contenders use besides the package's own.

They live in an importable module so that PyFlink pickles them by reference: the Python worker
(a process the JVM starts for each job, with the repository root on its PYTHONPATH, see
runner.py) imports this module rather than unpickling code.

- the *zero* pandas UDF: the same shape as ML_PREDICT on the workload's model (same argument
  type, same result type) returning constants without any I/O: PyFlink's own ceiling;
- the *per-row* UDF: what a user writes by hand, a general UDF calling ``tritonclient.http`` for
  every row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from .workloads import Workload

# One constant of each output type; the zero UDF's result repeats it.
_ZEROS: dict[str, Any] = {
    "BIGINT": np.int64(0),
    "STRING": "neutral",
    "ARRAY<FLOAT>": np.zeros(384, np.float32),
}


def _zeros_bigint(features: pd.Series) -> pd.Series:
    return pd.Series(np.zeros(len(features), dtype=np.int64))


def _zeros_string(texts: pd.Series) -> pd.Series:
    return pd.Series(np.full(len(texts), _ZEROS["STRING"], dtype=object))


def _zeros_vector(texts: pd.Series) -> pd.Series:
    # A Series of ndarrays, as an ARRAY result must be (a 2-D array is refused by PyFlink).
    return pd.Series([_ZEROS["ARRAY<FLOAT>"]] * len(texts))


_ZERO_FUNCTIONS = {"BIGINT": _zeros_bigint, "STRING": _zeros_string, "ARRAY<FLOAT>": _zeros_vector}


def _datatype(sql_type: str) -> Any:
    return {
        "BIGINT": DataTypes.BIGINT(),
        "STRING": DataTypes.STRING(),
        "ARRAY<FLOAT>": DataTypes.ARRAY(DataTypes.FLOAT()),
    }[sql_type]


def zero_udf(workload: Workload) -> Any:
    """A pandas UDF with the workload's result type that returns constants."""
    return udf(
        _ZERO_FUNCTIONS[workload.output_type],
        result_type=_datatype(workload.output_type),
        func_type="pandas",
        name="zero",
    )


class PerRowTriton(ScalarFunction):
    """One ``tritonclient.http`` request per row, binary tensors, a client per function instance."""

    def __init__(self, url: str, model: str, input_name: str, input_datatype: str, output_name: str) -> None:
        self.url = url
        self.model = model
        self.input_name = input_name
        self.input_datatype = input_datatype
        self.output_name = output_name
        self.client: Any = None

    def open(self, function_context: FunctionContext) -> None:
        import tritonclient.http as httpclient  # on the worker, once per instance

        self.client = httpclient.InferenceServerClient(self.url.removeprefix("http://"))

    def eval(self, value: Any) -> Any:
        import tritonclient.http as httpclient

        if self.input_datatype == "BYTES":
            array = np.array([[value.encode()]], dtype=object)
        else:
            array = np.asarray([value], dtype=np.float32)
        tensor = httpclient.InferInput(self.input_name, list(array.shape), self.input_datatype)
        tensor.set_data_from_numpy(array, binary_data=True)
        result = self.client.infer(
            self.model, [tensor], outputs=[httpclient.InferRequestedOutput(self.output_name, binary_data=True)]
        )
        out = result.as_numpy(self.output_name)[0]
        if out.dtype == object:
            return out[0].decode()
        return out.tolist() if out.size > 1 else out.item()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def per_row_udf(url: str, workload: Workload) -> Any:
    """The per-row UDF for ``workload``'s model at ``url``."""
    function = PerRowTriton(url, workload.model, workload.input_name, workload.input_datatype, workload.output_name)
    return udf(function, result_type=_datatype(workload.output_type), name="per_row")
