"""What the ``tritonserver`` binary of the nvidia-pytriton wheel needs to run under this interpreter.

The wheel (``pip install 'pyflink-triton[server]'``) ships Triton 2.51 with its Python backend and a
backend stub per Python version. This module finds that tree, builds a private backend directory holding
the stub for the running interpreter, and the environment the server and its stubs start with.

Only the standard library: nothing here may import aiohttp or pyflink.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
import sysconfig
import warnings
from pathlib import Path

from ..errors import TritonLaunchError

__all__ = [
    "INSTALL_HINT",
    "check_numpy",
    "find_tritonserver",
    "prepare_backend_directory",
    "server_environment",
]

INSTALL_HINT = "install the local server with: pip install 'pyflink-triton[server]'"


def find_tritonserver() -> Path:
    """Return the ``tritonserver`` tree inside the installed ``pytriton`` package.

    The package is located without being imported: importing pytriton pulls in tritonclient.grpc,
    which fails with some grpcio versions although the binary itself is fine.
    """
    spec = importlib.util.find_spec("pytriton")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        tree = Path(location) / "tritonserver"
        if (tree / "bin" / "tritonserver").is_file():
            return tree
    raise TritonLaunchError(f"the tritonserver binary (package nvidia-pytriton) was not found; {INSTALL_HINT}")


def check_numpy() -> None:
    """Raise when numpy is missing; warn when it is 2.x, which Triton 2.51's Python backend mishandles."""
    try:
        version = importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        raise TritonLaunchError("numpy is not installed; the Triton Python backend models need it") from None
    if int(version.split(".", 1)[0]) >= 2:
        warnings.warn(
            f"numpy {version} is installed; Triton 2.51's Python backend needs numpy < 2 "
            "(models may return wrong shapes or crash)",
            RuntimeWarning,
            # Point at the caller of TritonServer.start(), not at this helper.
            stacklevel=3,
        )


def prepare_backend_directory(tree: Path, workdir: Path) -> Path:
    """Make ``workdir/backends`` whose Python backend has the stub for this interpreter; return it.

    Symlinks are enough: the backend looks for ``triton_python_backend_stub`` next to
    ``libtriton_python.so`` and nothing in the tree is written to, so no file needs copying.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = tree / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        available = sorted(p.name for p in (tree / "python_backend_stubs").glob("*"))
        raise TritonLaunchError(f"the Triton Python backend has no stub for Python {version} (it has {available})")
    backends = workdir / "backends"
    python_backend = backends / "python"
    python_backend.mkdir(parents=True)
    for entry in (tree / "backends").iterdir():
        if entry.name != "python":
            (backends / entry.name).symlink_to(entry)
    for entry in (tree / "backends" / "python").iterdir():
        if entry.name != "__pycache__":
            (python_backend / entry.name).symlink_to(entry)
    (python_backend / stub.name).symlink_to(stub)
    return backends


def server_environment(tree: Path) -> dict[str, str]:
    """This process's environment, adjusted so the server finds its libraries and the stubs our Python."""
    env = dict(os.environ)
    libs = tree.parent.parent / "nvidia_pytriton.libs"
    # The interpreter's own libpython first: otherwise the stub may load another patch level's.
    library_path = [sysconfig.get_config_var("LIBDIR") or "", str(libs), env.get("LD_LIBRARY_PATH", "")]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in library_path if p)
    # The stub's embedded interpreter finds its site-packages (numpy) through the python on PATH.
    path = [str(Path(sys.executable).parent), env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(p for p in path if p)
    # A PYTHONHOME meant for another interpreter would send the stub to the wrong standard library.
    env.pop("PYTHONHOME", None)
    return env
