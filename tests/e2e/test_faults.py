"""Fault run (slow, outside the default suite: `make slow`).

Hundreds of uploads flow while the inference worker, the ingest and router services
and results are killed with SIGKILL and restarted.
Afterwards every upload has exactly one stored result and one distinct result event,
and only the planted bad inputs sit in the dead-letter queue.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aquaflow_devstack.observe import ObservedDeadLetter, stored_results, take_dead_letters
from aquaflow_devstack.samples import real_images
from aquaflow_devstack.stack import NativeStack, StackConfig
from aquaflow_shared.settings import BrokerSettings
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = [pytest.mark.e2e, pytest.mark.triton, pytest.mark.slow]

BUCKET = "plankton-flowcam"
UPLOADS = 400


@pytest.fixture
def stack(broker_settings: BrokerSettings, triton: Any, tmp_path: Path) -> Iterator[NativeStack]:
    config = StackConfig(
        prefix=broker_settings.prefix,
        workdir=tmp_path,
        buckets={BUCKET: "lov"},
        broker_url=broker_settings.url.get_secret_value(),
        triton_grpc_url=triton.grpc_url,
        # Small prefetch, so a kill always catches messages in flight.
        extra_env={"AQUAFLOW_INFERENCE_MAX_IN_FLIGHT": "8", "AQUAFLOW_BROKER_PREFETCH": "8"},
    )
    with NativeStack(config) as running:
        yield running


async def test_every_upload_has_exactly_one_result_despite_killed_workers(
    stack: NativeStack, rabbit: RabbitAdmin
) -> None:
    good = [s for s in real_images() if not s.corrupt]
    bad = [s for s in real_images() if s.corrupt]
    announced = await rabbit.tap(stack.topology.events.name, "result.#")
    keys = [f"fault/{i:04d}-{good[i % len(good)].path.name}" for i in range(UPLOADS)]
    events = [stack.upload(BUCKET, k, good[i % len(good)].path.read_bytes()) for i, k in enumerate(keys)]
    events += [stack.upload(BUCKET, f"fault/bad/{s.path.name}", s.path.read_bytes()) for s in bad]
    await stack.notify(events)

    async def stored() -> Counter[str]:
        return Counter(
            r["object"]["key"] for r in await stored_results(stack.results_url, stack.api_token("lov"), bucket=BUCKET)
        )

    # Results keeps everything in the stack's MongoDB, so it can be killed like the others.
    middle = "results"
    victims = [
        ("inference-plankton_classifier", 50),
        (middle, 150),
        ("ingest", 200),
        ("inference-plankton_classifier", 250),
    ]
    for victim, after in victims:
        await eventually(stored, until=lambda c, n=after: sum(c.values()) >= n, timeout=300)
        service = stack.services[victim]
        service.kill()
        service.start()
        await asyncio.to_thread(service.wait_healthy, 120)

    final = await eventually(stored, until=lambda c: set(c) >= set(keys), timeout=600)
    dead: list[ObservedDeadLetter] = []

    async def collect() -> list[ObservedDeadLetter]:
        dead.extend(await take_dead_letters(rabbit.url, stack.topology.dead_letter_queue.name))
        return dead

    await eventually(collect, until=lambda d: len(d) >= len(bad), timeout=120)
    # Result events are published after the results are stored: wait for them too.
    events_seen = await eventually(
        announced.bodies, until=lambda e: {x["object"]["key"] for x in e} >= set(keys), timeout=60
    )

    assert final == Counter(dict.fromkeys(keys, 1)), "every upload has exactly one stored result"
    per_key = Counter(e["object"]["key"] for e in {e["message_id"]: e for e in events_seen}.values())
    assert per_key == Counter(dict.fromkeys(keys, 1)), "one distinct result event per upload"
    assert sorted(d.key for d in dead) == sorted(f"fault/bad/{s.path.name}" for s in bad)
