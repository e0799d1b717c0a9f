"""The ingest use case: an object version seen by a source becomes one ``object.received``.

Each announcement is *claimed* first (``claims``): of several deliveries of one
object version, on one replica or many, exactly one publishes. An archive is
claimed as a whole and expanded instead of announced (``expansion``); each of
its members is then announced like any object, with ``source="archive"``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import structlog

from aquaflow_ingest.archive_rules import archive_format, origin_from_metadata
from aquaflow_ingest.claims import ClaimStore
from aquaflow_ingest.errors import BucketNotWatched, ClaimPending, EmptyObject, ObjectTooLarge
from aquaflow_ingest.expansion import ArchiveExpander
from aquaflow_ingest.notifications import NotifiedObject, parse_notification
from aquaflow_ingest.object_store import ObjectStore
from aquaflow_ingest.validation import check_key, check_object
from aquaflow_shared.contracts import ObjectReceived, ObjectRef, derive_id
from aquaflow_shared.errors import PermanentError
from aquaflow_shared.topology import OBJECT_RECEIVED

Publish = Callable[[ObjectReceived], Awaitable[None]]
# The values ObjectReceived.source accepts.
Source = Literal["minio-amqp", "minio-webhook", "aws-s3", "s3-poller", "s3-reconcile", "archive"]
Transport = Literal["amqp", "webhook"]
# Counts archive expansions and members: (outcome, members written).
CountExpansion = Callable[[str, int], None]


class Outcome(StrEnum):
    PUBLISHED = "published"
    DUPLICATE = "duplicate"
    EXPANDED = "expanded"


def object_received_id(obj: ObjectRef) -> str:
    return derive_id(OBJECT_RECEIVED, *obj.identity)


def archive_claim_id(obj: ObjectRef) -> str:
    return derive_id("archive.expanded", *obj.identity)


class Ingestor:
    """Validates, claims and announces object versions, whichever source found them."""

    def __init__(
        self,
        *,
        buckets: Mapping[str, str],
        max_object_bytes: int,
        claims: ClaimStore,
        publish: Publish,
        expander: ArchiveExpander | None = None,
        max_archive_bytes: int | None = None,
        count_expansion: CountExpansion | None = None,
    ) -> None:
        self._buckets = dict(buckets)
        self._max_object_bytes = max_object_bytes
        self._claims = claims
        self._publish = publish
        self._expander = expander
        self._max_archive_bytes = max_archive_bytes or max_object_bytes
        self._count_expansion = count_expansion or (lambda outcome, written: None)
        self._log = structlog.get_logger(stage="ingest", component="archive")

    def tenant_of(self, bucket: str) -> str:
        # The tenant comes from configuration only: object metadata is the uploader's to choose.
        tenant = self._buckets.get(bucket)
        if tenant is None:
            raise BucketNotWatched(f"bucket not watched: {bucket!r} is not in the configured buckets")
        return tenant

    def expands(self, obj: ObjectRef) -> bool:
        """Archives are expanded, not announced; members written by an expansion never are."""
        return self._expander is not None and obj.archive is None and archive_format(obj.key) is not None

    def claim_id(self, obj: ObjectRef) -> str:
        return archive_claim_id(obj) if self.expands(obj) else object_received_id(obj)

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
        obj = with_provenance(obj)
        if self.expands(obj):
            self._check_archive(obj)
            return await self._once(archive_claim_id(obj), lambda: self._expand(obj, event_time), Outcome.EXPANDED)
        event = self.announcement(obj, source=source, event_time=event_time)
        return await self._once(event.message_id, lambda: self._publish(event), Outcome.PUBLISHED)

    async def is_announced(self, obj: ObjectRef) -> bool:
        return await self._claims.is_kept(self.claim_id(obj))

    async def remember_rejected(self, obj: ObjectRef) -> None:
        """A dead-lettered object is kept claimed, so a sweep does not reject it again every pass."""
        identity = self.claim_id(obj)
        if await self._claims.claim(identity):
            await self._claims.keep(identity)

    async def announce_member(self, obj: ObjectRef, event_time: datetime | None) -> str:
        event = self.announcement(obj, source="archive", event_time=event_time)
        try:
            return (await self._once(event.message_id, lambda: self._publish(event), Outcome.PUBLISHED)).value
        except ClaimPending:
            # The S3 server's notification for this very member (an echo) is announcing it now;
            # if that fails, its own message is retried, so the member is not lost.
            return Outcome.DUPLICATE.value

    async def _once(self, identity: str, work: Callable[[], Awaitable[Any]], done: Outcome) -> Outcome:
        if not await self._claims.claim(identity):
            if await self._claims.is_kept(identity):
                return Outcome.DUPLICATE
            raise ClaimPending(f"object version {identity} is being announced by another delivery; retried later")
        try:
            await work()
        except PermanentError:
            # Settled as a dead letter: kept claimed, so a replayed notification or the next
            # sweep pass does not reject the same object version again.
            await self._claims.keep(identity)
            raise
        except BaseException:
            # A failed release leaves the lease to lapse by itself: a retry then claims again.
            with contextlib.suppress(Exception):
                await self._claims.release(identity)
            raise
        await self._claims.keep(identity)
        return done

    def _check_archive(self, obj: ObjectRef) -> None:
        self.tenant_of(obj.bucket)
        check_key(obj.key)
        where = f"s3://{obj.bucket}/{obj.key}"
        if obj.size == 0:
            raise EmptyObject(f"{where} is empty (0 bytes)")
        if obj.size is not None and obj.size > self._max_archive_bytes:
            raise ObjectTooLarge(
                f"{where} is {obj.size} bytes, over the archive limit of {self._max_archive_bytes} bytes"
            )

    async def _expand(self, archive: ObjectRef, event_time: datetime | None) -> None:
        if self._expander is None:
            raise RuntimeError("no archive expander configured")
        try:
            report = await self._expander.expand(archive, self.announce_member, event_time)
        except PermanentError as error:
            self._count_expansion(error.code, 0)
            raise
        self._count_expansion("expanded", report.written)
        self._log.info(
            "archive expanded",
            bucket=archive.bucket,
            key=archive.key,
            etag=archive.etag,
            members=report.members,
            written=report.written,
            **report.outcomes,
        )


def with_provenance(obj: ObjectRef) -> ObjectRef:
    """An object that ingest wrote from an archive says so in its metadata; carry it as ``archive``."""
    if obj.archive is not None:
        return obj
    origin = origin_from_metadata(obj.metadata)
    return obj if origin is None else obj.model_copy(update={"archive": origin})


# Counts one notification record: (origin label, outcome).
Count = Callable[[str, str], None]


async def ingest_notification(
    body: bytes,
    ingestor: Ingestor,
    count: Count,
    *,
    transport: Transport = "amqp",
    store: ObjectStore | None = None,
) -> dict[str, Any]:
    """Announce every creation record of a notification; return the fields of its log line.

    Records that are not creations (removals, tagging, …) are counted and ignored.
    A record that must not enter the pipeline fails the message permanently, after
    the acceptable records of the same message were announced: the dead letter
    then carries the reason, and a redelivery finds those records duplicates.
    AWS records carry no user metadata: the object is HEADed for it (``store``).
    """
    notification = parse_notification(body)
    outcomes: list[str] = []
    rejected: list[PermanentError] = []
    for record in notification.records:
        label = f"{record.origin}-{transport}"
        if not record.is_creation:
            outcome = "ignored"
        else:
            try:
                obj = await _described(record, store)
                source: Source = "aws-s3" if record.origin == "aws" else f"minio-{transport}"  # type: ignore[assignment]
                outcome = (await ingestor.ingest(obj, source=source, event_time=record.event_time)).value
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


async def _described(record: NotifiedObject, store: ObjectStore | None) -> ObjectRef:
    obj = record.object_ref()
    if record.origin != "aws" or store is None:
        return obj
    head = await store.head(obj.bucket, obj.key, etag=obj.etag, version_id=obj.version_id)
    return obj.model_copy(
        update={
            "metadata": head.metadata,
            "content_type": head.content_type or obj.content_type,
            "size": head.size,
        }
    )


def _overall(outcomes: list[str]) -> str:
    for outcome in (Outcome.PUBLISHED.value, Outcome.EXPANDED.value, Outcome.DUPLICATE.value):
        if outcome in outcomes:
            return outcome
    return "ignored"  # only removals and the like, or an AWS test event
