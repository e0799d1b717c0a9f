"""The real pre-cut vignettes of data/ecotaxa-qa: their legend is never a region, each yields its organism.

ZooProcess vignettes carry a scale bar with its caption ("100 µm l_8_1b") at the bottom and
two L-shaped corner marks around the organism, all in black ink; UVP and other exports carry
a bar and "1 mm"; FlowCam-like colour ROIs and raw UVP vignettes carry none. The row where each
legend begins was read off the images by eye (``LEGEND_TOP``; the contact sheet written to
``build/segmentation/vignettes.png`` draws it in red, the legend found in magenta and the
region in green). ZooProcess's own measures of eight of these organisms ship beside them, in
the EcoTaxa tables of ``import_test/``.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from aquaflow_devstack.samples import Sample, real_images, sample_root
from aquaflow_devstack.stack import REPO_ROOT
from aquaflow_inference.foreground import grey_levels, saturated_ink, vignette_foreground
from aquaflow_inference.imaging import decode_image
from aquaflow_inference.legend import legend_mask
from aquaflow_inference.segmentation import FoundRegion, SegmentationParams, measure_vignette

AUTO = SegmentationParams(polarity="auto")
LEGEND_INK = 12  # the legends of the dark-on-light vignettes are drawn at grey ≤ 12; no organism is
CONTACT_SHEET = REPO_ROOT / "build" / "segmentation" / "vignettes.png"

# First row of each vignette's scale bar and caption (None: no legend), by the first 12 hex
# digits of the file's SHA-1 (the data set holds each image under several names).
LEGEND_TOP: dict[str, int | None] = {
    "73a7396045b9": None,  # images/0128.png, raw UVP vignette
    "361ee05f9084": 813,  # images/4261.gif, "1 mm"
    "a05c78cac2f2": None,  # images/9990.jpg
    "19cb4846d014": None,  # images/resized/0128_mini.jpg
    "02097a6f5bdc": 341,  # images/resized/4261_mini.jpg
    "5812685ddc65": None,  # images/resized/9990_mini.jpg
    "b754aee81c22": 333,  # images/vignette/0128_vig_expected.png, "2 mm" under a UVP vignette
    "759d565cf521": 120,  # import de categories ambigues/1.jpg, "1 mm"
    "1964070da5bc": 74,  # m106_mn04_n1_sml_409.jpg, ZooProcess
    "1d486991ed1e": 135,  # m106_mn01_n1_sml_409.jpg
    "314023b41507": 42,  # m106_mn01_n3_sml_1111.jpg
    "45914fe6d64c": 39,  # m106_mn01_n3_sml_1.jpg
    "1e5ad811f75d": 56,  # m106_mn01_n3_sml_1081.jpg
    "32865bea9db8": None,  # import_sparse/roi.*.png: colour ROIs, bright on dark
    "0b5735b9de37": None,
    "a30afd322039": None,
    "d91901180a86": None,
    "cbf641eab5e7": None,
    "a2994172e06b": None,
    "09a7d4d3713a": 79,  # m106_mn01_n1_sml_821.jpg
    "ea1fe8d969b1": 69,  # m106_mn01_n1_sml_850.jpg
    "25734b309017": 100,  # m106_mn01_n1_sml_851.jpg
    "478ee9f9a496": 61,  # m106_mn01_n3_sml_1.png
    "366d068e76fc": 112,  # m106_mn01_n3_sml_1112.jpg, a bubble over a long bar
    "e6de80efb777": 461,  # my_files/.../x2EA0yD7AwC7h13F.png, white on black, grey "1 mm"
}
SOUND = [s for s in real_images() if not s.corrupt]


def digest(sample: Sample) -> str:
    return hashlib.sha1(sample.path.read_bytes(), usedforsecurity=False).hexdigest()[:12]


@functools.cache
def organism_of(path: Path) -> tuple[Image.Image, FoundRegion]:
    image = decode_image(path.read_bytes(), max_pixels=60_000_000)
    found = measure_vignette(image, AUTO)
    assert found.total == 1, f"{path.name}: {found.total} regions"
    assert len(found.regions) == 1
    return image, found.regions[0]


def test_every_real_vignette_is_annotated() -> None:
    assert len(SOUND) == 138
    assert {digest(s) for s in SOUND} == set(LEGEND_TOP)


@pytest.mark.parametrize("sample", SOUND, ids=lambda s: s.key)
def test_a_vignette_yields_one_organism_and_never_its_legend(sample: Sample) -> None:
    image, region = organism_of(sample.path)
    x0, y0, x1, y1 = region.bbox
    legend_top = LEGEND_TOP[digest(sample)]
    if legend_top is not None:
        assert y1 <= legend_top, f"the region reaches row {y1}, the legend begins at row {legend_top}"
        grey = np.asarray(image.convert("L"))
        if np.median(grey) > 128:  # black ink on a light vignette: no legend pixel in the region
            assert region.features["object_min"] > LEGEND_INK
    # Plausible: an organism of some size, where the instrument centres it.
    width, height = image.width, legend_top or image.height
    assert region.features["object_area"] >= 0.01 * width * height
    assert x0 < 0.75 * width
    assert x1 > 0.25 * width
    assert y0 < 0.75 * height
    assert y1 > 0.25 * height


def zooprocess_measures() -> dict[str, dict[str, float]]:
    """ZooProcess's measures of the import_test vignettes, from their EcoTaxa tables."""
    measures = {}
    for table in sorted((sample_root() / "import_test").glob("*/ecotaxa_*.tsv")):
        with table.open(newline="") as rows:
            reader = csv.DictReader(rows, delimiter="\t")
            next(reader)  # the row of types: [t], [f]
            for row in reader:
                path = table.parent / row["img_file_name"]
                measures[path.relative_to(sample_root()).as_posix()] = {
                    k: float(row[k]) for k in ("object_area", "object_width", "object_height", "object_feret")
                } | {k: float(row[k]) for k in ("object_major", "object_minor")}
    return measures


