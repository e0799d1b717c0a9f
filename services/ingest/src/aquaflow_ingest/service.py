"""The ingest use case: an object version seen by a source becomes one ``object.received``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from aquaflow_ingest.dedupe import SeenObjects
from aquaflow_ingest.errors import BucketNotWatched
from aquaflow_ingest.notifications import parse_notification
from aquaflow_ingest.validation import check_object
from aquaflow_shared.contracts import ObjectReceived, ObjectRef, derive_id
from aquaflow_shared.errors import PermanentError
from aquaflow_shared.topology import OBJECT_RECEIVED

Publish = Callable[[ObjectReceived], Awaitable[None]]
# The values ObjectReceived.source accepts.
Source = Literal["minio-amqp", "minio-webhook", "s3-poller"]


class Outcome(StrEnum):
    PUBLISHED = "published"
    DUPLICATE = "duplicate"


def object_received_id(obj: ObjectRef) -> str:
    return derive_id(OBJECT_RECEIVED, *obj.identity)


class Ingestor:
    """Validates, deduplicates and announces object versions, whichever source found them."""

    def __init__(
        self, *, buckets: Mapping[str, str], max_object_bytes: int, seen: SeenObjects, publish: Publish
    ) -> None:
        self._buckets = dict(buckets)
        self._max_object_bytes = max_object_bytes
        self._seen = seen
        self._publish = publish

    def tenant_of(self, bucket: str) -> str:
        # The tenant comes from configuration only: object metadata is the uploader's to choose.
        tenant = self._buckets.get(bucket)
        if tenant is None:
            raise BucketNotWatched(f"bucket not watched: {bucket!r} is not in the configured buckets")
        return tenant

    def announcement(self, obj: ObjectRef, *, source: Source, event_time: datetime | None) -> ObjectReceived:
        """The event for ``obj``, after every check; raises the reason it must not enter."""
        tenant = self.tenant_of(obj.bucket)
        check_object(obj, self._max_object_bytes)
        return ObjectReceived(
            message_id=object_received_id(obj),
            correlation_id=obj.upload_id(),
            tenant=tenant,
            object=obj,
            source=source,
            event_time=event_time,
        )

    async def ingest(self, obj: ObjectRef, *, source: Source, event_time: datetime | None) -> Outcome:
        event = self.announcement(obj, source=source, event_time=event_time)
        if await self._seen.contains(event.message_id):
            return Outcome.DUPLICATE
        await self._publish(event)
        # Only now: a crash before this line republishes the same message_id, never loses it.
        await self._seen.add(event.message_id)
        return Outcome.PUBLISHED


# Counts one notification record: (origin label, outcome).
Count = Callable[[str, str], None]


async def ingest_notification(body: bytes, ingestor: Ingestor, count: Count) -> dict[str, Any]:
    """Announce every creation record of a notification; return the fields of its log line.

    Records that are not creations (removals, tagging, …) are counted and ignored.
    A record that must not enter the pipeline fails the message permanently, after
    the acceptable records of the same message were announced: the dead letter
    then carries the reason, and a redelivery finds those records duplicates.
    """
    notification = parse_notification(body)
    outcomes: list[str] = []
    rejected: list[PermanentError] = []
    for record in notification.records:
        label = f"{record.origin}-amqp"
        if not record.is_creation:
            outcome = "ignored"
        else:
            try:
                obj = record.object_ref()
                outcome = (await ingestor.ingest(obj, source="minio-amqp", event_time=record.event_time)).value
            except PermanentError as error:
                rejected.append(error)
                outcome = "dead_lettered"
        count(label, outcome)
        outcomes.append(outcome)
    if len(rejected) == 1:
        raise rejected[0]
    if rejected:
        raise PermanentError("; ".join(e.reason for e in rejected), code=rejected[0].code)
    return {
        "outcome": _overall(outcomes),
        "events": [r.event_name for r in notification.records],
        "objects": [f"{r.bucket}/{r.key}" for r in notification.records],
    }


def _overall(outcomes: list[str]) -> str:
    for outcome in (Outcome.PUBLISHED.value, Outcome.DUPLICATE.value):
        if outcome in outcomes:
            return outcome
    return "ignored"  # only removals and the like, or an AWS test event
