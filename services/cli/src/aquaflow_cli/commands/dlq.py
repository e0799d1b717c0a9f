"""``aquaflow dlq list|show|replay|purge``: read and settle the dead-letter queue, with filters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from aquaflow_cli import output
from aquaflow_cli.broker import BrokerClient, Held, Outgoing
from aquaflow_cli.context import settings_of
from aquaflow_cli.dead_letters import DeadLetterView, NotReplayable, describe, replay_headers, replay_target
from aquaflow_cli.dlq_filters import DeadLetterFilter, format_age, parse_age
from aquaflow_cli.errors import CliError, Exit
from aquaflow_cli.settings import CliSettings
from aquaflow_shared.broker import topology_of

DEFAULT_MAX = 10_000

dlq_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="""Read, replay and purge dead letters (`<prefix>.dead-letter`), with filters.

Each command takes every dead letter in the queue when it starts (at most --max), holding
them unacknowledged so none can be lost, acts on those that match the filters, and hands
the others back in the order they were in. Letters that arrive meanwhile are not taken.

Filters: --stage (inference matches every model's inference stage), --code, --tenant,
--older-than / --newer-than (90s, 15m, 2h, 7d), --id (message id, or the ref `list` shows),
--key (object keys starting with this). Repeat an option to match any of its values.

Examples:

    aquaflow dlq list --stage inference --newer-than 1h
    aquaflow dlq show 5b0e2c0a8d3f4e1c9a7b6d5e4f3a2b1c
    aquaflow dlq replay --stage inference.plankton_classifier --code dependency_unavailable
    aquaflow dlq purge --code unroutable --older-than 7d --yes
""",
)

Stages = Annotated[list[str] | None, typer.Option("--stage", help="the stage it failed in")]
Codes = Annotated[list[str] | None, typer.Option("--code", help="its error code")]
Tenants = Annotated[list[str] | None, typer.Option("--tenant", help="its tenant")]
OlderThan = Annotated[str | None, typer.Option(help="dead-lettered at least this long ago")]
NewerThan = Annotated[str | None, typer.Option(help="dead-lettered at most this long ago")]
Refs = Annotated[list[str] | None, typer.Option("--id", help="its message id, or the ref `list` shows")]
KeyPrefix = Annotated[str | None, typer.Option("--key", help="object keys starting with this")]
Max = Annotated[int, typer.Option(help="take at most this many dead letters")]
JsonOutput = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@dataclass(frozen=True)
class FilterOptions:
    stage: list[str] | None
    code: list[str] | None
    tenant: list[str] | None
    older_than: str | None
    newer_than: str | None
    ids: list[str] | None
    key: str | None

    def build(self) -> DeadLetterFilter:
        return DeadLetterFilter(
            stages=tuple(self.stage or ()),
            codes=tuple(self.code or ()),
            tenants=tuple(self.tenant or ()),
            older_than=parse_age(self.older_than) if self.older_than else None,
            newer_than=parse_age(self.newer_than) if self.newer_than else None,
            refs=tuple(self.ids or ()),
            key_prefix=self.key,
        )


Act = Callable[[BrokerClient, list[tuple[Held, DeadLetterView]], list[DeadLetterView]], Awaitable[Any]]


async def _pass(settings: CliSettings, chosen: DeadLetterFilter, limit: int, act: Act) -> Any:
    """One pass over the queue: take, describe, match, let ``act`` settle the matching ones."""
    queue = topology_of(settings.broker).dead_letter_queue.name
    now = datetime.now(UTC)
    async with BrokerClient(settings.broker) as broker, broker.dead_letter_pass(queue, limit) as held:
        views = [describe(position, letter.raw) for position, letter in enumerate(held, start=1)]
        matching = [(h, v) for h, v in zip(held, views, strict=True) if chosen.matches(v, now)]
        return await act(broker, matching, views)


def _rows(views: list[DeadLetterView], now: datetime) -> list[tuple[Any, ...]]:
    return [
        (
            v.position,
            v.ref,
            _age(v.age_seconds(now)),
            v.stage,
            v.code,
            v.tenant,
            v.key,
            output.shorten(v.reason, 60),
        )
        for v in views
    ]


def _age(seconds: float | None) -> str:
    return "?" if seconds is None else format_age(seconds)


COLUMNS = ("#", "ref", "age", "stage", "code", "tenant", "key", "reason")


@dlq_app.command("list")
@output.reports_errors
def list_letters(
    ctx: typer.Context,
    *,
    stage: Stages = None,
    code: Codes = None,
    tenant: Tenants = None,
    older_than: OlderThan = None,
    newer_than: NewerThan = None,
    ids: Refs = None,
    key: KeyPrefix = None,
    limit: Max = DEFAULT_MAX,
    json_output: JsonOutput = False,
) -> None:
    """The dead letters that match, in queue order; nothing is removed."""
    chosen = FilterOptions(stage, code, tenant, older_than, newer_than, ids, key).build()

    async def act(
        broker: BrokerClient, matching: list[tuple[Held, DeadLetterView]], every: list[DeadLetterView]
    ) -> Any:
        return [v for _, v in matching], len(every)

    found, examined = asyncio.run(_pass(settings_of(ctx), chosen, limit, act))
    if json_output:
        output.print_json({"examined": examined, "matching": [v.summary() for v in found]})
        return
    title = f"{len(found)} of {examined} dead letters ({chosen.describe()})"
    output.out().print(output.table(title, COLUMNS, _rows(found, datetime.now(UTC))))


@dlq_app.command("show")
@output.reports_errors
def show(
    ctx: typer.Context,
    *,
    ref: Annotated[str, typer.Argument(help="a message id, or the ref `dlq list` shows")],
    limit: Max = DEFAULT_MAX,
    json_output: Annotated[
        bool, typer.Option("--json", help="accepted for scripts: the output is JSON either way")
    ] = False,
) -> None:
    """One dead letter with its headers and body (JSON); nothing is removed."""
    chosen = DeadLetterFilter(refs=(ref,))

    async def act(
        broker: BrokerClient, matching: list[tuple[Held, DeadLetterView]], every: list[DeadLetterView]
    ) -> Any:
        return [v.detail() for _, v in matching]

    found = asyncio.run(_pass(settings_of(ctx), chosen, limit, act))
    if not found:
        raise CliError(f"no dead letter {ref!r} in the queue", Exit.FAILED)
    output.print_json(found[0] if len(found) == 1 else found)


@dlq_app.command("replay")
@output.reports_errors
def replay(
    ctx: typer.Context,
    *,
    stage: Stages = None,
    code: Codes = None,
    tenant: Tenants = None,
    older_than: OlderThan = None,
    newer_than: NewerThan = None,
    ids: Refs = None,
    key: KeyPrefix = None,
    every: Annotated[bool, typer.Option("--all", help="replay every dead letter (no filter given)")] = False,
    dry_run: Annotated[bool, typer.Option(help="say what would be replayed, and where, and do nothing")] = False,
    limit: Max = DEFAULT_MAX,
    json_output: JsonOutput = False,
) -> None:
    """Put matching dead letters back where they failed, each exactly once.

    Each copy goes to the queue of the stage that dead-lettered it (an unroutable event back
    to the events exchange with its routing key), persistent and confirmed by the broker,
    without the failure's headers, so the stage counts its attempts afresh; only then is
    the dead letter acknowledged. Letters with nowhere to go (an object the sweep refused)
    stay in the queue.
    """
    chosen = FilterOptions(stage, code, tenant, older_than, newer_than, ids, key).build()
    if chosen.is_everything and not every:
        raise CliError("give a filter, or --all to replay every dead letter", Exit.USAGE)
    settings = settings_of(ctx)
    topology = topology_of(settings.broker)

    async def act(
        broker: BrokerClient, matching: list[tuple[Held, DeadLetterView]], every: list[DeadLetterView]
    ) -> Any:
        done: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for held, view in matching:
            try:
                target = replay_target(view, topology)
            except NotReplayable as why:
                kept.append(view.summary() | {"kept_because": str(why)})
                continue
            if not dry_run:
                copy = Outgoing(
                    view.raw.body,
                    message_id=view.message_id,
                    correlation_id=view.raw.correlation_id,
                    content_type=view.raw.content_type,
                    headers=replay_headers(view, now),
                )
                await broker.publish(target.exchange, target.routing_key, copy)
                await broker.ack(held)  # only once the copy is confirmed: never lost, at most duplicated
            done.append(view.summary() | {"to": str(target)})
        return {"examined": len(every), "replayed": done, "kept": kept, "dry_run": dry_run}

    report = asyncio.run(_pass(settings, chosen, limit, act))
    if json_output:
        output.print_json(report)
        return
    console = output.out()
    verb = "would replay" if dry_run else "replayed"
    rows = [(r["position"], r["ref"], r["stage"], r["code"], r["key"], r["to"]) for r in report["replayed"]]
    title = f"{verb} {len(rows)} of {report['examined']} dead letters ({chosen.describe()})"
    console.print(output.table(title, ("#", "ref", "stage", "code", "key", "to"), rows))
    if report["kept"]:
        kept = [(k["position"], k["ref"], k["stage"], k["kept_because"]) for k in report["kept"]]
        console.print(output.table("left in the queue", ("#", "ref", "stage", "why"), kept))


@dlq_app.command("purge")
@output.reports_errors
def purge(
    ctx: typer.Context,
    *,
    stage: Stages = None,
    code: Codes = None,
    tenant: Tenants = None,
    older_than: OlderThan = None,
    newer_than: NewerThan = None,
    ids: Refs = None,
    key: KeyPrefix = None,
    every: Annotated[bool, typer.Option("--all", help="purge every dead letter (no filter given)")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    limit: Max = DEFAULT_MAX,
    json_output: JsonOutput = False,
) -> None:
    """Remove matching dead letters for good, after showing them and asking (unless --yes).

    Exactly the letters shown are removed: they are held while the question is asked, so a
    letter arriving meanwhile is neither shown nor removed.
    """
    chosen = FilterOptions(stage, code, tenant, older_than, newer_than, ids, key).build()
    if chosen.is_everything and not every:
        raise CliError("give a filter, or --all to purge every dead letter", Exit.USAGE)

    async def act(
        broker: BrokerClient, matching: list[tuple[Held, DeadLetterView]], every: list[DeadLetterView]
    ) -> Any:
        views = [v for _, v in matching]
        if not matching:
            return {"examined": len(every), "purged": [], "confirmed": True}
        if not yes:
            console = output.err()
            console.print(output.table(f"{len(views)} dead letters to purge", COLUMNS, _rows(views, datetime.now(UTC))))
            # Asked on a thread: the event loop keeps the broker connection's heartbeats going meanwhile.
            question = f"Purge these {len(views)} dead letters for good?"
            if not await asyncio.to_thread(typer.confirm, question, err=True):
                return {"examined": len(every), "purged": [], "confirmed": False}
        for held, _ in matching:
            await broker.ack(held)
        return {"examined": len(every), "purged": [v.summary() for v in views], "confirmed": True}

    report = asyncio.run(_pass(settings_of(ctx), chosen, limit, act))
    if json_output:
        output.print_json(report)
    elif report["confirmed"]:
        output.out().print(f"purged {len(report['purged'])} of {report['examined']} dead letters ({chosen.describe()})")
    else:
        output.out().print("nothing purged")
    if not report["confirmed"]:
        raise typer.Exit(int(Exit.FAILED))
