"""``aquaflow``: the command line for people at a terminal (``aquaflow --help``).

One console script over the services' HTTP APIs, S3 and the broker. Settings come from
the environment (``aquaflow_cli.settings``) and the root command's flags; every command
has ``--help`` with examples and ``--json`` for scripts.
"""

from __future__ import annotations

from typing import Annotated

import typer

from aquaflow_cli import output
from aquaflow_cli.commands.batch import batch_app
from aquaflow_cli.commands.dlq import dlq_app
from aquaflow_cli.commands.results import results_app
from aquaflow_cli.commands.samples import samples_app
from aquaflow_cli.commands.status import HELP as STATUS_HELP
from aquaflow_cli.commands.status import status
from aquaflow_cli.commands.upload import HELP as UPLOAD_HELP
from aquaflow_cli.commands.upload import upload
from aquaflow_cli.context import load_settings

app = typer.Typer(
    name="aquaflow",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    help="""aquaflow from a terminal: upload and follow, batches, status, dead letters, results, samples.

Settings come from the environment: `AQUAFLOW_CLI_RESULTS_URL` and `AQUAFLOW_CLI_RESULTS_TOKEN`
(the tenant's results API token), `AQUAFLOW_CLI_INGEST_URL`, `AQUAFLOW_CLI_ROUTER_URL`,
`AQUAFLOW_CLI_INFERENCE_URLS`, `AQUAFLOW_CLI_TRITON_URL`, and the services' own
`AQUAFLOW_BROKER_*` and `AQUAFLOW_S3_*` (docs/cli.md).

Examples:

    aquaflow upload ./run_0517 --bucket plankton-flowcam --sample fc_run_0517
    aquaflow status
    aquaflow batch s3://plankton-flowcam/2024/
    aquaflow dlq list --stage inference
    aquaflow samples export fc_run_0517 --format ecotaxa
""",
)


@app.callback()
@output.reports_errors
def root(
    ctx: typer.Context,
    results_url: Annotated[str | None, typer.Option(help="the results API (AQUAFLOW_CLI_RESULTS_URL)")] = None,
    token: Annotated[
        str | None, typer.Option(help="the tenant's results API token (AQUAFLOW_CLI_RESULTS_TOKEN)", show_default=False)
    ] = None,
    broker_prefix: Annotated[str | None, typer.Option(help="the broker's name prefix (AQUAFLOW_BROKER_PREFIX)")] = None,
) -> None:
    ctx.obj = load_settings(results_url, token, broker_prefix)


app.command("upload", help=UPLOAD_HELP)(output.reports_errors(upload))
app.command("status", help=STATUS_HELP)(output.reports_errors(status))
app.add_typer(batch_app, name="batch")
app.add_typer(dlq_app, name="dlq")
app.add_typer(results_app, name="results")
app.add_typer(samples_app, name="samples")


def run() -> None:
    app()
