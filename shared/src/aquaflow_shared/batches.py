"""Batch requests: an operator asks ingest to announce an object version that is already stored.

``aquaflow batch s3://bucket/prefix`` lists a prefix and sends one ``BatchObjectRequested``
per object version to ingest's own queue (``<prefix>.ingest.batch``). Ingest treats it as
its reconciliation sweep treats a listed object: the tenant comes from the bucket's
configuration (a request naming another tenant is refused), the object is read by HEAD,
and the announcement is claimed once. A plain batch shares the claim of the upload's own
announcement, so an object announced before is not announced again; a reprocessing batch
(``reprocess``) claims under its batch id, so it announces each object version once more,
and once only however often its request is delivered.
"""

from __future__ import annotations

from typing import Annotated

from faststream.rabbit import RabbitQueue
from pydantic import Field

from aquaflow_shared.contracts import Envelope, ObjectRef, derive_id
from aquaflow_shared.topology import Topology

BATCH_OBJECT_REQUESTED = "batch.object.requested"
# The stage that consumes batch requests: its queue is ``<prefix>.ingest.batch``.
BATCH_STAGE = "ingest.batch"

# Operators may name batches; the name travels in messages and URLs, so it is kept plain.
BatchId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class BatchObjectRequested(Envelope):
    """Announce one listed object version for batch ``batch_id`` (``batch.object.requested``)."""

    batch_id: BatchId
    # As listed: bucket, key, ETag and size; ingest reads metadata and version by HEAD.
    object: ObjectRef
    # False: skip the object if it was announced before (the upload's own claim holds).
    # True: announce it again, once for this batch.
    reprocess: bool = False


def batch_object_requested(batch_id: str, tenant: str, obj: ObjectRef, *, reprocess: bool) -> BatchObjectRequested:
    """The request for one object version of a batch; the same inputs give the same message id."""
    return BatchObjectRequested(
        message_id=derive_id(BATCH_OBJECT_REQUESTED, batch_id, *obj.identity),
        correlation_id=obj.upload_id(),
        tenant=tenant,
        batch_id=batch_id,
        object=obj,
        reprocess=reprocess,
    )


def batch_queue(topology: Topology) -> RabbitQueue:
    """Ingest's queue of batch requests, a work queue like every stage's."""
    return topology.work_queue(BATCH_STAGE, BATCH_OBJECT_REQUESTED)
