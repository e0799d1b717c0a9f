"""The OSCAR baseline: iMagine's serverless way of serving a model, run here on the same model and images.

OSCAR turns each uploaded file into a job of its own that starts a process, loads the
model and runs ``deepaas-cli predict`` on that one file. The job's Kubernetes scheduling,
its container start and its S3 transfers are left out, so the baseline measured here is
faster than OSCAR itself: the ratios are conservative. OSCAR's exposed-service mode keeps
one DEEPaaS API (``deepaas-run``) up and sends it one request per file.

The DEEPaaS module (``modules/deepaas-plankton``) serves any pad-square classifier folder
named by ``AQUAFLOW_PLANKTON_MODEL_DIR``; both benchmark models are such folders.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

MODEL_DIR_ENV = "AQUAFLOW_PLANKTON_MODEL_DIR"
REQUEST_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class OscarRun:
    mode: str
    files: int
    seconds: float
    failures: int = 0

    @property
    def images_per_second(self) -> float:
        return (self.files - self.failures) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "files": self.files,
            "failures": self.failures,
            "seconds": round(self.seconds, 2),
            "images_per_second": round(self.images_per_second, 4),
        }


class OscarUnavailable(RuntimeError):
    """The DEEPaaS environment or module is not there; the message says why."""


def prepare() -> Path:
    """The DEEPaaS environment (made on first use), or OscarUnavailable with the reason."""
    try:
        from aquaflow_devstack import deepaas
    except ImportError as error:
        raise OscarUnavailable(f"aquaflow_devstack.deepaas cannot be imported: {error}") from error
    try:
        return deepaas.ensure_deepaas_venv()
    except (deepaas.DeepaasStartError, OSError) as error:
        raise OscarUnavailable(f"the DEEPaaS environment could not be made: {error}") from error


def process_per_file(files: list[Path], model_dir: Path, venv: Path, parallel: int) -> OscarRun:
    """``deepaas-cli predict`` in a fresh process per file, ``parallel`` processes at a time."""
    from aquaflow_devstack.deepaas import cli_predict

    previous = os.environ.get(MODEL_DIR_ENV)
    os.environ[MODEL_DIR_ENV] = str(model_dir)  # read by the module in each new process
    failures = 0
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(parallel) as pool:
            futures = [pool.submit(cli_predict, f, venv=venv) for f in files]
            for future in tqdm(futures, desc=f"OSCAR jobs, {parallel} at a time", unit="file", leave=False):
                try:
                    future.result()
                except RuntimeError:
                    failures += 1
        seconds = time.perf_counter() - started
    finally:
        if previous is None:
            os.environ.pop(MODEL_DIR_ENV, None)
        else:
            os.environ[MODEL_DIR_ENV] = previous
    mode = "process per file, one at a time" if parallel == 1 else f"process per file, {parallel} in parallel"
    return OscarRun(mode, len(files), seconds, failures)


def exposed_service(files: list[Path], model_dir: Path, venv: Path, workdir: Path) -> OscarRun:
    """One ``deepaas-run`` (one worker) kept up, one POST per file, one after another."""
    import httpx

    from aquaflow_devstack.deepaas import start_deepaas

    server = start_deepaas(workdir, venv=venv, env={MODEL_DIR_ENV: str(model_dir)})
    failures = 0
    try:
        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
            started = time.perf_counter()
            for path in tqdm(files, desc="OSCAR exposed service", unit="file", leave=False):
                with path.open("rb") as handle:
                    response = client.post(server.predict_url, files={"image": (path.name, handle)})
                if response.status_code != 200:
                    failures += 1
            seconds = time.perf_counter() - started
    finally:
        server.stop()
    return OscarRun("exposed service (deepaas-run), one request per file", len(files), seconds, failures)
