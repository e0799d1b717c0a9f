"""The router against the real RabbitMQ: routed requests, and dead letters with reasons."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from aquaflow_router.app import create_app
from aquaflow_router.settings import RouterSettings
from aquaflow_shared.contracts import ObjectReceived, ObjectRef
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER, ROUTING_KEY_HEADER
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings
from aquaflow_shared.topology import OBJECT_RECEIVED, Topology
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin

pytestmark = pytest.mark.integration

ROUTING = Path(__file__).resolve().parents[3] / "config" / "routing.yaml"


def received(bucket: str, key: str, **metadata: str) -> ObjectReceived:
    obj = ObjectRef(bucket=bucket, key=key, etag="abc123", metadata=metadata)
    return ObjectReceived(
        message_id=obj.upload_id(), correlation_id=obj.upload_id(), tenant="lov", object=obj, source="s3-poller"
    )


async def test_routes_by_bucket_and_dead_letters_what_matches_nothing(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    settings = RouterSettings(routing_table=ROUTING, broker=broker_settings, http=ObservabilitySettings(port=0))
    app = create_app(settings)
    requests = await rabbit.tap(topology.events.name, "inference.requested.*")
    async with app:
        good = received("plankton-flowcam", "run1/cell 01.png")
        by_metadata = received("anything-else", "x/scan.tif", instrument="zooscan")
        unroutable = received("unknown-bucket", "a.png")
        for event in (good, by_metadata, unroutable):
            await rabbit.publish(topology.events.name, OBJECT_RECEIVED, event.model_dump_json().encode())
        await rabbit.publish(topology.events.name, OBJECT_RECEIVED, b"{not json")
        await rabbit.publish(topology.events.name, OBJECT_RECEIVED, b'{"schema_version": 99}')

        routed = await eventually(requests.bodies, until=lambda b: len(b) >= 2)
        dead = await eventually(
            lambda: rabbit.queue_messages(topology.dead_letter_queue.name), until=lambda m: len(m) >= 3
        )

    assert {(r["object"]["key"], r["profile"], r["model"]) for r in routed} == {
        ("run1/cell 01.png", "flowcam", "plankton_classifier"),
        ("x/scan.tif", "zooscan", "plankton_classifier"),
    }
    assert all(r["correlation_id"] == good.correlation_id for r in routed if r["object"]["key"] == "run1/cell 01.png")
    reasons = {str(m.headers[CODE_HEADER]): str(m.headers[REASON_HEADER]) for m in dead}
    assert set(reasons) == {"no_route", "malformed", "schema_version"}
    assert "s3://unknown-bucket/a.png" in reasons["no_route"]
    assert all(m.routing_key == "router.failed" for m in dead)


async def test_requests_for_a_model_with_no_worker_wait_in_its_queue_and_unknown_models_are_dead_letters(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    settings = RouterSettings(routing_table=ROUTING, broker=broker_settings, http=ObservabilitySettings(port=0))
    async with create_app(settings):
        # No inference worker runs: the router declared the queue of every model its table names.
        drone = received("drone-litter", "flight 1/frame 0001.jpg")
        await rabbit.publish(topology.events.name, OBJECT_RECEIVED, drone.model_dump_json().encode())
        waiting = await eventually(
            lambda: rabbit.queue_messages(topology.inference_queue("litter_tiles").name), until=lambda m: len(m) == 1
        )
        # Someone publishes for a model nobody serves: the alternate exchange keeps it, the router dead-letters it.
        await rabbit.publish(topology.events.name, "inference.requested.no_such_model", b'{"schema_version": 1}')
        dead = await eventually(
            lambda: rabbit.queue_messages(topology.dead_letter_queue.name), until=lambda m: len(m) >= 1
        )

    assert waiting[0].routing_key == "inference.requested.litter_tiles"
    assert [str(m.headers[CODE_HEADER]) for m in dead] == ["unroutable"]
    assert "inference.requested.no_such_model" in str(dead[0].headers[REASON_HEADER])
    assert dead[0].headers[ROUTING_KEY_HEADER] == "inference.requested.no_such_model"
    assert dead[0].routing_key == "unroutable.failed"


async def test_manifests_go_to_the_results_sample_queue_and_uploads_carry_their_sample(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    settings = RouterSettings(routing_table=ROUTING, broker=broker_settings, http=ObservabilitySettings(port=0))
    requests = await rabbit.tap(topology.events.name, "inference.requested.*")
    async with create_app(settings):
        for event in (received("plankton-flowcam", "run-7/sample.json"), received("plankton-flowcam", "run-7/a.png")):
            await rabbit.publish(topology.events.name, OBJECT_RECEIVED, event.model_dump_json().encode())
        manifests = await eventually(
            lambda: rabbit.queue_messages(topology.sample_manifest_queue().name), until=lambda m: len(m) == 1
        )
        routed = await eventually(requests.bodies, until=lambda b: len(b) == 1)

    assert json.loads(manifests[0].body)["object"]["key"] == "run-7/sample.json"
    assert routed[0]["sample_id"] == "run-7"


async def test_results_announced_to_no_subscriber_are_not_dead_letters(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    settings = RouterSettings(routing_table=ROUTING, broker=broker_settings, http=ObservabilitySettings(port=0))
    app = create_app(settings)
    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
        await rabbit.publish(topology.events.name, "result.flowcam.lov", b'{"schema_version": 1}')

        async def unsubscribed() -> str:
            return (await client.get("/metrics")).text

        await eventually(unsubscribed, until=lambda t: 'outcome="unsubscribed",stage="unroutable"} 1.0' in t)
        dead = await rabbit.queue_messages(topology.dead_letter_queue.name)
    assert dead == []


MULTI_MODEL_TABLE = """
rules:
  - name: flowcam-two-models
    match: {bucket: plankton-flowcam}
    profile: flowcam
    models:
      - {name: plankton_classifier, version: "2", canary: {version: "3", share: 0.5}}
      - {name: fish_detector, profile: obsea}
    sample: {from: key, pattern: "{sample}/**"}
