"""The push state machine of one sample: pure transitions, no I/O.

pending ──upload──▶ uploaded ──start import──▶ importing ──job F──▶ done
                                                   │ job E ──▶ failed
                                                   │ job A ──▶ needs_attention
                                                   └ job P/R ──▶ importing (look again later)
Any step that meets a transient failure keeps its state and is retried later with
exponential backoff; a permanent refusal (bad credentials, rejected request) is ``failed``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any


class PushState(StrEnum):
    PENDING = "pending"
    UPLOADED = "uploaded"
    IMPORTING = "importing"
    DONE = "done"
    FAILED = "failed"
    NEEDS_ATTENTION = "needs_attention"
    NOT_CONFIGURED = "not_configured"


# States the pusher still has work for.
ACTIVE_STATES = frozenset({PushState.PENDING, PushState.UPLOADED, PushState.IMPORTING})


@dataclass(frozen=True)
class JobStatus:
    """An EcoTaxa job as ``GET /api/jobs/{job_id}/`` describes it."""

    id: int
    state: str  # P pending, R running, F finished, E error, A asking
    progress_pct: int | None = None
    progress_msg: str | None = None
    errors: tuple[str, ...] = ()
    question: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Backoff:
    initial_seconds: float
    max_seconds: float

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure in a row (1, 2, …)."""
        exponent = min(max(attempts, 1) - 1, 32)
        return float(min(self.initial_seconds * 2.0**exponent, self.max_seconds))


@dataclass(frozen=True)
class Push:
    """The ``push`` sub-document of a sample."""

    state: PushState
    updated_at: datetime
    project_id: int | None = None
    job_id: int | None = None
    server_path: str | None = None
    reason: str | None = None
    # Transient failures in a row of the current step; back to 0 when a step succeeds.
    attempts: int = 0
    imported: int | None = None
    skipped: int | None = None
    next_attempt_at: datetime | None = None
    last_error: str | None = None

    def to_document(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "project_id": self.project_id,
            "job_id": self.job_id,
            "server_path": self.server_path,
            "reason": self.reason,
            "attempts": self.attempts,
            "imported": self.imported,
            "skipped": self.skipped,
            "updated_at": self.updated_at,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Push:
        return cls(
            state=PushState(doc["state"]),
            updated_at=_utc(doc.get("updated_at")) or datetime.now(UTC),
            project_id=doc.get("project_id"),
            job_id=doc.get("job_id"),
            server_path=doc.get("server_path"),
            reason=doc.get("reason"),
            attempts=int(doc.get("attempts") or 0),
            imported=doc.get("imported"),
            skipped=doc.get("skipped"),
            next_attempt_at=_utc(doc.get("next_attempt_at")),
            last_error=doc.get("last_error"),
        )


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def requested(now: datetime) -> Push:
    """A fresh push: everything a previous push left behind is forgotten."""
    return Push(state=PushState.PENDING, updated_at=now)


def not_configured(now: datetime) -> Push:
    return Push(state=PushState.NOT_CONFIGURED, updated_at=now, reason="the tenant has no EcoTaxa account configured")


def uploaded(push: Push, *, project_id: int, server_path: str, skipped: int, now: datetime) -> Push:
    return replace(
        push,
        state=PushState.UPLOADED,
        project_id=project_id,
        server_path=server_path,
        skipped=skipped,
        attempts=0,
        next_attempt_at=None,
        last_error=None,
        updated_at=now,
    )


def nothing_to_import(push: Push, *, project_id: int, skipped: int, now: datetime) -> Push:
    """A sample without any object to import is done: EcoTaxa rejects an empty table."""
    return replace(
        push,
        state=PushState.DONE,
        project_id=project_id,
        imported=0,
        skipped=skipped,
        reason="no object to import",
        attempts=0,
        next_attempt_at=None,
        last_error=None,
        updated_at=now,
    )


def import_started(push: Push, *, job_id: int, now: datetime, poll_interval_seconds: float) -> Push:
    return replace(
        push,
        state=PushState.IMPORTING,
        job_id=job_id,
        attempts=0,
        next_attempt_at=now + timedelta(seconds=poll_interval_seconds),
        last_error=None,
        updated_at=now,
    )


def job_observed(push: Push, job: JobStatus, *, now: datetime, poll_interval_seconds: float) -> Push:
    """What the state of the import job means for the sample."""
    base = replace(push, attempts=0, last_error=None, updated_at=now, next_attempt_at=None)
    if job.state == "F":
        return replace(base, state=PushState.DONE, imported=_rowcount(job.result), reason=None)
    if job.state == "E":
        reason = "; ".join(job.errors) or job.progress_msg or "EcoTaxa's import job ended in error"
        return replace(base, state=PushState.FAILED, reason=reason)
    if job.state == "A":
        question = json.dumps(job.question, sort_keys=True, default=str) if job.question else ""
        reason = f"EcoTaxa asks: {question}" if question else (job.progress_msg or "EcoTaxa asks a question")
        return replace(base, state=PushState.NEEDS_ATTENTION, reason=reason)
    # P (pending) or R (running): look again later.
    return replace(base, state=PushState.IMPORTING, next_attempt_at=now + timedelta(seconds=poll_interval_seconds))


def _rowcount(result: dict[str, Any]) -> int | None:
    for key in ("rowcount", "nb_objects", "objects"):
        value = result.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    infos = result.get("infos")
    if isinstance(infos, dict):
        return _rowcount(infos)
    return None


def transient_failure(push: Push, *, reason: str, now: datetime, backoff: Backoff) -> Push:
    """Keep the state, count the attempt, come back after the backoff: never ``failed``."""
    attempts = push.attempts + 1
    return replace(
        push,
        attempts=attempts,
        last_error=reason,
        next_attempt_at=now + timedelta(seconds=backoff.delay(attempts)),
        updated_at=now,
    )


def permanent_failure(push: Push, *, reason: str, now: datetime) -> Push:
    return replace(push, state=PushState.FAILED, reason=reason, next_attempt_at=None, updated_at=now)


def import_folder(server_path: str) -> str:
    """The ``source_path`` of the import of an uploaded archive.

    EcoTaxa unpacks an uploaded archive into a folder named after the archive's stem, next
    to it in the user's files, and resolves ``source_path`` against the user's files folder
    (``ImportBase.unzip_if_needed``): the folder is ``/<stem>``, whatever absolute path the
    upload answered.
    """
    name = PurePosixPath(server_path).name
    for suffix in (".zip", ".tar.gz", ".tgz", ".tar"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return f"/{name}"
