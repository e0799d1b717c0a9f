"""Pipeline profiles: what each instrument's images go through, declared in one table.

A profile names the task its model must do, the step that turns one image into what the
model sees and what the result reports (a vignette classified whole, a scan segmented into
regions, a survey image cut into tiles, a frame searched for objects), and the settings of
that step. A new instrument is one row of ``PROFILES``, plus one step function where none
of these fits.

Steps talk to the model only through ``ImageModel``; the numpy and scikit-image work runs in
worker threads so the event loop keeps serving the other messages in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from PIL import Image

from aquaflow_inference.errors import ProfileMismatch
from aquaflow_inference.model_port import ImageModel, ModelInfo
from aquaflow_inference.postprocess import count_labels
from aquaflow_inference.segmentation import (
    CROP_MARGIN,
    Segmentation,
    SegmentationParams,
    is_captioned_vignette,
    measure_vignette,
    segment,
)
from aquaflow_inference.spec import Task
from aquaflow_inference.tiling import LITTER_LABEL, label_fraction, tiles
from aquaflow_shared.contracts import BoundingBox, Classification, Detection, Region


@dataclass
class Outcome:
    """What one profile's step found in an image."""

    classification: Classification | None = None
    detections: list[Detection] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    measures: dict[str, float] = field(default_factory=dict)


Step = Callable[[Image.Image, ImageModel, "Profile"], Awaitable[Outcome]]


@dataclass(frozen=True)
class Profile:
    name: str
    task: Task
    step: Step
    # How organisms are told from their background (vignette and scan steps).
    segmentation: SegmentationParams | None = None
    # The one class whose regions are objects (cropped, pushed to EcoTaxa), and whose share of
    # the image area is measured; the model must have it. None: every region is an object.
    object_label: str | None = None
    # The model must say how large a tile it classifies (aquaflow.tile_size).
    needs_tile_size: bool = False
    # Background kept around each region's crop, in pixels, as the classifier saw it.
    crop_margin: int = 0
    # Scan profiles: an image no larger than this on either side that carries a legend is a
    # pre-cut vignette (a ZooProcess, FlowCam or UVP output), measured as one organism.
    vignette_max_side: int | None = None

    def is_vignette(self, image: Image.Image) -> bool:
        """Small enough to be a vignette, and captioned like one (a scan piece has no scale bar)."""
        if self.vignette_max_side is None or max(image.size) > self.vignette_max_side:
            return False
        return is_captioned_vignette(image, self.segmentation or SegmentationParams())

    def check(self, info: ModelInfo) -> None:
        """Refuse, before any download, a model this profile cannot use."""
        if info.task != self.task:
            raise ProfileMismatch(f"profile {self.name!r} needs a {self.task} model; {info.name} is {info.task}")
        if self.needs_tile_size and info.tile_size is None:
            raise ProfileMismatch(f"profile {self.name!r} needs a tile model; {info.name} has no aquaflow.tile_size")
        if self.object_label is not None and self.object_label not in info.labels:
            raise ProfileMismatch(
                f"profile {self.name!r} needs a {self.object_label!r} class; {info.name} has {list(info.labels)}"
            )

    def tuned(self, *, max_regions: int, grey_threshold: int | None) -> Profile:
        """The profile with the worker's settings: its region cap, and a fixed grey level where one is set.

        The grey level is a level organisms are darker than, so it applies to dark-on-light profiles only.
        """
        if self.segmentation is None:
            return self
        params = dataclasses.replace(self.segmentation, max_regions=max_regions)
        if grey_threshold is not None and params.polarity == "dark_on_light":
            params = dataclasses.replace(params, grey_threshold=grey_threshold)
        return dataclasses.replace(self, segmentation=params)


def _box(box: tuple[int, int, int, int]) -> BoundingBox:
    return BoundingBox(x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3])


def _params(profile: Profile) -> SegmentationParams:
    return profile.segmentation or SegmentationParams()


