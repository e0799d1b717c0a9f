"""The images a result leaves in the output bucket for EcoTaxa, and their keys (pure: no I/O).

Keys are derived from the request alone, so a redelivered message writes the very same
objects again (an overwrite, not a duplicate)::

    <tenant>/<sample_id or _unsampled>/<version>/<stem>_<index:04d>.png   one per region of interest
    <tenant>/<sample_id or _unsampled>/<version>/preview.png              the annotated frame or scan

``version`` is a hash of the object version (bucket, key, ETag, version id) and the model,
so two uploads of one name, or one upload run by two models, never share crops; ``stem``
is the uploaded file's name without its extension, reduced to characters every S3 server
and EcoTaxa's file names accept. ``index`` is the region's index (zooscan, litter) or the
detection's rank (obsea, best score first); the flowcam particle is index 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image

from aquaflow_inference.crops import crop, encode_png
from aquaflow_inference.preview import Mark, annotate
from aquaflow_inference.segmentation import CROP_MARGIN
from aquaflow_inference.tiling import LITTER_LABEL
from aquaflow_shared.contracts import Classification, InferenceCompleted, Region, derive_id

UNSAMPLED = "_unsampled"
PREVIEW_NAME = "preview.png"
MAX_STEM = 64
# ZooScan vignettes keep this many pixels of background around the organism on each side
# (clipped at the scan's edge), as ZooProcess vignettes do: the outline stays whole and the
# validator sees the organism against its background. It is the margin of the crops the
# classifier sees, so EcoTaxa shows exactly what was classified.
VIGNETTE_MARGIN = CROP_MARGIN


@dataclass(frozen=True)
class OutputFile:
    key: str
    data: bytes


@dataclass(frozen=True)
class Rendered:
    completed: InferenceCompleted  # with output_bucket and every crop and preview key set
    files: list[OutputFile]


def key_prefix(result: InferenceCompleted) -> str:
    version = derive_id("outputs", *result.object.identity, result.model)[:16]
    return f"{result.tenant}/{result.sample_id or UNSAMPLED}/{version}"


def key_stem(object_key: str) -> str:
    stem = PurePosixPath(object_key).stem
    plain = re.sub(r"[^A-Za-z0-9_.+-]", "_", stem).lstrip(".")[:MAX_STEM]
    return plain or "object"


def crop_key(prefix: str, stem: str, index: int) -> str:
    return f"{prefix}/{stem}_{index:04d}.png"


def render_outputs(result: InferenceCompleted, image: Image.Image, bucket: str) -> Rendered:
    """Crop every region of interest, draw the preview, encode all as PNG, name them."""
    prefix, stem = key_prefix(result), key_stem(result.object.key)
    files: list[OutputFile] = []

    def add(key: str, picture: Image.Image) -> str:
        files.append(OutputFile(key, encode_png(picture)))
        return key

    update: dict[str, object] = {"output_bucket": bucket}
    if result.profile == "flowcam":
        # One particle per image: the particle's crop is the image itself.
        update["crop_key"] = add(crop_key(prefix, stem, 0), image)
    elif result.profile in ("zooscan", "litter"):
        margin = VIGNETTE_MARGIN if result.profile == "zooscan" else 0
        update["regions"] = [
            r.model_copy(update={"crop_key": add(crop_key(prefix, stem, r.index), crop(image, r.box, margin=margin))})
            if _is_object(result.profile, r)
            else r
            for r in result.regions
        ]
    else:
        update["detections"] = [
            d.model_copy(update={"crop_key": add(crop_key(prefix, stem, i), crop(image, d.box))})
            for i, d in enumerate(result.detections)
        ]
    update["preview_key"] = add(f"{prefix}/{PREVIEW_NAME}", annotate(image, marks(result)))
    return Rendered(result.model_copy(update=update), files)


def _is_object(profile: str, region: Region) -> bool:
    """Every ZooScan region is an organism; of a drone image's tiles only the litter counts."""
    if profile == "litter":
        return region.classification is not None and region.classification.label == LITTER_LABEL
    return True


def marks(result: InferenceCompleted) -> list[Mark]:
    """What the preview shows: each region of interest with its label and score."""
    if result.classification is not None:
        return [Mark(None, _caption(result.classification), result.classification.label)]
    found = [
        Mark(r.box, f"{r.index}: {_caption(r.classification)}", r.classification.label)
        for r in result.regions
        if r.classification is not None and _is_object(result.profile, r)
    ]
    found += [Mark(d.box, f"{d.label} {d.score:.2f}", d.label) for d in result.detections]
    return found


def _caption(classification: Classification) -> str:
    return f"{classification.label} {classification.score:.2f}"
