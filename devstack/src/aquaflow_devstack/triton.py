"""Triton from the nvidia-pytriton wheel, serving ``model_repository/``: the API and the command.

    python -m aquaflow_devstack.triton --repository model_repository --workdir build/triton

starts it in the foreground, prints the URLs, and stops it on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from aquaflow_devstack.triton_repository import RepositoryError, prepare_repository
from aquaflow_devstack.triton_server import (
    TritonInstall,
    TritonServer,
    TritonStartError,
    TritonUnavailable,
    start_triton,
)

__all__ = [
    "RepositoryError",
    "TritonInstall",
    "TritonServer",
    "TritonStartError",
    "TritonUnavailable",
    "main",
    "prepare_repository",
    "start_triton",
]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m aquaflow_devstack.triton",
        description="Serve an ONNX model repository with the Triton binary from the nvidia-pytriton wheel.",
    )
    parser.add_argument("--repository", type=Path, default=Path("model_repository"), help="the ONNX model repository")
    parser.add_argument("--workdir", type=Path, default=Path("build/triton"), help="generated repository and log")
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model instance")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
    return parser.parse_args(argv)


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    began = time.monotonic()
    try:
        server = start_triton(
            args.repository,
            args.workdir,
            grpc_port=args.grpc_port,
            http_port=args.http_port,
            metrics_port=args.metrics_port,
            bind_address=args.bind,
            runner_threads=args.threads,
            timeout=args.timeout,
        )
    except (TritonUnavailable, TritonStartError, RepositoryError) as error:
        print(f"Triton did not start: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    print(f"Triton ready in {time.monotonic() - began:.1f}s (pid {server.pid}), serving {args.repository}")
    print(f"  gRPC     {server.grpc_url}")
    print(f"  HTTP     {server.http_url}")
    print(f"  metrics  {server.metrics_url}")
    print(f"  log      {server.log_path}")
    print("Ctrl-C stops it.", flush=True)
    try:
        code = server.process.wait()
    except KeyboardInterrupt:
        server.stop()
        return 0
    print(f"Triton exited with {code}:\n{server.log_tail()}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
