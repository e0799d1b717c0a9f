"""The EcoTaxa push end to end: SecantusDB, moto S3 and the EcoTaxa stand-in, all real servers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from aquaflow_devstack.ecotaxa import EcoTaxaServer
from aquaflow_devstack.ports import free_port
from aquaflow_devstack.s3 import S3Server
from aquaflow_devstack.samples import sample_root
from aquaflow_results.ecotaxa import (
    EcoTaxaAccount,
    EcoTaxaPusher,
    EcoTaxaSettings,
    MongoPushStore,
    PushState,
    S3CropReader,
    create_pusher,
    request_push,
)
from aquaflow_shared.settings import S3Settings
from tests.integration.results_ecotaxa.conftest import PROJECT, USERS
from tests.support.polling import eventually
from tests.unit.results_ecotaxa.factories import entry, result, sample

pytestmark = pytest.mark.integration

QA_IMAGES = sample_root() / "images"
Db = AsyncDatabase[dict[str, Any]]
DEAD_CLAIM = "claim-of-a-replica-that-died"


def _settings(url: str, **overrides: Any) -> EcoTaxaSettings:
    values: dict[str, Any] = {
        "url": url,
        "tenants": {
            "lov": EcoTaxaAccount(username="lov-bot", password=SecretStr(USERS["lov-bot"]), project_id=PROJECT)
        },
        "poll_interval_seconds": 0.05,
        "idle_interval_seconds": 0.05,
        "backoff_initial_seconds": 0.05,
        "backoff_max_seconds": 0.2,
        "lease_seconds": 30,
    }
    values.update(overrides)
    return EcoTaxaSettings(**values)


def _images() -> list[bytes]:
    found = [QA_IMAGES / name for name in ("0128.png", "4261.gif", "9990.jpg")]
    if all(path.exists() for path in found):
        return [path.read_bytes() for path in found]
    from tests.unit.results_ecotaxa.factories import png

    return [png(30, 20), png(12, 40), png(25, 25)]


async def _seed(
    db: Db, s3_server: S3Server, *, tenant: str = "lov", labels: tuple[str, ...] = ("Copepoda", "Chaetognatha")
) -> tuple[str, list[str]]:
    """One closed sample with two scans, three regions, crops in the output bucket."""
    bucket = f"out-{uuid.uuid4().hex[:10]}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=bucket)
    sample_id = f"m106_{uuid.uuid4().hex[:6]}"
    objects = [
        [entry(f"{sample_id}_a_0000", 0, label=labels[0], score=0.95), entry(f"{sample_id}_a_0001", 1, score=0.2)],
        [entry(f"{sample_id}_b_0000", 0, label=labels[1], score=0.81)],
    ]
    images = iter(_images())
    for group in objects:
        for item in group:
            s3.put_object(Bucket=bucket, Key=item["crop_key"], Body=next(images))
    results = [
        result("scans/a.tif", objects[0], tenant=tenant, sample_id=sample_id),
        result("scans/b.tif", objects[1], tenant=tenant, sample_id=sample_id),
    ]
    for document in results:
        document["_id"] = f"{document['_id']}-{sample_id}"
        document["output_bucket"] = bucket
    await db["results"].insert_many(results)
    await db["samples"].insert_one(sample(tenant=tenant, sample_id=sample_id))
    return sample_id, [o["object_id"] for group in objects for o in group]


def _s3(s3_server: S3Server) -> S3Settings:
    return S3Settings(
        endpoint_url=s3_server.endpoint_url,
        access_key_id=SecretStr(s3_server.access_key),
        secret_access_key=SecretStr(s3_server.secret_key),
        region=s3_server.region,
    )


def _pusher(db: Db, s3_server: S3Server, settings: EcoTaxaSettings, **kwargs: Any) -> EcoTaxaPusher:
    crops = S3CropReader(_s3(s3_server))
    store = MongoPushStore(db["samples"], db["results"])
    return EcoTaxaPusher(settings, store, crops, closers=[crops.close], **kwargs)


@contextlib.asynccontextmanager
async def _running(*pushers: EcoTaxaPusher) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(p.run(stop)) for p in pushers]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def _push_of(db: Db, tenant: str, sample_id: str) -> dict[str, Any]:
    document = await db["samples"].find_one({"_id": f"{tenant}:{sample_id}"})
    assert document is not None
    push: dict[str, Any] = document.get("push") or {}
    return push


async def _settled(db: Db, tenant: str, sample_id: str, timeout: float = 30) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        return await _push_of(db, tenant, sample_id)

    return await eventually(
        probe, until=lambda p: p.get("state") not in {"pending", "uploaded", "importing"}, timeout=timeout
    )


async def test_a_sample_is_pushed_once_even_when_pushed_twice(
    mongo_db: Db, s3_server: S3Server, ecotaxa: EcoTaxaServer
) -> None:
    sample_id, object_ids = await _seed(mongo_db, s3_server)
    pusher = create_pusher(_settings(ecotaxa.url), _s3(s3_server), mongo_db["samples"], mongo_db["results"])
    assert pusher is not None

    assert await request_push(mongo_db["samples"], "lov", sample_id) is PushState.PENDING
    async with _running(pusher):
        push = await _settled(mongo_db, "lov", sample_id)
        assert push["state"] == "done", push
        assert push["imported"] == 3
        assert push["project_id"] == PROJECT
        assert isinstance(push["job_id"], int)
        assert push["server_path"]

        imported = ecotaxa.objects(PROJECT)
        assert sorted(o["orig_id"] for o in imported) == sorted(object_ids)
        by_id = {o["orig_id"]: o for o in imported}
        first = by_id[f"{sample_id}_a_0000"]
        assert first["classif_name"] == "Copepoda"
        assert first["status"] == "P"
        assert first["sample_id"] == sample_id
        assert by_id[f"{sample_id}_a_0001"]["classif_name"] is None

        # Pushed again: back to pending, imported again, no duplicate objects.
        assert await request_push(mongo_db["samples"], "lov", sample_id) is PushState.PENDING
        push = await _settled(mongo_db, "lov", sample_id)
        assert push["state"] == "done", push
        assert len(ecotaxa.objects(PROJECT)) == 3


async def test_a_taxon_ecotaxa_does_not_know_needs_attention(
    mongo_db: Db, s3_server: S3Server, ecotaxa: EcoTaxaServer
) -> None:
    sample_id, _ = await _seed(mongo_db, s3_server, labels=("Unicornidae", "Copepoda"))
    await request_push(mongo_db["samples"], "lov", sample_id)
    async with _running(_pusher(mongo_db, s3_server, _settings(ecotaxa.url))):
        push = await _settled(mongo_db, "lov", sample_id)
    assert push["state"] == "needs_attention", push
    assert "unicornidae" in push["reason"].lower()
    assert ecotaxa.objects(PROJECT) == []


async def test_bad_credentials_fail_the_push(mongo_db: Db, s3_server: S3Server, ecotaxa: EcoTaxaServer) -> None:
    sample_id, _ = await _seed(mongo_db, s3_server)
    bad = {"lov": EcoTaxaAccount(username="lov-bot", password=SecretStr("not-it"), project_id=PROJECT)}
    await request_push(mongo_db["samples"], "lov", sample_id)
    async with _running(_pusher(mongo_db, s3_server, _settings(ecotaxa.url, tenants=bad))):
        push = await _settled(mongo_db, "lov", sample_id)
    assert push["state"] == "failed"
    assert "not-it" not in push["reason"]


async def test_samples_of_a_tenant_without_ecotaxa_are_not_pushed(
    mongo_db: Db, s3_server: S3Server, ecotaxa: EcoTaxaServer
) -> None:
    sample_id, _ = await _seed(mongo_db, s3_server, tenant="obsea")
    await request_push(mongo_db["samples"], "obsea", sample_id)
    async with _running(_pusher(mongo_db, s3_server, _settings(ecotaxa.url))):
        push = await _settled(mongo_db, "obsea", sample_id)
    assert push["state"] == "not_configured"
    assert ecotaxa.objects(PROJECT) == []


async def test_ecotaxa_down_is_retried_with_backoff_never_failed(
    mongo_db: Db, s3_server: S3Server, ecotaxa: EcoTaxaServer
) -> None:
    sample_id, object_ids = await _seed(mongo_db, s3_server)
    await request_push(mongo_db["samples"], "lov", sample_id)
    now = datetime.now(UTC)
    clock = [now]
    down = _pusher(mongo_db, s3_server, _settings(f"http://127.0.0.1:{free_port()}"), clock=lambda: clock[0])
    try:
        for attempt in (1, 2, 3):
            assert await down.run_once()
            push = await _push_of(mongo_db, "lov", sample_id)
            assert push["state"] == "pending"
            assert push["attempts"] == attempt
            assert "ecotaxa unavailable" in push["last_error"]
            assert push["next_attempt_at"] > clock[0]
            # Not due yet: nothing to claim until the backoff has passed.
            assert not await down.run_once()
            clock[0] = push["next_attempt_at"] + timedelta(milliseconds=1)
    finally:
        await down.close()

    # EcoTaxa is back: the same sample goes through.
    async with _running(_pusher(mongo_db, s3_server, _settings(ecotaxa.url))):
        push = await _settled(mongo_db, "lov", sample_id)
    assert push["state"] == "done"
    assert sorted(o["orig_id"] for o in ecotaxa.objects(PROJECT)) == sorted(object_ids)


async def test_two_replicas_push_each_sample_once(mongo_db: Db, s3_server: S3Server, ecotaxa: EcoTaxaServer) -> None:
    seeded = [await _seed(mongo_db, s3_server) for _ in range(4)]
    for sample_id, _ in seeded:
        await request_push(mongo_db["samples"], "lov", sample_id)
    settings = _settings(ecotaxa.url)
    async with _running(_pusher(mongo_db, s3_server, settings), _pusher(mongo_db, s3_server, settings)):
        for sample_id, _ in seeded:
            push = await _settled(mongo_db, "lov", sample_id)
            assert push["state"] == "done", push
    imported = [o["orig_id"] for o in ecotaxa.objects(PROJECT)]
    assert len(imported) == len(set(imported)) == 12


async def test_a_crash_at_any_step_is_safe_to_repeat(mongo_db: Db, s3_server: S3Server, ecotaxa: EcoTaxaServer) -> None:
    sample_id, object_ids = await _seed(mongo_db, s3_server)
    await request_push(mongo_db["samples"], "lov", sample_id)
    now = datetime.now(UTC)
    clock = [now]
    settings = _settings(ecotaxa.url, lease_seconds=60)
    first = _pusher(mongo_db, s3_server, settings, clock=lambda: clock[0])
    store = MongoPushStore(mongo_db["samples"], mongo_db["results"])
    try:
        # A replica claims the sample and dies before saving anything: the lease keeps others off...
        claimed = await store.claim({"lov"}, now=now, lease_until=now + timedelta(seconds=60), token=DEAD_CLAIM)
        assert claimed is not None
        assert not await first.run_once()
        # ...until it runs out.
        clock[0] = now + timedelta(seconds=61)
        assert await first.run_once()
        assert (await _push_of(mongo_db, "lov", sample_id))["state"] == "uploaded"
        assert await first.run_once()
        importing = await _push_of(mongo_db, "lov", sample_id)
        assert importing["state"] == "importing"
    finally:
        await first.close()
    # A crash after the import started but before its job id was saved: the step is done again.
    await mongo_db["samples"].update_one(
        {"_id": f"lov:{sample_id}"},
        {"$set": {"push.state": "uploaded", "push.job_id": None, "push.next_attempt_at": None}},
    )
    async with _running(_pusher(mongo_db, s3_server, settings)):
        push = await _settled(mongo_db, "lov", sample_id)
    assert push["state"] == "done", push
    imported = [o["orig_id"] for o in ecotaxa.objects(PROJECT)]
    assert sorted(imported) == sorted(object_ids)


async def test_request_push_leaves_a_push_under_way_alone(mongo_db: Db) -> None:
    samples = mongo_db["samples"]
    assert await request_push(samples, "lov", "nowhere") is None
    await samples.insert_one(sample(sample_id="s9"))
    assert await request_push(samples, "lov", "s9") is PushState.PENDING
    await samples.update_one({"_id": "lov:s9"}, {"$set": {"push.state": "importing", "push.job_id": 5}})
    assert await request_push(samples, "lov", "s9") is PushState.IMPORTING
    assert (await _push_of(mongo_db, "lov", "s9"))["job_id"] == 5
    # Another tenant cannot touch it.
    assert await request_push(samples, "other", "s9") is None
