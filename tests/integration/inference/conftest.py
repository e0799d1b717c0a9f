"""The real parts an inference worker needs, bundled: RabbitMQ, a moto bucket, settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from aquaflow_devstack.s3 import S3Server
from aquaflow_devstack.triton import TritonServer, TritonUnavailable, start_triton
from aquaflow_inference.settings import InferenceSettings
from aquaflow_shared.contracts import InferenceRequested, ObjectRef
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings
from aquaflow_shared.topology import Topology, inference_requested
from tests.integration.triton.model_forms import write_forms
from tests.support.messages import inference_request
from tests.support.rabbit import RabbitAdmin

BUCKET = "inference-it"


def request_for(obj: ObjectRef, *, profile: str, model: str) -> InferenceRequested:
    return inference_request(obj, profile=profile, model=model)


@dataclass
class Parts:
    broker: BrokerSettings
    s3: S3Settings
    s3_server: S3Server
    rabbit: RabbitAdmin

    @property
    def topology(self) -> Topology:
        return Topology(prefix=self.broker.prefix)

    def settings(self, model: str, grpc_url: str, **overrides: Any) -> InferenceSettings:
        return InferenceSettings(
            model=model,
            triton_grpc_url=grpc_url,
            triton_timeout_seconds=10,
            broker=overrides.pop("broker", self.broker),
            s3=self.s3,
            http=ObservabilitySettings(port=0),
            **overrides,
        )

    def upload(self, key: str, body: bytes) -> ObjectRef:
        put = self.s3_server.client().put_object(Bucket=BUCKET, Key=key, Body=body)
        return ObjectRef(bucket=BUCKET, key=key, etag=put["ETag"], size=len(body))

    async def publish(self, request: InferenceRequested, *, routed_to: str | None = None) -> None:
        """Publish ``request`` to the queue of ``routed_to`` (by default the model it names)."""
        await self.rabbit.publish(
            self.topology.events.name,
            inference_requested(routed_to or request.model),
            request.model_dump_json().encode(),
            message_id=request.message_id,
        )


@pytest.fixture
def parts(broker_settings: BrokerSettings, s3_settings: S3Settings, s3_server: S3Server, rabbit: RabbitAdmin) -> Parts:
    client = s3_server.client()
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    return Parts(broker_settings, s3_settings, s3_server, rabbit)


@pytest.fixture(scope="module")
def forms_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """Models in the forms real exports come in (tests/integration/triton/model_forms.py)."""
    root = tmp_path_factory.mktemp("forms")
    try:
        server = start_triton(write_forms(root / "onnx"), root / "triton")
    except TritonUnavailable as missing:
        pytest.skip(f"Triton binary not installed: {missing}")
    yield server
    server.stop()
