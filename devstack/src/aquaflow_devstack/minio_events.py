"""MinIO's bucket notifications, produced in MinIO's own JSON format.

moto's S3 server sends no notifications, so the native stack plays MinIO's AMQP
target: after an upload it publishes the exact body MinIO would, into the events
exchange with the routing key MinIO is configured with.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus


def minio_put_event(
    bucket: str,
    key: str,
    *,
    etag: str,
    size: int,
    content_type: str = "application/octet-stream",
    user_metadata: dict[str, str] | None = None,
    version_id: str | None = None,
    event_time: datetime | None = None,
) -> dict[str, Any]:
    """The body of one ``s3:ObjectCreated:Put`` notification as MinIO sends it."""
    when = (event_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    metadata = {"content-type": content_type}
    metadata |= {f"X-Amz-Meta-{k.title()}": v for k, v in (user_metadata or {}).items()}
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),
        "eTag": etag.strip('"'),
        "contentType": content_type,
        "userMetadata": metadata,
        "sequencer": uuid.uuid4().hex[:16].upper(),
    }
    if size > 0:  # MinIO leaves the size out for empty objects
        obj["size"] = size
    if version_id:
        obj["versionId"] = version_id
    record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": "",
        "eventTime": when,
        "eventName": "s3:ObjectCreated:Put",
        "userIdentity": {"principalId": "minioadmin"},
        "requestParameters": {"principalId": "minioadmin", "region": "", "sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-id-2": uuid.uuid4().hex,
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-minio-deployment-id": "aquaflow-devstack",
            "x-minio-origin-endpoint": "http://127.0.0.1:9000",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "Config",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "minioadmin"}, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
        "source": {"host": "127.0.0.1", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7"},
    }
    return {"EventName": "s3:ObjectCreated:Put", "Key": f"{bucket}/{key}", "Records": [record]}
