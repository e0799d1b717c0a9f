"""The sweep against moto and the real RabbitMQ: finds uploads page by page, survives restarts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faststream.asgi import AsgiFastStream
from pydantic import SecretStr

from aquaflow_ingest.app import create_app
from aquaflow_shared.delivery import CODE_HEADER
from aquaflow_shared.topology import OBJECT_RECEIVED
from tests.integration.ingest.support import REDIS_URL, IngestConfig, metric, real_images
from tests.support.polling import eventually
from tests.support.rabbit import QueueTap, RabbitAdmin

pytestmark = pytest.mark.integration


async def cycles(app: AsgiFastStream) -> float:
    return await metric(app, "aquaflow_ingest_sweep_cycles_total", outcome="ok")


async def wait_for_cycles(app: AsgiFastStream, more: int) -> None:
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
    redis_prefix: str,
) -> None:
    topology = ingest_config.topology
    bucket = new_bucket("obsea-frames")
    images = real_images("import_test/m106_mn01_n1_sml", 4)
    first_keys = [f"cam 2/z-{p.name}" for p in images[:3]]
    for key, image in zip(first_keys, images, strict=False):
        s3.put_object(
            Bucket=bucket, Key=key, Body=image.read_bytes(), ContentType="image/jpeg", Metadata={"site": "obsea"}
        )
    s3.put_object(Bucket=bucket, Key="cam 2/empty.jpg", Body=b"")
    s3.put_object(Bucket=bucket, Key="elsewhere/not-polled.jpg", Body=images[0].read_bytes())
    checkpoint = tmp_path / "state" / "ingest-checkpoint.json"
    settings = ingest_config.settings(
        buckets={bucket: "obsea"},
        poll_buckets=[f"{bucket}/cam 2/"],
        sweep_interval_seconds=0.1,
        sweep_page_size=2,  # several pages per pass
        checkpoint_path=checkpoint,
        dedupe_redis_url=SecretStr(REDIS_URL),
        dedupe_key_prefix=redis_prefix,
    )
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)
    first_run = create_app(settings)
    async with first_run:
        await eventually(lambda: keys(announced), until=lambda k: len(k) >= 3)
        await wait_for_cycles(first_run, 4)
    assert await keys(announced) == sorted(first_keys)
    assert "s3-poller:" + f"{bucket}/cam 2/" in json.loads(checkpoint.read_text())["sources"]

    second_run = create_app(settings)
    async with second_run:
        await wait_for_cycles(second_run, 4)
        assert await keys(announced) == sorted(first_keys), "re-announced after a restart"
        # Sorts before everything listed so far: found when the listing wraps.
        later = "cam 2/a-later.jpg"
        s3.put_object(Bucket=bucket, Key=later, Body=images[3].read_bytes(), ContentType="image/jpeg")
        await eventually(lambda: keys(announced), until=lambda k: later in k)
        passes = await metric(second_run, "aquaflow_ingest_sweep_passes_total", source="s3-poller", bucket=bucket)
        dead = await rabbit.queue_messages(topology.dead_letter_queue.name)
    bodies = await announced.bodies()
    assert sorted(b["object"]["key"] for b in bodies) == sorted([*first_keys, later])
    assert {b["source"] for b in bodies} == {"s3-poller"}
    assert {b["object"]["key"]: b["object"]["metadata"] for b in bodies}[first_keys[0]] == {"site": "obsea"}
    assert passes >= 1
    assert [m.headers[CODE_HEADER] for m in dead] == ["empty_object"]


async def test_the_reconcile_sweep_finds_an_upload_whose_notification_was_lost(
    ingest_config: IngestConfig, rabbit: RabbitAdmin, s3: Any, new_bucket: Callable[[str], str], tmp_path: Path
) -> None:
    topology = ingest_config.topology
    bucket = new_bucket("plankton-flowcam")
    s3.put_object(Bucket=bucket, Key="lost.jpg", Body=real_images("import_test/m106_mn01_n1_sml", 1)[0].read_bytes())
    settings = ingest_config.settings(
        buckets={bucket: "lov"},
        reconcile_buckets=[bucket],
        reconcile_min_age_seconds=0,
        sweep_interval_seconds=0.1,
        checkpoint_path=tmp_path / "checkpoint.json",
    )
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)
    app = create_app(settings)
    async with app:
        await eventually(announced.bodies, until=lambda b: len(b) >= 1)
        await wait_for_cycles(app, 3)
    bodies = await announced.bodies()
    assert [(b["object"]["key"], b["source"]) for b in bodies] == [("lost.jpg", "s3-reconcile")]
