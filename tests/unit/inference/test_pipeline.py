"""The use case per profile, with the project's real models run by ONNX Runtime in-process.

The models are the ImageModel the worker builds over Triton (``TritonImageModel``), over the
same ONNX files run in-process, so these tests exercise the whole pipeline without a server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aquaflow_devstack.samples import real_images
from aquaflow_inference.errors import ProfileMismatch, UnknownModel
from aquaflow_inference.imaging import decode_image
from aquaflow_inference.model_port import ModelInfo
from aquaflow_inference.pipeline import check_request, run_inference
from aquaflow_inference.postprocess import count_labels, iou
from aquaflow_inference.triton_image_model import TritonImageModel
from aquaflow_shared.contracts import BoundingBox, InferenceCompleted, derive_id
from tests.unit.inference.support import repository_model, repository_tensors, request_for
from training import gen_fish_scenes, gen_litter_tiles, gen_plankton
from training.preprocess import classifier_input

# Generated images the models never saw in training (they were trained on seed 1).
UNSEEN = 2026


@pytest.fixture(scope="module")
def plankton() -> TritonImageModel:
    return repository_model("plankton_classifier")[0]


@pytest.fixture(scope="module")
def detector() -> TritonImageModel:
    return repository_model("fish_detector")[0]


@pytest.fixture(scope="module")
def litter() -> TritonImageModel:
    return repository_model("litter_tiles")[0]


def real(prefix: str) -> Image.Image:
    sample = next(s for s in real_images() if s.key.startswith(prefix) and not s.corrupt)
    return decode_image(sample.path.read_bytes(), max_pixels=60_000_000)


def corners(box: BoundingBox) -> list[float]:
    return [box.x_min, box.y_min, box.x_max, box.y_max]


def inside(box: BoundingBox, width: int, height: int) -> bool:
    return 0 <= box.x_min < box.x_max <= width and 0 <= box.y_min < box.y_max <= height


def ticking() -> Callable[[], float]:
    times = iter([10.0, 10.25])
    return lambda: next(times)


async def test_flowcam_classifies_the_whole_image(plankton: TritonImageModel) -> None:
    request = request_for("flowcam", "plankton_classifier")
    image = real("images/")
    done = await run_inference(request, image, plankton, max_regions=10, clock=ticking())
    assert done.classification is not None
    assert done.classification.label in plankton.info.labels
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
    assert set(done.classification.scores) == set(plankton.info.labels)
    assert done.classification.scores[done.classification.label] == done.classification.score


async def test_route_and_sample_pass_through(plankton: TritonImageModel) -> None:
    request = request_for("flowcam", "plankton_classifier").model_copy(
        update={"route": "flowcam-runs", "sample_id": "tara_2026_st12"}
    )
    done = await run_inference(request, real("images/"), plankton, max_regions=10)
    assert (done.route, done.sample_id) == ("flowcam-runs", "tara_2026_st12")
    assert done.output_bucket is None  # the use case names it once the crops are written


async def test_the_same_request_gives_the_same_message_id(plankton: TritonImageModel) -> None:
    request = request_for("flowcam", "plankton_classifier")
    image = real("images/")
    first = await run_inference(request, image, plankton, max_regions=10)
    again = await run_inference(request, image, plankton, max_regions=10)
    assert first.message_id == again.message_id
    assert first.classification == again.classification


async def test_flowcam_gives_the_scores_of_the_model_on_the_training_preprocessing(
    plankton: TritonImageModel,
) -> None:
    for sample in [s for s in real_images() if not s.corrupt][::15]:
        image = decode_image(sample.path.read_bytes(), max_pixels=60_000_000)
        done = await run_inference(request_for("flowcam", "plankton_classifier"), image, plankton, max_regions=5)
        reference = (await repository_tensors("plankton_classifier").infer(classifier_input(image)[None]))[0]
        assert done.classification is not None
        best = np.argsort(-reference)[:3]
        assert [t.label for t in done.classification.top] == [plankton.info.labels[i] for i in best], sample.key
        assert [t.score for t in done.classification.top] == pytest.approx(reference[best].tolist(), abs=1e-6)


async def test_flowcam_recognises_unseen_generated_plankton(plankton: TritonImageModel) -> None:
    rng = np.random.default_rng(UNSEEN)
    right = 0
    for _ in range(40):
        image, truth = gen_plankton.sample(rng)
        done = await run_inference(request_for("flowcam", "plankton_classifier"), image, plankton, max_regions=5)
        assert done.classification is not None
        right += done.classification.label == gen_plankton.CLASSES[truth]
    assert right >= 32  # the model card reports 0.97 held-out accuracy


async def test_zooscan_segments_and_classifies_each_region_in_one_batch() -> None:
    model, tensors = repository_model("plankton_classifier")
    pixels = np.full((300, 400), 230, dtype=np.uint8)
    yy, xx = np.mgrid[:300, :400]
    for cx, cy, r in [(80, 80, 30), (250, 120, 20), (320, 240, 12)]:
        pixels[(xx - cx) ** 2 + (yy - cy) ** 2 <= r**2] = 40
    done = await run_inference(
        request_for("zooscan", "plankton_classifier"), Image.fromarray(pixels), model, max_regions=2
    )
    assert tensors.rows == [2]
    assert [(r.index, r.box.x_min, r.box.y_min) for r in done.regions] == [(0, 50, 50), (1, 230, 100)]
    assert all(r.classification is not None and r.features["object_area"] > 0 for r in done.regions)
    assert sum(done.counts.values()) == 2
    assert done.measures == {"regions_found": 3, "regions_classified": 2}


async def test_zooscan_without_regions_classifies_the_whole_image_as_one(plankton: TritonImageModel) -> None:
    done = await run_inference(
        request_for("zooscan", "plankton_classifier"), Image.new("L", (80, 60), 230), plankton, max_regions=5
    )
    (whole,) = done.regions
    assert (whole.box.x_min, whole.box.y_min, whole.box.x_max, whole.box.y_max) == (0, 0, 80, 60)
    assert whole.classification is not None
    assert done.counts == {whole.classification.label: 1}


@pytest.mark.parametrize("prefix", ["import_test/", "images/vignette/", "import_test_plus/"])
async def test_zooscan_on_a_real_vignette(plankton: TritonImageModel, prefix: str) -> None:
    image = real(prefix)
    done = await run_inference(request_for("zooscan", "plankton_classifier"), image, plankton, max_regions=20)
    assert done.regions
    assert [r.index for r in done.regions] == list(range(len(done.regions)))
    areas = [r.features["object_area"] for r in done.regions]
    assert areas == sorted(areas, reverse=True)
    for region in done.regions:
        assert region.classification is not None
        assert region.classification.label in plankton.info.labels
        assert inside(region.box, image.width, image.height)
        assert region.features["object_width"] == region.box.x_max - region.box.x_min
        assert all(key.startswith("object_") for key in region.features)
    assert done.counts == count_labels([r.classification.label for r in done.regions if r.classification])
    assert done.measures["regions_classified"] == len(done.regions) <= done.measures["regions_found"]


async def test_litter_classifies_every_tile_and_measures_the_litter_fraction() -> None:
    model, tensors = repository_model("litter_tiles")
    done = await run_inference(
        request_for("litter", "litter_tiles"), Image.new("RGB", (300, 200), (30, 80, 120)), model, max_regions=5
    )
    assert tensors.rows == [6]
    assert [r.index for r in done.regions] == list(range(6))
    assert done.regions[2].box.x_max == 300
    assert sum(done.counts.values()) == 6
    littered = [r for r in done.regions if r.classification is not None and r.classification.label == "litter"]
    area = sum((r.box.x_max - r.box.x_min) * (r.box.y_max - r.box.y_min) for r in littered)
    assert done.measures["litter_fraction"] == round(area / (300 * 200), 4)


async def test_litter_recognises_a_mosaic_of_unseen_generated_tiles(litter: TritonImageModel) -> None:
    rng = np.random.default_rng(UNSEEN)
    right = 0
    for _ in range(5):
        truth = [gen_litter_tiles.CLASSES[int(i)] for i in rng.integers(0, 3, size=6)]
        mosaic = Image.new("RGB", (384, 256))
        for k, label in enumerate(truth):
            mosaic.paste(gen_litter_tiles.render(label, rng).resize((128, 128)), (k % 3 * 128, k // 3 * 128))
        done = await run_inference(request_for("litter", "litter_tiles"), mosaic, litter, max_regions=5)
        found = [r.classification.label for r in done.regions if r.classification is not None]
        assert len(found) == 6
        right += sum(a == b for a, b in zip(found, truth, strict=True))
    assert right >= 25  # of 30 tiles; the model card reports 0.98 held-out accuracy


def matched(done: InferenceCompleted, truth: gen_fish_scenes.Scene) -> tuple[int, int]:
    """Fish found at IoU >= 0.5, and of those the ones with the right species."""
    boxes = np.array([corners(d.box) for d in done.detections], np.float32).reshape(-1, 4)
    found = named = 0
    for box, species in zip(truth.boxes, truth.labels, strict=True):
        if len(boxes) == 0:
            continue
        overlaps = iou(box, boxes)
        best = int(overlaps.argmax())
        if overlaps[best] >= 0.5:
            found += 1
            named += done.detections[best].label == gen_fish_scenes.CLASSES[int(species)]
    return found, named


async def test_obsea_finds_the_fish_of_unseen_generated_frames_in_original_pixels(detector: TritonImageModel) -> None:
    """Frames of many sizes and aspect ratios: a letterbox mapped back wrongly would miss the fish."""
    rng = np.random.default_rng(UNSEEN)
    fish = found = named = detections = 0
    for _ in range(15):
        scene = gen_fish_scenes.render(rng)
        done = await run_inference(request_for("obsea", "fish_detector"), scene.image, detector, max_regions=5)
        assert done.counts == count_labels([d.label for d in done.detections])
        assert all(inside(d.box, *scene.image.size) for d in done.detections)
        hits = matched(done, scene)
        fish, found, named = fish + len(scene.boxes), found + hits[0], named + hits[1]
        detections += len(done.detections)
    assert fish > 40
    assert found >= 0.7 * fish  # recall at IoU 0.5
    assert found >= 0.7 * detections  # precision
    assert named >= 0.9 * found


@pytest.mark.parametrize("prefix", ["images/", "import_test/"])
async def test_obsea_on_a_real_picture_gives_consistent_detections(detector: TritonImageModel, prefix: str) -> None:
    image = real(prefix)
    done = await run_inference(request_for("obsea", "fish_detector"), image, detector, max_regions=5)
    assert done.classification is None
    assert not done.regions
    assert done.counts == count_labels([d.label for d in done.detections])
    scores = [d.score for d in done.detections]
    assert scores == sorted(scores, reverse=True)
    assert all(d.score > repository_tensors("fish_detector").spec.score_threshold for d in done.detections)
    assert all(inside(d.box, *image.size) for d in done.detections)


@pytest.mark.parametrize(
    ("model", "profile", "error", "reason"),
    [
        ("fish_detector", "flowcam", UnknownModel, "serves 'plankton_classifier', not 'fish_detector'"),
        ("plankton_classifier", "obsea", ProfileMismatch, "needs a detection model"),
        ("plankton_classifier", "litter", ProfileMismatch, "needs a tile model"),
        ("plankton_classifier", "lisst", ProfileMismatch, "unknown pipeline profile 'lisst'"),
    ],
)
def test_requests_this_worker_cannot_serve_are_refused(
    plankton: TritonImageModel, model: str, profile: str, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        check_request(request_for(profile, model), plankton.info)


def test_the_detector_cannot_run_a_classification_profile(detector: TritonImageModel) -> None:
    with pytest.raises(ProfileMismatch, match="needs a classification model"):
        check_request(request_for("flowcam", "fish_detector"), detector.info)


def test_the_litter_profile_needs_a_litter_class(litter: TritonImageModel) -> None:
    info = dataclasses.replace(litter.info, labels=("water", "trash", "other"))
    with pytest.raises(ProfileMismatch, match="needs a 'litter' class"):
        check_request(request_for("litter", "litter_tiles"), info)
    assert check_request(request_for("litter", "litter_tiles"), litter.info).name == "litter"


# Every profile, uvp included, is a row of the profile table: these run it end to end.


def uvp_vignette() -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A UVP-like vignette: a bright elongated organism on a dark background, with a bright legend."""
    pixels = np.full((120, 100), 12, dtype=np.uint8)
    yy, xx = np.mgrid[:120, :100]
    organism = ((xx - 50) / 14.0) ** 2 + ((yy - 55) / 30.0) ** 2 <= 1
    pixels[organism] = 210
    pixels[110:114, 5:35] = 255  # a scale bar
    ys, xs = np.nonzero(organism)
    return Image.fromarray(pixels), (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


async def test_uvp_classifies_the_whole_vignette_and_measures_its_bright_organism(
    plankton: TritonImageModel,
) -> None:
    image, organism = uvp_vignette()
    done = await run_inference(request_for("uvp", "plankton_classifier"), image, plankton, max_regions=5)
    assert done.classification is not None
    assert done.classification.label in plankton.info.labels
    assert not done.regions
    whole = await plankton.classify([image])
    assert done.classification == whole[0]  # the whole vignette, not a crop of it
    measures = done.measures
    assert (measures["object_bx"], measures["object_by"]) == (organism[0], organism[1])
    assert (measures["object_width"], measures["object_height"]) == (
        organism[2] - organism[0],
        organism[3] - organism[1],
    )
    # Read as dark-on-light (flowcam), the same vignette's organism would be the dark background.
    flowcam = await run_inference(request_for("flowcam", "plankton_classifier"), image, plankton, max_regions=5)
    assert flowcam.measures.get("object_width") != measures["object_width"]


async def test_flowcam_measures_its_dark_organism(plankton: TritonImageModel) -> None:
    pixels = np.full((80, 90), 225, dtype=np.uint8)
    pixels[20:50, 30:70] = 35
    done = await run_inference(
        request_for("flowcam", "plankton_classifier"), Image.fromarray(pixels), plankton, max_regions=5
    )
    assert (done.measures["object_bx"], done.measures["object_by"]) == (30, 20)
    assert (done.measures["object_width"], done.measures["object_height"]) == (40, 30)
    assert done.measures["object_area"] == pytest.approx(40 * 30, rel=0.05)


async def test_the_worker_grey_level_applies_to_dark_on_light_profiles_only(plankton: TritonImageModel) -> None:
    """A fixed level under every organism's grey finds nothing on a scan, so the whole scan is one region."""
    pixels = np.full((200, 200), 230, dtype=np.uint8)
    pixels[50:90, 50:90] = 120
    image = Image.fromarray(pixels)
    adaptive = await run_inference(request_for("zooscan", "plankton_classifier"), image, plankton, max_regions=5)
    fixed = await run_inference(
        request_for("zooscan", "plankton_classifier"), image, plankton, max_regions=5, grey_threshold=100
    )
    assert adaptive.regions[0].box.x_min == 50
    assert [(r.box.x_min, r.box.x_max) for r in fixed.regions] == [(0, 200)]
    bright, _ = uvp_vignette()
    uvp = await run_inference(
        request_for("uvp", "plankton_classifier"), bright, plankton, max_regions=5, grey_threshold=100
    )
    assert "object_area" in uvp.measures  # a darker-than level means nothing to bright organisms


async def test_the_result_names_the_version_that_ran_and_the_one_asked_for() -> None:
    model, tensors = repository_model("plankton_classifier")
    request = request_for("flowcam", "plankton_classifier").model_copy(update={"model_version": "1"})
    pinned = await model.version("1")
    done = await run_inference(request, Image.new("L", (40, 30), 200), pinned, max_regions=5)
    assert (done.model_version, done.requested_version) == ("1", "1")
    assert tensors.calls == [("1", 1)]
    unpinned = await run_inference(
        request_for("flowcam", "plankton_classifier"), Image.new("L", (40, 30), 200), model, max_regions=5
    )
    assert (unpinned.model_version, unpinned.requested_version) == ("1", None)
    # Two pinned versions of one model on one object are two results, not a redelivery.
    assert done.message_id != unpinned.message_id
    assert unpinned.message_id == derive_id("inference.completed", *request.object.identity, "plankton_classifier")


def test_model_info_is_what_the_backend_reads_from_the_config(
    plankton: TritonImageModel, litter: TritonImageModel
) -> None:
    assert plankton.info == ModelInfo(
        name="plankton_classifier",
        version="1",
        task="classification",
        labels=tuple(
            (Path(__file__).resolve().parents[3] / "model_repository/plankton_classifier/labels.txt")
            .read_text()
            .split()
        ),
        backend="triton",
    )
    assert litter.info.tile_size == 128
