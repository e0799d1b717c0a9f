"""Ingest's side of `aquaflow batch` on the real broker and S3: each object version announced once per intent.

A plain batch shares the upload's own claim (an object announced before is a duplicate);
a reprocessing batch claims under its batch id (announced once more, once only).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from faststream.asgi import AsgiFastStream
from prometheus_client.parser import text_string_to_metric_families

from aquaflow_devstack.minio_events import minio_event_for_put
from aquaflow_devstack.samples import real_images
from aquaflow_ingest.app import create_app
from aquaflow_ingest.settings import IngestSettings
from aquaflow_shared.batches import BATCH_OBJECT_REQUESTED, BATCH_STAGE, batch_object_requested
from aquaflow_shared.contracts import ObjectRef
from aquaflow_shared.delivery import CODE_HEADER, STAGE_HEADER
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings
from aquaflow_shared.topology import OBJECT_RECEIVED, S3_NOTIFICATION, Topology
from tests.support.polling import eventually
from tests.support.rabbit import QueueTap, RabbitAdmin

pytestmark = pytest.mark.integration


async def settled(app: AsgiFastStream, stage: str) -> float:
    """Messages the stage settled, every outcome, from the app's own /metrics."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client:
        text = (await client.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "aquaflow_messages_total" and sample.labels.get("stage") == stage
    )


async def announced(tap: QueueTap) -> Counter[str]:
    return Counter(str(b["object"]["key"]) for b in await tap.bodies())


async def test_batch_requests_announce_each_version_once_per_batch_intent(
    broker_settings: BrokerSettings,
    s3_settings: S3Settings,
    rabbit: RabbitAdmin,
    s3: Any,
    new_bucket: Callable[[str], str],
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    bucket, foreign = new_bucket("plankton-flowcam"), new_bucket("obsea-frames")
    images = [s for s in real_images() if not s.corrupt][:2]
    etags = {}
    for name, image in zip(("run/a.png", "run/b.png"), images, strict=True):
        put = s3.put_object(Bucket=bucket, Key=name, Body=image.path.read_bytes(), Metadata={"instrument": "flowcam"})
        etags[name] = put["ETag"].strip('"')
    s3.put_object(Bucket=foreign, Key="f.png", Body=images[0].path.read_bytes())
    settings = IngestSettings(
        buckets={bucket: "lov", foreign: "obsea"},
        broker=broker_settings,
        s3=s3_settings,
        http=ObservabilitySettings(port=0),
    )
    tap = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)

    async def request(
        batch_id: str, key: str, *, reprocess: bool, etag: str | None = None, where: str = bucket
    ) -> None:
        obj = ObjectRef(bucket=where, key=key, etag=etag or etags.get(key, "x"))
        message = batch_object_requested(batch_id, "lov", obj, reprocess=reprocess)
        await rabbit.publish(topology.events.name, BATCH_OBJECT_REQUESTED, message.model_dump_json().encode())

    app = create_app(settings)
    async with app:
        # b.png was uploaded and announced as usual before any batch.
        notification = minio_event_for_put(s3, bucket, "run/b.png")
        await rabbit.publish(topology.notifications.name, S3_NOTIFICATION, json.dumps(notification).encode())
        await eventually(lambda: announced(tap), until=lambda c: c["run/b.png"] == 1)

        for _ in range(2):  # a plain batch, its requests delivered twice
            await request("b-plain", "run/a.png", reprocess=False)
            await request("b-plain", "run/b.png", reprocess=False)
        await eventually(lambda: announced(tap), until=lambda c: c["run/a.png"] == 1)
        for _ in range(2):  # a reprocessing batch, twice as well
            await request("b-again", "run/a.png", reprocess=True)
            await request("b-again", "run/b.png", reprocess=True)
        await request("b-plain", "f.png", reprocess=False, where=foreign)  # another tenant's bucket
        await request("b-plain", "run/a.png", reprocess=True, etag="0" * 32)  # replaced since the listing
        # Every request settled (4 + 4 + 2), so nothing more can be announced after the count below.
        await eventually(lambda: settled(app, BATCH_STAGE), until=lambda n: n >= 10)
        dead = await rabbit.queue_messages(topology.dead_letter_queue.name)
        counted = await announced(tap)

    bodies = await tap.bodies()
    assert counted == Counter({"run/a.png": 2, "run/b.png": 2})
    by_batch = [b for b in bodies if b["source"] == "s3-reconcile"]
    assert len(by_batch) == 3  # a once for the plain batch, a and b once for the reprocessing one
    assert {b["tenant"] for b in bodies} == {"lov"}
    assert all(b["object"]["metadata"] == {"instrument": "flowcam"} for b in by_batch)  # read by HEAD
    assert sorted((m.headers[STAGE_HEADER], m.headers[CODE_HEADER]) for m in dead) == [
        ("ingest.batch", "object_missing"),
        ("ingest.batch", "tenant_mismatch"),
    ]
