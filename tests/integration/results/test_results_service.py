"""The results service on the real broker, MongoDB and S3: results, samples, manifests and the API."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from aquaflow_devstack.s3 import S3Server
from aquaflow_results.app import ResultsDeps, create_app
from aquaflow_results.documents import result_id
from aquaflow_results.mongo import MongoStore
from aquaflow_results.s3 import S3ObjectReader
from aquaflow_results.settings import ResultsSettings
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER, STAGE_HEADER
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings
from aquaflow_shared.topology import INFERENCE_COMPLETED, SAMPLE_MANIFEST, Topology
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin
from tests.unit.results.factories import manifest_event, particle, scan

pytestmark = pytest.mark.integration

LOV_TOKEN = "lov-token-0123456789"  # noqa: S105 - a test token
OBSEA_TOKEN = "obsea-token-0123456789"  # noqa: S105 - a test token
LOV = {"Authorization": f"Bearer {LOV_TOKEN}"}
OBSEA = {"Authorization": f"Bearer {OBSEA_TOKEN}"}
PNG = b"\x89PNG\r\n\x1a\n" + b"crop" * 10


class ReadySamples:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, tenant: str, sample_id: str) -> None:
        self.calls.append((tenant, sample_id))


def settings_for(mongodb_url: str, database: str, broker: BrokerSettings, s3: S3Settings) -> ResultsSettings:
    return ResultsSettings(
        mongodb_url=mongodb_url,  # type: ignore[arg-type]
        database=database,
        broker=broker,
        s3=s3,
        http=ObservabilitySettings(port=0),
        api_tokens={"lov": LOV_TOKEN, "obsea": OBSEA_TOKEN},  # type: ignore[dict-item]
        confidence_thresholds={"plankton_classifier/diatom_chain": 0.95},
    )


async def settled(client: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    text = (await client.get("/metrics")).text
    found = re.findall(r'aquaflow_messages_total\{outcome="(\w+)",stage="([\w.]+)"\} (\S+)', text)
    return {(stage, outcome): float(n) for outcome, stage, n in found}


async def test_results_samples_and_api(  # noqa: PLR0915 - one scenario through the whole service
    broker_settings: BrokerSettings,
    rabbit: RabbitAdmin,
    mongodb_url: str,
    database_name: str,
    s3_server: S3Server,
    s3_settings: S3Settings,
) -> None:
    s3 = s3_server.client()
    bucket, output = f"{database_name}-in", f"{database_name}-out"
    for name in (bucket, output):
        s3.create_bucket(Bucket=name)
    manifest = {"sample_id": "run1", "volume_ml": 2.0, "expected_objects": 2, "station": "B", "date": "2024-05-17"}
    s3.put_object(Bucket=bucket, Key="run1/sample.json", Body=json.dumps(manifest).encode())
    s3.put_object(Bucket=bucket, Key="bad/sample.json", Body=b'{"sample_id": "bad", "lat": 123}')
    s3.put_object(Bucket=output, Key="crops/run1/cell-001.png.png", Body=PNG, ContentType="image/png")

    topology = Topology(prefix=broker_settings.prefix)
    settings = settings_for(mongodb_url, database_name, broker_settings, s3_settings)
    ready = ReadySamples()
    deps = ResultsDeps(
        store=MongoStore(mongodb_url, database_name), objects=S3ObjectReader(s3_settings), on_sample_ready=ready
    )
    app = create_app(settings, deps)
    announced = await rabbit.tap(topology.events.name, "result.#")
    cells = [
        particle("run1/cell-001.png").model_copy(update={"output_bucket": output}),
        particle("run1/cell-002.png", label="diatom_chain", score=0.9).model_copy(update={"output_bucket": output}),
    ]
    zooscan = scan()

    async def publish(routing_key: str, body: bytes, message_id: str | None = None) -> None:
        await rabbit.publish(topology.events.name, routing_key, body, message_id=message_id)

    async with app:
        await publish(SAMPLE_MANIFEST, manifest_event(bucket, "run1/sample.json").model_dump_json().encode())
        await publish(SAMPLE_MANIFEST, manifest_event(bucket, "bad/sample.json").model_dump_json().encode())
        await publish(SAMPLE_MANIFEST, manifest_event(bucket, "missing/sample.json").model_dump_json().encode())
        for event in (cells[0], cells[0], zooscan, cells[1], cells[0]):
            await publish(INFERENCE_COMPLETED, event.model_dump_json().encode(), event.message_id)
        await publish(INFERENCE_COMPLETED, b'{"schema_version": 1, "tenant": "x"}')

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://results") as client:
            # Every delivery is settled before anything is counted: 3 manifests, 6 inference events.
            outcomes = await eventually(lambda: settled(client), until=lambda o: sum(o.values()) >= 9)
            dead = await eventually(
                lambda: rabbit.queue_messages(topology.dead_letter_queue.name), until=lambda m: len(m) >= 3
            )
            events = await announced.drain()

            no_token = await client.get("/results")
            bad_token = await client.get("/results", headers={"Authorization": "Bearer wrong-token-000000"})
            mine = (await client.get("/results", headers=LOV, params={"sample_id": "run1"})).json()
            theirs = (await client.get("/results", headers=OBSEA)).json()
            first = (await client.get("/results", headers=LOV, params={"limit": 1})).json()
            second = (await client.get("/results", headers=LOV, params={"limit": 1, "cursor": first["next"]})).json()
            limit_zero = await client.get("/results", headers=LOV, params={"limit": 0})
            limit_big = await client.get("/results", headers=LOV, params={"limit": 1001})
            bad_cursor = await client.get("/results", headers=LOV, params={"cursor": "nonsense"})
            by_label = (await client.get("/results", headers=LOV, params={"label": "copepod"})).json()
            rid = result_id(cells[0])
            one = await client.get(f"/results/{rid}", headers=LOV)
            across = await client.get(f"/results/{rid}", headers=OBSEA)
            crop = await client.get(f"/results/{rid}/objects/0/crop.png", headers=LOV)
            crop_across = await client.get(f"/results/{rid}/objects/0/crop.png", headers=OBSEA)
            no_crop = await client.get(f"/results/{rid}/objects/7/crop.png", headers=LOV)
            sample = (await client.get("/samples/run1", headers=LOV)).json()
            sample_across = await client.get("/samples/run1", headers=OBSEA)
            samples = (await client.get("/samples", headers=LOV)).json()
            closed = await client.post("/samples/scan7/close", headers=LOV)
            close_across = await client.post("/samples/scan7/close", headers=OBSEA)
            package = await client.get("/samples/run1/ecotaxa.zip", headers=LOV)
            openapi = await client.get("/openapi.json")
            health = await client.get("/health")

    # Redeliveries handled side by side may both find the result not yet announced: both
    # announce it, with the same message id (at least once), and it is stored once.
    repeats = outcomes.pop(("results", "duplicate"), 0) + outcomes.pop(("results", "announced"), 0)
    assert repeats == 2.0
    assert outcomes == {
        ("results", "stored"): 3.0,
        ("results", "dead_lettered"): 1.0,
        ("results.samples", "manifest_stored"): 1.0,
        ("results.samples", "dead_lettered"): 2.0,
    }
    assert len({m.message_id for m in events}) == 3
    assert {m.routing_key for m in events} == {"result.flowcam.lov", "result.zooscan.lov"}
    reasons: dict[str, list[tuple[object, str]]] = {str(m.headers[STAGE_HEADER]): [] for m in dead}
    for m in dead:
        reasons[str(m.headers[STAGE_HEADER])].append((m.headers[CODE_HEADER], str(m.headers[REASON_HEADER])))
    assert sorted(code for code, _ in reasons["results.samples"]) == ["invalid_manifest", "object_missing"]
    assert any("lat" in reason for _, reason in reasons["results.samples"])
    assert [code for code, _ in reasons["results"]] == ["malformed"]

    assert no_token.status_code == 401
    assert bad_token.status_code == 401
    assert sorted(r["object"]["key"] for r in mine["items"]) == ["run1/cell-001.png", "run1/cell-002.png"]
    assert theirs == {"items": [], "next": None}
    assert first["next"] is not None
    assert first["items"][0]["id"] != second["items"][0]["id"]
    assert (limit_zero.status_code, limit_big.status_code, bad_cursor.status_code) == (422, 422, 400)
    assert sorted(r["object"]["key"] for r in by_label["items"]) == ["run1/cell-001.png", "scan7.png"]
    assert one.status_code == 200
    assert one.json()["objects"][0]["status"] == "predicted"
    assert across.status_code == 404
    assert (crop.status_code, crop.content, crop.headers["content-type"]) == (200, PNG, "image/png")
    assert crop_across.status_code == 404
    assert no_crop.status_code == 404

    # cell-002 is a diatom chain at 0.9, below its 0.95 threshold: counted, unclassified.
    assert sample["processed"] == 2
    assert sample["failed"] == 0
    assert sample["expected_objects"] == 2
    assert sample["complete"] is True
    assert sample["counts"] == {"copepod": 1}
    assert sample["unclassified"] == 1
    assert sample["metadata"] == {"station": "B", "date": "20240517", "volume_ml": 2.0}
    assert sample["abundance"]["by_class"] == {"copepod": 0.5}
    assert sample["abundance"]["unit"] == "per_ml"
    assert sample_across.status_code == 404
    assert [s["sample_id"] for s in samples["items"]] == ["run1", "scan7"]
    assert closed.status_code == 200
    assert closed.json()["closed"] is True
    assert close_across.status_code == 404
    assert ("lov", "run1") in ready.calls
    assert ("lov", "scan7") in ready.calls
    assert package.status_code in {200, 501}
    assert "/samples/{sample_id}/ecotaxa.zip" in openapi.json()["paths"]
    assert health.status_code == 200
    assert health.json()["store"] is True


async def test_an_inference_event_that_does_not_name_its_schema_version_is_dead_lettered(
    broker_settings: BrokerSettings,
    rabbit: RabbitAdmin,
    mongodb_url: str,
    database_name: str,
    s3_settings: S3Settings,
) -> None:
    topology = Topology(prefix=broker_settings.prefix)
    store = MongoStore(mongodb_url, database_name)
    deps = ResultsDeps(store=store, objects=S3ObjectReader(s3_settings), on_sample_ready=ReadySamples())
    app = create_app(settings_for(mongodb_url, database_name, broker_settings, s3_settings), deps)
    cell = particle("run1/cell-001.png")
    # Otherwise valid: read with the field's default, it would be stored as a version 1 event.
    unversioned = {k: v for k, v in json.loads(cell.model_dump_json()).items() if k != "schema_version"}

    async with app:
        await rabbit.publish(topology.events.name, INFERENCE_COMPLETED, json.dumps(unversioned).encode())
        dead = await eventually(
            lambda: rabbit.queue_messages(topology.dead_letter_queue.name), until=lambda m: len(m) >= 1
        )
        stored = await store.results.get("lov", result_id(cell))

    assert [(m.headers[STAGE_HEADER], m.headers[CODE_HEADER]) for m in dead] == [("results", "schema_version")]
    assert "schema_version" in str(dead[0].headers[REASON_HEADER])
    assert stored is None


async def test_a_redelivered_result_is_counted_once_in_its_sample(
    broker_settings: BrokerSettings, mongodb_url: str, database_name: str, s3_settings: S3Settings
) -> None:
    from aquaflow_results.service import ResultRecorder, record_result

    store = MongoStore(mongodb_url, database_name)
    await store.open()
    announced: list[Any] = []
    failures = {"run1/cell-002.png": 1}

    async def announce(event: Any) -> None:
        if failures.get(event.object.key):
            failures[event.object.key] -= 1
            raise ConnectionError("broker gone before the announcement")
        announced.append(event)

    recorder = ResultRecorder(store.results, store.samples, announce)
    try:
        outcomes = [await record_result(particle("run1/cell-001.png"), recorder) for _ in range(3)]
        with pytest.raises(ConnectionError):
            await record_result(particle("run1/cell-002.png", metadata={"sample-station": "B"}), recorder)
        outcomes.append(await record_result(particle("run1/cell-002.png"), recorder))
        sample = await store.samples.get("lov", "run1")
    finally:
        await store.close()
    assert outcomes == ["stored", "duplicate", "duplicate", "announced"]
    assert sample is not None
    assert sample["processed"] == 2
    assert sample["counts"] == {"copepod": 2}
    # The sample was created by the first result, before cell-002 brought its user metadata.
    assert sample["metadata"] == {}
    assert len(announced) == 2
