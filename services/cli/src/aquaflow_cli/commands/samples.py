"""``aquaflow samples list|show|export|close|push``: samples, their aggregates and their EcoTaxa packages."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from aquaflow_cli import output
from aquaflow_cli.commands.results import Format, FormatOption, JsonOption, LimitOption, OutputOption, emit
from aquaflow_cli.context import results_api, settings_of
from aquaflow_cli.errors import CliError, Exit
from aquaflow_cli.exports import RESULT_COLUMNS, SAMPLE_COLUMNS, SAMPLE_TABLE, result_row, sample_row, to_csv, to_json

samples_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="""Samples (a FlowCam run, a ZooScan scan, a UVP cast): aggregates, push state, exports.

Examples:

    aquaflow samples list
    aquaflow samples show fc_run_0517 --json
    aquaflow samples export fc_run_0517 --format ecotaxa -o fc_run_0517.zip
    aquaflow samples export fc_run_0517 --format csv -o fc_run_0517.csv
    aquaflow samples close m106_mn01_n1
""",
)


class ExportFormat(StrEnum):
    ECOTAXA = "ecotaxa"
    JSON = "json"
    CSV = "csv"


def _read(ctx: typer.Context, path: str, method: str = "GET") -> Any:
    settings = settings_of(ctx)

    async def call() -> Any:
        async with results_api(settings) as api:
            return await (api.get(path) if method == "GET" else api.post(path))

    return asyncio.run(call())


@samples_app.command("list")
@output.reports_errors
def list_samples(
    ctx: typer.Context,
    *,
    limit: LimitOption = 100,
    fmt: FormatOption = Format.TABLE,
    target: OutputOption = None,
    json_output: JsonOption = False,
) -> None:
    """The tenant's samples by id: uploads processed, failed and expected, top classes, push state."""
    settings = settings_of(ctx)

    async def read() -> list[dict[str, Any]]:
        async with results_api(settings) as api:
            return await api.all_items("/samples", None, limit or None)

    found = asyncio.run(read())
    fmt = Format.JSON if json_output else fmt
    emit(
        [sample_row(s) for s in found],
        documents=found,
        columns=SAMPLE_COLUMNS,
        shown=SAMPLE_TABLE,
        fmt=fmt,
        target=target,
        title=f"{len(found)} samples",
    )


@samples_app.command("show")
@output.reports_errors
def show(
    ctx: typer.Context,
    *,
    sample_id: Annotated[str, typer.Argument(help="the sample id")],
    json_output: JsonOption = False,
) -> None:
    """One sample: metadata, aggregates (counts, sizes, abundance) and EcoTaxa push state."""
    sample = _read(ctx, f"/samples/{sample_id}")
    if json_output:
        output.print_json(sample)
        return
    row = sample_row(sample)
    console = output.out()
    console.print(output.table(f"sample {sample_id}", ("field", "value"), list(row.items())))
    counts = sample.get("counts") or {}
    if counts:
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        console.print(output.table("predicted objects", ("label", "objects"), ranked))


@samples_app.command("export")
@output.reports_errors
def export(
    ctx: typer.Context,
    *,
    sample_id: Annotated[str, typer.Argument(help="the sample id")],
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="ecotaxa (the import package, a zip), json or csv")
    ] = ExportFormat.ECOTAXA,
    target: OutputOption = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="say what was written as JSON (with --output or ecotaxa)")
    ] = False,
) -> None:
    """A sample's EcoTaxa import package (TSV and crops in one zip), or the sample and its results as JSON or CSV."""
    settings = settings_of(ctx)
    if fmt is ExportFormat.ECOTAXA:
        if target is None:
            target = Path(f"ecotaxa_{sample_id}.zip")

        async def download() -> int:
            async with results_api(settings) as api:
                return await api.download(f"/samples/{sample_id}/ecotaxa.zip", target)

        written = asyncio.run(download())
        _wrote(json_output, sample_id, target, bytes=written, format="ecotaxa")
        return

    async def read() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        async with results_api(settings) as api:
            sample = await api.get(f"/samples/{sample_id}")
            return sample, await api.all_items("/results", {"sample_id": sample_id})

    sample, results = asyncio.run(read())
    if fmt is ExportFormat.JSON:
        text = to_json([sample | {"results": results}])
    else:
        text = to_csv([result_row(r) for r in results], RESULT_COLUMNS)
    if target is None:
        typer.echo(text, nl=False)
    else:
        target.write_text(text, encoding="utf-8")
        _wrote(json_output, sample_id, target, results=len(results), format=fmt.value)


def _wrote(json_output: bool, sample_id: str, target: Path, **figures: Any) -> None:
    if json_output:
        output.print_json({"sample_id": sample_id, "path": str(target), **figures})
    else:
        shown = ", ".join(f"{k} {v}" for k, v in figures.items())
        output.err().print(f"wrote sample {sample_id} to {target} ({shown})")


@samples_app.command("close")
@output.reports_errors
def close(
    ctx: typer.Context,
    *,
    sample_id: Annotated[str, typer.Argument(help="the sample id")],
    json_output: JsonOption = False,
) -> None:
    """Declare the sample finished (no more uploads expected); this asks for its EcoTaxa push."""
    sample = _read(ctx, f"/samples/{sample_id}/close", "POST")
    _said(sample, json_output, "closed")


@samples_app.command("push")
@output.reports_errors
def push(
    ctx: typer.Context,
    *,
    sample_id: Annotated[str, typer.Argument(help="the sample id")],
    json_output: JsonOption = False,
) -> None:
    """Ask for the sample's EcoTaxa push now (pushing again adds no object)."""
    sample = _read(ctx, f"/samples/{sample_id}/push", "POST")
    _said(sample, json_output, "push requested")


def _said(sample: dict[str, Any], json_output: bool, what: str) -> None:
    if not isinstance(sample, dict):
        raise CliError("the results API answered something that is not a sample", Exit.UNREACHABLE)
    if json_output:
        output.print_json(sample)
        return
    push_state = (sample.get("push") or {}).get("state")
    output.out().print(f"sample {sample['sample_id']}: {what}; push state: {push_state or 'none'}")
