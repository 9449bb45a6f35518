"""A user's script, type-checked from the outside (``make check`` runs mypy --strict on it).

It uses only ``from pyflink_triton import ...`` as the README does, so an annotation of the
public API that says the wrong thing fails the check here, where users would meet it. Nothing
runs at import: pytest does not collect this file, and its functions are never called.
"""

from __future__ import annotations

from typing import Any, assert_type

import numpy as np
import numpy.typing as npt

from pyflink_triton import (
    TritonClient,
    TritonConfigError,
    TritonError,
    TritonOptions,
    TritonProvider,
    TritonServer,
    TritonSql,
    TritonTimeoutError,
    __version__,
    async_triton_udf,
    configure_inference,
    triton_udf,
)


def options() -> TritonOptions:
    provider = TritonProvider(endpoint="http://localhost:8000", model_name="classifier", timeout="5s")
    assert_type(provider.to_options(), dict[str, str])
    opts = provider.to_triton_options()
    assert_type(opts.model_name, str)
    assert_type(opts.to_map(), dict[str, str])
    return TritonOptions.from_map({"endpoint": "http://localhost:8000", "model-name": "classifier"})


async def infer(opts: TritonOptions) -> npt.NDArray[Any]:
    async with TritonClient(opts) as client:
        assert_type(await client.server_ready(), bool)
        assert_type(await client.max_batch_size(), int)
        outputs = await client.infer({"INPUT": np.zeros((2, 4), dtype=np.float32)}, ["OUTPUT"])
        assert_type(outputs, dict[str, npt.NDArray[Any]])
        return outputs["OUTPUT"]


def serve() -> str:
    with TritonServer(models=["classifier"]) as server:
        assert_type(server.url, str)
        return server.url


def udfs(opts: TritonOptions, t_env: Any) -> None:
    configure_inference(t_env)
    t_env.create_temporary_function("classify", triton_udf(opts, result_type="STRING"))
    t_env.create_temporary_function("classify_async", async_triton_udf(opts, result_type="STRING"))
    sql = TritonSql(t_env)
    sql.execute_sql("SELECT 1")
    assert_type(sql.execute_script("SELECT 1; SELECT 2"), list[Any])


def errors(exc: BaseException) -> str | None:
    if isinstance(exc, TritonTimeoutError | TritonConfigError):
        return str(exc)
    if isinstance(exc, TritonError):
        assert_type(exc.model, str | None)
        return exc.endpoint
    return __version__
