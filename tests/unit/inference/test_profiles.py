"""The profile table: each instrument's task, step and segmentation settings, declared once."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from aquaflow_devstack.stack import REPO_ROOT
from aquaflow_devstack.zooscan_scans import build_scan
from aquaflow_inference.errors import ProfileMismatch
from aquaflow_inference.imaging import decode_image
from aquaflow_inference.profiles import (
    PROFILES,
    Profile,
    classify_tiles,
    classify_vignette,
    detect_objects,
    profile_named,
    segment_and_classify,
)
from aquaflow_inference.segmentation import CROP_MARGIN, SegmentationParams
from tests.unit.inference.support import repository_model


def test_the_table_holds_every_instrument() -> None:
    rows = {name: (p.task, p.step) for name, p in PROFILES.items()}
    assert rows == {
        "flowcam": ("classification", classify_vignette),
        "uvp": ("classification", classify_vignette),
        "zooscan": ("classification", segment_and_classify),
        "litter": ("classification", classify_tiles),
        "obsea": ("detection", detect_objects),
    }
    assert all(name == p.name for name, p in PROFILES.items())


def test_vignettes_differ_in_polarity_and_scans_keep_a_margin() -> None:
    polarity = {name: p.segmentation.polarity for name, p in PROFILES.items() if p.segmentation is not None}
    assert polarity == {"flowcam": "dark_on_light", "uvp": "bright_on_dark", "zooscan": "dark_on_light"}
    assert PROFILES["zooscan"].crop_margin == CROP_MARGIN
    assert (PROFILES["litter"].object_label, PROFILES["litter"].needs_tile_size) == ("litter", True)


def test_an_unknown_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ProfileMismatch, match=r"unknown pipeline profile 'lisst'; known: \['flowcam', 'litter', "):
        profile_named("lisst")


def test_the_workers_settings_tune_the_segmentation() -> None:
    zooscan = profile_named("zooscan").tuned(max_regions=7, grey_threshold=90)
    assert zooscan.segmentation == SegmentationParams(polarity="dark_on_light", max_regions=7, grey_threshold=90)
    uvp = profile_named("uvp").tuned(max_regions=7, grey_threshold=90)
    assert uvp.segmentation == SegmentationParams(polarity="bright_on_dark", max_regions=7)
    assert profile_named("obsea").tuned(max_regions=7, grey_threshold=90) == profile_named("obsea")
    assert PROFILES["zooscan"].segmentation == SegmentationParams(polarity="dark_on_light")  # the table is unchanged


async def test_a_new_instrument_is_a_row_with_an_existing_step() -> None:
    """A holographic imager's vignettes, either polarity: configuration only, no code."""
    holo = Profile("holo", "classification", classify_vignette, SegmentationParams(polarity="auto"))
    model, tensors = repository_model("plankton_classifier")
    holo.check(model.info)
    pixels = np.full((60, 60), 30, dtype=np.uint8)
    pixels[20:40, 15:45] = 220
    outcome = await holo.step(Image.fromarray(pixels), model, holo)
    assert outcome.classification is not None
    assert (outcome.measures["object_width"], outcome.measures["object_height"]) == (30, 20)
    assert tensors.rows == [1]


def test_a_profile_refuses_a_model_it_cannot_use() -> None:
    litter, _ = repository_model("litter_tiles")
    plankton, _ = repository_model("plankton_classifier")
    profile_named("litter").check(litter.info)
    with pytest.raises(ProfileMismatch, match="needs a tile model"):
        profile_named("litter").check(plankton.info)
    with pytest.raises(ProfileMismatch, match="needs a detection model; plankton_classifier is classification"):
        profile_named("obsea").check(plankton.info)
    without = dataclasses.replace(litter.info, labels=("water", "trash", "other"))
    with pytest.raises(ProfileMismatch, match="needs a 'litter' class"):
        profile_named("litter").check(without)


async def test_a_zooprocess_vignette_sent_to_the_scan_profile_yields_its_organism_not_its_legend() -> None:
    vignette = REPO_ROOT / "data" / "ecotaxa-qa" / "import_update" / "m106_mn01_n1_sml" / "m106_mn01_n1_sml_821.jpg"
    legend_top = 79  # first row of its scale bar and caption (tests/unit/inference/test_vignettes.py)
    image = decode_image(vignette.read_bytes(), max_pixels=60_000_000)
    zooscan = profile_named("zooscan")
    assert zooscan.is_vignette(image)
    model, _ = repository_model("plankton_classifier")
    outcome = await zooscan.step(image, model, zooscan)
    (region,) = outcome.regions
    assert region.box.y_max <= legend_top
    assert region.features["object_area"] > 0
    assert outcome.measures == {"regions_found": 1.0, "regions_classified": 1.0}


async def test_a_whole_tray_scan_is_segmented_into_its_organisms() -> None:
    built = build_scan(seed=3)
    image = built.image
    zooscan = profile_named("zooscan")
    assert not zooscan.is_vignette(image)
    model, _ = repository_model("plankton_classifier")
    outcome = await zooscan.step(image, model, zooscan)
    assert outcome.measures["regions_found"] >= 0.95 * len(built.organisms)