"""


async def test_a_rule_with_two_models_fills_both_model_queues_and_counts_versions(
    broker_settings: BrokerSettings, rabbit: RabbitAdmin, tmp_path: Path
) -> None:
    table = tmp_path / "routing.yaml"
    table.write_text(MULTI_MODEL_TABLE, encoding="utf-8")
    topology = Topology(prefix=broker_settings.prefix)
    settings = RouterSettings(routing_table=table, broker=broker_settings, http=ObservabilitySettings(port=0))
    app = create_app(settings)
    uploads = [received("plankton-flowcam", f"run-9/cell-{n:02d}.png") for n in range(12)]
    classifier_queue = topology.inference_queue("plankton_classifier").name
    detector_queue = topology.inference_queue("fish_detector").name
    async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as client:
        for event in uploads:
            await rabbit.publish(topology.events.name, OBJECT_RECEIVED, event.model_dump_json().encode())
        # Redelivered (a replay): the same requests again, with the same versions and ids.
        await rabbit.publish(topology.events.name, OBJECT_RECEIVED, uploads[0].model_dump_json().encode())
        classified = await eventually(lambda: rabbit.queue_messages(classifier_queue), until=lambda m: len(m) == 13)
        detected = await eventually(lambda: rabbit.queue_messages(detector_queue), until=lambda m: len(m) == 13)
        metrics = (await client.get("/metrics")).text

    to_classifier = [json.loads(m.body) for m in classified]
    to_detector = [json.loads(m.body) for m in detected]
    assert {(r["profile"], r["primary"]) for r in to_classifier} == {("flowcam", True)}
    assert {(r["profile"], r["primary"], r["model_version"]) for r in to_detector} == {("obsea", False, None)}
    assert {r["sample_id"] for r in to_classifier + to_detector} == {"run-9"}
    versions = {r["object"]["key"]: r["model_version"] for r in to_classifier}
    assert set(versions.values()) == {"2", "3"}, "half the uploads, give or take, on the canary"
    replayed = [r for r in to_classifier if r["object"]["key"] == uploads[0].object.key]
    assert len({(r["message_id"], r["model_version"]) for r in replayed}) == 1
    assert {m.message_id for m in classified}.isdisjoint({m.message_id for m in detected})
    canary = sum(1 for r in to_classifier if r["model_version"] == "3")
    assert f'aquaflow_router_requests_total{{model="plankton_classifier",version="3"}} {canary}.0' in metrics
    assert 'aquaflow_router_requests_total{model="fish_detector",version="default"} 13.0' in metrics
