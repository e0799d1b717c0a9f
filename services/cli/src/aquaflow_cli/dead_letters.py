"""Dead letters as an operator reads them, and where a replay sends each one. Pure, no I/O.

Every stage dead-letters through one helper (``aquaflow_shared.delivery``): the body as it
came, the reason in ``x-aquaflow-reason``, the code in ``x-aquaflow-error-code``, the stage
in ``x-aquaflow-stage``, the routing key it arrived with. A message its queue's delivery
limit dead-lettered (a consumer killed again and again) has none of those: the broker
routes it with ``<stage>.failed`` and describes it in ``x-death``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aquaflow_shared.consumer import FAILED_ATTEMPTS_HEADER, LAST_ERROR_HEADER
from aquaflow_shared.delivery import ATTEMPTS_HEADER, CODE_HEADER, REASON_HEADER, ROUTING_KEY_HEADER, STAGE_HEADER
from aquaflow_shared.topology import S3_NOTIFICATION, UNROUTABLE_STAGE, Topology

TENANT_HEADER = "x-aquaflow-tenant"
REPLAYS_HEADER = "x-aquaflow-replays"
REPLAYED_FROM_HEADER = "x-aquaflow-replayed-from"
DELIVERY_LIMIT_CODE = "delivery_limit"
# Where ingest's webhook endpoint dead-letters a body it received (``rejects.body``).
WEBHOOK_ORIGIN = "minio.webhook"
# Headers that describe the failure, or the broker's delivery: a replayed copy starts afresh.
_FAILURE_HEADERS = frozenset(
    {
        REASON_HEADER,
        CODE_HEADER,
        STAGE_HEADER,
        ATTEMPTS_HEADER,
        ROUTING_KEY_HEADER,
        FAILED_ATTEMPTS_HEADER,
        LAST_ERROR_HEADER,
        "x-death",
        "x-delivery-count",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)


@dataclass(frozen=True)
class RawDeadLetter:
    """One message of the dead-letter queue, as the broker delivered it."""

    body: bytes
    headers: Mapping[str, Any]
    routing_key: str
    message_id: str | None = None
    correlation_id: str | None = None
    content_type: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True)
class DeadLetterView:
    """What an operator wants to know of a dead letter, in the queue's order (``position``, from 1)."""

    position: int
    raw: RawDeadLetter = field(repr=False)
    stage: str
    code: str
    reason: str
    tenant: str | None
    bucket: str | None
    key: str | None
    failed_at: datetime | None
    original_routing_key: str
    replays: int

    @property
    def message_id(self) -> str | None:
        return self.raw.message_id

    @property
    def fingerprint(self) -> str:
        """Names this dead letter when it has no message id (a short hash of its body and stage)."""
        return hashlib.sha256(self.stage.encode() + b"\x1f" + self.raw.body).hexdigest()[:12]

    @property
    def ref(self) -> str:
        return self.message_id or self.fingerprint

    def age_seconds(self, now: datetime) -> float | None:
        return None if self.failed_at is None else (now - self.failed_at).total_seconds()

    def summary(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "message_id": self.message_id,
            "ref": self.ref,
            "stage": self.stage,
            "code": self.code,
            "reason": self.reason,
            "tenant": self.tenant,
            "bucket": self.bucket,
            "key": self.key,
            "failed_at": self.failed_at.isoformat() if self.failed_at else None,
            "original_routing_key": self.original_routing_key,
            "replays": self.replays,
        }

    def detail(self) -> dict[str, Any]:
        """Everything, the body decoded where it is text (JSON where it parses)."""
        return self.summary() | {
            "correlation_id": self.raw.correlation_id,
            "content_type": self.raw.content_type,
            "dead_letter_routing_key": self.raw.routing_key,
            "headers": {k: _plain(v) for k, v in self.raw.headers.items()},
            "body": _body(self.raw.body),
        }


