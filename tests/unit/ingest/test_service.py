"""The ingest use case: tenant from configuration, validation, one event per object version."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from aquaflow_devstack.minio_events import minio_event, minio_record
from aquaflow_ingest.claims import InMemoryClaims
from aquaflow_ingest.errors import BucketNotWatched, ClaimPending, MalformedEvent
from aquaflow_ingest.service import Ingestor, Outcome, ingest_notification
from aquaflow_shared.contracts import ObjectReceived, ObjectRef, derive_id
from aquaflow_shared.errors import PermanentError


class FakePublisher:
    """Stands in for the broker in these unit tests; the integration tests use RabbitMQ."""

    def __init__(self) -> None:
        self.events: list[ObjectReceived] = []
        self.fail_next = False

    async def __call__(self, event: ObjectReceived) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("broker gone")
        self.events.append(event)


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def ingestor(publisher: FakePublisher) -> Ingestor:
    claims = InMemoryClaims(ttl_seconds=3600, lease_seconds=30, max_entries=100)
    return Ingestor(buckets={"plankton-flowcam": "lov"}, max_object_bytes=10_000, claims=claims, publish=publisher)


def ref(key: str = "run 1/cell.png", **overrides: Any) -> ObjectRef:
    fields: dict[str, Any] = {"bucket": "plankton-flowcam", "key": key, "etag": "e1", "size": 100} | overrides
    return ObjectRef(**fields)


async def test_the_tenant_comes_from_the_bucket_never_from_metadata(
    ingestor: Ingestor, publisher: FakePublisher
) -> None:
    obj = ref(metadata={"tenant": "someone-else", "instrument": "flowcam"})
    assert await ingestor.ingest(obj, source="minio-amqp", event_time=None) is Outcome.PUBLISHED
    (event,) = publisher.events
    assert event.tenant == "lov"
    assert event.object.metadata == {"tenant": "someone-else", "instrument": "flowcam"}
    assert event.message_id == derive_id("object.received", "plankton-flowcam", "run 1/cell.png", "e1", "")
    assert event.correlation_id == obj.upload_id()
    assert event.source == "minio-amqp"


async def test_one_event_per_object_version(ingestor: Ingestor, publisher: FakePublisher) -> None:
    assert await ingestor.ingest(ref(), source="minio-amqp", event_time=None) is Outcome.PUBLISHED
    assert await ingestor.ingest(ref(), source="s3-poller", event_time=None) is Outcome.DUPLICATE
    assert await ingestor.ingest(ref(etag="e2"), source="minio-amqp", event_time=None) is Outcome.PUBLISHED
    assert await ingestor.ingest(ref(version_id="v2"), source="minio-amqp", event_time=None) is Outcome.PUBLISHED
    assert len(publisher.events) == 3


class SlowPublisher(FakePublisher):
    """Confirms only after the other deliveries had their chance to run."""

    async def __call__(self, event: ObjectReceived) -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await super().__call__(event)


async def test_two_copies_handled_at_once_give_one_event() -> None:
    publisher = SlowPublisher()
    claims = InMemoryClaims(ttl_seconds=3600, lease_seconds=30, max_entries=100)
    ingestor = Ingestor(buckets={"plankton-flowcam": "lov"}, max_object_bytes=10_000, claims=claims, publish=publisher)
    put = minio_record(bucket="plankton-flowcam", key="cell.png", etag="e1", size=5)
    results = await asyncio.gather(
        ingest_notification(body(put), ingestor, Counts()),
        ingest_notification(body(put), ingestor, Counts()),
        return_exceptions=True,
    )
    # The loser is retried (transient), and then finds the claim kept: a duplicate.
    assert sorted(type(r).__name__ for r in results) == ["ClaimPending", "dict"]
    assert (await ingest_notification(body(put), ingestor, Counts()))["outcome"] == "duplicate"
    assert len(publisher.events) == 1


async def test_a_claim_held_by_another_delivery_is_retried_not_dropped(ingestor: Ingestor) -> None:
    assert await ingestor._claims.claim(ingestor.claim_id(ref()))  # another replica's lease
    with pytest.raises(ClaimPending):
        await ingestor.ingest(ref(), source="minio-amqp", event_time=None)


async def test_an_unconfirmed_publish_is_not_marked_seen(ingestor: Ingestor, publisher: FakePublisher) -> None:
    publisher.fail_next = True
    with pytest.raises(ConnectionError):
        await ingestor.ingest(ref(), source="minio-amqp", event_time=None)
    assert await ingestor.ingest(ref(), source="minio-amqp", event_time=None) is Outcome.PUBLISHED
    assert len(publisher.events) == 1


async def test_unwatched_buckets_and_bad_objects_are_refused(ingestor: Ingestor, publisher: FakePublisher) -> None:
    with pytest.raises(BucketNotWatched, match="bucket not watched: 'elsewhere'"):
        await ingestor.ingest(ref(bucket="elsewhere"), source="minio-amqp", event_time=None)
    for bad in (ref(size=0), ref(size=10_001), ref(key="../x.png")):
        with pytest.raises(PermanentError):
            await ingestor.ingest(bad, source="minio-amqp", event_time=None)
    assert publisher.events == []


def body(*records: dict[str, Any]) -> bytes:
    if len(records) == 1:
        return json.dumps(minio_event(records[0])).encode()
    return json.dumps({"Records": list(records)}).encode()


class Counts(dict[tuple[str, str], int]):
    def __call__(self, source: str, outcome: str) -> None:
        self[(source, outcome)] = self.get((source, outcome), 0) + 1


async def test_a_notification_is_announced_once_and_its_duplicate_counted(
    ingestor: Ingestor, publisher: FakePublisher
) -> None:
    counts = Counts()
    put = minio_record(bucket="plankton-flowcam", key="été cellule+1.png", etag="e9", size=5, content_type="image/png")
    first = await ingest_notification(body(put), ingestor, counts)
    again = await ingest_notification(body(put), ingestor, counts)
    assert (first["outcome"], again["outcome"]) == ("published", "duplicate")
    assert first["objects"] == ["plankton-flowcam/été cellule+1.png"]
    assert counts == {("minio-amqp", "published"): 1, ("minio-amqp", "duplicate"): 1}
    assert [e.object.key for e in publisher.events] == ["été cellule+1.png"]


async def test_removals_are_ignored(ingestor: Ingestor, publisher: FakePublisher) -> None:
    counts = Counts()
    removal = minio_record(bucket="plankton-flowcam", key="a.png", event_name="s3:ObjectRemoved:Delete")
    assert (await ingest_notification(body(removal), ingestor, counts))["outcome"] == "ignored"
    assert counts == {("minio-amqp", "ignored"): 1}
    assert publisher.events == []


async def test_good_records_are_announced_before_a_bad_one_fails_the_message(
    ingestor: Ingestor, publisher: FakePublisher
) -> None:
    counts = Counts()
    good = minio_record(bucket="plankton-flowcam", key="ok.png", etag="e1", size=5)
    empty = minio_record(bucket="plankton-flowcam", key="empty.png", etag="e2", size=0)
    foreign = minio_record(bucket="elsewhere", key="x.png", etag="e3", size=5)
    with pytest.raises(PermanentError) as caught:
        await ingest_notification(body(good, empty, foreign), ingestor, counts)
    assert "s3://plankton-flowcam/empty.png is empty" in caught.value.reason
    assert "bucket not watched: 'elsewhere'" in caught.value.reason
    assert caught.value.code == "empty_object"
    assert [e.object.key for e in publisher.events] == ["ok.png"]
    assert counts == {("minio-amqp", "published"): 1, ("minio-amqp", "dead_lettered"): 2}


async def test_a_malformed_notification_publishes_nothing(ingestor: Ingestor, publisher: FakePublisher) -> None:
    with pytest.raises(MalformedEvent):
        await ingest_notification(b'{"EventName": "s3:ObjectCreated:Put"}', ingestor, Counts())
    assert publisher.events == []
