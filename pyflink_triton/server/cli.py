"""``python -m pyflink_triton.server``: serve a model repository with a local Triton until Ctrl-C or SIGTERM.

Only the standard library: nothing here may import aiohttp or pyflink.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from ..errors import TritonLaunchError
from .launcher import TritonServer

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyflink_triton.server", description="Serve a model repository with a local Triton."
    )
    parser.add_argument(
        "--model-repository", default=None, help="model repository (default: the example models, model_repository/)"
    )
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    parser.add_argument("--models", nargs="*", default=None, help="models to wait for (default: all)")
    parser.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for readiness")
    parser.add_argument("--log-verbose", type=int, default=0, help="Triton's --log-verbose level")
    return parser


def _announce(server: TritonServer, started: float) -> None:
    """Print the URL line, then one JSON line with the details (scripts read the two lines)."""
    info = {
        "url": server.url,
        "grpc_port": server.grpc_port,
        "metrics_port": server.metrics_port,
        "pid": server.pid,
        "models": server.models,
        "model_repository": str(server.model_repository),
        "log": str(server.log_path),
        "startup_s": round(time.monotonic() - started, 2),
    }
    print(f"Triton is serving at {server.url}", flush=True)
    print(json.dumps(info), flush=True)


def _serve(server: TritonServer, stop: threading.Event) -> int:
    """Wait for ``stop``; return 1 at once if the server dies on its own."""
    while not stop.wait(0.5):
        if not server.is_running:
            tail = server.log_tail()
            print(f"error: tritonserver exited; last lines of its log:\n{tail}", file=sys.stderr)
            return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Start a server, print its URL and models, and serve until Ctrl-C or SIGTERM."""
    args = _parser().parse_args(argv)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    # Both signals only set the event, so the server is always stopped in order by the finally below.
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server: TritonServer | None = None
    try:
        started = time.monotonic()
        try:
            server = TritonServer(
                args.model_repository,
                models=args.models,
                http_port=args.port,
                startup_timeout_s=args.startup_timeout,
                log_verbose=args.log_verbose,
            )
            server.start()
        except TritonLaunchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        _announce(server, started)
        return _serve(server, stop)
    finally:
        if server is not None:
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