def describe(position: int, raw: RawDeadLetter) -> DeadLetterView:
    headers = raw.headers
    death = _first_death(headers)
    stage = str(headers.get(STAGE_HEADER) or raw.routing_key.removesuffix(".failed") or "?")
    if CODE_HEADER in headers:
        code, reason = str(headers[CODE_HEADER]), str(headers.get(REASON_HEADER, ""))
    elif death is not None:
        count = death.get("count", "?")
        code, reason = DELIVERY_LIMIT_CODE, f"dead-lettered by the broker after {count} deliveries without a decision"
    else:
        code, reason = "?", ""
    failed_at = _utc(death.get("time")) if death is not None else _utc(raw.timestamp)
    decoded = _json(raw.body)
    bucket, key = _object(decoded)
    tenant = headers.get(TENANT_HEADER) or (decoded.get("tenant") if isinstance(decoded, dict) else None)
    return DeadLetterView(
        position=position,
        raw=raw,
        stage=stage,
        code=code,
        reason=reason,
        tenant=str(tenant) if tenant else None,
        bucket=bucket,
        key=key,
        failed_at=failed_at,
        original_routing_key=str(headers.get(ROUTING_KEY_HEADER) or (death or {}).get("routing-keys", [""])[0] or ""),
        replays=_int(headers.get(REPLAYS_HEADER)),
    )


@dataclass(frozen=True)
class ReplayTarget:
    """Where a replayed dead letter is published: an exchange ("" is the default one) and a routing key."""

    exchange: str
    routing_key: str

    def __str__(self) -> str:
        return f"queue {self.routing_key}" if not self.exchange else f"{self.exchange} with {self.routing_key}"


class NotReplayable(ValueError):
    """A dead letter with nowhere to go back to; the reason says what to do instead."""


def replay_target(view: DeadLetterView, topology: Topology) -> ReplayTarget:
    """The queue the dead letter failed in, which its stage consumes again.

    Two kinds go elsewhere or nowhere: an event no queue was bound for goes back to the
    events exchange with its routing key (a worker may serve it now); an object ingest's
    sweep refused was never a message of the ingest queue, so it has none to go back to.
    """
    if view.stage == "?":
        raise NotReplayable("the dead letter names no stage")
    if view.stage == UNROUTABLE_STAGE:
        if not view.original_routing_key:
            raise NotReplayable("an unroutable event without its routing key")
        return ReplayTarget(topology.events.name, view.original_routing_key)
    if view.stage == "ingest" and view.original_routing_key not in (S3_NOTIFICATION, WEBHOOK_ORIGIN):
        raise NotReplayable("an object the sweep refused, not a message: announce it again with `aquaflow batch`")
    return ReplayTarget("", topology.work_queue_name(view.stage))


def replay_headers(view: DeadLetterView, now: datetime) -> dict[str, Any]:
    """The original headers without the failure's: the stage counts its attempts afresh."""
    kept = {k: v for k, v in view.raw.headers.items() if k not in _FAILURE_HEADERS}
    return kept | {REPLAYS_HEADER: view.replays + 1, REPLAYED_FROM_HEADER: f"{view.stage}@{now.isoformat()}"}


def _first_death(headers: Mapping[str, Any]) -> dict[str, Any] | None:
    deaths = headers.get("x-death")
    if isinstance(deaths, list | tuple) and deaths and isinstance(deaths[0], dict):
        return dict(deaths[0])
    return None


def _utc(moment: Any) -> datetime | None:
    if not isinstance(moment, datetime):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None


def _object(raw: Any) -> tuple[str | None, str | None]:
    """The (bucket, key) a dead-lettered body is about, whatever stage it failed in."""
    if not isinstance(raw, dict):
        return None, None
    obj = raw.get("object")
    if isinstance(obj, dict):
        return _text(obj.get("bucket")), _text(obj.get("key"))
    if isinstance(raw.get("bucket"), str) and isinstance(raw.get("key"), str):
        return raw["bucket"], raw["key"]  # an object ingest's sweep refused
    records = raw.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        s3 = records[0].get("s3") or {}
        key = _text((s3.get("object") or {}).get("key"))
        return _text((s3.get("bucket") or {}).get("name")), unquote_plus(key) if key else None
    return None, None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _plain(value: Any) -> Any:
    """Header values as JSON can hold them (AMQP tables hold bytes and datetimes)."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _body(body: bytes) -> Any:
    decoded = _json(body)
    if decoded is not None:
        return decoded
    try:
        return body.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode()}
