"""A real DEEPaaS API (deepaas-run from .venv-deepaas) serving the project's plankton module.

The environment is made on first use by scripts/deepaas-venv.sh (about a minute, then
cached); the server starts in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aquaflow_devstack.deepaas import DeepaasServer, ensure_deepaas_venv, start_deepaas

ROOT = Path(__file__).resolve().parents[3]
DECLARATIONS = ROOT / "config" / "deepaas"
MODULE = "plankton_classifier"


@pytest.fixture(scope="session")
def deepaas_venv() -> Path:
    return ensure_deepaas_venv()


@pytest.fixture(scope="session")
def deepaas(deepaas_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeepaasServer]:
    """One server for the session, one worker process (DEEPaaS's default)."""
    server = start_deepaas(tmp_path_factory.mktemp("deepaas"), venv=deepaas_venv)
    yield server
    server.stop()


# The inference worker's real parts (RabbitMQ, an S3 bucket, settings), shared with its own tests.
from tests.integration.inference.conftest import parts  # noqa: E402, F401
