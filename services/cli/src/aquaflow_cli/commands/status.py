"""``aquaflow status``: every stage's backlog, consumers, rate and dead letters; every service's health."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer

from aquaflow_cli import output, probes
from aquaflow_cli.broker import BrokerClient
from aquaflow_cli.context import settings_of
from aquaflow_cli.errors import Exit
from aquaflow_cli.settings import CliSettings
from aquaflow_cli.status_report import (
    MetricSample,
    QueueFigures,
    ServiceHealth,
    StageRow,
    problems,
    rates,
    settled_by_stage,
    stage_rows,
    triton_models,
)
from aquaflow_shared.batches import BATCH_STAGE
from aquaflow_shared.broker import topology_of
from aquaflow_shared.topology import UNROUTABLE_STAGE

HELP = """Every stage's backlog, consumers, rate and dead letters, and the health of every part.

Per stage (one per model for inference): messages waiting in its queue and in its retry
queue, its consumers, the messages it settled per second over --interval (from the
services' /metrics), its dead letters by code since its service started, and the
dependency it is paused on. Then each service's /health, Triton's readiness and its
per-model batching, and the dead-letter queue's depth.

Exit code: 0 all healthy, 1 something needs a look (listed at the end), 4 the broker
cannot be reached.

Examples:

    aquaflow status
    aquaflow status --model fish_detector --interval 5
    aquaflow status --json | jq '.stages[] | select(.backlog > 0)'
"""

RESULTS_STAGES = ["results", "results.samples", "results.failures", "results.dead-letters"]


def stages_of(models: list[str]) -> list[str]:
    return ["ingest", BATCH_STAGE, "router", *(f"inference.{m}" for m in models), *RESULTS_STAGES, UNROUTABLE_STAGE]


@dataclass(frozen=True)
class Snapshot:
    services: list[ServiceHealth]
    triton: ServiceHealth
    rows: list[StageRow]
    triton_models: dict[str, dict[str, float]]
    dead_letter_queue: QueueFigures

    def as_dict(self, interval: float) -> dict[str, Any]:
        found = problems(self.services, self.triton, self.rows)
        return {
            "healthy": not found,
            "problems": found,
            "services": [s.as_dict() for s in self.services],
            "triton": self.triton.as_dict() | {"models": self.triton_models},
            "stages": [r.as_dict() for r in self.rows],
            "dead_letter_queue": {"queue": self.dead_letter_queue.name, "messages": self.dead_letter_queue.messages},
            "rate_interval_seconds": interval,
        }


def status(
    ctx: typer.Context,
    *,
    models: Annotated[
        list[str] | None, typer.Option("--model", help="models to show besides AQUAFLOW_CLI_INFERENCE_URLS'")
    ] = None,
    interval: Annotated[float, typer.Option(help="seconds between the two reads the rates come from")] = 2.0,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    settings = settings_of(ctx)
    served = sorted(set(settings.inference_urls) | set(models or []))
    snapshot = asyncio.run(_snapshot(settings, served, interval))
    report = snapshot.as_dict(interval)
    if json_output:
        output.print_json(report)
    else:
        _print(snapshot, report)
    raise typer.Exit(int(Exit.OK if report["healthy"] else Exit.FAILED))


def _service_urls(settings: CliSettings) -> dict[str, str | None]:
    urls: dict[str, str | None] = {"ingest": settings.ingest_url, "router": settings.router_url}
    urls |= {f"inference-{m}": url for m, url in sorted(settings.inference_urls.items())}
    return urls | {"results": settings.results_url}


async def _counters(client: httpx.AsyncClient, urls: dict[str, str | None]) -> list[MetricSample]:
    read = await asyncio.gather(*(probes.metrics(client, url) for url in urls.values()))
    return [sample for samples in read if samples for sample in samples]


async def _snapshot(settings: CliSettings, models: list[str], interval: float) -> Snapshot:
    topology = topology_of(settings.broker)
    stages = stages_of(models)
    urls = _service_urls(settings)
    async with httpx.AsyncClient(timeout=settings.http_timeout_seconds) as client:
        started = time.monotonic()
        before = await _counters(client, urls)
        async with BrokerClient(settings.broker) as broker:
            queues = {s: await broker.queue_figures(topology.work_queue_name(s)) for s in stages}
            retries = {s: await broker.queue_figures(topology.retry_queue(s).name) for s in stages}
            dead = await broker.queue_figures(topology.dead_letter_queue.name)
        services = list(await asyncio.gather(*(probes.service_health(client, n, u) for n, u in urls.items())))
        triton = await probes.triton_health(client, settings.triton_url)
        triton_samples = await probes.metrics(client, settings.triton_metrics_url) or []
        await asyncio.sleep(max(interval - (time.monotonic() - started), 0.0))
        after = await _counters(client, urls)
        elapsed = time.monotonic() - started
    stage_rates = rates(settled_by_stage(before), settled_by_stage(after), elapsed) if before or after else None
    return Snapshot(
        services, triton, stage_rows(stages, queues, retries, stage_rates, after), triton_models(triton_samples), dead
    )


def _print(snapshot: Snapshot, report: dict[str, Any]) -> None:
    console = output.out()
    health = [
        (s.name, _yes(s.healthy), s.url or "", s.error or ", ".join(k for k, v in s.checks.items() if v is False))
        for s in [*snapshot.services, snapshot.triton]
    ]
    console.print(output.table("services", ("service", "healthy", "address", "problem"), health))
    rows = [
        (
            r.stage,
            r.queue.messages if r.queue.exists else "no queue",
            r.retry.messages,
            r.queue.consumers,
            "?" if r.rate_per_second is None else f"{r.rate_per_second:.1f}",
            ", ".join(f"{code} {n:g}" for code, n in sorted(r.dead_letters.items())),
            ", ".join(r.paused_on),
        )
        for r in snapshot.rows
    ]
    console.print(
        output.table(
            "stages", ("stage", "backlog", "retrying", "consumers", "msg/s", "dead letters", "paused on"), rows
        )
    )
    if snapshot.triton_models:
        models = [
            (m, f"{f['requests']:g}", f"{f['inferences']:g}", f"{f['average_batch']:g}", f"{f['pending']:g}")
            for m, f in sorted(snapshot.triton_models.items())
        ]
        console.print(output.table("triton", ("model", "requests", "inferences", "avg batch", "pending"), models))
    console.print(
        f"dead-letter queue {snapshot.dead_letter_queue.name}: {snapshot.dead_letter_queue.messages} messages"
    )
    for problem in report["problems"]:
        console.print(f"[yellow]! {problem}[/yellow]")
    if report["healthy"]:
        console.print("[green]all healthy[/green]")


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "?"}[value]
