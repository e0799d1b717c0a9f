"""`aquaflow dlq` on the real RabbitMQ: listing keeps every letter in place, replay and purge act on the matching ones.

The dead letters are the kinds the stages write (``publish_dead_letter``'s headers), one a
queue's delivery limit dead-lettered (``x-death``), one for an unroutable event and one for
an object the sweep refused, in the quorum queue the services declare.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
from typer.testing import CliRunner, Result

from aquaflow_cli.main import app
from aquaflow_shared.consumer import FAILED_ATTEMPTS_HEADER
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER, ROUTING_KEY_HEADER, STAGE_HEADER
from aquaflow_shared.settings import BrokerSettings
from aquaflow_shared.topology import Topology
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.integration

MODEL = "plankton_classifier"
NOW = datetime.now(UTC).replace(microsecond=0)


def request(tenant: str, key: str) -> dict[str, Any]:
    return {"schema_version": 1, "tenant": tenant, "object": {"bucket": "b1x", "key": key, "etag": "e"}, "model": MODEL}


LETTERS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    # (message id, dead-letter routing key, headers, body)
    (
        "dl-corrupt",
        f"inference.{MODEL}.failed",
        {STAGE_HEADER: f"inference.{MODEL}", CODE_HEADER: "corrupt_image", REASON_HEADER: "not an image"},
        request("lov", "s1/a.png"),
    ),
    (
        "dl-no-route",
        "router.failed",
        {STAGE_HEADER: "router", CODE_HEADER: "no_route", REASON_HEADER: "no routing rule"},
        request("lov", "s1/notes.txt"),
    ),
    (
        "dl-exhausted",
        f"inference.{MODEL}.failed",
        {
            STAGE_HEADER: f"inference.{MODEL}",
            CODE_HEADER: "retries_exhausted",
            REASON_HEADER: "gave up",
            FAILED_ATTEMPTS_HEADER: 7,
            "x-aquaflow-tenant": "obsea",
        },
        request("obsea", "x/b.png"),
    ),
    (
        "dl-unroutable",
        "unroutable.failed",
        {
            STAGE_HEADER: "unroutable",
            CODE_HEADER: "unroutable",
            REASON_HEADER: "no queue",
            ROUTING_KEY_HEADER: "inference.requested.fish_detector",
        },
        request("lov", "f/c.png"),
    ),
    (
        "dl-swept",
        "ingest.failed",
        {STAGE_HEADER: "ingest", CODE_HEADER: "empty_object", REASON_HEADER: "empty", ROUTING_KEY_HEADER: ""},
        {"bucket": "b1x", "key": "s1/empty.png", "etag": "e", "size": 0},
    ),
    (
        "dl-limit",
        "results.failed",
        {"x-death": [{"count": 12, "reason": "delivery_limit", "time": NOW, "routing-keys": ["inference.completed"]}]},
        request("lov", "s1/d.png"),
    ),
]


@pytest.fixture
async def letters(broker_settings: BrokerSettings, rabbit: RabbitAdmin) -> Topology:
    """The dead-letter queue with the six letters, and the queues a replay goes to, as the services declare them."""
    topology = Topology(prefix=broker_settings.prefix, delivery_limit=broker_settings.delivery_limit)
    connection = await aio_pika.connect(rabbit.url)
    async with connection:
        channel = await connection.channel()
        dead = await channel.declare_exchange(topology.dead_letters.name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(
            topology.dead_letter_queue.name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(dead, "#")
        stage = topology.inference_queue(MODEL)
        await channel.declare_queue(stage.name, durable=True, arguments=dict(stage.arguments or {}))
        for message_id, routing_key, headers, body in LETTERS:
            message = aio_pika.Message(
                json.dumps(body).encode(),
                message_id=message_id,
                headers=headers,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type="application/json",
                timestamp=NOW,  # as FastStream stamps every publish, dead letters included
            )
            await dead.publish(message, routing_key=routing_key)
    return topology


async def cli(broker_settings: BrokerSettings, *args: str, answer: str | None = None) -> Result:
    """The command line in-process, on a thread of its own (it runs its own event loop)."""
    env = {
        "AQUAFLOW_BROKER_URL": broker_settings.url.get_secret_value(),
        "AQUAFLOW_BROKER_PREFIX": broker_settings.prefix,
    }
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env, input=answer)


async def in_queue(rabbit: RabbitAdmin, name: str) -> list[str | None]:
    return [m.message_id for m in await rabbit.queue_messages(name)]


def listed(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [letter["ref"] for letter in json.loads(result.stdout)["matching"]]


async def test_list_and_show_read_every_letter_and_leave_them_in_order(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin, letters: Topology
) -> None:
    everything = json.loads((await cli(broker_settings, "dlq", "list", "--json")).stdout)
    assert everything["examined"] == 6
    assert [m["ref"] for m in everything["matching"]] == [m[0] for m in LETTERS]
    by_ref = {m["ref"]: m for m in everything["matching"]}
    assert (by_ref["dl-limit"]["stage"], by_ref["dl-limit"]["code"]) == ("results", "delivery_limit")
    assert (by_ref["dl-exhausted"]["tenant"], by_ref["dl-swept"]["key"]) == ("obsea", "s1/empty.png")
    assert await in_queue(rabbit, letters.dead_letter_queue.name) == [m[0] for m in LETTERS]

    assert listed(await cli(broker_settings, "dlq", "list", "--stage", "inference", "--json")) == [
        "dl-corrupt",
        "dl-exhausted",
    ]
    assert listed(await cli(broker_settings, "dlq", "list", "--tenant", "obsea", "--json")) == ["dl-exhausted"]
    assert listed(
        await cli(broker_settings, "dlq", "list", "--code", "no_route", "--code", "empty_object", "--json")
    ) == [
        "dl-no-route",
        "dl-swept",
    ]
    assert listed(await cli(broker_settings, "dlq", "list", "--key", "s1/", "--newer-than", "1h", "--json")) == [
        "dl-corrupt",
        "dl-no-route",
        "dl-swept",
        "dl-limit",
    ]
    assert listed(await cli(broker_settings, "dlq", "list", "--older-than", "1h", "--json")) == []
    table = await cli(broker_settings, "dlq", "list", "--stage", "router")
    assert table.exit_code == 0
    assert "1 of 6 dead letters (stage router)" in table.stdout

    shown = await cli(broker_settings, "dlq", "show", "dl-exhausted")
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    assert detail["body"] == request("obsea", "x/b.png")
    assert detail["headers"][FAILED_ATTEMPTS_HEADER] == 7
    assert (await cli(broker_settings, "dlq", "show", "nothing-like-it")).exit_code == 1
    assert await in_queue(rabbit, letters.dead_letter_queue.name) == [m[0] for m in LETTERS]


async def test_replay_sends_each_match_back_once_and_keeps_the_rest_in_order(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin, letters: Topology
) -> None:
    assert (await cli(broker_settings, "dlq", "replay")).exit_code == 2  # no filter and no --all
    tap = await rabbit.tap(letters.events.name, "inference.requested.fish_detector")

    dry = json.loads(
        (await cli(broker_settings, "dlq", "replay", "--stage", "inference", "--dry-run", "--json")).stdout
    )
    assert [r["ref"] for r in dry["replayed"]] == ["dl-corrupt", "dl-exhausted"]
    assert await in_queue(rabbit, letters.inference_queue(MODEL).name) == []

    result = await cli(
        broker_settings, "dlq", "replay", "--stage", "inference", "--stage", "unroutable", "--stage", "ingest", "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(r["ref"], r["to"]) for r in report["replayed"]] == [
        ("dl-corrupt", f"queue {letters.inference_queue(MODEL).name}"),
        ("dl-exhausted", f"queue {letters.inference_queue(MODEL).name}"),
        ("dl-unroutable", f"{letters.events.name} with inference.requested.fish_detector"),
    ]
    assert [k["ref"] for k in report["kept"]] == ["dl-swept"]

    replayed = await rabbit.queue_messages(letters.inference_queue(MODEL).name)
    assert [m.message_id for m in replayed] == ["dl-corrupt", "dl-exhausted"]
    for message in replayed:
        headers = message.headers or {}
        assert not {STAGE_HEADER, CODE_HEADER, REASON_HEADER, FAILED_ATTEMPTS_HEADER} & set(headers)
        assert headers["x-aquaflow-replays"] == 1
    assert json.loads(replayed[1].body) == request("obsea", "x/b.png")
    assert [m.message_id for m in await tap.drain()] == ["dl-unroutable"]
    assert await in_queue(rabbit, letters.dead_letter_queue.name) == ["dl-no-route", "dl-swept", "dl-limit"]


async def test_purge_asks_first_and_removes_exactly_what_it_showed(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin, letters: Topology
) -> None:
    assert (await cli(broker_settings, "dlq", "purge")).exit_code == 2
    refused = await cli(broker_settings, "dlq", "purge", "--code", "no_route", answer="n\n")
    assert refused.exit_code == 1
    assert "1 dead letters to purge" in refused.stderr
    assert await in_queue(rabbit, letters.dead_letter_queue.name) == [m[0] for m in LETTERS]

    confirmed = await cli(broker_settings, "dlq", "purge", "--code", "no_route", answer="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "purged 1 of 6 dead letters" in confirmed.stdout
    unasked = await cli(broker_settings, "dlq", "purge", "--stage", "results", "--stage", "ingest", "--yes", "--json")
    assert [p["ref"] for p in json.loads(unasked.stdout)["purged"]] == ["dl-swept", "dl-limit"]
    assert await in_queue(rabbit, letters.dead_letter_queue.name) == ["dl-corrupt", "dl-exhausted", "dl-unroutable"]
    everything = await cli(broker_settings, "dlq", "purge", "--all", "--yes")
    assert everything.exit_code == 0
    assert await in_queue(rabbit, letters.dead_letter_queue.name) == []
