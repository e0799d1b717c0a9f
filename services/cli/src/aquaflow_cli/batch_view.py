"""A batch's progress as the results API reports it, read for a person or a script. Pure."""

from __future__ import annotations

from typing import Any

from aquaflow_cli.errors import Exit

# The states the results service gives batch items, in the order a person reads them.
STATES = ("stored", "skipped", "failed", "forwarded", "enqueued", "enqueuing")


def settled_line(batch: dict[str, Any]) -> str:
    items = batch.get("items") or {}
    parts = [f"{items[state]} {state}" for state in STATES if items.get(state)]
    return ", ".join(parts) or "no items"


def interrupted(batch: dict[str, Any]) -> bool:
    """Items registered but never confirmed sent, or a listing that stopped: running the batch again resumes it."""
    return bool((batch.get("items") or {}).get("enqueuing")) or not batch.get("listing_done")


def exit_code(batch: dict[str, Any]) -> Exit:
    if (batch.get("items") or {}).get("failed"):
        return Exit.FAILED
    return Exit.OK if batch.get("done") else Exit.PENDING


def resume_hint(batch: dict[str, Any]) -> str:
    location = f"s3://{batch['bucket']}/{batch['prefix']}"
    flags = [f"--id {batch['id']}"]
    if batch.get("model"):
        flags.append(f"--model {batch['model']}")
    if batch.get("reprocess"):
        flags.append("--reprocess")
    return f"aquaflow batch {location} {' '.join(flags)}"
