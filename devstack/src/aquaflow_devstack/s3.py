"""moto's standalone S3 server: a real HTTP S3 API on a local port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from aquaflow_devstack.ports import free_port

ACCESS_KEY = "aquaflow-dev"
SECRET_KEY = "aquaflow-dev-secret"  # noqa: S105 - moto accepts any credentials
REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint_url: str
    _server: ThreadedMotoServer

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def stop(self) -> None:
        self._server.stop()


def start_s3(port: int | None = None) -> S3Server:
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return S3Server(endpoint_url=f"http://127.0.0.1:{port}", _server=server)
