"""`aquaflow` against the whole stack: every service its own process, real RabbitMQ, moto S3, Triton, MongoDB.

The command line runs in-process (typer's runner) against the stack's real servers, set up
only through its environment as an operator's shell would be. Uploads into the polled
bucket are announced by ingest's poller, as an S3 server without notifications needs;
the archive bucket is not polled, so only a batch announces what is in it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from aquaflow_cli.main import app
from aquaflow_devstack.observe import stored_results
from aquaflow_devstack.samples import real_images
from aquaflow_devstack.stack import NativeStack, StackConfig
from aquaflow_shared.settings import BrokerSettings
from aquaflow_shared.topology import OBJECT_RECEIVED
from tests.support.polling import eventually
from tests.support.rabbit import QueueTap, RabbitAdmin

pytestmark = [pytest.mark.e2e, pytest.mark.triton]

TENANT = "lov"
UPLOADS = "plankton-flowcam"  # polled by ingest
ARCHIVE = "plankton-archive"  # not polled: a batch announces what is there
MODEL = "plankton_classifier"
ROUTING = f"""
rules:
  - name: particles
    match: {{suffixes: [".png", ".jpg", ".jpeg"]}}
    profile: flowcam
    model: {MODEL}
    sample: {{from: key, pattern: "{{sample}}/**"}}