ZOOPROCESS = zooprocess_measures()
PALE_FILAMENT = "import_test/m106_mn01_n1_sml/m106_mn01_n1_sml_409.jpg"


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(
            key,
            marks=pytest.mark.xfail(
                strict=True,
                reason="a pale, transparent filament: its outline, whole above the threshold on the raw scan, "
                "falls apart on the JPEG vignette and only a fragment is found",
            ),
        )
        if key == PALE_FILAMENT
        else key
        for key in sorted(ZOOPROCESS)
    ],
)
def test_the_organism_is_measured_as_zooprocess_measured_it(key: str) -> None:
    reference = ZOOPROCESS[key]
    _, region = organism_of(sample_root() / key)
    f = region.features
    assert f["object_area"] == pytest.approx(reference["object_area"], rel=0.06)
    assert f["object_width"] == pytest.approx(reference["object_width"], abs=3)
    assert f["object_height"] == pytest.approx(reference["object_height"], abs=3)
    assert f["object_feret"] == pytest.approx(reference["object_feret"], abs=1.5)
    assert f["object_major"] == pytest.approx(reference["object_major"], rel=0.03)
    assert f["object_minor"] == pytest.approx(reference["object_minor"], rel=0.03)


def test_zooprocess_measured_eight_organisms() -> None:
    assert len(ZOOPROCESS) == 8


@pytest.mark.parametrize("key", sorted(ZOOPROCESS))
def test_auto_polarity_sees_zooscan_vignettes_as_dark_on_light(key: str) -> None:
    image = Image.open(sample_root() / key)
    given = measure_vignette(image, SegmentationParams(polarity="dark_on_light"))
    assert measure_vignette(image, AUTO).regions[0].features == given.regions[0].features


def test_the_contact_sheet_of_every_vignette_is_written() -> None:
    """One tile per distinct image: legend found (magenta), legend row by eye (red), region (green)."""
    unique = {digest(s): s for s in reversed(SOUND)}
    tiles = [_annotated(sample, LEGEND_TOP[key]) for key, sample in sorted(unique.items(), key=lambda i: i[1].key)]
    columns, cell = 6, 260
    sheet = Image.new("RGB", (columns * cell, -(-len(tiles) // columns) * (cell + 14)), (70, 70, 70))
    draw = ImageDraw.Draw(sheet)
    for i, (caption, tile) in enumerate(tiles):
        x, y = (i % columns) * cell, (i // columns) * (cell + 14)
        sheet.paste(tile, (x + 2, y + 2))
        draw.text((x + 2, y + cell - 2), caption[-40:], fill=(255, 255, 0))
    CONTACT_SHEET.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(CONTACT_SHEET)
    assert Image.open(CONTACT_SHEET).size == sheet.size


def _annotated(sample: Sample, legend_top: int | None) -> tuple[str, Image.Image]:
    image, region = organism_of(sample.path)
    grey = grey_levels(image)
    first = vignette_foreground(grey, "auto", None)
    legend = legend_mask(first.objects, saturated_ink(grey, first.polarity))
    pixels = np.asarray(image.convert("RGB")).astype(np.float64)
    pixels[legend] = pixels[legend] * 0.4 + np.array([255, 0, 255]) * 0.6
    zoom = max(1, 250 // max(image.size))
    tile = Image.fromarray(pixels.astype(np.uint8)).resize((image.width * zoom, image.height * zoom))
    draw = ImageDraw.Draw(tile)
    if legend_top is not None:
        draw.line((0, legend_top * zoom, tile.width, legend_top * zoom), fill=(255, 0, 0))
    x0, y0, x1, y1 = region.bbox
    draw.rectangle((x0 * zoom, y0 * zoom, x1 * zoom - 1, y1 * zoom - 1), outline=(0, 200, 0), width=2)
    tile.thumbnail((254, 254))
    return sample.key, tile
