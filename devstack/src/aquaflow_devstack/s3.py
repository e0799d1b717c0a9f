"""An S3 server for tests and the native stack, the most genuine one available.

In order: the server ``AQUAFLOW_TEST_S3_URL`` names, with the keys beside it (nothing
is started); MinIO through testcontainers when a Docker engine answers; else (or when
the container cannot start) moto's standalone S3 server, a real HTTP S3 API in a
thread of this process.

The MinIO container is given the same keys as moto accepts, so code that reads
``ACCESS_KEY``/``SECRET_KEY`` works against either; a server named by the
environment has its own keys, on the ``S3Server``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from aquaflow_devstack import docker
from aquaflow_devstack.ports import free_port

ACCESS_KEY = "aquaflow-dev"
SECRET_KEY = "aquaflow-dev-secret"  # noqa: S105 - a development key for local servers only
REGION = "us-east-1"

S3_URL_ENV = "AQUAFLOW_TEST_S3_URL"
S3_ACCESS_KEY_ENV = "AQUAFLOW_TEST_S3_ACCESS_KEY_ID"
S3_SECRET_KEY_ENV = "AQUAFLOW_TEST_S3_SECRET_ACCESS_KEY"  # noqa: S105 - the variable's name, not a secret
S3_REGION_ENV = "AQUAFLOW_TEST_S3_REGION"

# MinIO's community images left Docker Hub; the archived ones remain on quay.io. Pinned:
# archived tags no longer move, and an explicit tag says which release the tests ran on.
MINIO_IMAGE = "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
MINIO_PORT = 9000


class S3Unavailable(RuntimeError):
    """No S3 server could be found or started."""


@dataclass
class S3Server:
    endpoint_url: str
    # Which server this is, for a test-run header or a log line.
    kind: str = "moto"
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    _stop: Callable[[], None] = field(default=lambda: None, repr=False)

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def stop(self) -> None:
        """Stop a server started here; one named by the environment is left running."""
        self._stop()


def start_s3(port: int | None = None) -> S3Server:
    """Find or start an S3 server (see the module's docstring); ``port`` is moto's, when moto is used."""
    url = os.environ.get(S3_URL_ENV)
    if url:
        return S3Server(
            endpoint_url=url,
            kind=S3_URL_ENV,
            access_key=os.environ.get(S3_ACCESS_KEY_ENV, ACCESS_KEY),
            secret_key=os.environ.get(S3_SECRET_KEY_ENV, SECRET_KEY),
            region=os.environ.get(S3_REGION_ENV, REGION),
        )
    if docker.docker_answers():
        try:
            return start_minio_container()
        except S3Unavailable as error:
            # An engine that cannot pull or run the image (offline, no quay.io): moto still serves.
            fallback = start_moto(port)
            fallback.kind = f"{fallback.kind}, as {error}"
            return fallback
    return start_moto(port)


def which_s3() -> str:
    """Which server ``start_s3`` would use, said without starting anything."""
    if os.environ.get(S3_URL_ENV):
        return f"the server at {S3_URL_ENV}"
    if docker.docker_answers():
        return f"testcontainers {MINIO_IMAGE} (moto if the container cannot start)"
    return "moto's ThreadedMotoServer (no S3 URL, no Docker engine)"


def start_minio_container() -> S3Server:
    """MinIO on a published port, ready once its liveness endpoint answers."""
    try:
        container = docker.start_container(
            MINIO_IMAGE,
            ports=(MINIO_PORT,),
            env={"MINIO_ROOT_USER": ACCESS_KEY, "MINIO_ROOT_PASSWORD": SECRET_KEY, "MINIO_REGION": REGION},
            command=f"server /data --address :{MINIO_PORT}",
            wait_for_http=(MINIO_PORT, "/minio/health/live"),
        )
    except Exception as error:
        raise S3Unavailable(f"the {MINIO_IMAGE} container did not start: {error}") from error
    return S3Server(
        endpoint_url=f"http://{container.host}:{container.ports[MINIO_PORT]}",
        kind=f"testcontainers {MINIO_IMAGE}",
        _stop=container.stop,
    )


def start_moto(port: int | None = None) -> S3Server:
    """moto's standalone S3 server on a local port (a free one unless given); it accepts any keys."""
    from moto.server import ThreadedMotoServer

    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return S3Server(endpoint_url=f"http://127.0.0.1:{port}", kind="moto's ThreadedMotoServer", _stop=server.stop)
