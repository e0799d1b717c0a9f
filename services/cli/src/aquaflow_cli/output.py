"""Where output goes: tables and summaries to stdout, progress and errors to stderr, ``--json`` for scripts."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aquaflow_cli.errors import CliError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Watch:
    """How a command follows work to its end: for how long, how often it looks, and whether it shows progress."""

    timeout: float
    interval: float
    quiet: bool
    enabled: bool = True


def out() -> Console:
    # Made on each use, so output follows sys.stdout wherever it points now (a pipe, a test).
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def err() -> Console:
    return Console(file=sys.stderr, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    shown = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        # Ids and keys are copied into the next command: they are never broken over lines.
        whole = column in ("id", "ref", "key")
        shown.add_column(column, overflow="fold", no_wrap=whole)
    for row in rows:
        shown.add_row(*("" if cell is None else str(cell) for cell in row))
    return shown


def progress(*, quiet: bool) -> Progress:
    """A progress display on stderr; ``quiet`` (``--json``) shows none."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err(),
        disable=quiet,
        transient=False,
    )


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A ``CliError`` ends the command with its message and exit code, without a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as error:
            err().print(f"[red]error:[/red] {error.message}")
            raise typer.Exit(int(error.code)) from error

    return run


def shorten(text: str | None, width: int = 70) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"
