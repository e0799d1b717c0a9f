"""A DEEPaaS API (``deepaas-run``) serving one of the project's DEEPaaS modules, as a subprocess.

DEEPaaS 2.6 and its modules live in their own environment, ``.venv-deepaas``, made by
``scripts/deepaas-venv.sh`` (its pins exclude the services' ones); ``ensure_deepaas_venv``
makes it on first use. The API and the command:

    python -m aquaflow_devstack.deepaas [--port 5000] [--workers 1]

serves the plankton module in the foreground and stops on Ctrl-C or SIGTERM.
``cli_predict`` runs ``deepaas-cli predict`` on one file: one process per file, loading
the model each time, as an OSCAR job does.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from aquaflow_devstack.ports import free_port
from aquaflow_devstack.processes import stop_process_group, tail_of

REPO_ROOT = Path(__file__).resolve().parents[3]
VENV_SCRIPT = REPO_ROOT / "scripts" / "deepaas-venv.sh"
DEFAULT_VENV = REPO_ROOT / ".venv-deepaas"
PLANKTON_MODULE = "plankton_classifier"
# Creating the environment downloads DEEPaaS and ONNX Runtime once (about a minute).
VENV_TIMEOUT_SECONDS = 900.0
# deepaas-run loads and warms the module (in a spawned process per worker) before it listens.
READY_TIMEOUT_SECONDS = 120.0


class DeepaasStartError(RuntimeError):
    """The environment could not be made, or deepaas-run exited or never served the module."""


def ensure_deepaas_venv(venv: Path | None = None) -> Path:
    """The DEEPaaS environment, made or brought up to date by scripts/deepaas-venv.sh (cheap when current)."""
    target = venv or Path(os.environ.get("AQUAFLOW_DEEPAAS_VENV", DEFAULT_VENV))
    env = {**os.environ, "AQUAFLOW_DEEPAAS_VENV": str(target)}
    try:
        done = subprocess.run(
            ["bash", str(VENV_SCRIPT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=VENV_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise DeepaasStartError(f"{VENV_SCRIPT.name} did not finish within {VENV_TIMEOUT_SECONDS:.0f}s") from error
    if done.returncode != 0:
        raise DeepaasStartError(f"{VENV_SCRIPT.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return target


@dataclass
class DeepaasServer:
    process: subprocess.Popen[bytes] = field(repr=False)
    port: int
    module: str
    log_path: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def predict_url(self) -> str:
        return f"{self.url}/v2/models/{self.module}/predict/"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        """Whether the API answers and lists the module (DEEPaaS falls back to a test model otherwise)."""
        try:
            with urllib.request.urlopen(f"{self.url}/v2/models/", timeout=5) as response:  # noqa: S310 - local URL
                listing = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return any(m.get("id") == self.module for m in listing.get("models", []))

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.running():
                raise DeepaasStartError(f"deepaas-run exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise DeepaasStartError(
                    f"deepaas-run did not serve {self.module} within {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL to its whole session: its worker processes must not outlive it."""
        stop_process_group(self.process, grace)

    def log_tail(self, lines: int = 40) -> str:
        return tail_of(self.log_path, lines, "(no deepaas-run log)")

    def __enter__(self) -> DeepaasServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_deepaas(
    workdir: Path,
    *,
    module: str = PLANKTON_MODULE,
    port: int | None = None,
    workers: int = 1,
    venv: Path | None = None,
    bind_address: str = "127.0.0.1",
    env: dict[str, str] | None = None,
    timeout: float = READY_TIMEOUT_SECONDS,
) -> DeepaasServer:
    """Serve ``module`` with deepaas-run from the DEEPaaS environment; return once it is served."""
    venv = ensure_deepaas_venv(venv)
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"deepaas-{port}.log"
    command = [
        str(venv / "bin" / "deepaas-run"),
        "--listen-ip",
        bind_address,
        "--listen-port",
        str(port),
        "--model-name",
        module,
        "--workers",
        str(workers),
    ]
    with log_path.open("wb") as log:
        # A session of its own, so that stop() reaches the spawned worker processes too.
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=_environment(venv, env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DeepaasServer(process=process, port=port, module=module, log_path=log_path)
    try:
        server.wait_ready(timeout)
    except DeepaasStartError:
        server.stop(grace=2)
        raise
    return server


@dataclass(frozen=True)
class CliRun:
    """One ``deepaas-cli predict`` process: its answer and how long the whole process took."""

    answer: Any
    seconds: float


def cli_predict(
    image: Path, *, module: str = PLANKTON_MODULE, venv: Path | None = None, file_arg: str = "image"
) -> CliRun:
    """``deepaas-cli predict --<file_arg> IMAGE`` in a new process, its JSON written to a file and read back."""
    venv = venv or ensure_deepaas_venv()
    with tempfile.TemporaryDirectory(prefix="deepaas-cli-") as scratch:
        output = Path(scratch) / "answer.json"
        command = [
            str(venv / "bin" / "deepaas-cli"),
            "--deepaas_method_output",
            str(output),
            "predict",
            f"--{file_arg}",
            str(image),
        ]
        started = time.perf_counter()
        # deepaas-cli picks its model when imported, from DEEPAAS_V2_MODEL, before parsing options.
        done = subprocess.run(
            command, env=_environment(venv, {"DEEPAAS_V2_MODEL": module}), capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0 or not output.exists():
            raise RuntimeError(f"deepaas-cli failed ({done.returncode}) on {image}:\n{done.stderr[-3000:]}")
        return CliRun(answer=json.loads(output.read_text()), seconds=seconds)


def _environment(venv: Path, extra: dict[str, str] | None) -> dict[str, str]:
    # The DEEPaaS environment's bin first: its spawned workers run that interpreter.
    path = os.pathsep.join([str(venv / "bin"), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "DEEPAAS_V2_MODEL": PLANKTON_MODULE, **(extra or {})}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m aquaflow_devstack.deepaas",
        description="Serve a DEEPaaS module of the project with deepaas-run from .venv-deepaas.",
    )
    parser.add_argument("--module", default=PLANKTON_MODULE, help="the module's DEEPaaS name")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--workers", type=int, default=1, help="DEEPaaS worker processes (one request each)")
    parser.add_argument("--workdir", type=Path, default=Path("build/deepaas"), help="where the log goes")
    parser.add_argument("--timeout", type=float, default=READY_TIMEOUT_SECONDS, help="seconds to wait for readiness")
    return parser.parse_args(argv)


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    began = time.monotonic()
    try:
        server = start_deepaas(
            args.workdir,
            module=args.module,
            port=args.port,
            workers=args.workers,
            bind_address=args.bind,
            timeout=args.timeout,
        )
    except DeepaasStartError as error:
        print(f"DEEPaaS did not start: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    print(f"DEEPaaS ready in {time.monotonic() - began:.1f}s (pid {server.pid}), serving {args.module}")
    print(f"  models   {server.url}/v2/models/")
    print(f"  predict  {server.predict_url}")
    print(f"  docs     {server.url}/api")
    print(f"  log      {server.log_path}")
    print("Ctrl-C stops it.", flush=True)
    try:
        code = server.process.wait()
    except KeyboardInterrupt:
        server.stop()
        return 0
    print(f"deepaas-run exited with {code}:\n{server.log_tail()}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
