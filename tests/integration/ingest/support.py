"""Helpers of the ingest integration tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.asgi import AsgiFastStream
from prometheus_client.parser import text_string_to_metric_families

from aquaflow_devstack.samples import sample_root
from aquaflow_ingest.settings import IngestSettings
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings
from aquaflow_shared.topology import Topology

ROOT = Path(__file__).resolve().parents[3]
IMAGES = sample_root()
REDIS_URL = os.environ.get("AQUAFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class IngestConfig:
    """Settings for an ingest app on this test's broker prefix and the session's moto server."""

    broker: BrokerSettings
    s3: S3Settings

    @property
    def topology(self) -> Topology:
        return Topology(prefix=self.broker.prefix)

    def settings(self, **fields: Any) -> IngestSettings:
        defaults: dict[str, Any] = {"broker": self.broker, "s3": self.s3, "http": ObservabilitySettings(port=0)}
        return IngestSettings(**(defaults | fields))


def real_images(folder: str, count: int) -> list[Path]:
    """Real plankton images of the EcoTaxa QA data, each with different content (so a different ETag)."""
    found = sorted(p for p in (IMAGES / folder).iterdir() if p.suffix.lower() in {".jpg", ".png", ".gif"})[:count]
    if len(found) < count or len({p.read_bytes() for p in found}) < count:
        pytest.fail(f"expected {count} distinct images in {IMAGES / folder}, found {len(found)}")
    return found


async def metric(app: AsgiFastStream, name: str, **labels: str) -> float:
    """A sample of the app's own /metrics, read over ASGI as Prometheus would over HTTP."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
