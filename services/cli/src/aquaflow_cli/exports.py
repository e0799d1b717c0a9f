"""Results and samples as rows for a table or a CSV file. Pure.

JSON exports are the API's documents as they are; CSV flattens them to the columns a
spreadsheet needs (the full documents are in ``docs/results.md``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from aquaflow_cli.upload_tracking import label_of

RESULT_COLUMNS = (
    "id",
    "bucket",
    "key",
    "etag",
    "profile",
    "model",
    "model_version",
    "sample_id",
    "label",
    "score",
    "objects",
    "predicted",
    "unclassified",
    "stored_at",
)
SAMPLE_COLUMNS = (
    "sample_id",
    "processed",
    "failed",
    "expected_objects",
    "complete",
    "closed",
    "objects",
    "unclassified",
    "top_classes",
    "push_state",
    "updated_at",
)
FAILURE_COLUMNS = ("id", "bucket", "key", "sample_id", "stage", "model", "code", "reason", "failed_at")
# What a table on a terminal shows of each; CSV and JSON have everything.
RESULT_TABLE = ("id", "key", "sample_id", "label", "score", "objects", "model")
SAMPLE_TABLE = (
    "sample_id",
    "processed",
    "failed",
    "expected_objects",
    "complete",
    "closed",
    "top_classes",
    "push_state",
)
FAILURE_TABLE = ("key", "stage", "code", "sample_id", "reason")


def result_row(result: dict[str, Any]) -> dict[str, Any]:
    obj = result.get("object") or {}
    objects = result.get("objects") or []
    classification = result.get("classification") or {}
    return {
        "id": result.get("id"),
        "bucket": obj.get("bucket"),
        "key": obj.get("key"),
        "etag": obj.get("etag"),
        "profile": result.get("profile"),
        "model": result.get("model"),
        "model_version": result.get("model_version"),
        "sample_id": result.get("sample_id"),
        "label": label_of(result),
        "score": classification.get("score"),
        "objects": len(objects),
        "predicted": sum(1 for o in objects if o.get("status") == "predicted"),
        "unclassified": sum(1 for o in objects if o.get("status") == "unclassified"),
        "stored_at": result.get("stored_at"),
    }


def top_classes(counts: dict[str, int], top: int = 3) -> str:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return ", ".join(f"{label} {n}" for label, n in ranked)


def sample_row(sample: dict[str, Any]) -> dict[str, Any]:
    push = sample.get("push") or {}
    return {
        "sample_id": sample.get("sample_id"),
        "processed": sample.get("processed"),
        "failed": sample.get("failed"),
        "expected_objects": sample.get("expected_objects"),
        "complete": sample.get("complete"),
        "closed": sample.get("closed"),
        "objects": sample.get("objects"),
        "unclassified": sample.get("unclassified"),
        "top_classes": top_classes(sample.get("counts") or {}),
        "push_state": push.get("state"),
        "updated_at": sample.get("updated_at"),
    }


def failure_row(failure: dict[str, Any]) -> dict[str, Any]:
    obj = failure.get("object") or {}
    return {
        "id": failure.get("id"),
        "bucket": obj.get("bucket"),
        "key": obj.get("key"),
        "sample_id": failure.get("sample_id"),
        "stage": failure.get("stage"),
        "model": failure.get("model"),
        "code": failure.get("code"),
        "reason": failure.get("reason"),
        "failed_at": failure.get("failed_at"),
    }


def to_csv(rows: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    return out.getvalue()


def to_json(documents: list[dict[str, Any]]) -> str:
    return json.dumps(documents, indent=2, ensure_ascii=False, default=str) + "\n"
