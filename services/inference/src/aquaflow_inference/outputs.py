"""The images a result leaves in the output bucket for EcoTaxa, and their keys (pure: no I/O).

Keys are derived from the request alone, so a redelivered message writes the very same
objects again (an overwrite, not a duplicate)::

    <tenant>/<sample_id or _unsampled>/<version>/<stem>_<index:04d>.png   one per region of interest
    <tenant>/<sample_id or _unsampled>/<version>/preview.png              the annotated frame or scan

``version`` is a hash of the object version (bucket, key, ETag, version id), the model and
the model version the request pinned (if any), so two uploads of one name, or one upload
run by two models or two pinned versions of one, never share crops; ``stem`` is the
uploaded file's name without its extension, reduced to characters every S3 server and
EcoTaxa's file names accept. ``index`` is the region's index (zooscan, litter) or the
detection's rank (obsea, best score first); a vignette's (flowcam, uvp) is 0.

What is cropped follows the result's shape and its profile (profiles.py): every region that
is an object, with the profile's margin; every detection; or the whole vignette.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image

from aquaflow_inference.crops import PNG_COMPRESS_LEVEL, crop, encode_png
from aquaflow_inference.preview import Mark, annotate
from aquaflow_inference.profiles import PROFILES
from aquaflow_shared.contracts import Classification, InferenceCompleted, Region, derive_id

UNSAMPLED = "_unsampled"
PREVIEW_NAME = "preview.png"
MAX_STEM = 64
# ZooScan vignettes keep this many pixels of background around the organism on each side
# (clipped at the scan's edge), as ZooProcess vignettes do: the outline stays whole and the
# validator sees the organism against its background. It is the margin of the crops the
# classifier sees, so EcoTaxa shows exactly what was classified.
VIGNETTE_MARGIN = PROFILES["zooscan"].crop_margin
# A vignette's preview is the vignette and one caption, a few kilobytes, looked at once: zlib's
# fastest level encodes it with a fifth less CPU than the crops' level, for ~9 % more bytes.
VIGNETTE_PREVIEW_COMPRESS_LEVEL = 1


@dataclass(frozen=True)
class OutputFile:
    key: str
    data: bytes


@dataclass(frozen=True)
class Rendered:
    completed: InferenceCompleted  # with output_bucket and every crop and preview key set
    files: list[OutputFile]


def key_prefix(result: InferenceCompleted) -> str:
    pinned = (result.requested_version,) if result.requested_version is not None else ()
    version = derive_id("outputs", *result.object.identity, result.model, *pinned)[:16]
    return f"{result.tenant}/{result.sample_id or UNSAMPLED}/{version}"


def key_stem(object_key: str) -> str:
    stem = PurePosixPath(object_key).stem
    plain = re.sub(r"[^A-Za-z0-9_.+-]", "_", stem).lstrip(".")[:MAX_STEM]
    return plain or "object"


def crop_key(prefix: str, stem: str, index: int) -> str:
    return f"{prefix}/{stem}_{index:04d}.png"


def render_outputs(
    result: InferenceCompleted, image: Image.Image, bucket: str, *, upload_png: bytes | None = None
) -> Rendered:
    """Crop every region of interest, draw the preview, encode all as PNG, name them.

    ``upload_png`` is the uploaded file when it is a PNG of exactly ``image``'s pixels
    (``imaging.Decoded.png``): a vignette's crop is then the upload itself, not a new encoding.
    """
    prefix, stem = key_prefix(result), key_stem(result.object.key)
    files: list[OutputFile] = []

    def add(key: str, picture: Image.Image, compress_level: int = PNG_COMPRESS_LEVEL) -> str:
        files.append(OutputFile(key, encode_png(picture, compress_level=compress_level)))
        return key

    margin, object_label = _crop_rules(result.profile)
    update: dict[str, object] = {"output_bucket": bucket}
    preview_level = PNG_COMPRESS_LEVEL
    if result.regions:
        update["regions"] = [
            r.model_copy(update={"crop_key": add(crop_key(prefix, stem, r.index), crop(image, r.box, margin=margin))})
            if _is_object(object_label, r)
            else r
            for r in result.regions
        ]
    elif result.detections:
        update["detections"] = [
            d.model_copy(update={"crop_key": add(crop_key(prefix, stem, i), crop(image, d.box))})
            for i, d in enumerate(result.detections)
        ]
    elif result.classification is not None:
        # One organism per image: the vignette is its crop.
        key = crop_key(prefix, stem, 0)
        if upload_png is None:
            add(key, image)
        else:
            files.append(OutputFile(key, upload_png))
        update["crop_key"] = key
        preview_level = VIGNETTE_PREVIEW_COMPRESS_LEVEL
    update["preview_key"] = add(f"{prefix}/{PREVIEW_NAME}", annotate(image, marks(result)), preview_level)
    return Rendered(result.model_copy(update=update), files)


def _crop_rules(profile_name: str) -> tuple[int, str | None]:
    """The profile's crop margin and its one object class (none for a profile the pipeline refused)."""
    profile = PROFILES.get(profile_name)
    return (profile.crop_margin, profile.object_label) if profile is not None else (0, None)


def _is_object(object_label: str | None, region: Region) -> bool:
    """Every region is an object, unless the profile names the one class that is (litter tiles)."""
    if object_label is None:
        return True
    return region.classification is not None and region.classification.label == object_label


def marks(result: InferenceCompleted) -> list[Mark]:
    """What the preview shows: each region of interest with its label and score."""
    if result.classification is not None:
        return [Mark(None, _caption(result.classification), result.classification.label)]
    _, object_label = _crop_rules(result.profile)
    found = [
        Mark(r.box, f"{r.index}: {_caption(r.classification)}", r.classification.label)
        for r in result.regions
        if r.classification is not None and _is_object(object_label, r)
    ]
    found += [Mark(d.box, f"{d.label} {d.score:.2f}", d.label) for d in result.detections]
    return found


def _caption(classification: Classification) -> str:
    return f"{classification.label} {classification.score:.2f}"
