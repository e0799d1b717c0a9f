"""MinIO's webhook target against ingest's HTTP endpoint, the real broker and moto S3."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from aquaflow_devstack.minio_events import minio_event_for_put
from aquaflow_ingest.app import create_app
from aquaflow_shared.delivery import CODE_HEADER
from aquaflow_shared.topology import OBJECT_RECEIVED
from tests.integration.ingest.support import IngestConfig, metric, real_images
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.integration

TOKEN = "s3cr3t-token"  # noqa: S105 - a test token


async def test_the_webhook_answers_after_the_publish_and_refuses_what_it_must(
    ingest_config: IngestConfig, rabbit: RabbitAdmin, s3: Any, new_bucket: Callable[[str], str]
) -> None:
    topology = ingest_config.topology
    bucket = new_bucket("plankton-flowcam")
    image = real_images("import_test/m106_mn01_n1_sml", 1)[0]
    s3.put_object(Bucket=bucket, Key="run 1/cell.jpg", Body=image.read_bytes(), Metadata={"instrument": "flowcam"})
    event = json.dumps(minio_event_for_put(s3, bucket, "run 1/cell.jpg")).encode()
    settings = ingest_config.settings(
        buckets={bucket: "lov"}, webhook_auth_token=SecretStr(TOKEN), webhook_max_body_bytes=4096
    )
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)
    app = create_app(settings)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client:
        ok = await client.post("/minio/events", content=event, headers=auth)
        # Answered only after the confirm: the event is already in the queue.
        assert ok.status_code == 200, ok.text
        assert [b["object"]["key"] for b in await announced.bodies()] == ["run 1/cell.jpg"]
        again = await client.post("/minio/events", content=event, headers=auth)
        unauthorised = await client.post("/minio/events", content=event)
        wrong = await client.post("/minio/events", content=event, headers={"Authorization": "Bearer nope"})
        too_big = await client.post("/minio/events", content=b"x" * 5000, headers=auth)
        malformed = await client.post("/minio/events", content=b"{not json", headers=auth)
        probe = await client.head("/minio/events")
        counted = await metric(app, "aquaflow_ingest_webhook_requests_total", status="401")
        dead = await rabbit.queue_messages(topology.dead_letter_queue.name)
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert (unauthorised.status_code, wrong.status_code, too_big.status_code) == (401, 401, 413)
    assert (malformed.status_code, malformed.json()) == (200, {"outcome": "dead_lettered", "code": "malformed"})
    assert probe.status_code == 200
    assert counted == 2
    assert [(m.body, m.headers[CODE_HEADER]) for m in dead] == [(b"{not json", "malformed")]
    body = (await announced.bodies())[0]
    assert (body["source"], body["object"]["metadata"]) == ("minio-webhook", {"instrument": "flowcam"})


async def test_a_broker_failure_answers_503_so_minio_keeps_the_event(
    ingest_config: IngestConfig, rabbit: RabbitAdmin, s3: Any, new_bucket: Callable[[str], str]
) -> None:
    bucket = new_bucket("plankton-flowcam")
    s3.put_object(Bucket=bucket, Key="cell.jpg", Body=b"jpeg")
    event = json.dumps(minio_event_for_put(s3, bucket, "cell.jpg")).encode()
    # Redis on a port where nothing listens: the claim store is down.
    settings = ingest_config.settings(
        buckets={bucket: "lov"},
        webhook_auth_token=SecretStr(TOKEN),
        dedupe_redis_url=SecretStr("redis://127.0.0.1:1/0"),
    )
    app = create_app(settings)
    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client:
        answer = await client.post("/minio/events", content=event, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 503
    assert TOKEN not in answer.text
