"""MinIO and AWS bucket notifications are decoded faithfully, and bad ones get clear reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from aquaflow_devstack.minio_events import aws_event, aws_record, minio_event, minio_record
from aquaflow_ingest.errors import MalformedEvent
from aquaflow_ingest.notifications import NotifiedObject, parse_notification

MODIFIED = datetime(2026, 3, 14, 9, 26, 53, 589_000, tzinfo=UTC)


def parse_one(body: dict[str, Any]) -> NotifiedObject:
    (record,) = parse_notification(json.dumps(body).encode()).records
    return record


def test_the_fixture_escapes_names_as_go_query_escape_does() -> None:
    # Worked out by hand from Go's url.QueryEscape: '/' is escaped, a space is '+',
    # a literal '+' is %2B, non-ASCII is percent-encoded UTF-8.
    record = minio_record(bucket="plankton-flowcam", key="run 1/été cellule+1.png", etag="abc", size=5)
    assert record["s3"]["object"]["key"] == "run+1%2F%C3%A9t%C3%A9+cellule%2B1.png"
    assert minio_event(record)["Key"] == "plankton-flowcam/run 1/été cellule+1.png"


def test_minio_put_is_decoded_with_spaces_non_ascii_and_user_metadata() -> None:
    body = minio_event(
        minio_record(
            bucket="plankton-flowcam",
            key="run 1/été cellule+1.png",
            etag="d41d8cd98f00b204e9800998ecf8427e",
            size=1234,
            content_type="image/png",
            user_metadata={"instrument": "flowcam", "site-id": "villefranche"},
            version_id="7c8e4f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
            modified=MODIFIED,
            event_time=MODIFIED,
        )
    )
    assert body["Records"][0]["s3"]["object"]["userMetadata"] == {
        "X-Amz-Meta-Instrument": "flowcam",
        "X-Amz-Meta-Site-Id": "villefranche",
        "content-type": "image/png",
    }
    record = parse_one(body)
    assert record.origin == "minio"
    assert record.is_creation
    assert record.bucket == "plankton-flowcam"
    assert record.key == "run 1/été cellule+1.png"
    assert record.size == 1234
    assert record.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert record.version_id == "7c8e4f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
    assert record.content_type == "image/png"
    assert record.metadata == {"instrument": "flowcam", "site-id": "villefranche"}
    assert record.event_time == MODIFIED
    obj = record.object_ref()
    assert (obj.key, obj.etag, obj.size, obj.metadata["instrument"]) == (
        "run 1/été cellule+1.png",
        "d41d8cd98f00b204e9800998ecf8427e",
        1234,
        "flowcam",
    )


def test_a_key_escaped_with_plain_slashes_decodes_the_same() -> None:
    body = minio_event(minio_record(bucket="plankton-flowcam", key="a b/c.png", etag="e", size=3))
    body["Records"][0]["s3"]["object"]["key"] = "a+b/c.png"
    assert parse_one(body).key == "a b/c.png"


def test_an_empty_object_has_no_size_in_minio_events() -> None:
    body = minio_event(minio_record(bucket="plankton-flowcam", key="empty.png", etag="d41d8cd9", size=0))
    assert "size" not in body["Records"][0]["s3"]["object"]
    assert parse_one(body).size == 0


@pytest.mark.parametrize(
    "event_name",
    [
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
    ],
)
def test_creations(event_name: str) -> None:
    body = minio_event(minio_record(bucket="b-1", key="k.png", etag="e", size=1, event_name=event_name))
    assert parse_one(body).is_creation


@pytest.mark.parametrize(
    "event_name",
    [
        "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectCreated:PutTagging",
        "s3:ObjectCreated:PutRetention",
        "s3:ObjectAccessed:Get",
    ],
)
def test_removals_and_metadata_changes_are_not_creations(event_name: str) -> None:
    record = parse_one(minio_event(minio_record(bucket="b-1", key="k.png", etag="e", size=1, event_name=event_name)))
    assert not record.is_creation


def test_a_minio_removal_carries_only_key_version_and_sequencer() -> None:
    body = minio_event(minio_record(bucket="b-1", key="gone 1.png", event_name="s3:ObjectRemoved:Delete"))
    assert set(body["Records"][0]["s3"]["object"]) == {"key", "sequencer"}
    record = parse_one(body)
    assert (record.key, record.etag, record.is_creation) == ("gone 1.png", None, False)


def test_aws_notifications_have_no_wrapper_and_may_carry_several_records() -> None:
    body = aws_event(
        aws_record(bucket="obsea-frames", key="cam 2/frame 1.jpg", etag='"0123abcd"', size=10, version_id="v1"),
        aws_record(bucket="obsea-frames", key="cam 2/frame 2.jpg", etag="4567ef", size=20),
    )
    records = parse_notification(json.dumps(body).encode()).records
    assert [(r.origin, r.key, r.etag, r.size, r.is_creation) for r in records] == [
        ("aws", "cam 2/frame 1.jpg", "0123abcd", 10, True),
        ("aws", "cam 2/frame 2.jpg", "4567ef", 20, True),
    ]
    assert records[0].version_id == "v1"
    assert records[0].metadata == {}


def test_the_aws_test_event_has_no_records() -> None:
    body = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2026-03-14T09:26:53.000Z",
        "Bucket": "obsea-frames",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
    assert parse_notification(json.dumps(body).encode()).records == ()


def _good() -> dict[str, Any]:
    return minio_event(minio_record(bucket="plankton-flowcam", key="x.png", etag="e", size=3))


def _without_records() -> dict[str, Any]:
    body = _good()
    del body["Records"]
    return body


def _with_foreign_source() -> dict[str, Any]:
    body = _good()
    body["Records"][0]["eventSource"] = "gcs"
    return body


def _without_key() -> dict[str, Any]:
    body = _good()
    del body["Records"][0]["s3"]["object"]["key"]
    return body


def _with_mismatching_key() -> dict[str, Any]:
    body = _good()
    body["Key"] = "plankton-flowcam/other.png"
    return body


def _with_broken_escape() -> dict[str, Any]:
    body = _good()
    body["Records"][0]["s3"]["object"]["key"] = "%FF%FE.png"
    body["Key"] = "plankton-flowcam/?"
    return body


def _with_negative_size() -> dict[str, Any]:
    body = _good()
    body["Records"][0]["s3"]["object"]["size"] = -1
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"\xff\xfe", "not JSON"),
        (json.dumps(_without_records()).encode(), "Records: Field required"),
        (json.dumps({"Records": []}).encode(), "Records: List should have at least 1 item"),
        (json.dumps(_with_foreign_source()).encode(), "eventSource 'gcs'"),
        (json.dumps(_without_key()).encode(), "Records.0.s3.object.key: Field required"),
        (json.dumps(_with_mismatching_key()).encode(), "does not name its record's object"),
        (json.dumps(_with_broken_escape()).encode(), "is not URL-encoded UTF-8"),
        (json.dumps(_with_negative_size()).encode(), "Records.0.s3.object.size"),
    ],
)
def test_malformed_notifications_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        parse_notification(body)
    assert reason in caught.value.reason
    assert caught.value.code == "malformed"


def test_a_creation_without_etag_cannot_become_an_object() -> None:
    record = parse_one(minio_event(minio_record(bucket="plankton-flowcam", key="x.png", size=3)))
    with pytest.raises(MalformedEvent, match="has no eTag"):
        record.object_ref()


def test_a_bucket_name_out_of_s3_rules_cannot_become_an_object() -> None:
    record = parse_one(minio_event(minio_record(bucket="ab", key="x.png", etag="e", size=3)))
    with pytest.raises(MalformedEvent, match="bucket"):
        record.object_ref()
