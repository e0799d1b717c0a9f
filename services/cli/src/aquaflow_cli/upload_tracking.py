"""Following uploads to their results: each one stored, failed or still pending. Pure.

An upload is stored once the results API has a result for its key and ETag, failed once
results recorded its dead letter (``GET /failures``), pending until either. Per sample:
the counts, and the labels most often predicted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aquaflow_cli.errors import Exit


class UploadState(StrEnum):
    STORED = "stored"
    FAILED = "failed"
    PENDING = "pending"


@dataclass(frozen=True)
class Uploaded:
    key: str
    etag: str


@dataclass(frozen=True)
class Tracked:
    key: str
    etag: str
    state: UploadState
    sample_id: str | None = None
    label: str | None = None
    result_id: str | None = None
    code: str | None = None
    reason: str | None = None


def label_of(result: dict[str, Any]) -> str | None:
    """What a person reads first: the class of a particle, the most frequent region class, detections."""
    summary = result.get("summary") or {}
    for name in ("label", "top_region_label"):
        if isinstance(summary.get(name), str):
            return str(summary[name])
    if summary.get("detections"):
        return f"{summary['detections']} detections"
    return None


def _version(document: dict[str, Any]) -> tuple[str, str]:
    obj = document.get("object") or {}
    return str(obj.get("key")), str(obj.get("etag", "")).strip('"')


def track(
    uploads: list[Uploaded], results: list[dict[str, Any]], failures: list[dict[str, Any]], *, sample: str | None = None
) -> list[Tracked]:
    """The state of every upload from the results and failed uploads the API answered."""
    stored = {_version(r): r for r in results}
    failed = {_version(f): f for f in failures}
    tracked = []
    for upload in uploads:
        version = (upload.key, upload.etag.strip('"'))
        if version in stored:
            result = stored[version]
            tracked.append(
                Tracked(
                    upload.key,
                    upload.etag,
                    UploadState.STORED,
                    sample_id=result.get("sample_id") or sample,
                    label=label_of(result),
                    result_id=result.get("id"),
                )
            )
        elif version in failed:
            failure = failed[version]
            tracked.append(
                Tracked(
                    upload.key,
                    upload.etag,
                    UploadState.FAILED,
                    sample_id=failure.get("sample_id") or sample,
                    code=failure.get("code"),
                    reason=failure.get("reason"),
                )
            )
        else:
            tracked.append(Tracked(upload.key, upload.etag, UploadState.PENDING, sample_id=sample))
    return tracked


@dataclass
class Counts:
    stored: int = 0
    failed: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.stored + self.failed + self.pending

    def as_dict(self) -> dict[str, int]:
        return {"stored": self.stored, "failed": self.failed, "pending": self.pending, "total": self.total}


def counts(tracked: list[Tracked]) -> Counts:
    found = Counts()
    for item in tracked:
        setattr(found, item.state.value, getattr(found, item.state.value) + 1)
    return found


@dataclass
class SampleSummary:
    sample_id: str
    counts: Counts = field(default_factory=Counts)
    labels: Counter[str] = field(default_factory=Counter)

    def as_dict(self, top: int = 3) -> dict[str, Any]:
        return {"sample_id": self.sample_id, **self.counts.as_dict(), "top_labels": dict(self.labels.most_common(top))}


NO_SAMPLE = "(no sample)"


def by_sample(tracked: list[Tracked]) -> list[SampleSummary]:
    summaries: dict[str, SampleSummary] = {}
    for item in tracked:
        name = item.sample_id or NO_SAMPLE
        summary = summaries.setdefault(name, SampleSummary(name))
        setattr(summary.counts, item.state.value, getattr(summary.counts, item.state.value) + 1)
        if item.label:
            summary.labels[item.label] += 1
    return [summaries[name] for name in sorted(summaries)]


def settled(tracked: list[Tracked]) -> bool:
    return all(item.state is not UploadState.PENDING for item in tracked)


def exit_code(tracked: list[Tracked]) -> Exit:
    """Success only when every upload is stored; a failure outranks a wait that ran out."""
    found = counts(tracked)
    if found.failed:
        return Exit.FAILED
    return Exit.PENDING if found.pending else Exit.OK
