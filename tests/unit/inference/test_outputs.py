"""Which crops and preview a result leaves for EcoTaxa, under which deterministic keys."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aquaflow_inference.outputs import PREVIEW_NAME, VIGNETTE_MARGIN, key_prefix, key_stem, marks, render_outputs
from aquaflow_inference.pipeline import run_inference
from aquaflow_inference.preview import annotate
from aquaflow_shared.contracts import (
    BoundingBox,
    Classification,
    Detection,
    InferenceCompleted,
    ObjectRef,
    Region,
)
from tests.support.messages import inference_request
from tests.unit.inference.support import repository_model

BUCKET = "aquaflow-crops"


def completed(
    profile: str, *, key: str = "run 7/scan 01.tif", sample_id: str | None = "S-7", **fields: object
) -> InferenceCompleted:
    obj = ObjectRef(bucket="plankton-in", key=key, etag="0123456789abcdef")
    return InferenceCompleted(
        message_id="m" * 32,
        correlation_id="c" * 32,
        tenant="lov",
        object=obj,
        profile=profile,
        model="plankton_classifier",
        model_version="1",
        image_width=200,
        image_height=100,
        inference_ms=1.0,
        route="zooscan-scans",
        sample_id=sample_id,
        **fields,  # type: ignore[arg-type]
    )


def box(x0: float, y0: float, x1: float, y1: float) -> BoundingBox:
    return BoundingBox(x_min=x0, y_min=y0, x_max=x1, y_max=y1)


def png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def scan() -> tuple[Image.Image, np.ndarray]:  # type: ignore[type-arg]
    pixels = (np.arange(200 * 100, dtype=np.uint32).reshape(100, 200) % 253).astype(np.uint8)
    return Image.fromarray(pixels), pixels


def test_keys_are_scoped_by_tenant_sample_and_object_version() -> None:
    result = completed("zooscan")
    prefix = key_prefix(result)
    tenant, sample, version = prefix.split("/")
    assert (tenant, sample, len(version)) == ("lov", "S-7", 16)
    assert key_prefix(completed("zooscan", sample_id=None)).startswith("lov/_unsampled/")
    assert key_prefix(completed("zooscan")) == prefix  # deterministic: a redelivery writes the same keys
    newer = result.model_copy(update={"object": result.object.model_copy(update={"etag": "fedcba9876543210"})})
    assert key_prefix(newer) != prefix  # another version of the object never shares crops
    pinned = [key_prefix(result.model_copy(update={"requested_version": v})) for v in ("2", "3")]
    assert len({prefix, *pinned}) == 3  # nor do two pinned versions of the model
    ran = result.model_copy(update={"model_version": "9"})
    assert key_prefix(ran) == prefix  # the version that ran may change on a redelivery: keys may not


@pytest.mark.parametrize(
    ("key", "stem"),
    [
        ("run 7/scan 01.tif", "scan_01"),
        ("a/b/Copépode#3.jpeg", "Cop_pode_3"),
        ("..", "object"),
        ("x/.hidden.png", "hidden"),
        ("long/" + "a" * 200 + ".png", "a" * 64),
    ],
)
def test_stems_are_plain_file_names(key: str, stem: str) -> None:
    assert key_stem(key) == stem


def test_zooscan_regions_become_vignettes_with_their_margin_and_grey_levels() -> None:
    image, pixels = scan()
    regions = [
        Region(index=0, box=box(20, 30, 60, 70), classification=Classification(label="copepod", score=0.9)),
        Region(index=1, box=box(0, 0, 10, 8), classification=Classification(label="egg", score=0.7)),
    ]
    rendered = render_outputs(completed("zooscan", regions=regions), image, BUCKET)
    result = rendered.completed
    prefix = key_prefix(result)
    assert result.output_bucket == BUCKET
    assert [r.crop_key for r in result.regions] == [f"{prefix}/scan_01_0000.png", f"{prefix}/scan_01_0001.png"]
    assert result.preview_key == f"{prefix}/{PREVIEW_NAME}"
    files = {f.key: png(f.data) for f in rendered.files}
    assert set(files) == {result.regions[0].crop_key, result.regions[1].crop_key, result.preview_key}
    m = VIGNETTE_MARGIN
    first = files[f"{prefix}/scan_01_0000.png"]
    assert (first.mode, first.size) == ("L", (40 + 2 * m, 40 + 2 * m))
    np.testing.assert_array_equal(np.asarray(first), pixels[30 - m : 70 + m, 20 - m : 60 + m])
    assert files[f"{prefix}/scan_01_0001.png"].size == (10 + m, 8 + m)  # clipped at the corner
    assert files[result.preview_key or ""].mode == "RGB"


def test_the_flowcam_particle_is_the_whole_image() -> None:
    image, pixels = scan()
    rendered = render_outputs(
        completed("flowcam", classification=Classification(label="diatom", score=0.8)), image, BUCKET
    )
    files = {f.key: png(f.data) for f in rendered.files}
    assert rendered.completed.crop_key == f"{key_prefix(rendered.completed)}/scan_01_0000.png"
    np.testing.assert_array_equal(np.asarray(files[rendered.completed.crop_key]), pixels)
    assert rendered.completed.preview_key in files


def test_a_uvp_vignette_is_its_own_crop() -> None:
    image, pixels = scan()
    rendered = render_outputs(
        completed("uvp", classification=Classification(label="copepod", score=0.7)), image, BUCKET
    )
    files = {f.key: png(f.data) for f in rendered.files}
    np.testing.assert_array_equal(np.asarray(files[rendered.completed.crop_key or ""]), pixels)


def test_only_litter_tiles_are_cropped() -> None:
    image = Image.new("RGB", (200, 100), (30, 80, 120))
    tiles = [
        Region(index=i, box=box(100 * i, 0, 100 * i + 100, 100), classification=Classification(label=label, score=0.9))
        for i, label in enumerate(["water", "litter"])
    ]
    result = render_outputs(completed("litter", regions=tiles), image, BUCKET).completed
    assert result.regions[0].crop_key is None
    assert result.regions[1].crop_key == f"{key_prefix(result)}/scan_01_0001.png"


def test_detections_are_cropped_at_their_box_in_rank_order() -> None:
    image = Image.new("RGB", (200, 100), (20, 90, 110))
    detections = [
        Detection(label="bream", score=0.9, box=box(10.5, 20.2, 50.7, 60)),
        Detection(label="mullet", score=0.6, box=box(100, 10, 190, 90)),
    ]
    rendered = render_outputs(completed("obsea", detections=detections), image, BUCKET)
    files = {f.key: png(f.data) for f in rendered.files}
    keys = [d.crop_key for d in rendered.completed.detections]
    assert keys == [f"{key_prefix(rendered.completed)}/scan_01_{i:04d}.png" for i in range(2)]
    assert [files[k or ""].size for k in keys] == [(41, 40), (90, 80)]


def test_rendering_twice_gives_the_same_keys_and_bytes() -> None:
    image, _ = scan()
    regions = [Region(index=0, box=box(20, 30, 60, 70), classification=Classification(label="copepod", score=0.9))]
    result = completed("zooscan", regions=regions)
    first = render_outputs(result, image, BUCKET)
    again = render_outputs(
        result.model_copy(update={"created_at": result.created_at.replace(year=2030)}), image, BUCKET
    )
    assert first.files == again.files
    assert first.completed.regions == again.completed.regions


async def test_a_real_scan_gives_one_vignette_per_region() -> None:
    model, _ = repository_model("plankton_classifier")
    pixels = np.full((300, 400), 230, dtype=np.uint8)
    yy, xx = np.mgrid[:300, :400]
    for cx, cy, r in [(80, 80, 30), (250, 120, 20)]:
        pixels[(xx - cx) ** 2 + (yy - cy) ** 2 <= r**2] = 40
    image = Image.fromarray(pixels)
    obj = ObjectRef(bucket="plankton-in", key="scan.png", etag="0123456789abcdef")
    done = await run_inference(
        inference_request(obj, profile="zooscan", model="plankton_classifier"), image, model, max_regions=5
    )
    rendered = render_outputs(done, image, BUCKET)
    files = {f.key: png(f.data) for f in rendered.files}
    for region in rendered.completed.regions:
        width = region.box.x_max - region.box.x_min + 2 * VIGNETTE_MARGIN
        height = region.box.y_max - region.box.y_min + 2 * VIGNETTE_MARGIN
        assert files[region.crop_key or ""].size == (width, height)


def encoded_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)  # not the level render_outputs uses
    return buffer.getvalue()


@pytest.mark.parametrize("profile", ["flowcam", "uvp"])
def test_a_vignette_uploaded_as_a_png_of_its_pixels_is_its_own_crop_byte_for_byte(profile: str) -> None:
    image, pixels = scan()
    upload = encoded_png(image)
    result = completed(profile, classification=Classification(label="copepod", score=0.7))
    rendered = render_outputs(result, image, BUCKET, upload_png=upload)
    files = {f.key: f.data for f in rendered.files}
    assert files[rendered.completed.crop_key or ""] is upload
    # The same key, pixels and preview as a new encoding would give.
    encoded_anew = render_outputs(result, image, BUCKET)
    assert [f.key for f in encoded_anew.files] == list(files)
    assert encoded_anew.completed == rendered.completed
    np.testing.assert_array_equal(np.asarray(png(files[rendered.completed.crop_key or ""])), pixels)
    preview = rendered.completed.preview_key or ""
    assert files[preview] == {f.key: f.data for f in encoded_anew.files}[preview]


def test_without_the_upload_a_vignette_crop_is_encoded_from_its_pixels() -> None:
    image, pixels = scan()
    result = completed("flowcam", classification=Classification(label="copepod", score=0.7))
    rendered = render_outputs(result, image, BUCKET, upload_png=None)
    crop = {f.key: f.data for f in rendered.files}[rendered.completed.crop_key or ""]
    assert crop != encoded_png(image)
    np.testing.assert_array_equal(np.asarray(png(crop)), pixels)


def test_a_vignette_preview_shows_the_vignette_and_its_caption_losslessly() -> None:
    image, _ = scan()
    result = completed("flowcam", classification=Classification(label="copepod", score=0.7))
    rendered = render_outputs(result, image, BUCKET)
    preview = png({f.key: f.data for f in rendered.files}[rendered.completed.preview_key or ""])
    expected = annotate(image, marks(rendered.completed))
    assert preview.size == image.size
    np.testing.assert_array_equal(np.asarray(preview), np.asarray(expected))
