"""``aquaflow upload DIR --bucket B``: upload a folder, then follow every upload to its result."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from aquaflow_cli import output
from aquaflow_cli.context import results_api, settings_of
from aquaflow_cli.errors import Exit
from aquaflow_cli.results_api import ResultsApi
from aquaflow_cli.settings import CliSettings
from aquaflow_cli.storage import ObjectStorage
from aquaflow_cli.upload_plan import PlannedUpload, files_under, plan_uploads
from aquaflow_cli.upload_tracking import (
    Tracked,
    Uploaded,
    UploadState,
    by_sample,
    counts,
    exit_code,
    settled,
    track,
)

HELP = """Upload every file of DIR into BUCKET, then follow the uploads to their results.

Keys keep each file's path below DIR, under the sample's folder with --sample. A manifest
(--manifest, or a sample.json/sample.tsv in DIR) goes first. Then, until every upload is
stored or failed (or --timeout), the live counts: stored, failed (inference dead letters
the results service recorded) and pending; at the end a summary per sample.

Exit code: 0 every upload stored, 1 some failed, 3 some still pending at --timeout,
4 a part of the stack could not be reached.

Examples:

    aquaflow upload ./run_0517 --bucket plankton-flowcam --sample fc_run_0517 --manifest run_0517.json
    aquaflow upload ./frames --bucket obsea-frames --no-follow
    aquaflow upload ./scans --bucket plankton-zooscan --sample m106 --json > m106.json
