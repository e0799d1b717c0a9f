"""`make chaos`: thousands of uploads while every part of the stack fails, then the books are checked.

    python -m aquaflow_devstack.chaos [--uploads 2000] [--out out/chaos] [--quick]

Uploads real images, archives of them, duplicated notifications, lost notifications
(the reconciliation sweep must find them) and planted bad inputs, in waves, while
every service is SIGKILLed and restarted several times, Triton is down for minutes,
S3 is unreachable, MongoDB is killed and RabbitMQ restarted. Then it checks that
every upload has exactly one stored result, every planted bad input is a dead letter
with its expected code and nothing else is, and every service is healthy without a
manual restart. Prints a table, writes ``chaos.json``; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
import uuid
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import aio_pika
from pymongo import MongoClient
from tqdm import tqdm

from aquaflow_devstack.chaos_faults import FaultLog, Faults, Schedule
from aquaflow_devstack.chaos_inputs import FLOWCAM, ZOOSCAN, Upload, UploadPlan, plan_uploads
from aquaflow_devstack.observe import ObservedDeadLetter, take_dead_letters
from aquaflow_devstack.rabbitmq import delete_topology
from aquaflow_devstack.samples import real_images
from aquaflow_devstack.stack import REPO_ROOT, NativeStack, StackConfig

TENANT = "lov"
WAVES = 4
QUICK = Schedule(
    kill_rounds=1,
    kill_every_seconds=4,
    triton_after_seconds=5,
    triton_down_seconds=20,
    s3_after_seconds=8,
    s3_down_seconds=10,
    mongo_after_seconds=12,
    mongo_down_seconds=3,
    rabbit_after_seconds=30,
    rabbit_down_seconds=3,
)


def stack_config(prefix: str, workdir: Path) -> StackConfig:
    return StackConfig(
        prefix=prefix,
        workdir=workdir,
        buckets={FLOWCAM: TENANT, ZOOSCAN: TENANT},
        cuttable=True,
        extra_env={
            "AQUAFLOW_BROKER_OUTAGE_PROBE_SECONDS": "0.5",
            "AQUAFLOW_BROKER_OUTAGE_PROBE_MAX_SECONDS": "5",
            "AQUAFLOW_BROKER_RETRY_BACKOFF_SECONDS": "0.5",
            "AQUAFLOW_BROKER_RETRY_BACKOFF_MAX_SECONDS": "5",
        },
        service_env={"ingest": sweep_env(prefix)},
    )


def sweep_env(prefix: str) -> dict[str, str]:
    """The reconciliation sweep over both buckets, often, so lost notifications are found within the run.

    Claims live in Redis, as they must wherever the sweep runs: a restarted ingest then
    still knows what it announced.
    """
    return {
        "AQUAFLOW_INGEST_DEDUPE_REDIS_URL": os.environ.get("AQUAFLOW_CHAOS_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "AQUAFLOW_INGEST_DEDUPE_KEY_PREFIX": f"{prefix}:claims:",
        "AQUAFLOW_INGEST_RECONCILE_BUCKETS": json.dumps([FLOWCAM, ZOOSCAN]),
        "AQUAFLOW_INGEST_SWEEP_INTERVAL_SECONDS": "5",
        "AQUAFLOW_INGEST_RECONCILE_MIN_AGE_SECONDS": "30",
    }


async def feed(stack: NativeStack, plan: UploadPlan, pause_seconds: float) -> None:
    """Upload and announce in waves, so faults meet work in every state."""
    per_wave = -(-len(plan.uploads) // WAVES)
    for wave in range(WAVES):
        chosen = plan.uploads[wave * per_wave : (wave + 1) * per_wave]
        events = await asyncio.to_thread(_upload_all, stack, chosen)
        await notify_until_sent(stack, events)
        if wave < WAVES - 1:
            await asyncio.sleep(pause_seconds)


def _upload_all(stack: NativeStack, uploads: list[Upload]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for upload in uploads:
        event = stack.upload(upload.bucket, upload.key, upload.body)
        if upload.announce:
            events += [event, event] if upload.duplicate else [event]
    return events


async def notify_until_sent(stack: NativeStack, events: list[dict[str, Any]]) -> None:
    """MinIO keeps events in its queue dir while the broker is down; so do we."""
    while True:
        try:
            await stack.notify(events)
            return
        except (aio_pika.exceptions.AMQPError, OSError, ConnectionError):
            await asyncio.sleep(1)


def expected_results(plan: UploadPlan) -> Counter[tuple[str, str]]:
    wanted: Counter[tuple[str, str]] = Counter((u.bucket, u.key) for u in plan.good)
    for archive in plan.archives:
        for member in archive.members:
            wanted[(archive.bucket, f"archive:{archive.key}:{member}")] += 1
    return wanted


def stored(stack: NativeStack) -> Counter[tuple[str, str]]:
    """Stored results per upload; archive members are counted by their archive and member path."""
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongodb_url, serverSelectionTimeoutMS=3000)
    try:
        found: Counter[tuple[str, str]] = Counter()
        for doc in client["aquaflow"]["results"].find({}, {"object": 1}):
            obj = doc["object"]
            archive = obj.get("archive")
            if archive:
                found[(archive["bucket"], f"archive:{archive['key']}:{archive['member']}")] += 1
            else:
                found[(obj["bucket"], obj["key"])] += 1
        return found
    finally:
        client.close()


async def settle(
    stack: NativeStack, plan: UploadPlan, deadline: float
) -> tuple[Counter[tuple[str, str]], list[ObservedDeadLetter]]:
    wanted = expected_results(plan)
    bad = {(u.bucket, u.key) for u in plan.bad}
    dead: list[ObservedDeadLetter] = []
    found: Counter[tuple[str, str]] = Counter()
    with tqdm(total=len(wanted) + len(bad), desc="uploads settled", unit="upload") as bar:
        while time.monotonic() < deadline:
            try:
                found = await asyncio.to_thread(stored, stack)
                dead += await take_dead_letters(stack.config.broker_url, stack.topology.dead_letter_queue.name)
            except Exception:  # noqa: BLE001 - a part is down right now: look again
                await asyncio.sleep(2)
                continue
            done = sum(1 for k in wanted if found[k]) + len(bad & {(d.bucket, d.key) for d in dead})
            bar.update(done - bar.n)
            if done >= len(wanted) + len(bad):
                break
            await asyncio.sleep(2)
    return found, dead


def verdict(
    plan: UploadPlan, found: Counter[tuple[str, str]], dead: list[ObservedDeadLetter], health: dict[str, bool]
) -> dict[str, Any]:
    wanted = expected_results(plan)
    expected_codes = {(u.bucket, u.key): u.expect_codes for u in plan.bad}
    dead_by_key = {(d.bucket, d.key): d for d in dead}
    missing = sorted(f"{b}/{k}" for b, k in wanted if found[(b, k)] == 0)
    doubled = sorted(f"{b}/{k}" for b, k in wanted if found[(b, k)] > 1)
    bad_missing = sorted(f"{b}/{k}" for b, k in expected_codes if (b, k) not in dead_by_key)
    wrong_code = sorted(
        f"{b}/{k}: {dead_by_key[(b, k)].code}"
        for (b, k), codes in expected_codes.items()
        if (b, k) in dead_by_key and dead_by_key[(b, k)].code not in codes
    )
    unexpected = sorted(
        f"{d.bucket}/{d.key} ({d.stage}, {d.code}): {d.reason[:120]}"
        for d in dead
        if (d.bucket, d.key) not in expected_codes
    )
    checks = {
        "every upload has a stored result": not missing,
        "no upload has two": not doubled,
        "every planted bad input is a dead letter": not bad_missing,
        "each with its expected code": not wrong_code,
        "nothing else is a dead letter": not unexpected,
        "every service healthy without a manual restart": all(health.values()),
    }
    return {
        "checks": checks,
        "missing": missing[:50],
        "doubled": doubled[:50],
        "bad_missing": bad_missing,
        "wrong_code": wrong_code,
        "unexpected_dead_letters": unexpected[:50],
        "health": health,
    }


def print_report(report: dict[str, Any]) -> None:
    print("\nfaults")
    print(f"{'fault':<38} {'at s':>7} {'lasted s':>9}  detail")
    for entry in report["faults"]:
        print(f"{entry['fault']:<38} {entry['at_s']:>7} {entry['lasted_s']:>9}  {entry['detail']}")
    print("\nfigures")
    for name, value in report["figures"].items():
        print(f"{name:<44} {value}")
    print("\nchecks")
    for name, passed in report["verdict"]["checks"].items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    for field_name in ("missing", "doubled", "bad_missing", "wrong_code", "unexpected_dead_letters"):
        for line in report["verdict"][field_name][:10]:
            print(f"      {field_name}: {line}")


async def run(uploads: int, out: Path, schedule: Schedule, settle_seconds: float, wave_pause: float) -> int:
    prefix = f"aquaflow-chaos-{uuid.uuid4().hex[:6]}"
    plan = plan_uploads(real_images(), uploads)
    stack = NativeStack(stack_config(prefix, REPO_ROOT / "build" / "chaos" / prefix))
    stack.start()
    log = FaultLog()
    try:
        began = time.monotonic()
        await asyncio.gather(Faults(stack, schedule, log).run(), feed(stack, plan, wave_pause))
        faults_over = time.monotonic()
        found, dead = await settle(stack, plan, time.monotonic() + settle_seconds)
        settled = time.monotonic()
        for service in stack.services.values():
            await asyncio.to_thread(service.wait_healthy, 120)
        health = {name: service.healthy() for name, service in stack.services.items()}
        report: dict[str, Any] = {
            "prefix": prefix,
            "schedule": asdict(schedule),
            "faults": log.entries,
            "figures": {
                "uploads": len(plan.uploads),
                "real images": len(plan.good),
                "archives (members)": f"{len(plan.archives)} ({sum(len(a.members) for a in plan.archives)})",
                "planted bad inputs": len(plan.bad),
                "duplicated notifications": sum(1 for u in plan.uploads if u.duplicate),
                "lost notifications (found by the sweep)": sum(1 for u in plan.uploads if not u.announce),
                "SIGKILLs per service": dict(log.kills),
                "results stored": sum(found.values()),
                "dead letters": len(dead),
                "seconds under faults": round(faults_over - began, 1),
                "seconds to settle after the faults": round(settled - faults_over, 1),
            },
        }
        report["verdict"] = verdict(plan, found, dead, health)
    finally:
        stack.stop()
        await delete_topology(stack.config.broker_url, prefix, stack.config.models)
    write_report(out, report)
    print_report(report)
    print(f"\nwritten to {out / 'chaos.json'}")
    checks: dict[str, bool] = report["verdict"]["checks"]
    return 0 if all(checks.values()) else 1


def write_report(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "chaos.json").write_text(json.dumps(report, indent=2, default=str) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "chaos")
    parser.add_argument("--quick", action="store_true", help="short outages and one kill round (about 2 minutes)")
    parser.add_argument("--settle", type=float, default=900.0, help="seconds to wait for every upload after the faults")
    parser.add_argument("--triton-down", type=float, default=None, help="seconds Triton stays down (default 300)")
    args = parser.parse_args()
    # moto's S3 server logs every request through werkzeug: keep the progress bar readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    schedule = QUICK if args.quick else Schedule()
    if args.triton_down is not None:
        schedule = replace(schedule, triton_down_seconds=args.triton_down)
    wave_pause = 8.0 if args.quick else 40.0
    raise SystemExit(asyncio.run(run(args.uploads, args.out, schedule, args.settle, wave_pause)))


if __name__ == "__main__":
    main()
