"""The results service's side of `aquaflow batch` and `aquaflow upload`, on the real broker, MongoDB and S3.

Batches are registered and settled through the API as the command line drives them;
inference events and dead letters arrive over the broker as the pipeline sends them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from aquaflow_results.app import ResultsDeps, create_app
from aquaflow_results.mongo import MongoStore
from aquaflow_results.s3 import S3ObjectReader
from aquaflow_results.settings import ResultsSettings
from aquaflow_shared.contracts import ObjectReceived, ObjectRef
from aquaflow_shared.delivery import CODE_HEADER, REASON_HEADER, STAGE_HEADER
from aquaflow_shared.http import ServiceApp
from aquaflow_shared.settings import BrokerSettings, ObservabilitySettings, S3Settings
from aquaflow_shared.topology import INFERENCE_COMPLETED, Topology
from tests.support.polling import eventually
from tests.support.rabbit import RabbitAdmin
from tests.unit.results.factories import particle

pytestmark = pytest.mark.integration

LOV = {"Authorization": "Bearer lov-token-0123456789"}
OBSEA = {"Authorization": "Bearer obsea-token-0123456789"}
BUCKET = "plankton-flowcam"


@pytest.fixture
async def results(
    broker_settings: BrokerSettings,
    rabbit: RabbitAdmin,
    mongodb_url: str,
    database_name: str,
    s3_settings: S3Settings,
) -> AsyncIterator[tuple[ServiceApp, httpx.AsyncClient]]:
    settings = ResultsSettings(
        mongodb_url=mongodb_url,  # type: ignore[arg-type]
        database=database_name,
        broker=broker_settings,
        s3=s3_settings,
        http=ObservabilitySettings(port=0),
        api_tokens={"lov": "lov-token-0123456789", "obsea": "obsea-token-0123456789"},  # type: ignore[dict-item]
    )
    deps = ResultsDeps(store=MongoStore(mongodb_url, database_name), objects=S3ObjectReader(s3_settings))
    app = create_app(settings, deps)
    async with app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://results") as client:
            yield app, client


async def store_result(rabbit: RabbitAdmin, key: str, etag: str) -> None:
    event = particle(key, etag=etag, sample_id="run")
    await rabbit.publish(
        Topology(prefix=rabbit.prefix).events.name, INFERENCE_COMPLETED, event.model_dump_json().encode()
    )


async def dead_letter(rabbit: RabbitAdmin, stage: str, code: str, body: dict[str, Any]) -> None:
    """A dead letter as every stage writes it: the body as it came, the reason in the headers."""
    headers = {STAGE_HEADER: stage, CODE_HEADER: code, REASON_HEADER: f"{code}: planted"}
    await rabbit.publish(f"{rabbit.prefix}.dead", f"{stage}.failed", json.dumps(body).encode(), headers=headers)


def received(key: str, etag: str) -> dict[str, Any]:
    obj = ObjectRef(bucket=BUCKET, key=key, etag=etag)
    event = ObjectReceived(
        message_id="m" * 16, correlation_id=obj.upload_id(), tenant="lov", object=obj, source="archive"
    )
    return json.loads(event.model_dump_json())  # type: ignore[no-any-return]


async def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_batch_is_registered_sent_and_settled_once(
    results: tuple[ServiceApp, httpx.AsyncClient], rabbit: RabbitAdmin
) -> None:
    _, api = results
    await store_result(rabbit, "run/a.png", "ea")  # processed before the batch
    await eventually(lambda: api.get("/results", headers=LOV), until=lambda r: len(r.json()["items"]) == 1)

    spec = {"bucket": BUCKET, "prefix": "run/"}
    batch = await ok(await api.post("/batches", json=spec, headers=LOV))
    assert (batch["created"], batch["total"], batch["done"], batch["tenant"]) == (True, 0, False, "lov")
    again = await ok(await api.post("/batches", json=spec, headers=LOV))
    assert (again["id"], again["created"]) == (batch["id"], False)
    conflict = await api.post("/batches", json={**spec, "prefix": "other/", "id": batch["id"]}, headers=LOV)
    assert conflict.status_code == 409
    assert (await api.get(f"/batches/{batch['id']}", headers=OBSEA)).status_code == 404
    assert (await api.get(f"/batches/{batch['id']}")).status_code == 401

    listed = [
        {"key": "run/a.png", "etag": '"ea"', "size": 10},
        {"key": "run/b.png", "etag": "eb", "size": 10},
        {"key": "run/notes.txt", "etag": "en", "size": 5},
        {"key": "run/more.zip", "etag": "ez", "size": 50},
    ]
    page = await ok(await api.post(f"/batches/{batch['id']}/items", json={"objects": listed}, headers=LOV))
    assert sorted(i["key"] for i in page["send"]) == ["run/b.png", "run/more.zip", "run/notes.txt"]
    assert (page["skipped"], page["known"]) == (1, 0)
    # An interrupted run registers the page again: the same items to send, nothing new.
    repeat = await ok(await api.post(f"/batches/{batch['id']}/items", json={"objects": listed}, headers=LOV))
    assert sorted(i["id"] for i in repeat["send"]) == sorted(i["id"] for i in page["send"])
    assert (repeat["skipped"], repeat["known"]) == (0, 4)

    sent = {"ids": [i["id"] for i in page["send"]], "listed_until": "run/notes.txt", "listing_done": True}
    batch = await ok(await api.post(f"/batches/{batch['id']}/enqueued", json=sent, headers=LOV))
    assert batch["items"] == {**batch["items"], "skipped": 1, "enqueued": 2, "forwarded": 1}
    assert (batch["listed_until"], batch["listing_done"], batch["pending"]) == ("run/notes.txt", True, 2)
    after = await ok(await api.post(f"/batches/{batch['id']}/items", json={"objects": listed}, headers=LOV))
    assert after["send"] == []

    await store_result(rabbit, "run/b.png", "eb")
    await dead_letter(rabbit, "router", "no_route", received("run/notes.txt", "en"))
    batch = await eventually(lambda: ok_json(api, f"/batches/{batch['id']}"), until=lambda b: b["done"], timeout=30)
    assert (batch["items"]["stored"], batch["items"]["failed"], batch["settled"]) == (1, 1, 4)
    failed = await ok(await api.get(f"/batches/{batch['id']}/items", params={"state": "failed"}, headers=LOV))
    assert [(i["key"], i["stage"], i["code"]) for i in failed["items"]] == [("run/notes.txt", "router", "no_route")]

    listing = await ok(await api.get("/batches", headers=LOV))
    assert [b["id"] for b in listing["items"]] == [batch["id"]]
    assert (await ok(await api.get("/batches", headers=OBSEA)))["items"] == []


async def ok_json(api: httpx.AsyncClient, path: str) -> Any:
    return await ok(await api.get(path, headers=LOV))


async def test_a_reprocessing_batch_sends_stored_objects_and_counts_only_new_dead_letters(
    results: tuple[ServiceApp, httpx.AsyncClient], rabbit: RabbitAdmin
) -> None:
    _, api = results
    await store_result(rabbit, "run/a.png", "ea")
    await dead_letter(rabbit, "router", "no_route", received("run/c.txt", "ec"))  # failed before the batch
    await eventually(lambda: ok_json(api, "/failures"), until=lambda f: len(f["items"]) == 1)

    batch = await ok(
        await api.post("/batches", json={"bucket": BUCKET, "prefix": "run/", "reprocess": True}, headers=LOV)
    )
    listed = [{"key": "run/a.png", "etag": "ea"}, {"key": "run/c.txt", "etag": "ec"}]
    page = await ok(await api.post(f"/batches/{batch['id']}/items", json={"objects": listed}, headers=LOV))
    assert (len(page["send"]), page["skipped"]) == (2, 0)
    sent = {"ids": [i["id"] for i in page["send"]], "listed_until": "run/c.txt", "listing_done": True}
    await ok(await api.post(f"/batches/{batch['id']}/enqueued", json=sent, headers=LOV))

    # Its result is stored (results keeps one per object version and model); the old dead letter says nothing.
    batch = await ok_json(api, f"/batches/{batch['id']}")
    assert (batch["items"]["stored"], batch["pending"]) == (1, 1)
    await dead_letter(rabbit, "router", "no_route", received("run/c.txt", "ec"))
    batch = await eventually(lambda: ok_json(api, f"/batches/{batch['id']}"), until=lambda b: b["done"], timeout=30)
    assert batch["items"]["failed"] == 1


async def test_failed_uploads_are_listed_per_tenant_until_a_result_is_stored(
    results: tuple[ServiceApp, httpx.AsyncClient], rabbit: RabbitAdmin
) -> None:
    _, api = results
    request = received("run/d.png", "ed") | {"model": "plankton_classifier", "sample_id": "run", "profile": "flowcam"}
    await dead_letter(rabbit, "inference.plankton_classifier", "corrupt_image", request)
    await dead_letter(rabbit, "router", "no_route", received("other/x.txt", "ex"))
    await dead_letter(rabbit, "ingest", "malformed", {"Records": []})  # no tenant: left to the dead-letter queue
    found = await eventually(lambda: ok_json(api, "/failures"), until=lambda f: len(f["items"]) == 2)
    by_key = {f["object"]["key"]: f for f in found["items"]}
    assert (by_key["run/d.png"]["stage"], by_key["run/d.png"]["code"], by_key["run/d.png"]["sample_id"]) == (
        "inference.plankton_classifier",
        "corrupt_image",
        "run",
    )
    only = await ok_json(api, "/failures?prefix=run/&code=corrupt_image")
    assert [f["object"]["key"] for f in only["items"]] == ["run/d.png"]
    assert (await ok(await api.get("/failures", headers=OBSEA)))["items"] == []

    await store_result(rabbit, "run/d.png", "ed")  # replayed, and stored this time
    await eventually(lambda: ok_json(api, "/failures"), until=lambda f: len(f["items"]) == 1)
    # Pages of one: a page may come back short (a letter with a result since), the cursor goes on.
    first = await ok_json(api, "/failures?limit=1")
    assert first["next"] is not None
    second = await ok_json(api, f"/failures?limit=1&cursor={first['next']}")
    assert second["next"] is None
    assert [f["object"]["key"] for f in first["items"] + second["items"]] == ["other/x.txt"]
