"""The real Triton Inference Server binary from the nvidia-pytriton wheel, run as a subprocess.

The wheel ships Triton 2.51 with only the Python backend; aquaflow's ONNX models are served
through a generated Python-backend repository (see ``triton_repository``). What the binary
needs and where it lives is written down in the project's REFERENCE.md.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from aquaflow_devstack.ports import free_port
from aquaflow_devstack.processes import stop_process_group, tail_of
from aquaflow_devstack.triton_repository import prepare_repository

LOG_FILE = "tritonserver.log"
RUNNER_THREADS_ENV = "AQUAFLOW_RUNNER_THREADS"  # read by triton_runner/model.py


class TritonUnavailable(FileNotFoundError):
    """The wheel's Triton binary is not installed here."""


class TritonStartError(RuntimeError):
    """Triton exited or never became ready; the message carries the tail of its log."""


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    libraries: Path
    python_backend: Path
    stub: Path

    @classmethod
    def find(cls) -> TritonInstall:
        spec = importlib.util.find_spec("pytriton")
        if spec is None or not spec.submodule_search_locations:
            raise TritonUnavailable("the nvidia-pytriton wheel is not installed (pip install nvidia-pytriton)")
        package = Path(next(iter(spec.submodule_search_locations)))
        server = package / "tritonserver"
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        install = cls(
            binary=server / "bin" / "tritonserver",
            libraries=package.parent / "nvidia_pytriton.libs",
            python_backend=server / "backends" / "python",
            stub=server / "python_backend_stubs" / python / "triton_python_backend_stub",
        )
        missing = [
            str(p) for p in (install.binary, install.libraries, install.python_backend, install.stub) if not p.exists()
        ]
        if missing:
            raise TritonUnavailable(f"the nvidia-pytriton wheel lacks {', '.join(missing)}")
        return install

    def backend_directory(self, workdir: Path) -> Path:
        """The wheel's Python backend with the stub for this interpreter, as Triton expects to find them."""
        backends = workdir / "backends"
        if backends.exists():
            shutil.rmtree(backends)
        python = backends / "python"
        shutil.copytree(self.python_backend, python, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(self.stub, python / "triton_python_backend_stub")
        return backends


@dataclass
class TritonServer:
    process: subprocess.Popen[bytes] = field(repr=False)
    grpc_port: int
    http_port: int
    metrics_port: int
    repository: Path
    log_path: Path
    host: str = "127.0.0.1"  # where clients reach it

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        return self._get(f"{self.http_url}/v2/health/ready") is not None

    def model_ready(self, model: str) -> bool:
        return self._get(f"{self.http_url}/v2/models/{model}/ready") is not None

    def metrics_text(self) -> str:
        text = self._get(self.metrics_url)
        if text is None:
            raise RuntimeError(f"Triton metrics not reachable at {self.metrics_url}")
        return text

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.running():
                raise TritonStartError(f"Triton exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TritonStartError(f"Triton not ready within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM (Triton drains in-flight requests), then SIGKILL to its whole group after ``grace``."""
        stop_process_group(self.process, grace)

    def log_tail(self, lines: int = 40) -> str:
        return tail_of(self.log_path, lines, "(no Triton log)")

    def __enter__(self) -> TritonServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _get(url: str) -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local URL we built
                return response.read().decode() if response.status == 200 else None
        except (urllib.error.URLError, OSError):
            return None


def start_triton(
    source_repository: Path,
    workdir: Path,
    *,
    grpc_port: int | None = None,
    http_port: int | None = None,
    metrics_port: int | None = None,
    bind_address: str = "127.0.0.1",
    runner_threads: int = 1,
    timeout: float = 180.0,
) -> TritonServer:
    """Serve ``source_repository``'s ONNX models with the wheel's Triton; return once it is ready."""
    install = TritonInstall.find()
    workdir.mkdir(parents=True, exist_ok=True)
    repository = prepare_repository(source_repository, workdir / "repository")
    backends = install.backend_directory(workdir)
    ports = _ports(grpc_port, http_port, metrics_port)
    command = [
        str(install.binary),
        f"--model-repository={repository}",
        f"--backend-directory={backends}",
        *(f"--{api}-address={bind_address}" for api in ("http", "grpc", "metrics")),
        f"--grpc-port={ports[0]}",
        f"--http-port={ports[1]}",
        f"--metrics-port={ports[2]}",
        "--allow-metrics=true",
        "--allow-gpu-metrics=false",
        "--strict-readiness=true",
        "--exit-timeout-secs=10",
    ]
    env = {
        **os.environ,
        "LD_LIBRARY_PATH": os.pathsep.join(filter(None, [str(install.libraries), os.environ.get("LD_LIBRARY_PATH")])),
        # The Python-backend stub finds this environment's packages (numpy, onnxruntime) through PATH.
        "PATH": os.pathsep.join([str(Path(sys.prefix) / "bin"), os.environ.get("PATH", "")]),
        RUNNER_THREADS_ENV: str(runner_threads),
    }
    log_path = workdir / LOG_FILE
    with log_path.open("wb") as log:
        # A session of its own: a terminal's Ctrl-C reaches the launcher, which stops Triton in order.
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client_host = "127.0.0.1" if bind_address in ("0.0.0.0", "::", "") else bind_address  # noqa: S104
    server = TritonServer(process, *ports, repository=repository, log_path=log_path, host=client_host)
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.stop(grace=5)
        raise
    return server


def _ports(grpc: int | None, http: int | None, metrics: int | None) -> tuple[int, int, int]:
    chosen: list[int] = []
    for wanted in (grpc, http, metrics):
        port = wanted or free_port()
        while port in chosen:
            port = free_port()
        chosen.append(port)
    return chosen[0], chosen[1], chosen[2]