async def classify_vignette(image: Image.Image, model: ImageModel, profile: Profile) -> Outcome:
    """One organism per image (FlowCam, UVP): the whole vignette classified, its organism measured.

    The organism's features (EcoTaxa ``object_*`` names) are the image's measures.
    """
    (classification,), measured = await asyncio.gather(
        model.classify([image]), asyncio.to_thread(measure_vignette, image, _params(profile))
    )
    features = measured.regions[0].features if measured.regions else {}
    return Outcome(classification=classification, measures=dict(features))


async def segment_and_classify(image: Image.Image, model: ImageModel, profile: Profile) -> Outcome:
    """A scan (ZooScan): every region of interest segmented, measured and classified in one batch.

    A pre-cut vignette sent to a scan profile yields its one organism instead: its legend
    (scale bar, caption, corner marks) is never a region.
    """
    found = await asyncio.to_thread(_regions_of, image, profile)
    if not found.regions:
        # A blank or uniform scan: the whole image is the one region, so nothing is lost.
        (classification,) = await model.classify([image])
        whole = Region(index=0, box=_box((0, 0, *image.size)), classification=classification)
        return Outcome(regions=[whole], counts=count_labels([classification.label]))
    classes = await model.classify([r.crop for r in found.regions])
    regions = [
        Region(index=i, box=_box(r.bbox), features=r.features, classification=c)
        for i, (r, c) in enumerate(zip(found.regions, classes, strict=True))
    ]
    # Regions beyond the cap are not classified; their number is still reported.
    measures = {"regions_found": float(found.total), "regions_classified": float(len(regions))}
    return Outcome(regions=regions, counts=count_labels([c.label for c in classes]), measures=measures)


def _regions_of(image: Image.Image, profile: Profile) -> Segmentation:
    measure = measure_vignette if profile.is_vignette(image) else segment
    return measure(image, _params(profile))


async def classify_tiles(image: Image.Image, model: ImageModel, profile: Profile) -> Outcome:
    """A survey image (drone): cut into the model's tiles, each classified; the object class's area share."""
    size = model.info.tile_size
    assert size is not None  # Profile.check: needs_tile_size
    cut = await asyncio.to_thread(tiles, image, size)
    classes = await model.classify([t.image for t in cut])
    regions = [
        Region(index=i, box=_box(t.box), classification=c) for i, (t, c) in enumerate(zip(cut, classes, strict=True))
    ]
    labels = [c.label for c in classes]
    measures = {}
    if profile.object_label is not None:
        measures[f"{profile.object_label}_fraction"] = label_fraction(cut, labels, profile.object_label)
    return Outcome(regions=regions, counts=count_labels(labels), measures=measures)


async def detect_objects(image: Image.Image, model: ImageModel, profile: Profile) -> Outcome:
    """A frame (underwater camera): the objects the detector finds, counted per class."""
    detections = await model.detect(image)
    return Outcome(detections=detections, counts=count_labels([d.label for d in detections]))


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile("flowcam", "classification", classify_vignette, SegmentationParams(polarity="dark_on_light")),
        # UVP vignettes: bright organisms on a dark background.
        Profile("uvp", "classification", classify_vignette, SegmentationParams(polarity="bright_on_dark")),
        Profile(
            "zooscan",
            "classification",
            segment_and_classify,
            SegmentationParams(polarity="dark_on_light"),
            crop_margin=CROP_MARGIN,
            # Whole-tray scans are thousands of pixels on each side; ZooProcess vignettes a few hundred.
            vignette_max_side=2000,
        ),
        Profile("litter", "classification", classify_tiles, object_label=LITTER_LABEL, needs_tile_size=True),
        Profile("obsea", "detection", detect_objects),
    )
}


def profile_named(name: str) -> Profile:
    profile = PROFILES.get(name)
    if profile is None:
        raise ProfileMismatch(f"unknown pipeline profile {name!r}; known: {sorted(PROFILES)}")
    return profile
