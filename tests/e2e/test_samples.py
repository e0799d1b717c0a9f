"""The scientist's end of the flow: uploads grouped into samples, each complete sample in EcoTaxa.

Two samples, as instruments deliver them: a FlowCam run (one particle per image) and
a ZooScan sample (scans segmented into regions), each with its ``sample.json``
manifest beside the images under the sample's folder. Every upload is processed,
each sample completes on its expected count, its package is pushed into the EcoTaxa
stand-in and read back from it; every stored object has its crop in the output
bucket; pushing a sample again adds nothing to EcoTaxa.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aquaflow_devstack.observe import push_sample, stored_results, stored_sample
from aquaflow_devstack.samples import Sample, real_images
from aquaflow_devstack.stack import NativeStack, StackConfig
from aquaflow_shared.settings import BrokerSettings
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.triton]

TENANT = "lov"
FLOWCAM_BUCKET = "plankton-flowcam"
ZOOSCAN_BUCKET = "plankton-zooscan"


@dataclass(frozen=True)
class Planned:
    """A sample as it is uploaded: its bucket, its images and its manifest."""

    sample_id: str
    bucket: str
    images: list[Sample]
    manifest: dict[str, Any]

    def key(self, image: Sample) -> str:
        # The sample is the key's first folder: the routing rules' `{sample}/**`.
        return f"{self.sample_id}/{image.path.name}"


def flowcam_run() -> Planned:
    particles = [s for s in real_images() if s.key.startswith("ref_exports/doi/images/")][:6]
    manifest = {
        "sample_id": "fc_run_0517",
        "station": "Villefranche point B",
        "lat": 43.685,
        "lon": 7.316,
        "date": "2024-05-17",
        "time": "09:30",
        "depth_min": 0,
        "depth_max": 10,
        "volume_ml": 5.0,
        "pixel_size_um": 2.6,
        "instrument": "flowcam",
        "expected_objects": len(particles),
    }
    return Planned("fc_run_0517", FLOWCAM_BUCKET, particles, manifest)


def zooscan_sample() -> Planned:
    scans = [s for s in real_images() if s.key.startswith("import_test/m106_mn01_n1_sml/")]
    manifest = {
        "sample_id": "m106_mn01_n1",
        "station": "M106 mn01",
        "lat": 43.65,
        "lon": 7.33,
        "date": "20240518",
        "depth_min": 0,
        "depth_max": 200,
        "volume_m3": 3.5,
        "pixel_size_um": 10.6,
        "instrument": "zooscan",
        "expected_objects": len(scans),
        "fields": {"net": "WP2", "mesh_um": 200},
    }
    return Planned("m106_mn01_n1", ZOOSCAN_BUCKET, scans, manifest)


@pytest.fixture
def stack(broker_settings: BrokerSettings, triton: Any, tmp_path: Path) -> Iterator[NativeStack]:
    config = StackConfig(
        prefix=broker_settings.prefix,
        workdir=tmp_path,
        buckets={FLOWCAM_BUCKET: TENANT, ZOOSCAN_BUCKET: TENANT},
        broker_url=broker_settings.url.get_secret_value(),
        triton_grpc_url=triton.grpc_url,
        ecotaxa=True,
    )
    with NativeStack(config) as running:
        yield running


def upload(stack: NativeStack, planned: Planned) -> list[dict[str, Any]]:
    """The manifest first, then the images; the notifications announcing them."""
    manifest = json.dumps(planned.manifest).encode()
    events = [stack.upload(planned.bucket, f"{planned.sample_id}/sample.json", manifest)]
    events += [stack.upload(planned.bucket, planned.key(s), s.path.read_bytes()) for s in planned.images]
    return events


async def pushed(stack: NativeStack, sample_id: str, *, after: str | None = None) -> dict[str, Any]:
    """The sample once its push is done (and, with ``after``, done again since that time)."""

    def done(sample: dict[str, Any] | None) -> bool:
        push = (sample or {}).get("push") or {}
        return push.get("state") == "done" and (after is None or push["updated_at"] > after)

    sample = await eventually(
        lambda: stored_sample(stack.results_url, stack.api_token(TENANT), sample_id), until=done, timeout=45
    )
    assert sample is not None
    return sample


def in_ecotaxa(stack: NativeStack, sample_id: str) -> list[dict[str, Any]]:
    assert stack.ecotaxa is not None
    return [o for o in stack.ecotaxa.objects(stack.ecotaxa_project(TENANT)) if o["sample_id"] == sample_id]


def assert_imported_as_stored(imported: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    """EcoTaxa holds exactly the stored objects, predicted ones with their taxon, status P and score."""
    stored = {o["object_id"]: o for r in results for o in r["objects"]}
    assert len(imported) == len(stored)
    assert {o["orig_id"] for o in imported} == set(stored)
    for obj in imported:
        expected = stored[obj["orig_id"]]
        # EcoTaxa names an object's free columns without their `object_` prefix.
        assert obj["fields"]["score"] == pytest.approx(expected["score"], abs=1e-4)
        if expected["status"] == "predicted":
            assert (obj["classif_name"], obj["status"]) == (expected["label"], "P")
        else:
            assert (obj["classif_name"], obj["status"]) == (None, None)


def assert_crops_stored(stack: NativeStack, results: list[dict[str, Any]]) -> None:
    assert stack.s3 is not None
    s3 = stack.s3.client()
    for result in results:
        assert result["output_bucket"] == stack.config.output_bucket
        for obj in result["objects"]:
            assert obj["crop_key"], (result["object"]["key"], obj["index"])
            s3.head_object(Bucket=result["output_bucket"], Key=obj["crop_key"])


async def test_each_complete_sample_is_pushed_to_ecotaxa_once(stack: NativeStack) -> None:
    token = stack.api_token(TENANT)
    planned = [flowcam_run(), zooscan_sample()]
    assert all(len(p.images) >= 3 for p in planned)
    await stack.notify([event for p in planned for event in upload(stack, p)])

    done: dict[str, dict[str, Any]] = {}
    for sample_plan in planned:
        sample = done[sample_plan.sample_id] = await pushed(stack, sample_plan.sample_id)
        expected = len(sample_plan.images)
        assert (sample["processed"], sample["expected_objects"], sample["complete"]) == (expected, expected, True)
        assert sample["metadata"]["station"] == sample_plan.manifest["station"]
        results = await stored_results(stack.results_url, token, sample_id=sample_plan.sample_id)
        assert {r["object"]["key"] for r in results} == {sample_plan.key(s) for s in sample_plan.images}
        assert sum(len(r["objects"]) for r in results) == sample["objects"] >= expected
        imported = in_ecotaxa(stack, sample_plan.sample_id)
        assert_imported_as_stored(imported, results)
        assert sample["push"]["imported"] == len(imported)
        assert_crops_stored(stack, results)

    again = planned[0].sample_id
    before = in_ecotaxa(stack, again)
    first_push = done[again]["push"]["updated_at"]
    requested = await push_sample(stack.results_url, token, again)
    assert requested["push"]["updated_at"] > first_push, "the push was asked for again"
    await pushed(stack, again, after=first_push)
    assert in_ecotaxa(stack, again) == before, "a second push adds no object"
