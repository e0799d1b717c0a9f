"""The S3 poller against moto and the real RabbitMQ: finds uploads, survives restarts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faststream.asgi import AsgiFastStream

from aquaflow_ingest.app import create_app
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER
from aquaflow_shared.topology import OBJECT_RECEIVED
from tests.integration.ingest.support import IngestConfig, metric, real_images
from tests.support.polling import eventually
from tests.support.rabbit import QueueTap, RabbitAdmin

pytestmark = pytest.mark.integration


async def cycles(app: AsgiFastStream) -> float:
    return await metric(app, "aquaflow_ingest_poll_cycles_total", outcome="ok")


async def wait_for_cycles(app: AsgiFastStream, more: int) -> None:
    """Wait until ``more`` complete poll cycles have run from now."""
    start = await cycles(app)
    await eventually(lambda: cycles(app), until=lambda n: n >= start + more, timeout=20)


async def keys(tap: QueueTap) -> list[str]:
    return sorted(str(b["object"]["key"]) for b in await tap.bodies())


async def test_the_poller_announces_each_object_once_across_restarts(
    ingest_config: IngestConfig,
    rabbit: RabbitAdmin,
    s3: Any,
    new_bucket: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topology = ingest_config.topology
    bucket = new_bucket("obsea-frames")
    other = new_bucket("plankton-flowcam")
    images = real_images("import_test/m106_mn01_n1_sml", 4)
    first_keys = [f"cam 2/z-{p.name}" for p in images[:3]]
    for key, image in zip(first_keys, images, strict=False):
        s3.put_object(
            Bucket=bucket, Key=key, Body=image.read_bytes(), ContentType="image/jpeg", Metadata={"site": "obsea"}
        )
    s3.put_object(Bucket=bucket, Key="cam 2/empty.jpg", Body=b"")
    s3.put_object(Bucket=bucket, Key="elsewhere/not-polled.jpg", Body=images[0].read_bytes())
    s3.put_object(Bucket=other, Key="not-polled-either.jpg", Body=images[0].read_bytes())
    checkpoint = tmp_path / "state" / "ingest-checkpoint.json"
    # In-process deduplication, which a restart forgets: only the checkpoint prevents re-announcing.
    settings = ingest_config.settings(
        buckets={bucket: "obsea", other: "lov"},
        poll_buckets=[f"{bucket}/cam 2/"],
        poll_interval_seconds=0.2,
        checkpoint_path=checkpoint,
    )
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)

    first_run = create_app(settings)
    async with first_run:
        await eventually(lambda: keys(announced), until=lambda k: len(k) >= 3)
        await wait_for_cycles(first_run, 2)
        found = await metric(first_run, "aquaflow_ingest_poll_objects_found_total", bucket=bucket)
        lag_count = await metric(first_run, "aquaflow_ingest_poll_lag_seconds_count")
    assert await keys(announced) == sorted(first_keys)
    assert (found, lag_count) == (4, 3)
    saved = json.loads(checkpoint.read_text())
    assert saved["sources"][f"{bucket}/cam 2/"]["watermark"] is not None

    second_run = create_app(settings)
    async with second_run:
        await wait_for_cycles(second_run, 3)
        assert await keys(announced) == sorted(first_keys), "re-announced after a restart"
        # Sorts before everything listed so far: the poller must not rely on key order.
        later = "cam 2/a-later.jpg"
        s3.put_object(Bucket=bucket, Key=later, Body=images[3].read_bytes(), ContentType="image/jpeg")
        await eventually(lambda: keys(announced), until=lambda k: later in k)
        await wait_for_cycles(second_run, 2)
        dead = await rabbit.queue_messages(topology.dead_letter_queue.name)

    bodies = await announced.bodies()
    assert sorted(b["object"]["key"] for b in bodies) == sorted([*first_keys, later])
    for body in bodies:
        assert body["tenant"] == "obsea"
        assert body["source"] == "s3-poller"
        assert body["object"]["bucket"] == bucket
        assert body["object"]["content_type"] == "image/jpeg"
        assert body["event_time"] is not None
    assert {b["object"]["key"]: b["object"]["metadata"] for b in bodies}[first_keys[0]] == {"site": "obsea"}
    # The empty object was dead-lettered once, not again after the restart.
    assert [(m.routing_key, m.headers[CODE_HEADER]) for m in dead] == [("ingest.failed", "empty_object")]
    assert f"s3://{bucket}/cam 2/empty.jpg is empty" in str(dead[0].headers[REASON_HEADER])
    assert json.loads(dead[0].body)["key"] == "cam 2/empty.jpg"


async def test_a_changed_object_is_announced_again(
    ingest_config: IngestConfig,
    rabbit: RabbitAdmin,
    s3: Any,
    new_bucket: Callable[[str], str],
    tmp_path: Path,
) -> None:
    topology = ingest_config.topology
    bucket = new_bucket("drone-litter")
    first, second = real_images("import_test/m106_mn01_n1_sml", 2)
    s3.put_object(Bucket=bucket, Key="flight 7/tile.jpg", Body=first.read_bytes())
    settings = ingest_config.settings(
        buckets={bucket: "imagine-litter"},
        poll_buckets=[bucket],
        poll_interval_seconds=0.2,
        checkpoint_path=tmp_path / "checkpoint.json",
    )
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)
    app = create_app(settings)
    async with app:
        await eventually(announced.bodies, until=lambda b: len(b) >= 1)
        s3.put_object(Bucket=bucket, Key="flight 7/tile.jpg", Body=second.read_bytes())
        await eventually(announced.bodies, until=lambda b: len(b) >= 2)
        await wait_for_cycles(app, 2)
    bodies = await announced.bodies()
    assert [b["object"]["key"] for b in bodies] == ["flight 7/tile.jpg"] * 2
    assert len({b["object"]["etag"] for b in bodies}) == 2
    assert len({b["message_id"] for b in bodies}) == 2
