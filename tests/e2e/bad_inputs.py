"""Bad inputs for the end-to-end catalogue: how each is built, and reading dead letters back.

Every case names the dead-letter code and stage it must end with. A case is sent either
as an upload announced in MinIO's format, as a raw notification body, or as a raw event
on the events exchange; its dead letters are recognised by the ``message_id`` it was
published with or by the object it is about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from aquaflow_devstack.minio_events import minio_event, minio_record
from aquaflow_devstack.observe import ObservedDeadLetter


@dataclass
class Case:
    """One bad input: what it must end as, and how to recognise its dead letters."""

    name: str
    code: str
    stage: str
    bucket: str = ""
    key: str = ""
    message_id: str = ""
    # Words the reason must contain (the object's key where the stage can name it).
    reason_names: tuple[str, ...] = ()
    letters: list[ObservedDeadLetter] = field(default_factory=list)

    def owns(self, letter: ObservedDeadLetter) -> bool:
        if self.message_id and letter.message_id == self.message_id:
            return True
        return bool(self.key) and (letter.bucket, letter.key) == (self.bucket, self.key)


def notification_with_key(bucket: str, escaped_key: str) -> bytes:
    """A MinIO notification whose record carries ``escaped_key`` exactly as given."""
    record = minio_record(bucket=bucket, key="placeholder.png", etag="0123456789abcdef", size=3)
    record["s3"]["object"]["key"] = escaped_key
    event = minio_event(record)
    event["Key"] = f"{bucket}/{unquote_plus(escaped_key, errors='replace')}"
    return json.dumps(event).encode()


def foreign_notification(bucket: str) -> bytes:
    """Well-formed JSON, but a notification of some other system (an Azure blob event)."""
    event = minio_event(minio_record(bucket=bucket, key="foreign.png", etag="0123456789abcdef", size=3))
    event["Records"][0]["eventSource"] = "azure:blob"
    return json.dumps(event).encode()
