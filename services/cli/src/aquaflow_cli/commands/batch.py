"""``aquaflow batch s3://bucket/prefix``: (re)process every object under a prefix, tracked by the results service."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from aquaflow_cli import output
from aquaflow_cli.batch_view import STATES, exit_code, interrupted, resume_hint, settled_line
from aquaflow_cli.broker import BrokerClient, Outgoing
from aquaflow_cli.context import results_api, settings_of
from aquaflow_cli.errors import Exit
from aquaflow_cli.results_api import ResultsApi
from aquaflow_cli.s3_urls import S3Location, parse_s3_url
from aquaflow_cli.settings import CliSettings
from aquaflow_cli.storage import ListedKey, ObjectStorage
from aquaflow_shared.batches import BATCH_OBJECT_REQUESTED, batch_object_requested, batch_queue
from aquaflow_shared.broker import topology_of
from aquaflow_shared.contracts import ObjectRef

PAGE_SIZE = 1000


class BatchGroup(TyperGroup):
    """``aquaflow batch s3://…`` starts (or resumes) a batch: an address is read as the ``start`` command."""

    # Typer vendors click: its Context and Command types are the vendored ones, hence Any here.
    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0].startswith("s3://"):
            args = ["start", *args]
        return super().resolve_command(ctx, args)


batch_app = typer.Typer(
    cls=BatchGroup,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="""(Re)process every object under an S3 prefix, with its progress tracked by the results service.

The OSCAR Batch job done right: every object version under the prefix is sent to ingest
once, the results service records each one until it is stored or failed, an interrupted
run resumes where it stopped, and running a batch again does not do its work twice.

Examples:

    aquaflow batch s3://plankton-flowcam/2024/
    aquaflow batch s3://plankton-zooscan/m106/ --model plankton_classifier --no-wait
    aquaflow batch s3://plankton-flowcam/2024/ --reprocess --id flowcam-2024-again
    aquaflow batch status b-3f2a9c0d51e4b7a8 --json
    aquaflow batch items b-3f2a9c0d51e4b7a8 --state failed
""",
)


@batch_app.command("start")
@output.reports_errors
def start(
    ctx: typer.Context,
    *,
    location: Annotated[str, typer.Argument(help="s3://bucket/prefix", metavar="S3_URL")],
    model: Annotated[
        str | None, typer.Option(help="the model whose results complete an object (objects it processed are skipped)")
    ] = None,
    reprocess: Annotated[
        bool, typer.Option(help="send objects whose result is stored, and objects announced before, once more")
    ] = False,
    batch_id: Annotated[
        str | None, typer.Option("--id", help="name the batch (a new name runs the prefix again)")
    ] = None,
    page_size: Annotated[
        int, typer.Option(help="objects listed, registered and sent at a time", min=1, max=1000)
    ] = 1000,
    max_pages: Annotated[
        int, typer.Option(help="send at most this many pages now, the rest on a later run (0: all)")
    ] = 0,
    wait: Annotated[bool, typer.Option(help="follow the batch until every item is settled")] = True,
    timeout: Annotated[float, typer.Option(help="seconds to follow the batch")] = 3600.0,
    interval: Annotated[float, typer.Option(help="seconds between looks at its progress")] = 2.0,
    json_output: Annotated[bool, typer.Option("--json", help="print the batch as JSON")] = False,
) -> None:
    """Start a batch over S3_URL, or resume the one the same request started (`aquaflow batch S3_URL` for short).

    Exit code: 0 every item stored or skipped, 1 some failed, 3 still pending (or --no-wait), 4 unreachable.
    """
    settings = settings_of(ctx)
    where = parse_s3_url(location)
    spec = {"bucket": where.bucket, "prefix": where.prefix, "model": model, "reprocess": reprocess, "id": batch_id}
    watch = output.Watch(timeout, interval, json_output, enabled=wait)
    code = asyncio.run(_start(settings, where, spec, Paging(page_size, max_pages), watch))
    raise typer.Exit(int(code))


@dataclass
class ThisRun:
    """What this run did, beside the batch's own figures: what it listed, sent, and found stored already."""

    listed: int = 0
    sent: int = 0
    skipped: int = 0
    pages: int = 0


