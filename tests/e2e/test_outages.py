"""Each fault of the fault run, small and fast: the whole stack as processes, one fault at a time.

S3 unreachable, Triton unreachable, MongoDB killed, every service SIGKILLed, RabbitMQ
restarted. After each, every upload has exactly one stored result, nothing is a dead
letter, and every service is healthy again without a manual restart.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from aquaflow_devstack.observe import take_dead_letters
from aquaflow_devstack.rabbitmq import delete_topology
from aquaflow_devstack.samples import real_images
from aquaflow_devstack.stack import NativeStack, StackConfig
from tests.support.polling import eventually
from tests.support.rabbit import RABBIT_URL, ensure_rabbitmq, unique_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.triton]

BUCKET = "plankton-flowcam"
PER_FAULT = 12


@pytest.fixture(scope="module")
def stack(triton: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeStack]:
    ensure_rabbitmq()
    config = StackConfig(
        prefix=unique_prefix("outage"),
        workdir=tmp_path_factory.mktemp("outages"),
        buckets={BUCKET: "lov"},
        broker_url=RABBIT_URL,
        triton_grpc_url=triton.grpc_url,
        cuttable=True,
        extra_env={
            "AQUAFLOW_BROKER_OUTAGE_PROBE_SECONDS": "0.25",
            "AQUAFLOW_BROKER_OUTAGE_PROBE_MAX_SECONDS": "1",
            "AQUAFLOW_BROKER_RETRY_BACKOFF_SECONDS": "0.2",
            "AQUAFLOW_BROKER_RETRY_BACKOFF_MAX_SECONDS": "1",
        },
    )
    with NativeStack(config) as running:
        yield running
    asyncio.run(delete_topology(config.broker_url, config.prefix, config.models))


def images() -> list[Path]:
    return [s.path for s in real_images() if not s.corrupt and s.key.startswith(("images/", "import_sparse/"))]


async def upload(stack: NativeStack, fault: str) -> list[str]:
    """PER_FAULT uploads under ``<fault>/``, each announced twice (a replayed notification)."""
    keys = [f"{fault}/{i:03d}-{path.name}" for i, path in enumerate(images()[:PER_FAULT])]
    events = [stack.upload(BUCKET, key, path.read_bytes()) for key, path in zip(keys, images(), strict=False)]
    await stack.notify(events + events)
    return keys


def stored_per_key(stack: NativeStack, fault: str) -> Counter[str]:
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongodb_url, serverSelectionTimeoutMS=2000)
    try:
        found = client["aquaflow"]["results"].find({"object.key": {"$regex": f"^{fault}/"}}, {"object.key": 1})
        return Counter(doc["object"]["key"] for doc in found)
    except Exception:  # noqa: BLE001 - MongoDB may be the part that is down right now
        return Counter()
    finally:
        client.close()


async def every_upload_stored_once(stack: NativeStack, fault: str, keys: list[str], timeout: float = 90) -> None:
    found = await eventually(
        lambda: asyncio.to_thread(stored_per_key, stack, fault), until=lambda c: set(c) >= set(keys), timeout=timeout
    )
    assert all(found[k] == 1 for k in keys), found
    dead = await take_dead_letters(stack.config.broker_url, stack.topology.dead_letter_queue.name)
    assert dead == [], dead
    for service in stack.services.values():
        await asyncio.to_thread(service.wait_healthy, 60)


async def paused_on(stack: NativeStack, service: str, dependency: str) -> None:
    """Wait until ``service`` reports a consumer paused on ``dependency`` (its metrics, then its health)."""
    base = stack.services[service].base_url

    def paused() -> bool:
        try:
            metrics = httpx.get(f"{base}/metrics", timeout=2).text
            health = httpx.get(f"{base}/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        gauge = re.search(rf'aquaflow_consumer_paused{{dependency="{dependency}",stage="[^"]+"}} 1\.0', metrics)
        return gauge is not None and any(k.startswith("consuming.") and v is False for k, v in health.items())

    await eventually(lambda: asyncio.to_thread(paused), until=bool, timeout=60)


async def test_s3_unreachable_pauses_and_loses_nothing(stack: NativeStack) -> None:
    assert stack.s3_proxy is not None
    keys = await upload(stack, "s3-outage")
    stack.s3_proxy.cut()
    try:
        await paused_on(stack, "inference-plankton_classifier", "s3")
        # A worker (re)started while S3 is down starts paused instead of failing its start-up.
        await asyncio.to_thread(stack.restart, "inference-plankton_classifier", kill=True, wait=False)
        await paused_on(stack, "inference-plankton_classifier", "s3")
    finally:
        stack.s3_proxy.restore()
    await every_upload_stored_once(stack, "s3-outage", keys)


async def test_triton_unreachable_pauses_and_loses_nothing(stack: NativeStack) -> None:
    assert stack.triton_proxy is not None
    stack.triton_proxy.cut()
    try:
        keys = await upload(stack, "triton-outage")
        await paused_on(stack, "inference-plankton_classifier", "triton")
    finally:
        stack.triton_proxy.restore()
    await every_upload_stored_once(stack, "triton-outage", keys)


async def test_mongodb_killed_and_restarted_loses_nothing(stack: NativeStack) -> None:
    await asyncio.to_thread(stack.kill_mongo)
    try:
        keys = await upload(stack, "mongo-crash")
        await paused_on(stack, "results", "mongodb")
    finally:
        await asyncio.to_thread(stack.start_mongo_again)
    await every_upload_stored_once(stack, "mongo-crash", keys)


async def test_every_service_sigkilled_mid_flow_loses_nothing(stack: NativeStack) -> None:
    keys = await upload(stack, "sigkill")
    for name in list(stack.services):
        await asyncio.to_thread(stack.restart, name, kill=True, wait=False)
    await every_upload_stored_once(stack, "sigkill", keys)


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="restarting RabbitMQ needs rabbitmqctl on this machine")
async def test_rabbitmq_restarted_mid_flow_loses_nothing(stack: NativeStack) -> None:
    keys = await upload(stack, "broker-restart")
    await asyncio.to_thread(_rabbitmqctl, "stop_app")
    try:
        await asyncio.sleep(1)  # the outage itself: the broker is down for this long
    finally:
        await asyncio.to_thread(_rabbitmqctl, "start_app")
        await asyncio.to_thread(_rabbitmqctl, "await_startup")
    await every_upload_stored_once(stack, "broker-restart", keys, timeout=120)


def _rabbitmqctl(command: str) -> None:
    subprocess.run(["rabbitmqctl", command], check=True, capture_output=True, timeout=120)
