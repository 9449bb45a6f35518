"""The public surface: ``from pyflink_triton import ...`` gives what users need, and importing the
package loads neither PyFlink nor aiohttp (so no JVM, and no event-loop library, until used)."""

from __future__ import annotations

import subprocess
import sys

import pyflink_triton

USER_NAMES = {
    "triton_udf",
    "async_triton_udf",
    "configure_inference",
    "configure_async",
    "TritonSql",
    "predict",
    "TritonProvider",
    "TritonOptions",
    "TritonClient",
    "TritonServer",
    "TritonError",
    "TritonConfigError",
    "TritonSchemaError",
    "TritonServerError",
    "TritonTimeoutError",
}


def test_the_names_users_need_are_public() -> None:
    assert set(pyflink_triton.__all__) >= USER_NAMES
    for name in pyflink_triton.__all__:
        assert getattr(pyflink_triton, name) is not None, name


def test_importing_the_package_loads_neither_pyflink_nor_aiohttp() -> None:
    code = (
        "import sys, pyflink_triton\n"
        "from pyflink_triton import TritonOptions, TritonProvider, TritonError\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'pyflink', 'aiohttp', 'py4j'})\n"
        "print(loaded)\n"
        "pyflink_triton.TritonClient\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyflink', 'aiohttp'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "['aiohttp']"]


def test_unknown_names_are_an_attribute_error() -> None:
    try:
        pyflink_triton.ModelRuntime  # noqa: B018 - the old internal engine is not public
    except AttributeError as exc:
        assert "ModelRuntime" in str(exc)
    else:
        raise AssertionError("pyflink_triton.ModelRuntime should not exist")
