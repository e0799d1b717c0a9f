"""One demo-sized run of the native stack, watched by Prometheus with the project's scrape configuration.

The stack runs as ``make demo`` runs it (every service its own process, the EcoTaxa
stand-in, samples with their manifests), on the session's RabbitMQ, Triton and MongoDB.
Prometheus (Debian's package) scrapes the services, Triton and RabbitMQ's
``rabbitmq_prometheus`` plugin every second and evaluates deploy/prometheus/alerts.yml.

The uploads exercise what the dashboard shows: good images and scans, EcoTaxa's
corrupted images (dead letters at once), an upload archived to cold storage before
inference could read it (S3 refuses it: retried, then dead-lettered), and an upload whose
notification never comes (the reconciliation sweep finds it).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import pytest

from aquaflow_devstack.demo import Observed, bucket_for, finish_samples, until_pushed, until_settled
from aquaflow_devstack.minio_events import minio_event_for_put
from aquaflow_devstack.prometheus import (
    NativeTargets,
    PrometheusServer,
    PrometheusUnavailable,
    RabbitMetricsUnavailable,
    ensure_rabbitmq_metrics,
    find_binary,
    native_config,
    start_prometheus,
)
from aquaflow_devstack.rabbitmq import delete_topology
from aquaflow_devstack.samples import PlannedSample, group_into_samples, real_images
from aquaflow_devstack.stack import NativeStack, StackConfig
from tests.support.polling import wait_for
from tests.support.rabbit import unique_prefix

TENANT = "lov"
# Folders of EcoTaxa's QA data uploaded as samples: FlowCam particles (EcoTaxa's corrupted
# images among them) and ZooScan scans, which are segmented.
SAMPLE_FOLDERS = ("images/", "import_sparse/", "import_issues/", "import_test/")
MAX_ATTEMPTS = 3
ARCHIVED = ("plankton-flowcam", "cold-storage/archived_particle.png")
SCRAPE_INTERVAL = "1s"
RUN_SECONDS = 150.0
# Triton refreshes its metrics every 2 s (--metrics-interval-ms): a scrape this long after
# the work sees its counts.
METRICS_LAG_SECONDS = 5.0


@dataclass
class ObservedRun:
    stack: NativeStack
    prometheus: PrometheusServer
    prefix: str
    started: float  # Unix time, before the first upload
    finished: float  # Unix time, once every upload settled and every sample was pushed
    planned: list[PlannedSample]
    seen: Observed
    samples: dict[str, dict[str, Any]]
    swept_key: tuple[str, str]  # the upload announced only by the sweep


def _prometheus_or_skip() -> None:
    try:
        find_binary("prometheus")
    except PrometheusUnavailable as missing:
        pytest.skip(str(missing))
    try:
        ensure_rabbitmq_metrics()
    except RabbitMetricsUnavailable as missing:
        pytest.skip(f"RabbitMQ's Prometheus endpoint: {missing}")


@pytest.fixture(scope="session")
def observed_run(
    rabbit_url: str, triton: Any, mongodb_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ObservedRun]:
    _prometheus_or_skip()
    prefix = unique_prefix("obs")
    workdir = tmp_path_factory.mktemp("observed-stack")
    config = StackConfig(
        prefix=prefix,
        workdir=workdir,
        buckets={"plankton-flowcam": TENANT, "plankton-zooscan": TENANT},
        broker_url=rabbit_url,
        mongodb_url=mongodb_url,
        triton_grpc_url=triton.grpc_url,
        ecotaxa=True,
        extra_env={
            "AQUAFLOW_BROKER_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "AQUAFLOW_BROKER_RETRY_BACKOFF_SECONDS": "0.2",
        },
        service_env={
            "results": {"AQUAFLOW_RESULTS_DATABASE": prefix.replace("-", "_")},
            # A demo-sized run is a small window: test for drift after a few dozen values.
            "inference-plankton_classifier": {
                "AQUAFLOW_INFERENCE_DRIFT_MIN_OBSERVATIONS": "10",
                "AQUAFLOW_INFERENCE_DRIFT_CHECK_EVERY": "5",
            },
            "ingest": {
                "AQUAFLOW_INGEST_RECONCILE_BUCKETS": '["plankton-flowcam", "plankton-zooscan"]',
                "AQUAFLOW_INGEST_SWEEP_INTERVAL_SECONDS": "0.5",
                "AQUAFLOW_INGEST_RECONCILE_MIN_AGE_SECONDS": "1",
                "AQUAFLOW_INGEST_CHECKPOINT_PATH": str(workdir / "ingest-checkpoint.json"),
            },
        },
    )
    try:
        with NativeStack(config) as stack:
            targets = NativeTargets.of(stack, triton=f"{triton.host}:{triton.metrics_port}")
            config_for_prometheus = native_config(targets, scrape_interval=SCRAPE_INTERVAL)
            with start_prometheus(config_for_prometheus, workdir / "prometheus") as prometheus:
                yield asyncio.run(_demo_sized_run(stack, prometheus, prefix))
    finally:
        asyncio.run(delete_topology(rabbit_url, prefix, config.models))


async def _demo_sized_run(stack: NativeStack, prometheus: PrometheusServer, prefix: str) -> ObservedRun:
    wait_for(lambda: all(t["health"] == "up" for t in prometheus.targets()), timeout=30, what="every target up")
    started = time.time()
    since = datetime.now(UTC)
    deadline = time.monotonic() + RUN_SECONDS
    images = [image for image in real_images() if image.key.startswith(SAMPLE_FOLDERS)]
    planned = group_into_samples(images, bucket_for)
    uploads: set[tuple[str, str]] = set()
    events = []
    for sample in planned:
        manifest = (sample.bucket, sample.manifest_key)
        events.append(stack.upload(*manifest, json.dumps(sample.manifest).encode()))
        for image in sample.images:
            where = (sample.bucket, sample.key(image))
            uploads.add(where)
            events.append(stack.upload(*where, image.path.read_bytes()))
    # The last upload's notification is lost: only the reconciliation sweep can find it.
    swept = (planned[0].bucket, planned[0].key(planned[0].images[-1]))
    events = [e for e in events if (e["Records"][0]["s3"]["bucket"]["name"], _key(e)) != swept]
    events.append(_archived_upload(stack, images[0].path.read_bytes()))
    uploads.add(ARCHIVED)
    # In two waves, scraped apart: a pipeline fast enough to finish between two scrapes would
    # leave each series one sample, and a rate needs a change between two.
    half = len(events) // 2
    await stack.notify(events[:half])
    apart = time.time() + METRICS_LAG_SECONDS
    wait_for(lambda: _last_scrape(prometheus) > apart, timeout=30, what="a scrape of every target between the waves")
    await stack.notify(events[half:])
    seen = await until_settled(stack, uploads, deadline)
    assert all(seen.settled(w) for w in uploads), f"unsettled: {sorted(w for w in uploads if not seen.settled(w))}"
    await finish_samples(stack, planned, seen, since)
    samples = await until_pushed(stack, planned, since, deadline)
    finished = time.time()
    # Every target scraped once more after the run, and after Triton refreshed its counters
    # (every 2 s by default), so the last counts are in Prometheus.
    counted = finished + METRICS_LAG_SECONDS
    wait_for(lambda: _last_scrape(prometheus) > counted, timeout=30, what="a scrape of every target after the run")
    return ObservedRun(stack, prometheus, prefix, started, time.time(), planned, seen, samples, swept)


def _archived_upload(stack: NativeStack, body: bytes) -> dict[str, Any]:
    """An upload moved to an archive storage class before inference reads it: S3 refuses the GET."""
    assert stack.s3 is not None
    client = stack.s3.client()
    bucket, key = ARCHIVED
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/png", StorageClass="GLACIER")
    return minio_event_for_put(client, bucket, key)


def _last_scrape(prometheus: PrometheusServer) -> float:
    """Unix time of the oldest of the targets' latest scrapes; 0 while one of them failed.

    A failed scrape (Triton's metrics endpoint can take longer than the scrape timeout on a
    busy machine) still moves ``up``'s timestamp, but records none of the target's counts.
    """
    if prometheus.query("up == 0"):
        return 0.0
    oldest = prometheus.query("min(timestamp(up))")
    return float(oldest[0]["value"][1]) if oldest else 0.0


def _key(event: dict[str, Any]) -> str:
    return unquote_plus(event["Records"][0]["s3"]["object"]["key"])
