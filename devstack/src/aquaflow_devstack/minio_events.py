"""Bucket notifications exactly as MinIO and AWS S3 write them, for objects put into moto.

moto sends no notifications, so the native stack and the tests build the bodies the real servers would.
MinIO (``cmd/event-notification.go`` and the AMQP target in ``internal/event/target``):

- the record's ``s3.object.key`` is Go's ``url.QueryEscape`` of the name: every byte
  but ``A-Za-z0-9-_.~`` percent-encoded, ``/`` included, and ``+`` for a space;
- the AMQP body wraps one record as ``{"EventName", "Key", "Records"}``, ``Key`` being
  ``<bucket>/<unescaped name>``;
- ``size``, ``eTag``, ``contentType``, ``userMetadata`` and ``versionId`` are
  ``omitempty``: absent for an empty object's size, for unversioned buckets' version
  ids, and all but the key, version and sequencer for removals;
- ``userMetadata`` is the object's stored headers: ``content-type`` plus user
  metadata under canonical header names (``X-Amz-Meta-Instrument``);
- ``sequencer`` is the object's modification time in nanoseconds, upper-case hex;
  ``eventTime`` uses ``2006-01-02T15:04:05.000Z``; Go marshals maps with sorted keys.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus

PRINCIPAL = "minioadmin"
DEPLOYMENT_ID = "2b5c0a3e-5d0f-4c9a-9a53-8d1c3b7e6f10"


def go_query_escape(name: str) -> str:
    """Go's ``url.QueryEscape``, which MinIO applies to object names."""
    return quote_plus(name, safe="")


def canonical_header_key(name: str) -> str:
    """Go's ``textproto.CanonicalMIMEHeaderKey``: ``x-amz-meta-site-id`` → ``X-Amz-Meta-Site-Id``."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def amz_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def minio_record(
    *,
    bucket: str,
    key: str,
    event_name: str = "s3:ObjectCreated:Put",
    etag: str | None = None,
    size: int = 0,
    content_type: str | None = None,
    user_metadata: dict[str, str] | None = None,
    version_id: str | None = None,
    modified: datetime | None = None,
    event_time: datetime | None = None,
) -> dict[str, Any]:
    now = event_time or datetime.now(UTC)
    modified = modified or now
    obj: dict[str, Any] = {"key": go_query_escape(key)}
    if not event_name.startswith("s3:ObjectRemoved:"):
        stored = {"content-type": content_type} if content_type else {}
        stored |= {canonical_header_key(f"x-amz-meta-{k}"): v for k, v in (user_metadata or {}).items()}
        if size:
            obj["size"] = size
        if etag:
            obj["eTag"] = etag.strip('"')
        if content_type:
            obj["contentType"] = content_type
        if stored:
            obj["userMetadata"] = dict(sorted(stored.items()))
    if version_id:
        obj["versionId"] = version_id
    obj["sequencer"] = f"{int(modified.timestamp()) * 1_000_000_000 + modified.microsecond * 1000:X}"
    return {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": "",
        "eventTime": amz_time(now),
        "eventName": event_name,
        "userIdentity": {"principalId": PRINCIPAL},
        "requestParameters": {"principalId": PRINCIPAL, "region": "", "sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-id-2": uuid.uuid4().hex * 2,
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-minio-deployment-id": DEPLOYMENT_ID,
            "x-minio-origin-endpoint": "http://127.0.0.1:9000",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "Config",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": PRINCIPAL}, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
        "source": {"host": "127.0.0.1", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7.0.70"},
    }


def minio_event(record: dict[str, Any]) -> dict[str, Any]:
    """The AMQP target's body around one record."""
    name = unquote_plus(record["s3"]["object"]["key"])
    return {"EventName": record["eventName"], "Key": f"{record['s3']['bucket']['name']}/{name}", "Records": [record]}


def minio_event_for_put(s3: Any, bucket: str, key: str, **overrides: Any) -> dict[str, Any]:
    """The notification MinIO would send for the object now stored at ``bucket/key`` in moto."""
    head = s3.head_object(Bucket=bucket, Key=key)
    fields: dict[str, Any] = {
        "bucket": bucket,
        "key": key,
        "etag": head["ETag"],
        "size": head["ContentLength"],
        "content_type": head.get("ContentType"),
        "user_metadata": head.get("Metadata", {}),
        "version_id": head.get("VersionId"),
        "modified": head["LastModified"],
    }
    return minio_event(minio_record(**(fields | overrides)))


def aws_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def aws_record(
    *, bucket: str, key: str, etag: str, size: int, event_name: str = "ObjectCreated:Put", version_id: str | None = None
) -> dict[str, Any]:
    """An AWS S3 record: no wrapper, no user metadata, names without the ``s3:`` prefix."""
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),
        "size": size,
        "eTag": etag,
        "sequencer": "0055AED6DCD90281E5",
    }
    if version_id:
        obj["versionId"] = version_id
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "eu-west-3",
        "eventTime": amz_time(datetime.now(UTC)),
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "aquaflow-uploads",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }
