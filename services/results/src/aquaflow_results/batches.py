"""Batches (``aquaflow batch``): what is decided about a batch and its items. Pure, no I/O.

A batch is every object version under one bucket prefix, (re)processed on an operator's
request and tracked here until each one is settled. The operator's tool lists the prefix
page by page and registers each page (``POST /batches/{id}/items``); this service answers
which objects to send to ingest, and records how far the listing got once they are sent
(``POST /batches/{id}/enqueued``), so an interrupted run resumes where it stopped and a
second run sends nothing twice.

An item's life: ``skipped`` (its result was stored before the batch: not sent), or
``enqueuing`` (registered, not yet confirmed sent) then ``enqueued`` (sent; pending) and
finally ``stored`` (a result, or for a manifest its sample, is stored), ``failed`` (a dead
letter names it) or ``forwarded`` (an archive: ingest expands it into objects of their own,
which a batch over their prefix tracks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from aquaflow_shared.contracts import derive_id

# Longest first, as ingest reads them (archive_rules): "x.tar.gz" is a tar.
ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip")


class ItemState(StrEnum):
    SKIPPED = "skipped"
    ENQUEUING = "enqueuing"
    ENQUEUED = "enqueued"
    STORED = "stored"
    FAILED = "failed"
    FORWARDED = "forwarded"


# Items that still wait for something; everything else is settled.
PENDING = (ItemState.ENQUEUING, ItemState.ENQUEUED)
# What a later look may still change: a failed item is stored once a replay of its dead letter succeeds.
UNSETTLED_OR_FAILED = (ItemState.ENQUEUED, ItemState.FAILED)


@dataclass(frozen=True)
class BatchSpec:
    """What the operator asked for: a prefix, the model whose results count, and whether to run stored objects again."""

    bucket: str
    prefix: str
    model: str | None
    reprocess: bool

    def as_document(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "prefix": self.prefix, "model": self.model, "reprocess": self.reprocess}

    @classmethod
    def of(cls, document: dict[str, Any]) -> BatchSpec:
        return cls(document["bucket"], document["prefix"], document.get("model"), bool(document.get("reprocess")))


def default_batch_id(tenant: str, spec: BatchSpec) -> str:
    """The id of a batch nobody named: the same request gives the same batch, so running it again resumes it."""
    mode = "reprocess" if spec.reprocess else ""
    return "b-" + derive_id("batch", tenant, spec.bucket, spec.prefix, spec.model or "", mode)[:16]


def item_id(batch_id: str, key: str, etag: str) -> str:
    """One object version in one batch (an ETag names the bytes: a new version of the key is a new item)."""
    return derive_id("batch.item", batch_id, key, etag.strip('"'))


def is_archive(key: str) -> bool:
    lowered = key.lower()
    return any(lowered.endswith(suffix) and len(lowered) > len(suffix) for suffix in ARCHIVE_SUFFIXES)


def sent_state(key: str) -> ItemState:
    """What an item becomes once its request is confirmed sent."""
    return ItemState.FORWARDED if is_archive(key) else ItemState.ENQUEUED


@dataclass(frozen=True)
class StoredHit:
    """A stored result of an object version."""

    result_id: str
    model: str


@dataclass(frozen=True)
class FailureHit:
    """A dead letter about an object version, as results recorded it (the latest of its stage)."""

    stage: str
    model: str | None
    code: str
    reason: str
    failed_at: datetime


@dataclass(frozen=True)
class Outcome:
    state: ItemState
    result_id: str | None = None
    stage: str | None = None
    code: str | None = None
    reason: str | None = None


def stored_for(spec: BatchSpec, hits: list[StoredHit]) -> StoredHit | None:
    """The result that completes an item: of the batch's model, or of any model when the batch names none."""
    return next((h for h in hits if spec.model is None or h.model == spec.model), None)


def settle(
    spec: BatchSpec,
    enqueued_at: datetime | None,
    results: list[StoredHit],
    failures: list[FailureHit],
    manifest_stored_at: datetime | None,
) -> Outcome | None:
    """What an item sent to ingest has become, from what is stored now; None while nothing says.

    A result settles it whenever it was stored: results keeps one result per object
    version and model, so running an object again whose result is stored leaves that
    result as it is. A dead letter from before the batch settles a plain batch's item (its
    object is a duplicate to ingest, so it is not run again), but not a reprocessing
    batch's: that one is run again, and only a dead letter since says it failed.
    """
    hit = stored_for(spec, results)
    if hit is not None:
        return Outcome(ItemState.STORED, result_id=hit.result_id)

    def since_sent(moment: datetime) -> bool:
        return not spec.reprocess or enqueued_at is None or moment >= enqueued_at

    for failure in failures:
        # A letter of another model's inference says nothing of this batch's model.
        if (spec.model is None or failure.model in (None, spec.model)) and since_sent(failure.failed_at):
            return Outcome(ItemState.FAILED, stage=failure.stage, code=failure.code, reason=failure.reason)
    if manifest_stored_at is not None and since_sent(manifest_stored_at):
        return Outcome(ItemState.STORED)
    return None


def progress(counts: dict[str, int], *, listing_done: bool) -> dict[str, Any]:
    """The batch's figures: items per state, how many are settled, and whether it is done."""
    every = {state.value: counts.get(state.value, 0) for state in ItemState}
    total = sum(every.values())
    pending = sum(every[s.value] for s in PENDING)
    return {
        "items": every,
        "total": total,
        "pending": pending,
        "settled": total - pending,
        "done": listing_done and pending == 0,
    }
