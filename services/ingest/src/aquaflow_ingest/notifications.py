"""Bucket notifications as MinIO and AWS S3 send them: pure parsing, no I/O.

MinIO wraps one record in ``{"EventName", "Key", "Records"}``; ``Key`` is
``<bucket>/<key>`` unescaped, while the record's ``s3.object.key`` is escaped as a
URL query component (``+`` for spaces). AWS S3 sends ``{"Records": [...]}`` with
the same record shape but no user metadata, and a ``s3:TestEvent`` body when a
notification target is configured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from urllib.parse import unquote_plus

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from aquaflow_ingest.errors import MalformedEvent
from aquaflow_shared.contracts import ObjectRef

Origin = Literal["minio", "aws"]

# Only these create a new object version; MinIO also files tagging, retention and
# legal-hold changes under ObjectCreated, which must not start inference again.
CREATION_EVENTS = frozenset(
    {"ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload"}
)
USER_METADATA_PREFIX = "x-amz-meta-"
# RustFS sends MinIO's body layout, user metadata included, under its own eventSource.
_ORIGINS: dict[str, Origin] = {"minio:s3": "minio", "rustfs:s3": "minio", "aws:s3": "aws"}


@dataclass(frozen=True)
class NotifiedObject:
    """One record of a notification, decoded."""

    origin: Origin
    event_name: str
    bucket: str
    key: str
    size: int
    etag: str | None
    version_id: str | None
    content_type: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    event_time: datetime | None = None
    sequencer: str | None = None

    @property
    def is_creation(self) -> bool:
        return self.event_name.removeprefix("s3:") in CREATION_EVENTS

    def object_ref(self) -> ObjectRef:
        if not self.etag:
            raise MalformedEvent(f"{self.event_name} record for {self.bucket}/{self.key} has no eTag")
        try:
            return ObjectRef(
                bucket=self.bucket,
                key=self.key,
                etag=self.etag,
                version_id=self.version_id,
                size=self.size,
                content_type=self.content_type,
                metadata=self.metadata,
            )
        except ValidationError as error:
            raise MalformedEvent(f"record does not describe an object: {_problems(error)}") from error


@dataclass(frozen=True)
class Notification:
    records: tuple[NotifiedObject, ...]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Object(_Lenient):
    key: str = Field(min_length=1)
    size: int = Field(default=0, ge=0)  # MinIO leaves it out for empty objects
    etag: str | None = Field(default=None, alias="eTag")
    content_type: str | None = Field(default=None, alias="contentType")
    user_metadata: dict[str, str] = Field(default_factory=dict, alias="userMetadata")
    version_id: str | None = Field(default=None, alias="versionId")
    sequencer: str | None = None


class _Bucket(_Lenient):
    name: str = Field(min_length=1)


class _S3(_Lenient):
    bucket: _Bucket
    object: _Object


class _Record(_Lenient):
    event_source: str = Field(alias="eventSource")
    event_name: str = Field(min_length=1, alias="eventName")
    event_time: AwareDatetime | None = Field(default=None, alias="eventTime")
    s3: _S3


class _Body(_Lenient):
    event_name: str | None = Field(default=None, alias="EventName")
    key: str | None = Field(default=None, alias="Key")
    records: list[_Record] = Field(min_length=1, alias="Records")


def user_metadata(raw: dict[str, str]) -> dict[str, str]:
    """MinIO's ``X-Amz-Meta-Instrument`` becomes ``instrument``, as S3's HEAD reports it.

    Anything else in MinIO's map (``content-type``, …) is a system header, not user metadata.
    """
    return {
        name[len(USER_METADATA_PREFIX) :].lower(): value
        for name, value in raw.items()
        if name.lower().startswith(USER_METADATA_PREFIX) and len(name) > len(USER_METADATA_PREFIX)
    }


def _decode_key(escaped: str) -> str:
    try:
        return unquote_plus(escaped, errors="strict")
    except UnicodeDecodeError as error:
        raise MalformedEvent(f"object key {escaped!r} is not URL-encoded UTF-8") from error


def _record(raw: _Record, index: int) -> NotifiedObject:
    origin = _ORIGINS.get(raw.event_source)
    if origin is None:
        raise MalformedEvent(f"Records.{index}.eventSource {raw.event_source!r} is neither minio:s3 nor aws:s3")
    obj = raw.s3.object
    content_type = obj.content_type or {k.lower(): v for k, v in obj.user_metadata.items()}.get("content-type")
    return NotifiedObject(
        origin=origin,
        event_name=raw.event_name,
        bucket=raw.s3.bucket.name,
        key=_decode_key(obj.key),
        size=obj.size,
        etag=obj.etag.strip('"') if obj.etag else None,
        version_id=obj.version_id or None,
        content_type=content_type or None,
        metadata=user_metadata(obj.user_metadata),
        event_time=raw.event_time,
        sequencer=obj.sequencer,
    )


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in error.errors(include_url=False)[:5]
    )


def parse_notification(body: bytes) -> Notification:
    """Decode a notification body; every way it can be wrong becomes a ``MalformedEvent``."""
    try:
        # One pass over the JSON for the usual body; any other is read again, explained.
        parsed: _Body | None = _Body.model_validate_json(body)
    except Exception:  # noqa: BLE001 - _body_explained gives the reason
        parsed = _body_explained(body)
    if parsed is None:
        return Notification(records=())  # AWS checks a new target with this; nothing was uploaded
    records = tuple(_record(r, i) for i, r in enumerate(parsed.records))
    if parsed.key is not None and len(records) == 1:
        record = records[0]
        if parsed.key != f"{record.bucket}/{record.key}":
            raise MalformedEvent(
                f"notification Key {parsed.key!r} does not name its record's object {record.bucket}/{record.key}"
            )
    return Notification(records=records)


def _body_explained(body: bytes) -> _Body | None:
    """The body read as Python objects first, to say what is wrong; None for AWS's test event."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedEvent(f"notification is not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise MalformedEvent("notification is not a JSON object")
    if raw.get("Event") == "s3:TestEvent" and "Records" not in raw:
        return None
    try:
        return _Body.model_validate(raw)
    except ValidationError as error:
        raise MalformedEvent(f"not an S3 bucket notification: {_problems(error)}") from error
