"""Model outputs → labelled results: top-k classes, and YOLOv8 decoding with class-wise NMS."""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt

from aquaflow_inference.preprocess import Placement
from aquaflow_shared.contracts import BoundingBox, Classification, Detection, LabelScore

Floats = npt.NDArray[np.float32]
TOP_K = 3
MAX_DETECTIONS = 300


def softmax(logits: Floats) -> Floats:
    """Class probabilities from a model that returns logits, along the last axis."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    result: Floats = (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)
    return result


def classify(probabilities: Floats, labels: tuple[str, ...], top_k: int = TOP_K) -> Classification:
    """The best ``top_k`` classes, best first, and every class's score (probabilities, softmax applied)."""
    if probabilities.shape != (len(labels),):
        raise ValueError(f"expected {len(labels)} class scores, got shape {probabilities.shape}")
    scores: list[float] = np.clip(probabilities, 0.0, 1.0).tolist()  # one call, not one per class
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    top = [LabelScore(label=labels[i], score=scores[i]) for i in order]
    return Classification(
        label=top[0].label, score=top[0].score, top=top, scores=dict(zip(labels, scores, strict=True))
    )


def iou(box: Floats, others: Floats) -> Floats:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    result: Floats = inter / np.maximum(area + areas - inter, 1e-9)
    return result


def non_max_suppression(boxes: Floats, scores: Floats, iou_threshold: float) -> list[int]:
    """Indices of the boxes kept, best first: each suppresses the later ones overlapping it too much."""
    order = list(np.argsort(-scores, kind="stable"))
    kept: list[int] = []
    while order:
        best, rest = order[0], np.asarray(order[1:], dtype=np.int64)
        kept.append(int(best))
        if rest.size == 0:
            break
        overlaps = iou(boxes[best], boxes[rest])
        order = [int(i) for i in rest[overlaps <= iou_threshold]]
    return kept


def decode_yolov8(
    output: Floats,
    labels: tuple[str, ...],
    *,
    score_threshold: float,
    iou_threshold: float,
    placement: Placement,
    width: int,
    height: int,
) -> list[Detection]:
    """One image's ``[4 + C, anchors]`` output → detections in original pixels, per-class NMS."""
    if output.ndim != 2 or output.shape[0] != 4 + len(labels):
        raise ValueError(f"expected [{4 + len(labels)}, anchors], got {output.shape}")
    rows = output.T
    class_scores = rows[:, 4:]
    classes = class_scores.argmax(axis=1)
    scores = class_scores.max(axis=1)
    keep = scores > score_threshold
    if not keep.any():
        return []
    cx, cy, w, h = (rows[keep, i] for i in range(4))
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    scores, classes = scores[keep], classes[keep]
    detections: list[Detection] = []
    for cls in np.unique(classes):
        members = np.flatnonzero(classes == cls)
        for i in non_max_suppression(boxes[members], scores[members], iou_threshold):
            detections.append(_detection(boxes[members[i]], float(scores[members[i]]), labels[int(cls)]))
    detections.sort(key=lambda d: -d.score)
    mapped = placement.to_original(
        np.asarray([[d.box.x_min, d.box.y_min, d.box.x_max, d.box.y_max] for d in detections], dtype=np.float32),
        width,
        height,
    )
    # A box wholly in the letterbox padding maps to no pixel of the picture: not a detection.
    inside = (mapped[:, 2] > mapped[:, 0]) & (mapped[:, 3] > mapped[:, 1])
    found = [
        Detection(label=d.label, score=d.score, box=_box(row))
        for d, row, keep in zip(detections, mapped, inside, strict=True)
        if keep
    ]
    return found[:MAX_DETECTIONS]


def _box(row: Floats) -> BoundingBox:
    return BoundingBox(
        x_min=round(float(row[0]), 2),
        y_min=round(float(row[1]), 2),
        x_max=round(float(row[2]), 2),
        y_max=round(float(row[3]), 2),
    )


def _detection(box: Floats, score: float, label: str) -> Detection:
    return Detection(label=label, score=min(max(score, 0.0), 1.0), box=_box(box))


def count_labels(labels: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(labels).items()))