"""


@dataclass(frozen=True)
class Running:
    native: NativeStack
    triton: Any


@pytest.fixture
def running(broker_settings: BrokerSettings, triton: Any, tmp_path: Path) -> Iterator[Running]:
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    ingest = {
        "AQUAFLOW_INGEST_POLL_BUCKETS": json.dumps([UPLOADS]),
        "AQUAFLOW_INGEST_SWEEP_INTERVAL_SECONDS": "0.5",
        "AQUAFLOW_INGEST_CHECKPOINT_PATH": str(tmp_path / "ingest-checkpoint.json"),
    }
    config = StackConfig(
        prefix=broker_settings.prefix,
        workdir=tmp_path / "stack",
        buckets={UPLOADS: TENANT, ARCHIVE: TENANT},
        broker_url=broker_settings.url.get_secret_value(),
        triton_grpc_url=triton.grpc_url,
        routing_table=routing,
        service_env={"ingest": ingest},
    )
    with NativeStack(config) as stack:
        yield Running(stack, triton)


def environment(running: Running) -> dict[str, str]:
    """What an operator exports to point `aquaflow` at this stack."""
    stack, triton = running.native, running.triton
    assert stack.s3 is not None
    services = stack.services
    return {
        "AQUAFLOW_CLI_RESULTS_URL": stack.results_url,
        "AQUAFLOW_CLI_RESULTS_TOKEN": stack.api_token(TENANT),
        "AQUAFLOW_CLI_INGEST_URL": services["ingest"].base_url,
        "AQUAFLOW_CLI_ROUTER_URL": services["router"].base_url,
        "AQUAFLOW_CLI_INFERENCE_URLS": json.dumps({MODEL: services[f"inference-{MODEL}"].base_url}),
        "AQUAFLOW_CLI_TRITON_URL": triton.http_url,
        "AQUAFLOW_CLI_TRITON_METRICS_URL": triton.metrics_url.removesuffix("/metrics"),
        "AQUAFLOW_BROKER_URL": stack.config.broker_url,
        "AQUAFLOW_BROKER_PREFIX": stack.config.prefix,
        "AQUAFLOW_S3_ENDPOINT_URL": stack.s3.endpoint_url,
        "AQUAFLOW_S3_ACCESS_KEY_ID": stack.s3.access_key,
        "AQUAFLOW_S3_SECRET_ACCESS_KEY": stack.s3.secret_key,
        "AQUAFLOW_S3_REGION": stack.s3.region,
    }


async def aquaflow(running: Running, *args: str | Path) -> Result:
    """One command, in-process, on a thread of its own (it runs its own event loop)."""
    command = [str(a) for a in args]
    return await asyncio.to_thread(CliRunner().invoke, app, command, env=environment(running))


def document(result: Result) -> Any:
    return json.loads(result.stdout)


def particles(count: int) -> list[Path]:
    found = [s.path for s in real_images() if s.key.startswith("ref_exports/doi/images/") and not s.corrupt]
    assert len(found) >= count
    return found[:count]


async def test_upload_follows_every_upload_then_results_samples_and_status_read_them(
    running: Running, tmp_path: Path
) -> None:
    stack = running
    folder = tmp_path / "run"
    folder.mkdir()
    for number, image in enumerate(particles(4)):
        shutil.copyfile(image, folder / f"p{number}{image.suffix}")
    corrupt = next(s.path for s in real_images() if s.corrupt and s.path.suffix == ".png")
    shutil.copyfile(corrupt, folder / "broken.png")
    manifest = tmp_path / "cli_run.json"
    manifest.write_text(json.dumps({"sample_id": "cli_run", "volume_ml": 5.0, "expected_objects": 5}))

    uploaded = await aquaflow(
        stack, "upload", folder, "--bucket", UPLOADS, "--sample", "cli_run", "--manifest", manifest,
        "--timeout", "240", "--interval", "0.5", "--json",
    )  # fmt: skip
    assert uploaded.exit_code == 1, uploaded.output  # one upload failed
    report = document(uploaded)
    assert report["counts"] == {"stored": 4, "failed": 1, "pending": 0, "total": 5}
    assert [(s["sample_id"], s["stored"], s["failed"]) for s in report["samples"]] == [("cli_run", 4, 1)]
    failed = [u for u in report["uploads"] if u["state"] == "failed"]
    assert [u["key"] for u in failed] == ["cli_run/broken.png"]
    assert failed[0]["code"]
    assert "image" in failed[0]["reason"].lower()
    table = await aquaflow(stack, "upload", folder, "--bucket", UPLOADS, "--sample", "cli_run", "--timeout", "60")
    assert table.exit_code == 1  # the same versions again: nothing new, the same outcome at once
    assert "cli_run" in table.stdout
    assert "broken.png" in table.stdout

    await read_results(running, tmp_path)
    await read_samples(running, tmp_path)
    await read_status(running, failed[0]["code"])


async def read_results(stack: Running, tmp_path: Path) -> None:
    listed = await aquaflow(stack, "results", "list", "--sample", "cli_run", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert sorted(r["key"] for r in rows) == [f"cli_run/p{n}{p.suffix}" for n, p in enumerate(particles(4))]
    assert {r["model"] for r in rows} == {MODEL}
    shown = document(await aquaflow(stack, "results", "show", rows[0]["id"]))
    assert (shown["id"], shown["sample_id"]) == (rows[0]["id"], "cli_run")
    crop = tmp_path / "crop.png"
    assert (await aquaflow(stack, "results", "crop", rows[0]["id"], "0", "-o", crop)).exit_code == 0
    assert crop.read_bytes().startswith(b"\x89PNG")
    failures = document(await aquaflow(stack, "results", "failures", "--bucket", UPLOADS, "--json"))
    # The bucket may hold other tests' failed uploads (the stack is shared): this run's are under cli_run/.
    assert [f["object"]["key"] for f in failures if f["object"]["key"].startswith("cli_run/")] == ["cli_run/broken.png"]


async def read_samples(stack: Running, tmp_path: Path) -> None:
    samples = document(await aquaflow(stack, "samples", "list", "--json"))
    sample = next(s for s in samples if s["sample_id"] == "cli_run")
    assert (sample["processed"], sample["failed"], sample["expected_objects"], sample["complete"]) == (4, 1, 5, True)
    package = tmp_path / "cli_run.zip"
    exported = await aquaflow(stack, "samples", "export", "cli_run", "--format", "ecotaxa", "-o", package)
    assert exported.exit_code == 0, exported.output
    with zipfile.ZipFile(package) as archive:
        assert "ecotaxa_cli_run.tsv" in archive.namelist()
    as_csv = await aquaflow(stack, "samples", "export", "cli_run", "--format", "csv")
    assert len(list(csv.DictReader(io.StringIO(as_csv.stdout)))) == 4
    closed = document(await aquaflow(stack, "samples", "close", "cli_run", "--json"))
    assert closed["closed"] is True
    assert (await aquaflow(stack, "samples", "push", "cli_run")).exit_code == 0
    assert document(await aquaflow(stack, "samples", "show", "cli_run", "--json"))["metadata"]["volume_ml"] == 5.0


async def read_status(stack: Running, failure_code: str) -> None:
    status = await aquaflow(stack, "status", "--json", "--interval", "1")
    health = document(status)
    assert status.exit_code == 0, health["problems"]
    assert all(s["healthy"] for s in health["services"])
    assert health["triton"]["healthy"] is True
    stages = {s["stage"]: s for s in health["stages"]}
    assert stages[f"inference.{MODEL}"]["consumers"] >= 1
    # The stack is shared with other e2e modules, whose bad inputs are counted too.
    assert stages[f"inference.{MODEL}"]["dead_letters"].get(failure_code, 0) >= 1
    assert all(s["rate_per_second"] is not None for s in health["stages"])
    assert health["dead_letter_queue"]["messages"] >= 1
    assert health["triton"]["models"][MODEL]["inferences"] >= 4

    letters = document(await aquaflow(stack, "dlq", "list", "--stage", "inference", "--json"))
    assert [m["key"] for m in letters["matching"] if m["key"].startswith("cli_run/")] == ["cli_run/broken.png"]


async def received(tap: QueueTap) -> Counter[str]:
    return Counter(str(body["object"]["key"]) for body in await tap.bodies())


async def test_a_batch_resumes_after_an_interruption_and_never_sends_an_object_twice(
    running: Running, rabbit: RabbitAdmin
) -> None:
    stack, native = running, running.native
    assert native.s3 is not None
    s3 = native.s3.client()
    keys = [f"run7/p{number}{image.suffix}" for number, image in enumerate(particles(5))]
    for key, image in zip(keys, particles(5), strict=True):
        s3.put_object(Bucket=ARCHIVE, Key=key, Body=image.read_bytes())
    s3.put_object(Bucket=ARCHIVE, Key="run7/zz-notes.txt", Body=b"not an image: no routing rule takes it")
    s3.put_object(Bucket=ARCHIVE, Key="run7/", Body=b"")  # a console's folder marker
    announced = await rabbit.tap(native.topology.events.name, OBJECT_RECEIVED)
    where = f"s3://{ARCHIVE}/run7/"
    wait = ("--timeout", "240", "--interval", "0.5", "--json")

    # The first page only: the folder marker (never sent) and two images.
    interrupted = await aquaflow(stack, "batch", where, "--page-size", "3", "--max-pages", "1", "--no-wait", "--json")
    assert interrupted.exit_code == 3, interrupted.output
    first = document(interrupted)
    assert (first["listing_done"], first["this_run"]["sent"], first["total"]) == (False, 2, 2)

    resumed = await aquaflow(stack, "batch", where, *wait)
    assert resumed.exit_code == 1, resumed.output  # notes.txt failed
    batch = document(resumed)
    assert batch["id"] == first["id"]
    assert (batch["this_run"]["sent"], batch["done"], batch["total"]) == (4, True, 6)
    assert (batch["items"]["stored"], batch["items"]["failed"]) == (5, 1)
    assert await received(announced) == Counter({key: 1 for key in [*keys, "run7/zz-notes.txt"]})
    results = await stored_results(native.results_url, native.api_token(TENANT), bucket=ARCHIVE)
    assert sorted(r["object"]["key"] for r in results) == sorted(keys)

    again = document(await aquaflow(stack, "batch", where, *wait))
    assert (again["id"], again["this_run"]["sent"], again["done"]) == (first["id"], 0, True)
    status = await aquaflow(stack, "batch", "status", first["id"], "--json")
    assert (status.exit_code, document(status)["items"]["stored"]) == (1, 5)
    failed = document(await aquaflow(stack, "batch", "items", first["id"], "--state", "failed", "--json"))
    assert [(i["key"], i["stage"], i["code"]) for i in failed] == [("run7/zz-notes.txt", "router", "no_route")]
    listed = document(await aquaflow(stack, "batch", "list", "--json"))
    assert first["id"] in [b["id"] for b in listed]

    # Another batch over the same prefix finds every image processed: nothing is run again.
    other = document(await aquaflow(stack, "batch", where, "--id", "run7-check", *wait))
    assert (other["id"], other["this_run"]["skipped"], other["items"]["skipped"]) == ("run7-check", 5, 5)

    # Reprocessing on purpose sends every object once more, and once only.
    reprocessed = await aquaflow(stack, "batch", where, "--reprocess", *wait)
    again_batch = document(reprocessed)
    assert again_batch["id"] != first["id"]
    assert (again_batch["this_run"]["sent"], again_batch["items"]["stored"], again_batch["items"]["failed"]) == (
        6,
        5,
        1,
    )
    twice = Counter({key: 2 for key in [*keys, "run7/zz-notes.txt"]})
    await eventually(lambda: received(announced), until=lambda c: c == twice, timeout=60)
    results = await stored_results(native.results_url, native.api_token(TENANT), bucket=ARCHIVE)
    assert len(results) == len(keys), "one result per object version and model, however often it runs"
