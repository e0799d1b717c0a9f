"""The catalogue of ingest-side bad inputs: each one is dead-lettered with its code, nothing announced."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from aquaflow_devstack.hostile_inputs import tar_gz_of, zip_bomb, zip_of, zip_with_symlink
from aquaflow_devstack.minio_events import aws_event, aws_record, minio_event, minio_event_for_put, minio_record
from aquaflow_ingest.app import create_app
from aquaflow_shared.delivery import CODE_HEADER
from aquaflow_shared.topology import OBJECT_RECEIVED, S3_NOTIFICATION
from tests.integration.ingest.support import IngestConfig
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.integration

# Builds the notification body for a case, given the moto client and the test's bucket.
Case = Callable[[Any, str], bytes]


def raw(body: bytes) -> Case:
    return lambda s3, bucket: body


def record_with_key(escaped_key: str) -> Case:
    def build(s3: Any, bucket: str) -> bytes:
        record = minio_record(bucket=bucket, key="x.png", etag="e", size=3)
        record["s3"]["object"]["key"] = escaped_key
        return json.dumps({"Records": [record]}).encode()

    return build


def foreign(s3: Any, bucket: str) -> bytes:
    event = minio_event(minio_record(bucket=bucket, key="x.png", etag="e", size=3))
    event["Records"][0]["eventSource"] = "azure:blob"
    return json.dumps(event).encode()


def upload(key: str, body: bytes) -> Case:
    def build(s3: Any, bucket: str) -> bytes:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        return json.dumps(minio_event_for_put(s3, bucket, key)).encode()

    return build


def deleted(key: str, body: bytes) -> Case:
    def build(s3: Any, bucket: str) -> bytes:
        event = upload(key, body)(s3, bucket)
        s3.delete_object(Bucket=bucket, Key=key)
        return event

    return build


def aws_deleted(s3: Any, bucket: str) -> bytes:
    return json.dumps(aws_event(aws_record(bucket=bucket, key="gone.png", etag="e0", size=5))).encode()


CASES: dict[str, tuple[Case, str]] = {
    "not_json": (raw(b"{not json"), "malformed"),
    "json_not_an_object": (raw(b"[1, 2]"), "malformed"),
    "invalid_utf8_body": (raw(b'{"Records": "\xff\xfe"}'), "malformed"),
    "unknown_event_source": (foreign, "malformed"),
    "invalid_utf8_key": (record_with_key("bad%FF%FEkey.png"), "malformed"),
    "hostile_key": (record_with_key("..%2F..%2Fetc%2Fpasswd"), "unsafe_key"),
    "control_characters_in_key": (record_with_key("a%0Ab%1B.png"), "unsafe_key"),
    "empty_object": (upload("empty.png", b""), "empty_object"),
    "oversize_object": (upload("big.png", b"x" * 5000), "oversize"),
    "deleted_archive": (deleted("gone.zip", zip_of({"a.png": b"png"})), "object_missing"),
    "deleted_aws_object": (aws_deleted, "object_missing"),
    "zip_bomb": (upload("bomb.zip", zip_bomb(8)), "archive_ratio"),
    "zip_slip": (upload("slip.zip", zip_of({"../../evil.png": b"png"})), "archive_unsafe_path"),
    "tar_slip": (upload("slip.tar.gz", tar_gz_of({"/etc/cron.d/x": b"x"})), "archive_unsafe_path"),
    "nested_archive": (upload("nest.zip", zip_of({"in.zip": zip_of({"a.png": b"png"})})), "archive_nested"),
    "symlink_in_archive": (upload("link.zip", zip_with_symlink()), "archive_link"),
    "corrupt_archive": (upload("corrupt.zip", b"PK\x03\x04 this is not a zip"), "archive_corrupt"),
    "too_many_members": (upload("many.zip", zip_of({f"{i}.png": b"p" for i in range(6)})), "archive_too_many_members"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_bad_input_is_dead_lettered_with_its_code(
    case: str, ingest_config: IngestConfig, rabbit: RabbitAdmin, s3: Any, new_bucket: Callable[[str], str]
) -> None:
    build, code = CASES[case]
    topology = ingest_config.topology
    bucket = new_bucket("plankton-bad")
    body = build(s3, bucket)
    limits = ingest_config.s3.model_copy(update={"max_object_bytes": 4096})
    settings = ingest_config.settings(buckets={bucket: "lov"}, s3=limits, archive_max_depth=1, archive_max_members=5)
    announced = await rabbit.tap(topology.events.name, OBJECT_RECEIVED)
    app = create_app(settings)
    async with app:
        await rabbit.publish(topology.notifications.name, S3_NOTIFICATION, body)
        dead = await eventually(
            lambda: rabbit.queue_messages(topology.dead_letter_queue.name), until=lambda m: len(m) >= 1
        )
    assert [m.headers[CODE_HEADER] for m in dead] == [code]
    assert dead[0].body == body
    assert await announced.bodies() == []