@dataclass(frozen=True)
class Paging:
    size: int = PAGE_SIZE
    # 0: every page; otherwise stop after this many (running the batch again goes on from there).
    most: int = 0


async def _start(
    settings: CliSettings, where: S3Location, spec: dict[str, Any], paging: Paging, watch: output.Watch
) -> Exit:
    quiet = watch.quiet
    async with results_api(settings) as api:
        batch = await api.post("/batches", spec)
        if not quiet:
            verb = "started" if batch.get("created") else "resuming"
            output.err().print(f"batch [bold]{batch['id']}[/bold] {verb} over {where}")
        run = ThisRun()
        if not batch["listing_done"] or batch["items"].get("enqueuing"):
            batch = await _send_all(settings, api, batch, paging, run, quiet=quiet)
        if watch.enabled:
            batch = await _follow(api, batch["id"], watch)
        else:
            batch = await api.get(f"/batches/{batch['id']}")
    _report(batch | {"this_run": run.__dict__}, quiet)
    return exit_code(batch)


async def _send_all(
    settings: CliSettings, api: ResultsApi, batch: dict[str, Any], paging: Paging, run: ThisRun, *, quiet: bool
) -> dict[str, Any]:
    """List the prefix from where the batch got to, register each page, send what the service says to send."""
    topology = topology_of(settings.broker)
    queue = batch_queue(topology)
    async with ObjectStorage(settings.s3) as storage, BrokerClient(settings.broker) as broker:
        await broker.ensure_queue(queue, topology.events.name, BATCH_OBJECT_REQUESTED)
        start_after = batch.get("listed_until") or ""
        with output.progress(quiet=quiet) as bar:
            task = bar.add_task("sending", total=None, detail="")
            while True:
                page = await storage.list_page(
                    batch["bucket"], batch["prefix"], start_after=start_after, max_keys=paging.size
                )
                objects = [o for o in page.objects if not _is_folder(o)]
                answer = await api.post(
                    f"/batches/{batch['id']}/items",
                    {"objects": [{"key": o.key, "etag": o.etag, "size": o.size} for o in objects]},
                )
                for item in answer["send"]:
                    await broker.publish("", queue.name, _request(batch, item))
                last = page.objects[-1].key if page.objects else None
                batch = await api.post(
                    f"/batches/{batch['id']}/enqueued",
                    {
                        "ids": [i["id"] for i in answer["send"]],
                        "listed_until": last,
                        "listing_done": not page.truncated,
                    },
                )
                run.listed += len(objects)
                run.sent += len(answer["send"])
                run.skipped += answer["skipped"]
                run.pages += 1
                detail = f"listed {run.listed}  sent {run.sent}  already stored {run.skipped}"
                bar.update(task, completed=run.sent, detail=detail)
                if not page.truncated or last is None or run.pages == paging.most:
                    return batch
                start_after = last


def _is_folder(listed: ListedKey) -> bool:
    """A console's "folder" placeholder, not an object anyone uploaded."""
    return listed.key.endswith("/") and listed.size == 0


def _request(batch: dict[str, Any], item: dict[str, Any]) -> Outgoing:
    obj = ObjectRef(bucket=batch["bucket"], key=item["key"], etag=item["etag"], size=item.get("size"))
    request = batch_object_requested(batch["id"], batch["tenant"], obj, reprocess=bool(batch["reprocess"]))
    return Outgoing(
        request.model_dump_json().encode(),
        message_id=request.message_id,
        correlation_id=request.correlation_id,
        headers={"x-aquaflow-tenant": request.tenant, "x-aquaflow-schema-version": request.schema_version},
    )


async def _follow(api: ResultsApi, batch_id: str, watch: output.Watch) -> dict[str, Any]:
    deadline = time.monotonic() + watch.timeout
    with output.progress(quiet=watch.quiet) as bar:
        task = bar.add_task("processing", total=None, detail="")
        while True:
            batch: dict[str, Any] = await api.get(f"/batches/{batch_id}")
            bar.update(task, total=batch["total"], completed=batch["settled"], detail=settled_line(batch))
            if batch["done"] or time.monotonic() > deadline:
                return batch
            await asyncio.sleep(watch.interval)


