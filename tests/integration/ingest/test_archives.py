"""Archive expansion against moto S3 and the real RabbitMQ, with the real EcoTaxa/UVP exports."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from aquaflow_devstack.hostile_inputs import tar_gz_of
from aquaflow_devstack.minio_events import minio_event_for_put
from aquaflow_ingest.app import create_app
from aquaflow_shared.topology import OBJECT_RECEIVED, S3_NOTIFICATION
from tests.integration.ingest.support import IMAGES, REDIS_URL, IngestConfig, metric
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.integration


async def test_a_zooscan_zip_becomes_one_announced_object_per_file_once(
    ingest_config: IngestConfig, rabbit: RabbitAdmin, s3: Any, new_bucket: Callable[[str], str], redis_prefix: str
) -> None:
    topology = ingest_config.topology
    bucket = new_bucket("plankton-zooscan")
    archive = (IMAGES / "import_test.zip").read_bytes()
    with zipfile.ZipFile(IMAGES / "import_test.zip") as zf:
        files = sorted(i.filename for i in zf.infolist() if not i.is_dir() and i.file_size > 0)
    s3.put_object(Bucket=bucket, Key="scans/import_test.zip", Body=archive, Metadata={"instrument": "zooscan"})
    event = json.dumps(minio_event_for_put(s3, bucket, "scans/import_test.zip")).encode()
    settings = ingest_config.settings(
        buckets={bucket: "lov"}, dedupe_redis_url=SecretStr(REDIS_URL), dedupe_key_prefix=redis_prefix
    )
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)
    app = create_app(settings)
    async with app:
        await rabbit.publish(topology.notifications.name, S3_NOTIFICATION, event)
        await eventually(announced.bodies, until=lambda b: len(b) >= len(files))
        # The archive again (MinIO redelivery), and the echo of one written member.
        await rabbit.publish(topology.notifications.name, S3_NOTIFICATION, event)
        member_key = f"scans/import_test/{files[0]}"
        echo = json.dumps(minio_event_for_put(s3, bucket, member_key)).encode()
        await rabbit.publish(topology.notifications.name, S3_NOTIFICATION, echo)
        await eventually(
            lambda: metric(app, "aquaflow_ingest_events_total", source="minio-amqp", outcome="duplicate"),
            until=lambda n: n >= 2,
        )
        written = await metric(app, "aquaflow_ingest_archive_members_written_total")
        dead = await rabbit.queue_messages(topology.dead_letter_queue.name)
    bodies = await announced.bodies()
    assert sorted(b["object"]["key"] for b in bodies) == [f"scans/import_test/{f}" for f in files]
    assert written == len(files)
    assert dead == []
    tsv = next(b for b in bodies if b["object"]["key"].endswith(".tsv"))
    assert tsv["source"] == "archive"
    assert tsv["object"]["archive"]["key"] == "scans/import_test.zip"
    assert tsv["object"]["archive"]["member"].endswith(".tsv")
    assert tsv["object"]["metadata"]["instrument"] == "zooscan"
    stored = s3.get_object(Bucket=bucket, Key=f"scans/import_test/{files[0]}")["Body"].read()
    with zipfile.ZipFile(IMAGES / "import_test.zip") as zf:
        assert stored == zf.read(files[0])


async def test_a_uvp_zip_inside_a_zip_and_a_tar_gz_are_expanded(
    ingest_config: IngestConfig, rabbit: RabbitAdmin, s3: Any, new_bucket: Callable[[str], str]
) -> None:
    topology = ingest_config.topology
    bucket = new_bucket("plankton-uvp")
    with (
        zipfile.ZipFile(IMAGES / "UVP6_example.zip") as outer,
        zipfile.ZipFile(outer.open("b_da_19_Images.zip")) as inner,
    ):
        inner_files = sorted(i.filename for i in inner.infolist() if not i.is_dir() and i.file_size > 0)
    s3.put_object(Bucket=bucket, Key="casts/UVP6_example.zip", Body=(IMAGES / "UVP6_example.zip").read_bytes())
    s3.put_object(Bucket=bucket, Key="flight.tar.gz", Body=tar_gz_of({"a/one.png": b"png-1", "two.jpg": b"jpg-2"}))
    settings = ingest_config.settings(buckets={bucket: "lov"})
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)
    app = create_app(settings)
    async with app:
        for key in ("casts/UVP6_example.zip", "flight.tar.gz"):
            body = json.dumps(minio_event_for_put(s3, bucket, key)).encode()
            await rabbit.publish(topology.notifications.name, S3_NOTIFICATION, body)
        await eventually(announced.bodies, until=lambda b: len(b) >= len(inner_files) + 2)
    keys = sorted(b["object"]["key"] for b in await announced.bodies())
    expected = [f"casts/UVP6_example/b_da_19_Images/{f}" for f in inner_files]
    assert keys == sorted([*expected, "flight/a/one.png", "flight/two.jpg"])
    members = {b["object"]["key"]: b["object"]["archive"]["member"] for b in await announced.bodies()}
    assert members[expected[0]] == f"b_da_19_Images.zip/{inner_files[0]}"
