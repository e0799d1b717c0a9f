"""MinIO notifications against the real RabbitMQ, moto S3 and Redis."""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from aquaflow_devstack.minio_events import minio_event, minio_event_for_put, minio_record
from aquaflow_ingest.app import create_app
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER
from aquaflow_shared.topology import OBJECT_RECEIVED, S3_NOTIFICATION, Topology
from tests.integration.ingest.support import IMAGES, REDIS_URL, IngestConfig, metric, real_images
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.integration


def put(s3: Any, bucket: str, key: str, body: bytes, **metadata: str) -> dict[str, Any]:
    """Upload into moto as an instrument would, and return the notification MinIO would send."""
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata)
    return minio_event_for_put(s3, bucket, key)


async def notify(rabbit: RabbitAdmin, topology: Topology, event: dict[str, Any] | bytes) -> None:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    await rabbit.publish(topology.notifications.name, S3_NOTIFICATION, body)


async def test_each_uploaded_image_is_announced_once_with_its_tenant_and_metadata(
    ingest_config: IngestConfig,
    rabbit: RabbitAdmin,
    s3: Any,
    new_bucket: Callable[[str], str],
    redis_prefix: str,
) -> None:
    topology = ingest_config.topology
    bucket = new_bucket("plankton-flowcam")
    uploads = {f"m106 net 1/{p.name}": p.read_bytes() for p in real_images("import_test/m106_mn01_n1_sml", 4)}
    uploads["run 1/été cellule+1.png"] = (IMAGES / "images" / "0128.png").read_bytes()
    # The uploader claims another tenant in its metadata: configuration wins.
    events = {
        key: put(s3, bucket, key, body, instrument="flowcam", tenant="someone-else") for key, body in uploads.items()
    }
    assert (
        events["run 1/été cellule+1.png"]["Records"][0]["s3"]["object"]["key"]
        == "run+1%2F%C3%A9t%C3%A9+cellule%2B1.png"
    )
    settings = ingest_config.settings(
        buckets={bucket: "lov"}, dedupe_redis_url=SecretStr(REDIS_URL), dedupe_key_prefix=redis_prefix
    )
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)
    app = create_app(settings)
    async with app:
        for event in events.values():
            await notify(rabbit, topology, event)
            await notify(rabbit, topology, event)  # MinIO redelivers from its queue dir after a broker outage
        await notify(rabbit, topology, minio_record_removal(bucket, "m106 net 1/gone.jpg"))
        # Messages are settled in order: once the last upload's event is out, every duplicate was seen.
        last = "last one.jpg"
        await notify(rabbit, topology, put(s3, bucket, last, uploads["run 1/été cellule+1.png"]))
        await eventually(announced.bodies, until=lambda b: any(e["object"]["key"] == last for e in b))
        duplicates = await metric(app, "aquaflow_ingest_events_total", source="minio-amqp", outcome="duplicate")
        ignored = await metric(app, "aquaflow_ingest_events_total", source="minio-amqp", outcome="ignored")
        settled = await metric(app, "aquaflow_messages_total", stage="ingest", outcome="duplicate")
        dead = await rabbit.queue_messages(topology.dead_letter_queue.name)

    bodies = await announced.bodies()
    assert sorted(b["object"]["key"] for b in bodies) == sorted([*uploads, last])
    assert (duplicates, ignored, settled) == (5, 1, 5)
    assert dead == []
    by_key = {b["object"]["key"]: b for b in bodies}
    for key, content in uploads.items():
        event = by_key[key]
        obj = event["object"]
        assert event["tenant"] == "lov"
        assert event["source"] == "minio-amqp"
        assert obj["bucket"] == bucket
        assert obj["etag"] == hashlib.md5(content).hexdigest()  # noqa: S324 - S3's ETag of a simple upload
        assert obj["size"] == len(content)
        assert obj["content_type"] == mimetypes.guess_type(key)[0]
        assert obj["metadata"] == {"instrument": "flowcam", "tenant": "someone-else"}
    messages = {json.loads(m.body)["object"]["key"]: m for m in announced.messages}
    first = by_key["run 1/été cellule+1.png"]
    assert messages["run 1/été cellule+1.png"].message_id == first["message_id"]
    assert messages["run 1/été cellule+1.png"].correlation_id == first["correlation_id"]
    assert messages["run 1/été cellule+1.png"].delivery_mode == 2


def minio_record_removal(bucket: str, key: str) -> dict[str, Any]:
    return minio_event(minio_record(bucket=bucket, key=key, event_name="s3:ObjectRemoved:Delete"))


async def test_bad_events_and_objects_end_in_the_dead_letter_queue_with_reasons(
    ingest_config: IngestConfig,
    rabbit: RabbitAdmin,
    s3: Any,
    new_bucket: Callable[[str], str],
) -> None:
    topology = ingest_config.topology
    bucket = new_bucket("plankton-zooscan")
    unwatched = new_bucket("private-photos")
    image = real_images("import_test/m106_mn01_n1_sml", 1)[0].read_bytes()
    limits = ingest_config.s3.model_copy(update={"max_object_bytes": len(image) - 1})
    settings = ingest_config.settings(buckets={bucket: "lov"}, s3=limits)
    not_minio = minio_event(minio_record(bucket=bucket, key="x.png", etag="e", size=3))
    not_minio["Records"][0]["eventSource"] = "azure:blob"
    bad: dict[str, dict[str, Any] | bytes] = {
        "not_json": b"{not json",
        "foreign": not_minio,
        "unwatched": put(s3, unwatched, "holiday 1.jpg", image),
        "oversize": put(s3, bucket, "scan 1.jpg", image),
        "empty": put(s3, bucket, "scan 2.jpg", b""),
        "traversal": minio_event(minio_record(bucket=bucket, key="../../etc/cron.d/x", etag="e", size=10)),
    }
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)
    app = create_app(settings)
    async with app:
        for event in bad.values():
            await notify(rabbit, topology, event)
        dead = await eventually(
            lambda: rabbit.queue_messages(topology.dead_letter_queue.name), until=lambda m: len(m) >= len(bad)
        )
        counted = await metric(app, "aquaflow_dead_letters_total", stage="ingest", reason="oversize")

    assert await announced.bodies() == []
    assert counted == 1
    assert all(m.routing_key == "ingest.failed" for m in dead)
    reasons = sorted((str(m.headers[CODE_HEADER]), str(m.headers[REASON_HEADER])) for m in dead)
    codes = [code for code, _ in reasons]
    assert codes == ["bucket_not_watched", "empty_object", "malformed", "malformed", "oversize", "unsafe_key"]
    text = "\n".join(reason for _, reason in reasons)
    assert f"bucket not watched: '{unwatched}'" in text
    assert f"s3://{bucket}/scan 2.jpg is empty" in text
    assert f"s3://{bucket}/scan 1.jpg is {len(image)} bytes, over the limit of {len(image) - 1} bytes" in text
    assert "notification is not JSON" in text
    assert "eventSource 'azure:blob' is neither minio:s3 nor aws:s3" in text
    assert "'..' path segment" in text
    # The dead letter keeps the original body, so it can be inspected and replayed.
    bodies = {m.body for m in dead}
    assert b"{not json" in bodies