def _report(batch: dict[str, Any], quiet: bool) -> None:
    if quiet:
        output.print_json(batch)
        return
    console = output.out()
    items = batch.get("items") or {}
    rows = [(state, items.get(state, 0)) for state in STATES]
    model = f", model {batch['model']}" if batch.get("model") else ""
    again = ", reprocessing" if batch.get("reprocess") else ""
    console.print(f"batch [bold]{batch['id']}[/bold] over s3://{batch['bucket']}/{batch['prefix']}{model}{again}")
    console.print(output.table(None, ("items", "count"), rows))
    run = batch.get("this_run") or {}
    if run.get("pages"):
        console.print(f"this run: listed {run['listed']}, sent {run['sent']}, already stored {run['skipped']}")
    if batch.get("done"):
        console.print(f"done: {settled_line(batch)}")
    elif interrupted(batch):
        console.print(f"interrupted: run again to resume: {resume_hint(batch)}")
    else:
        console.print(f"{batch['pending']} still pending; follow with: aquaflow batch status {batch['id']} --watch")


@batch_app.command("status")
@output.reports_errors
def status(
    ctx: typer.Context,
    *,
    batch_id: Annotated[str, typer.Argument(help="the batch id `aquaflow batch` printed")],
    watch: Annotated[bool, typer.Option(help="follow it until every item is settled")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to follow it with --watch")] = 3600.0,
    interval: Annotated[float, typer.Option(help="seconds between looks with --watch")] = 2.0,
    json_output: Annotated[bool, typer.Option("--json", help="print the batch as JSON")] = False,
) -> None:
    """A batch's progress: items stored, skipped (stored before), failed, forwarded (archives), pending.

    Exit code: 0 done without failures, 1 some items failed, 3 still pending.
    """
    settings = settings_of(ctx)

    async def look() -> dict[str, Any]:
        async with results_api(settings) as api:
            if watch:
                return await _follow(api, batch_id, output.Watch(timeout, interval, json_output))
            found: dict[str, Any] = await api.get(f"/batches/{batch_id}")
            return found

    batch = asyncio.run(look())
    _report(batch, json_output)
    raise typer.Exit(int(exit_code(batch)))


@batch_app.command("items")
@output.reports_errors
def items(
    ctx: typer.Context,
    *,
    batch_id: Annotated[str, typer.Argument(help="the batch id")],
    state: Annotated[str | None, typer.Option(help=f"only items in this state: {', '.join(STATES)}")] = None,
    limit: Annotated[int, typer.Option(help="at most this many items (0: all)")] = 100,
    json_output: Annotated[bool, typer.Option("--json", help="print the items as JSON")] = False,
) -> None:
    """A batch's items, with the stage, code and reason of the failed ones."""
    settings = settings_of(ctx)

    async def read() -> list[dict[str, Any]]:
        async with results_api(settings) as api:
            return await api.all_items(f"/batches/{batch_id}/items", {"state": state}, limit or None)

    found = asyncio.run(read())
    if json_output:
        output.print_json(found)
        return
    rows = [(i["key"], i["state"], i.get("stage"), i.get("code"), output.shorten(i.get("reason"), 60)) for i in found]
    output.out().print(output.table(f"batch {batch_id}", ("key", "state", "stage", "code", "reason"), rows))


@batch_app.command("list")
@output.reports_errors
def list_batches(
    ctx: typer.Context,
    *,
    json_output: Annotated[bool, typer.Option("--json", help="print the batches as JSON")] = False,
) -> None:
    """The tenant's batches and their figures."""
    settings = settings_of(ctx)

    async def read() -> list[dict[str, Any]]:
        async with results_api(settings) as api:
            return await api.all_items("/batches")

    found = asyncio.run(read())
    if json_output:
        output.print_json(found)
        return
    rows = [
        (
            b["id"],
            f"s3://{b['bucket']}/{b['prefix']}",
            b.get("model") or "",
            "yes" if b["done"] else "no",
            settled_line(b),
        )
        for b in found
    ]
    output.out().print(output.table("batches", ("id", "prefix", "model", "done", "items"), rows))