"""


def upload(
    ctx: typer.Context,
    *,
    directory: Annotated[
        Path, typer.Argument(help="the folder to upload", exists=True, file_okay=False, metavar="DIR")
    ],
    bucket: Annotated[str, typer.Option("--bucket", "-b", help="the watched bucket to upload into")],
    sample: Annotated[str | None, typer.Option(help="upload under this sample's folder (the key's first part)")] = None,
    manifest: Annotated[
        Path | None, typer.Option(help="the sample's manifest (sample.json or .tsv), uploaded first", exists=True)
    ] = None,
    prefix: Annotated[str, typer.Option(help="a key prefix before everything (and before the sample)")] = "",
    follow: Annotated[bool, typer.Option(help="follow the uploads to their results")] = True,
    timeout: Annotated[float, typer.Option(help="seconds to wait for results")] = 600.0,
    interval: Annotated[float, typer.Option(help="seconds between looks at the results")] = 2.0,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON document for scripts")] = False,
) -> None:
    settings = settings_of(ctx)
    files = files_under(directory)
    for empty in (f for f in files if f.stat().st_size == 0):
        output.err().print(f"[yellow]skipped {empty}: empty (ingest refuses empty objects)[/yellow]")
    files = [f for f in files if f.stat().st_size > 0]
    planned = plan_uploads(directory, files, sample=sample, prefix=prefix, manifest=manifest)
    watch = output.Watch(timeout, interval, json_output, enabled=follow)
    code = asyncio.run(_upload(settings, bucket, planned, sample, watch))
    raise typer.Exit(int(code))


async def _upload(
    settings: CliSettings, bucket: str, planned: list[PlannedUpload], sample: str | None, watch: output.Watch
) -> Exit:
    quiet = watch.quiet
    uploads = await _put_all(settings, bucket, planned, quiet)
    if not watch.enabled:
        if quiet:
            output.print_json({"bucket": bucket, "uploads": [u.__dict__ for u in uploads]})
        else:
            output.out().print(f"uploaded {len(uploads)} objects into s3://{bucket}/ (not followed)")
        return Exit.OK
    async with results_api(settings) as api:
        tracked = await _follow(api, bucket, uploads, sample, watch)
    _report(bucket, tracked, quiet)
    return exit_code(tracked)


async def _put_all(settings: CliSettings, bucket: str, planned: list[PlannedUpload], quiet: bool) -> list[Uploaded]:
    uploads: list[Uploaded] = []
    async with ObjectStorage(settings.s3) as storage:
        await storage.check_bucket(bucket)
        with output.progress(quiet=quiet) as bar:
            task = bar.add_task("uploading", total=sum(p.size for p in planned), detail="")
            for item in planned:
                stored = await storage.put_file(bucket, item.key, item.path, item.content_type)
                bar.update(task, advance=item.size, detail=item.key)
                if not item.is_manifest:  # a manifest has no result of its own
                    uploads.append(Uploaded(item.key, stored.etag))
    return uploads


def _common_folder(keys: list[str]) -> str:
    """The deepest folder every key is in ("" when they share none)."""
    folders = [key.split("/")[:-1] for key in keys]
    shared: list[str] = []
    for parts in zip(*folders, strict=False):
        if len(set(parts)) != 1:
            break
        shared.append(parts[0])
    return "".join(f"{part}/" for part in shared)


async def _look(
    api: ResultsApi, bucket: str, uploads: list[Uploaded], pending: list[Uploaded]
) -> tuple[list[Any], list[Any]]:
    """Results and failed uploads that may concern ``pending``: under their common folder, else key by key."""
    prefix = _common_folder([u.key for u in uploads])
    if prefix:
        params = {"bucket": bucket, "prefix": prefix}
        return await api.all_items("/results", params), await api.all_items("/failures", params)
    results: list[Any] = []
    failures: list[Any] = []
    for upload in pending:
        results += await api.all_items("/results", {"bucket": bucket, "key": upload.key})
        failures += await api.all_items("/failures", {"bucket": bucket, "prefix": upload.key})
    return results, failures


async def _follow(
    api: ResultsApi, bucket: str, uploads: list[Uploaded], sample: str | None, watch: output.Watch
) -> list[Tracked]:
    deadline = time.monotonic() + watch.timeout
    known: dict[str, Tracked] = {}
    with output.progress(quiet=watch.quiet) as bar:
        task = bar.add_task("processing", total=len(uploads), detail="")
        while True:
            pending = [u for u in uploads if u.key not in known]
            results, failures = await _look(api, bucket, uploads, pending)
            # Settled uploads stay settled: a result is never deleted, and a later one only adds.
            known |= {
                t.key: t for t in track(pending, results, failures, sample=sample) if t.state is not UploadState.PENDING
            }
            tracked = [
                known.get(u.key) or Tracked(u.key, u.etag, UploadState.PENDING, sample_id=sample) for u in uploads
            ]
            found = counts(tracked)
            detail = f"stored {found.stored}  failed {found.failed}  pending {found.pending}"
            bar.update(task, completed=found.stored + found.failed, detail=detail)
            if settled(tracked) or time.monotonic() > deadline:
                return tracked
            await asyncio.sleep(watch.interval)


def _report(bucket: str, tracked: list[Tracked], quiet: bool) -> None:
    samples = by_sample(tracked)
    if quiet:
        output.print_json(
            {
                "bucket": bucket,
                "counts": counts(tracked).as_dict(),
                "samples": [s.as_dict() for s in samples],
                "uploads": [{k: v for k, v in t.__dict__.items() if v is not None} for t in tracked],
            }
        )
        return
    console = output.out()
    rows = [
        (
            s.sample_id,
            s.counts.stored,
            s.counts.failed,
            s.counts.pending,
            ", ".join(f"{k} {n}" for k, n in s.labels.most_common(3)),
        )
        for s in samples
    ]
    console.print(
        output.table(f"uploads into s3://{bucket}", ("sample", "stored", "failed", "pending", "top labels"), rows)
    )
    problems = [t for t in tracked if t.state.value != "stored"]
    if problems:
        console.print(
            output.table(
                "not stored",
                ("key", "state", "code", "reason"),
                [(t.key, t.state.value, t.code, output.shorten(t.reason)) for t in problems],
            )
        )
