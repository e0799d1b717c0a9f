"""Dead letters about an object version, as results records them for operators. Pure, no I/O.

Results keeps failed uploads of inference per sample already (``samples.record_failure``);
operators also want the uploads refused before inference (ingest refused the object, no
routing rule matched, a manifest could not be read) and those without a sample. Every
event of the pipeline names its tenant and its object, so every dead letter of one can
be recorded against them; an S3 notification or an object ingest's sweep refused names
no tenant, and is left to the dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aquaflow_shared.batches import BATCH_STAGE
from aquaflow_shared.contracts import derive_id
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER, STAGE_HEADER

FAILED_SUFFIX = ".failed"
DELIVERY_LIMIT_CODE = "delivery_limit"


@dataclass(frozen=True)
class LetterRecord:
    """One object version's dead letter at one stage (for a batch request, of one batch)."""

    tenant: str
    bucket: str
    key: str
    etag: str
    stage: str
    code: str
    reason: str
    model: str | None = None
    sample_id: str | None = None
    batch_id: str | None = None

    @property
    def id(self) -> str:
        """Copies and repeats of the same failure are one record (the latest reason wins)."""
        return derive_id("dead-letter", self.tenant, self.stage, self.bucket, self.key, self.etag, self.batch_id)

    def fields(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "object": {"bucket": self.bucket, "key": self.key, "etag": self.etag},
            "stage": self.stage,
            "code": self.code,
            "reason": self.reason,
            "model": self.model,
            "sample_id": self.sample_id,
            "batch_id": self.batch_id,
        }


def stage_of(headers: Mapping[str, Any], routing_key: str) -> str:
    """The failing stage: its header, or the routing key a queue's delivery limit dead-letters with."""
    return str(headers.get(STAGE_HEADER) or routing_key.removesuffix(FAILED_SUFFIX))


def letter_record(headers: Mapping[str, Any], routing_key: str, body: bytes) -> LetterRecord | None:
    """The record of a dead letter, or None when it names no tenant and object."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    obj, tenant = raw.get("object"), raw.get("tenant")
    if not isinstance(obj, dict) or not isinstance(tenant, str):
        return None
    bucket, key, etag = obj.get("bucket"), obj.get("key"), obj.get("etag")
    if not (isinstance(bucket, str) and isinstance(key, str) and isinstance(etag, str)):
        return None
    stage = stage_of(headers, routing_key)
    return LetterRecord(
        tenant=tenant,
        bucket=bucket,
        key=key,
        etag=etag.strip('"'),
        stage=stage,
        code=str(headers.get(CODE_HEADER) or DELIVERY_LIMIT_CODE),
        reason=str(headers.get(REASON_HEADER) or "dead-lettered by the broker: delivery limit reached"),
        model=_text(raw.get("model")),
        sample_id=_text(raw.get("sample_id")),
        batch_id=_text(raw.get("batch_id")) if stage == BATCH_STAGE else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
