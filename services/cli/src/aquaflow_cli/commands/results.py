"""``aquaflow results list|show|crop|failures``: query the stored results and export them."""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from aquaflow_cli import output
from aquaflow_cli.context import results_api, settings_of
from aquaflow_cli.exports import (
    FAILURE_COLUMNS,
    FAILURE_TABLE,
    RESULT_COLUMNS,
    RESULT_TABLE,
    failure_row,
    result_row,
    to_csv,
    to_json,
)

results_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="""Query the stored results of your tenant, and export them as JSON or CSV.

Examples:

    aquaflow results list --sample fc_run_0517 --label copepod
    aquaflow results list --bucket plankton-flowcam --prefix 2024/ --limit 0 --format csv -o results.csv
    aquaflow results show 0f3c9a6e1b2d4c5f8a7e6d5c4b3a2f1e
    aquaflow results crop 0f3c9a6e1b2d4c5f8a7e6d5c4b3a2f1e 0 -o particle.png
    aquaflow results failures --bucket plankton-flowcam --json
""",
)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table (for people), json or csv")]
OutputOption = Annotated[Path | None, typer.Option("--output", "-o", help="write to this file instead of stdout")]
JsonOption = Annotated[bool, typer.Option("--json", help="the same as --format json")]
LimitOption = Annotated[int, typer.Option(help="at most this many (0: every one)")]


def emit(
    rows: list[dict[str, Any]],
    *,
    documents: list[dict[str, Any]],
    columns: tuple[str, ...],
    shown: tuple[str, ...],
    fmt: Format,
    target: Path | None,
    title: str,
) -> None:
    """Write JSON documents or CSV rows (every column) to ``target`` or stdout, or a table of the ``shown`` ones."""
    if fmt is Format.TABLE and target is None:
        cells = [[_cell(r.get(c)) for c in shown] for r in rows]
        output.out().print(output.table(title, shown, cells))
        return
    text = to_json(documents) if fmt is Format.JSON else to_csv(rows, columns)
    if target is None:
        typer.echo(text, nl=False)
    else:
        target.write_text(text, encoding="utf-8")
        output.err().print(f"wrote {len(rows)} rows to {target}")


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.3f}"
    return output.shorten(value, 60) if isinstance(value, str) else value


@results_app.command("list")
@output.reports_errors
def list_results(
    ctx: typer.Context,
    *,
    bucket: Annotated[str | None, typer.Option(help="the input bucket")] = None,
    prefix: Annotated[str | None, typer.Option(help="object keys starting with this")] = None,
    key: Annotated[str | None, typer.Option(help="one object key")] = None,
    profile: Annotated[str | None, typer.Option(help="flowcam, zooscan, obsea, litter")] = None,
    model: Annotated[str | None, typer.Option(help="the model that produced it")] = None,
    sample: Annotated[str | None, typer.Option(help="the sample id")] = None,
    label: Annotated[str | None, typer.Option(help="results with an object predicted as this")] = None,
    correlation_id: Annotated[str | None, typer.Option(help="the upload's correlation id")] = None,
    since: Annotated[datetime | None, typer.Option(help="stored after this time (ISO 8601, UTC if naive)")] = None,
    until: Annotated[datetime | None, typer.Option(help="stored before this time")] = None,
    limit: LimitOption = 100,
    fmt: FormatOption = Format.TABLE,
    target: OutputOption = None,
    json_output: JsonOption = False,
) -> None:
    """Results that match every filter given, oldest first."""
    params = {
        "bucket": bucket,
        "prefix": prefix,
        "key": key,
        "profile": profile,
        "model": model,
        "sample_id": sample,
        "label": label,
        "correlation_id": correlation_id,
        "stored_after": since.isoformat() if since else None,
        "stored_before": until.isoformat() if until else None,
    }
    settings = settings_of(ctx)

    async def read() -> list[dict[str, Any]]:
        async with results_api(settings) as api:
            return await api.all_items("/results", params, limit or None)

    found = asyncio.run(read())
    fmt = Format.JSON if json_output else fmt
    emit(
        [result_row(r) for r in found],
        documents=found,
        columns=RESULT_COLUMNS,
        shown=RESULT_TABLE,
        fmt=fmt,
        target=target,
        title=f"{len(found)} results",
    )


@results_app.command("show")
@output.reports_errors
def show(
    ctx: typer.Context,
    *,
    result_id: Annotated[str, typer.Argument(help="the result id")],
    json_output: Annotated[
        bool, typer.Option("--json", help="accepted for scripts: the output is JSON either way")
    ] = False,
) -> None:
    """One result document, every field (docs/results.md), as JSON."""
    settings = settings_of(ctx)

    async def read() -> Any:
        async with results_api(settings) as api:
            return await api.get(f"/results/{result_id}")

    output.print_json(asyncio.run(read()))


@results_app.command("crop")
@output.reports_errors
def crop(
    ctx: typer.Context,
    *,
    result_id: Annotated[str, typer.Argument(help="the result id")],
    index: Annotated[int, typer.Argument(help="the object's index in the result (0 for a particle)")],
    target: Annotated[Path, typer.Option("--output", "-o", help="the PNG file to write")],
    json_output: JsonOption = False,
) -> None:
    """The PNG crop of one object of a result."""
    settings = settings_of(ctx)

    async def read() -> int:
        async with results_api(settings) as api:
            return await api.download(f"/results/{result_id}/objects/{index}/crop.png", target)

    written = asyncio.run(read())
    if json_output:
        output.print_json({"result_id": result_id, "index": index, "path": str(target), "bytes": written})
    else:
        output.err().print(f"wrote {written} bytes to {target}")


@results_app.command("failures")
@output.reports_errors
def failures(
    ctx: typer.Context,
    *,
    bucket: Annotated[str | None, typer.Option(help="the input bucket")] = None,
    prefix: Annotated[str | None, typer.Option(help="object keys starting with this")] = None,
    stage: Annotated[str | None, typer.Option(help="the stage that dead-lettered it")] = None,
    code: Annotated[str | None, typer.Option(help="its error code")] = None,
    sample: Annotated[str | None, typer.Option(help="the sample id")] = None,
    limit: LimitOption = 100,
    fmt: FormatOption = Format.TABLE,
    target: OutputOption = None,
    json_output: JsonOption = False,
) -> None:
    """Uploads that failed (dead letters the results service recorded) and have no result since."""
    params = {"bucket": bucket, "prefix": prefix, "stage": stage, "code": code, "sample_id": sample}
    settings = settings_of(ctx)

    async def read() -> list[dict[str, Any]]:
        async with results_api(settings) as api:
            return await api.all_items("/failures", params, limit or None)

    found = asyncio.run(read())
    fmt = Format.JSON if json_output else fmt
    emit(
        [failure_row(f) for f in found],
        documents=found,
        columns=FAILURE_COLUMNS,
        shown=FAILURE_TABLE,
        fmt=fmt,
        target=target,
        title=f"{len(found)} failed uploads",
    )
