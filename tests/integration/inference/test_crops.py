"""Crops and previews written to the output bucket by the worker, before the result is announced."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from aquaflow_devstack.ports import free_port
from aquaflow_devstack.proxy import CuttableProxy
from aquaflow_devstack.samples import real_images
from aquaflow_inference.app import create_app
from aquaflow_inference.deps import Deps, Probes
from aquaflow_inference.outputs import VIGNETTE_MARGIN
from aquaflow_inference.storage import ClientLimits, S3Storage
from aquaflow_shared.topology import INFERENCE_COMPLETED
from tests.integration.inference.conftest import Parts, request_for
from tests.support.polling import eventually
from tests.unit.inference.support import repository_model
from training import gen_fish_scenes

pytestmark = [pytest.mark.integration, pytest.mark.triton]

OUTPUT = "inference-it-crops"
PLANKTON = "plankton_classifier"


def png(pixels: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def scan_with_organisms() -> np.ndarray[Any, Any]:
    pixels = np.full((300, 400), 230, dtype=np.uint8)
    yy, xx = np.mgrid[:300, :400]
    for cx, cy, r in [(80, 80, 30), (250, 120, 20), (320, 240, 12)]:
        pixels[(xx - cx) ** 2 + (yy - cy) ** 2 <= r**2] = 40
    return pixels


@pytest.fixture
def output_bucket(parts: Parts) -> str:
    client = parts.s3_server.client()
    if OUTPUT not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=OUTPUT)
    return OUTPUT


def stored(parts: Parts, key: str) -> Image.Image:
    body = parts.s3_server.client().get_object(Bucket=OUTPUT, Key=key)["Body"].read()
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG"
    image.load()
    return image


def keys_under(parts: Parts, prefix: str) -> set[str]:
    listed = parts.s3_server.client().list_objects_v2(Bucket=OUTPUT, Prefix=prefix)
    return {o["Key"] for o in listed.get("Contents", [])}


async def test_crops_land_under_the_keys_the_result_names_and_a_redelivery_rewrites_them(
    parts: Parts, triton: Any, output_bucket: str
) -> None:
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    pixels = scan_with_organisms()
    scan = parts.upload("zooscan/scan 01.png", png(pixels))
    flowcam = next(s for s in real_images() if s.key.startswith("images/") and not s.corrupt)
    particle = parts.upload(flowcam.key, flowcam.path.read_bytes())
    zooscan_request = request_for(scan, profile="zooscan", model=PLANKTON).model_copy(
        update={"sample_id": "tara_st12", "route": "zooscan-scans"}
    )
    async with create_app(parts.settings(PLANKTON, triton.grpc_url, output_bucket=output_bucket)):
        await parts.publish(zooscan_request)
        await parts.publish(request_for(particle, profile="flowcam", model=PLANKTON))
        bodies = await eventually(completed.bodies, until=lambda b: len(b) >= 2, timeout=60)
        by_profile = {b["profile"]: b for b in bodies}
        zooscan = by_profile["zooscan"]
        prefix = zooscan["preview_key"].rsplit("/", 1)[0]
        first_keys = keys_under(parts, prefix)
        # The broker redelivers the same request (a worker died before acking): same keys, no strays.
        await parts.publish(zooscan_request)
        again = await eventually(completed.bodies, until=lambda b: len(b) >= 3, timeout=60)

    assert (zooscan["route"], zooscan["sample_id"], zooscan["output_bucket"]) == (
        "zooscan-scans",
        "tara_st12",
        OUTPUT,
    )
    assert prefix.startswith("lov/tara_st12/")
    regions = zooscan["regions"]
    assert len(regions) == 3
    assert first_keys == {r["crop_key"] for r in regions} | {zooscan["preview_key"]}
    for region in regions:
        box = region["box"]
        crop = stored(parts, region["crop_key"])
        x0, y0 = int(box["x_min"]) - VIGNETTE_MARGIN, int(box["y_min"]) - VIGNETTE_MARGIN
        x1, y1 = int(box["x_max"]) + VIGNETTE_MARGIN, int(box["y_max"]) + VIGNETTE_MARGIN
        assert crop.size == (x1 - x0, y1 - y0)
        np.testing.assert_array_equal(np.asarray(crop), pixels[y0:y1, x0:x1])  # the scan's own grey levels
        assert set(region["classification"]["scores"]) == set(regions[0]["classification"]["scores"])
    assert stored(parts, zooscan["preview_key"]).size == (400, 300)

    flowcam_result = by_profile["flowcam"]
    assert flowcam_result["crop_key"].startswith("lov/_unsampled/")
    assert stored(parts, flowcam_result["crop_key"]).size == (
        flowcam_result["image_width"],
        flowcam_result["image_height"],
    )
    assert flowcam_result["route"] == "test"

    redelivered = [b for b in again if b["profile"] == "zooscan"][-1]
    assert [r["crop_key"] for r in redelivered["regions"]] == [r["crop_key"] for r in regions]
    assert keys_under(parts, prefix) == first_keys


async def test_detections_are_cropped_at_their_boxes(parts: Parts, triton: Any, output_bucket: str) -> None:
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    rng = np.random.default_rng(2026)
    frame = next(s for s in iter(lambda: gen_fish_scenes.render(rng), None) if len(s.boxes) >= 3).image
    buffer = io.BytesIO()
    frame.save(buffer, format="PNG")
    scene = parts.upload("obsea/frame.png", buffer.getvalue())
    async with create_app(parts.settings("fish_detector", triton.grpc_url, output_bucket=output_bucket)):
        await parts.publish(request_for(scene, profile="obsea", model="fish_detector"))
        (result,) = await eventually(completed.bodies, until=lambda b: len(b) >= 1, timeout=60)
    assert result["detections"], "the generated frame has fish"
    for detection in result["detections"]:
        box = detection["box"]
        crop = stored(parts, detection["crop_key"])
        width = int(np.ceil(box["x_max"])) - int(np.floor(box["x_min"]))
        height = int(np.ceil(box["y_max"])) - int(np.floor(box["y_min"]))
        assert crop.size == (width, height)
    assert stored(parts, result["preview_key"]).mode == "RGB"


async def test_an_s3_outage_pauses_the_worker_and_the_upload_is_processed_once_s3_is_back(parts: Parts) -> None:
    """Adapters handed in through ``deps``: the model in-process, S3 behind a proxy that is cut."""
    obj = parts.upload("outage/particle.png", png(np.full((40, 60), 200, dtype=np.uint8)))
    target = parts.s3.endpoint_url or ""
    proxy = CuttableProxy("127.0.0.1", int(target.rsplit(":", 1)[1]), listen_port=free_port()).start()
    through = S3Storage(
        parts.s3.model_copy(update={"endpoint_url": f"http://{proxy.address}"}), ClientLimits(connect_timeout_seconds=1)
    )

    async def model_ready() -> bool:
        return True

    async def s3_back() -> bool:
        return await through.reachable(None, 2.0)

    deps = Deps(
        reader=through,
        writer=through,
        model=repository_model(PLANKTON)[0],
        probes=Probes(triton=model_ready, s3=s3_back),
        on_start=(through.open,),
        on_stop=(through.close,),
    )
    completed = await parts.rabbit.tap(parts.topology.events.name, INFERENCE_COMPLETED)
    fast = parts.broker.model_copy(update={"outage_probe_seconds": 0.2, "outage_probe_max_seconds": 0.5})
    app = create_app(parts.settings(PLANKTON, "unused:1", broker=fast), deps)
    try:
        async with app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://w") as client:
            proxy.cut()
            await parts.publish(request_for(obj, profile="flowcam", model=PLANKTON))
            stage = f"consuming.inference.{PLANKTON}"
            health = await eventually(lambda: client.get("/health"), until=lambda r: r.json()[stage] is False)
            paused = health.status_code == 503
            assert await parts.rabbit.queue_messages(parts.topology.dead_letter_queue.name) == []
            proxy.restore()
            bodies = await eventually(completed.bodies, until=lambda b: len(b) >= 1, timeout=60)
    finally:
        proxy.stop()
    assert paused
    assert bodies[0]["object"]["key"] == "outage/particle.png"
    assert await parts.rabbit.queue_messages(parts.topology.dead_letter_queue.name) == []
