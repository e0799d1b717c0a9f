"""Batch requests (``aquaflow batch``): announce a stored object version again, on an operator's request.

A request names one object version as the operator's listing saw it. It is settled as
the reconciliation sweep settles a listed object (``source="s3-reconcile"``): the bucket
must be watched and belong to the request's tenant, the object is read by HEAD (a version
replaced since the listing is ``object_missing``), and the announcement is claimed:

- a plain batch shares the claim of the upload's own announcement: an object version
  announced before (by a notification, the sweep or an earlier batch) is a duplicate, so
  running a batch twice, or over uploads still in flight, does not double the work;
- a reprocessing batch claims under its batch id (``ScopedClaims``): every object version
  is announced once more, and once only however often the request is delivered.
  Archives are the exception: an archive is expanded once, and its members are objects of
  their own that a batch over their prefix reprocesses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aquaflow_ingest.claims import ClaimStore
from aquaflow_ingest.errors import ObjectRejected
from aquaflow_ingest.object_store import ObjectStore
from aquaflow_ingest.service import Ingestor, with_provenance
from aquaflow_ingest.settings import IngestSettings
from aquaflow_shared.batches import BATCH_STAGE, BatchObjectRequested, batch_queue
from aquaflow_shared.consumer import Consumer, Consumers, Delivery, Dependency
from aquaflow_shared.contracts import ObjectReceived, ObjectRef, decode, derive_id

Publish = Callable[[ObjectReceived], Awaitable[None]]


class TenantMismatch(ObjectRejected):
    """A batch of one tenant named a bucket that the configuration gives to another."""

    code = "tenant_mismatch"


class ScopedClaims:
    """The claim store seen through one batch: every identity qualified by the batch id.

    Claims keep their guarantees (atomic, leased, kept for the TTL), so a reprocessing
    batch announces each object version once, whatever was announced before it.
    """

    def __init__(self, claims: ClaimStore, batch_id: str) -> None:
        self._claims = claims
        self._batch_id = batch_id

    def _scoped(self, identity: str) -> str:
        return derive_id("batch", self._batch_id, identity)

    async def open(self) -> None:
        return None  # the shared store is opened by the app

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return await self._claims.ping()

    async def claim(self, identity: str) -> bool:
        return await self._claims.claim(self._scoped(identity))

    async def keep(self, identity: str) -> None:
        await self._claims.keep(self._scoped(identity))

    async def release(self, identity: str) -> None:
        await self._claims.release(self._scoped(identity))

    async def is_kept(self, identity: str) -> bool:
        return await self._claims.is_kept(self._scoped(identity))


@dataclass(frozen=True)
class BatchAnnouncer:
    """Settles batch requests with the service's own ingestor, claims and object store."""

    settings: IngestSettings
    ingestor: Ingestor
    claims: ClaimStore
    store: ObjectStore
    publish: Publish

    async def __call__(self, delivery: Delivery) -> dict[str, Any]:
        request = decode(BatchObjectRequested, delivery.body)
        listed = request.object
        fields: dict[str, Any] = {"batch_id": request.batch_id, "bucket": listed.bucket, "key": listed.key}
        owner = self.ingestor.tenant_of(listed.bucket)
        if owner != request.tenant:
            raise TenantMismatch(
                f"batch {request.batch_id} of tenant {request.tenant!r} names s3://{listed.bucket}, "
                "a bucket of another tenant"
            )
        obj = with_provenance(await self._described(listed))
        ingestor = self.ingestor
        if request.reprocess and not ingestor.expands(obj):
            ingestor = self._reprocessing(request.batch_id)
        outcome = await ingestor.ingest(obj, source="s3-reconcile", event_time=None)
        return fields | {"outcome": outcome.value, "tenant": owner, "reprocess": request.reprocess}

    async def _described(self, listed: ObjectRef) -> ObjectRef:
        head = await self.store.head(listed.bucket, listed.key, etag=listed.etag, version_id=listed.version_id)
        return listed.model_copy(
            update={
                "version_id": head.version_id,
                "size": head.size,
                "content_type": head.content_type,
                "metadata": head.metadata,
            }
        )

    def consumer(self, consumers: Consumers, dependencies: list[Dependency]) -> Consumer:
        """The consumer of ``<prefix>.ingest.batch``, beside the service's own."""
        return consumers(BATCH_STAGE, batch_queue(consumers.topology), self, dependencies=dependencies)

    def _reprocessing(self, batch_id: str) -> Ingestor:
        """An ingestor like the service's, claiming under the batch id (no archive expansion)."""
        return Ingestor(
            buckets=self.settings.buckets,
            max_object_bytes=self.settings.s3.max_object_bytes,
            claims=ScopedClaims(self.claims, batch_id),
            publish=self.publish,
        )
