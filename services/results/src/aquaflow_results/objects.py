"""The objects of one result, as EcoTaxa will import them: one per organism, region or detection.

Pure mapping from an ``InferenceCompleted`` to a list of plain dicts; the EcoTaxa
package builder reads exactly this shape (see docs/results.md).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from aquaflow_results.thresholds import ConfidenceThresholds
from aquaflow_shared.contracts import BoundingBox, Classification, InferenceCompleted, derive_id

# Litter surveys keep only the tiles classified as litter; water and the rest are background.
LITTER_PROFILE = "litter"
LITTER_LABEL = "litter"

_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")
MAX_STEM_LENGTH = 48


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-.")[:MAX_STEM_LENGTH] or "x"


def object_id(completed: InferenceCompleted, index: int) -> str:
    """Readable, deterministic and unique per tenant.

    ``<sample>_<key stem>_<index>_<hash>``: the sample and file name let a person find the
    image; the short hash of the object version and model keeps two versions of one key,
    or two samples' files of the same name, apart.
    """
    stem = _safe(PurePosixPath(completed.object.key).stem)
    prefix = f"{_safe(completed.sample_id)}_{stem}" if completed.sample_id else stem
    # A pinned version joins the hash, so two pinned versions of one model name their objects apart.
    pinned = (completed.requested_version,) if completed.requested_version is not None else ()
    digest = derive_id("object", *completed.object.identity, completed.model, *pinned)[:6]
    return f"{prefix}_{index:04d}_{digest}"


def _box(box: BoundingBox) -> dict[str, float]:
    return {"x_min": box.x_min, "y_min": box.y_min, "x_max": box.x_max, "y_max": box.y_max}


def _entry(
    completed: InferenceCompleted,
    thresholds: ConfidenceThresholds,
    *,
    index: int,
    box: dict[str, float],
    crop_key: str | None,
    features: dict[str, float],
    label: str | None,
    score: float | None,
    scores: dict[str, float],
) -> dict[str, Any]:
    threshold = thresholds.for_label(completed.model, label) if label is not None else thresholds.default
    predicted = label is not None and score is not None and score >= threshold
    return {
        "object_id": object_id(completed, index),
        "index": index,
        "crop_key": crop_key,
        "box": box,
        "features": dict(features),
        "label": label if predicted else None,
        "score": score,
        "scores": scores,
        "status": "predicted" if predicted else "unclassified",
        "threshold": threshold,
    }


def _scores(classification: Classification) -> dict[str, float]:
    # Older inference events carry only the top few; the full vector when present.
    if classification.scores:
        return dict(classification.scores)
    return {top.label: top.score for top in classification.top} or {classification.label: classification.score}


def result_objects(completed: InferenceCompleted, thresholds: ConfidenceThresholds) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    if completed.regions:
        for region in completed.regions:
            found = region.classification
            if completed.profile == LITTER_PROFILE and (found is None or found.label != LITTER_LABEL):
                continue
            objects.append(
                _entry(
                    completed,
                    thresholds,
                    index=region.index,
                    box=_box(region.box),
                    crop_key=region.crop_key,
                    features=region.features,
                    label=found.label if found else None,
                    score=found.score if found else None,
                    scores=_scores(found) if found else {},
                )
            )
    elif completed.detections:
        for index, detection in enumerate(completed.detections):
            objects.append(
                _entry(
                    completed,
                    thresholds,
                    index=index,
                    box=_box(detection.box),
                    crop_key=detection.crop_key,
                    features={},
                    label=detection.label,
                    score=detection.score,
                    # A detector scores only the class it reports.
                    scores={detection.label: detection.score},
                )
            )
    elif completed.classification is not None:
        # One particle per image (FlowCam): the whole image is the object.
        whole = {
            "x_min": 0.0,
            "y_min": 0.0,
            "x_max": float(completed.image_width),
            "y_max": float(completed.image_height),
        }
        objects.append(
            _entry(
                completed,
                thresholds,
                index=0,
                box=whole,
                crop_key=completed.crop_key,
                # The vignette's organism, measured by inference (EcoTaxa ``object_*`` names).
                features={k: v for k, v in completed.measures.items() if k.startswith("object_")},
                label=completed.classification.label,
                score=completed.classification.score,
                scores=_scores(completed.classification),
            )
        )
    return objects
