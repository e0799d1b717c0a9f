"""Helpers for running an inference worker in-process against the real parts."""

from __future__ import annotations

from typing import Any

import pytest
from aquaflow_devstack.s3 import S3Server

from aquaflow_inference.settings import InferenceSettings
from aquaflow_shared.contracts import InferenceRequested, ObjectRef
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings

BUCKET = "inference-it"


def worker_settings(
    model: str, broker: BrokerSettings, s3: S3Settings, grpc_url: str, **overrides: Any
) -> InferenceSettings:
    return InferenceSettings(
        model=model,
        triton_grpc_url=grpc_url,
        triton_timeout_seconds=10,
        broker=broker,
        s3=s3,
        http=ObservabilitySettings(port=0),
        **overrides,
    )


def request_for(obj: ObjectRef, *, profile: str, model: str) -> InferenceRequested:
    return InferenceRequested(
        message_id=obj.upload_id()[:16] + model[:8] + "0" * 8,
        correlation_id=obj.upload_id(),
        tenant="lov",
        object=obj,
        profile=profile,
        model=model,
        route="test",
    )


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    client = s3_server.client()
    existing = {b["Name"] for b in client.list_buckets()["Buckets"]}
    if BUCKET not in existing:
        client.create_bucket(Bucket=BUCKET)
    return BUCKET


def upload(s3_server: S3Server, bucket: str, key: str, body: bytes) -> ObjectRef:
    put = s3_server.client().put_object(Bucket=bucket, Key=key, Body=body)
    return ObjectRef(bucket=bucket, key=key, etag=put["ETag"], size=len(body))
