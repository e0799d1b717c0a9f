"""The settings every command reads: the environment, with the root command's flags on top."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import SecretStr, ValidationError

from aquaflow_cli.errors import CliError, Exit
from aquaflow_cli.results_api import ResultsApi
from aquaflow_cli.settings import CliSettings


def load_settings(results_url: str | None, token: str | None, broker_prefix: str | None) -> CliSettings:
    try:
        settings = CliSettings()
    except ValidationError as error:
        raise CliError(f"the environment does not configure the command line: {error}", Exit.USAGE) from error
    changes: dict[str, Any] = {}
    if results_url is not None:
        changes["results_url"] = results_url
    if token is not None:
        changes["results_token"] = SecretStr(token)
    if broker_prefix is not None:
        changes["broker"] = settings.broker.model_copy(update={"prefix": broker_prefix})
    return settings.model_copy(update=changes)


def settings_of(ctx: typer.Context) -> CliSettings:
    found = ctx.find_root().obj
    if not isinstance(found, CliSettings):
        raise CliError("settings were not loaded", Exit.USAGE)
    return found


def results_api(settings: CliSettings) -> ResultsApi:
    return ResultsApi(settings.results_url, settings.results_token, settings.http_timeout_seconds)
