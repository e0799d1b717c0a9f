"""The use case per profile, with the project's real models run by ONNX Runtime in-process."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from aquaflow_devstack.samples import real_images
from aquaflow_inference.errors import ProfileMismatch, UnknownModel
from aquaflow_inference.imaging import decode_image
from aquaflow_inference.pipeline import check_request, run_inference
from aquaflow_shared.contracts import derive_id
from tests.unit.inference.support import OnnxRuntimeRunner, repository_spec, request_for


@pytest.fixture(scope="module")
def plankton() -> OnnxRuntimeRunner:
    return OnnxRuntimeRunner("plankton_classifier")


def real(prefix: str) -> Image.Image:
    sample = next(s for s in real_images() if s.key.startswith(prefix) and not s.corrupt)
    return decode_image(sample.path.read_bytes(), max_pixels=60_000_000)


def ticking() -> Callable[[], float]:
    times = iter([10.0, 10.25])
    return lambda: next(times)


async def test_flowcam_classifies_the_whole_image(plankton: OnnxRuntimeRunner) -> None:
    request = request_for("flowcam", "plankton_classifier")
    image = real("images/")
    done = await run_inference(request, image, plankton, max_regions=10, clock=ticking())
    assert done.classification is not None
    assert done.classification.label in plankton.spec.labels
    assert done.classification.top[0].label == done.classification.label
    assert [t.score for t in done.classification.top] == sorted(
        (t.score for t in done.classification.top), reverse=True
    )
    assert done.message_id == derive_id("inference.completed", *request.object.identity, "plankton_classifier")
    assert (done.correlation_id, done.tenant, done.object) == (request.correlation_id, "lov", request.object)
    assert (done.image_width, done.image_height) == image.size
    assert (done.model_version, done.inference_ms) == ("1", 250.0)
    assert not done.regions
    assert not done.detections


async def test_the_same_request_gives_the_same_message_id(plankton: OnnxRuntimeRunner) -> None:
    request = request_for("flowcam", "plankton_classifier")
    image = real("images/")
    first = await run_inference(request, image, plankton, max_regions=10)
    again = await run_inference(request, image, plankton, max_regions=10)
    assert first.message_id == again.message_id
    assert first.classification == again.classification


async def test_zooscan_segments_and_classifies_each_region_in_one_batch() -> None:
    runner = OnnxRuntimeRunner("plankton_classifier")
    pixels = np.full((300, 400), 230, dtype=np.uint8)
    yy, xx = np.mgrid[:300, :400]
    for cx, cy, r in [(80, 80, 30), (250, 120, 20), (320, 240, 12)]:
        pixels[(xx - cx) ** 2 + (yy - cy) ** 2 <= r**2] = 40
    done = await run_inference(
        request_for("zooscan", "plankton_classifier"), Image.fromarray(pixels), runner, max_regions=2
    )
    assert runner.calls == [2]
    assert [(r.index, r.box.x_min, r.box.y_min) for r in done.regions] == [(0, 50, 50), (1, 230, 100)]
    assert all(r.classification is not None and r.features["object_area"] > 0 for r in done.regions)
    assert sum(done.counts.values()) == 2
    assert done.measures == {"regions_found": 3, "regions_classified": 2}


async def test_zooscan_without_regions_classifies_the_whole_image_as_one(plankton: OnnxRuntimeRunner) -> None:
    done = await run_inference(
        request_for("zooscan", "plankton_classifier"), Image.new("L", (80, 60), 230), plankton, max_regions=5
    )
    (whole,) = done.regions
    assert (whole.box.x_min, whole.box.y_min, whole.box.x_max, whole.box.y_max) == (0, 0, 80, 60)
    assert whole.classification is not None
    assert done.counts == {whole.classification.label: 1}


async def test_zooscan_on_a_real_vignette(plankton: OnnxRuntimeRunner) -> None:
    done = await run_inference(
        request_for("zooscan", "plankton_classifier"), real("import_test/"), plankton, max_regions=20
    )
    assert done.regions
    assert all(r.classification is not None and r.classification.label in plankton.spec.labels for r in done.regions)
    assert sum(done.counts.values()) == len(done.regions)


async def test_litter_classifies_every_tile_and_measures_the_litter_fraction() -> None:
    runner = OnnxRuntimeRunner("litter_tiles")
    done = await run_inference(
        request_for("litter", "litter_tiles"), Image.new("RGB", (300, 200), (30, 80, 120)), runner, max_regions=5
    )
    assert runner.calls == [6]
    assert [r.index for r in done.regions] == list(range(6))
    assert done.regions[2].box.x_max == 300
    assert sum(done.counts.values()) == 6
    littered = [r for r in done.regions if r.classification is not None and r.classification.label == "litter"]
    area = sum((r.box.x_max - r.box.x_min) * (r.box.y_max - r.box.y_min) for r in littered)
    assert done.measures["litter_fraction"] == round(area / (300 * 200), 4)


@pytest.mark.parametrize(
    ("model", "profile", "error", "reason"),
    [
        ("fish_detector", "flowcam", UnknownModel, "serves 'plankton_classifier', not 'fish_detector'"),
        ("plankton_classifier", "obsea", ProfileMismatch, "needs a detection model"),
        ("plankton_classifier", "litter", ProfileMismatch, "needs a tile model"),
        ("plankton_classifier", "uvp", ProfileMismatch, "unknown pipeline profile 'uvp'"),
    ],
)
def test_requests_this_worker_cannot_serve_are_refused(
    model: str, profile: str, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        check_request(request_for(profile, model), repository_spec("plankton_classifier"))


def test_the_detector_cannot_run_a_classification_profile() -> None:
    with pytest.raises(ProfileMismatch, match="needs a classification model"):
        check_request(request_for("flowcam", "fish_detector"), repository_spec("fish_detector"))
