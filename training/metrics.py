"""Held-out metrics: classification accuracy, and detection mAP@0.5 with its own decode and NMS.

The detection side reads the exported model's `output0` layout ([4 + C, A] per image: cx, cy, w, h in
input pixels, then one sigmoid score per class) exactly as a client of the model would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.arrays import Array


def accuracy(probabilities: Array, labels: Array) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def per_class_accuracy(probabilities: Array, labels: Array, num_classes: int) -> list[float]:
    predicted = np.argmax(probabilities, axis=1)
    return [
        float(np.mean(predicted[labels == c] == c)) if np.any(labels == c) else float("nan") for c in range(num_classes)
    ]


def confusion_matrix(probabilities: Array, labels: Array, num_classes: int) -> Array:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, np.argmax(probabilities, axis=1)), 1)
    return matrix


@dataclass(frozen=True)
class Detections:
    boxes: Array  # [N, 4] x1, y1, x2, y2
    scores: Array  # [N]
    labels: Array  # [N]


def box_iou(a: Array, b: Array) -> Array:
    """Pairwise IoU of xyxy boxes: [N, 4] x [M, 4] → [N, M]."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    iou: Array = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
    return iou


def nms(boxes: Array, scores: Array, iou_threshold: float) -> Array:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        overlaps = box_iou(boxes[best : best + 1], boxes[order[1:]])[0]
        order = order[1:][overlaps <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def decode_yolo(output: Array, score_threshold: float, iou_threshold: float, max_detections: int = 300) -> Detections:
    """One image's `output0` [4 + C, A] → detections after a score threshold and per-class NMS."""
    boxes_cxcywh = output[:4].T
    scores_all = output[4:].T  # [A, C]
    boxes = np.concatenate(
        (boxes_cxcywh[:, :2] - boxes_cxcywh[:, 2:] / 2, boxes_cxcywh[:, :2] + boxes_cxcywh[:, 2:] / 2), axis=1
    )
    kept_boxes, kept_scores, kept_labels = [], [], []
    for c in range(scores_all.shape[1]):
        mask = scores_all[:, c] > score_threshold
        if not np.any(mask):
            continue
        keep = nms(boxes[mask], scores_all[mask, c], iou_threshold)
        kept_boxes.append(boxes[mask][keep])
        kept_scores.append(scores_all[mask, c][keep])
        kept_labels.append(np.full(len(keep), c, dtype=np.int64))
    if not kept_boxes:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    all_boxes, all_scores, all_labels = (
        np.concatenate(kept_boxes),
        np.concatenate(kept_scores),
        np.concatenate(kept_labels),
    )
    top = np.argsort(-all_scores, kind="stable")[:max_detections]
    return Detections(all_boxes[top], all_scores[top], all_labels[top])


def average_precision(recall: Array, precision: Array) -> float:
    """All-point interpolated AP: area under the precision envelope (precision made monotone from the right)."""
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.concatenate(([1.0], precision, [0.0]))
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def mean_average_precision(
    predictions: list[Detections],
    truths: list[tuple[Array, Array]],
    num_classes: int,
    iou_threshold: float = 0.5,
) -> tuple[float, list[float]]:
    """mAP at an IoU threshold over images; truths are (boxes [N, 4], labels [N]) per image.

    A detection is a true positive when it overlaps a not-yet-matched ground-truth box of its class by at
    least the threshold, detections taken in descending score order across the whole set. Classes with no
    ground truth are left out of the mean.
    """
    per_class: list[float] = []
    for c in range(num_classes):
        scores: list[float] = []
        hits: list[bool] = []
        total = 0
        for detections, (gt_boxes, gt_labels) in zip(predictions, truths, strict=True):
            gt = gt_boxes[gt_labels == c]
            total += len(gt)
            mine = detections.labels == c
            boxes, conf = detections.boxes[mine], detections.scores[mine]
            order = np.argsort(-conf, kind="stable")
            matched = np.zeros(len(gt), dtype=bool)
            ious = box_iou(boxes[order], gt) if len(gt) else np.zeros((len(order), 0))
            for rank, i in enumerate(order):
                scores.append(float(conf[i]))
                if ious.shape[1] == 0:
                    hits.append(False)
                    continue
                candidates = np.where(matched, -1.0, ious[rank])
                j = int(np.argmax(candidates))
                if candidates[j] >= iou_threshold:
                    matched[j] = True
                    hits.append(True)
                else:
                    hits.append(False)
        if total == 0:
            per_class.append(float("nan"))
            continue
        order = np.argsort(-np.asarray(scores), kind="stable")
        tp = np.cumsum(np.asarray(hits, dtype=np.float64)[order])
        fp = np.cumsum(1.0 - np.asarray(hits, dtype=np.float64)[order])
        recall = tp / total
        precision = tp / np.maximum(tp + fp, 1e-9)
        per_class.append(average_precision(recall, precision))
    valid = [ap for ap in per_class if not np.isnan(ap)]
    return (float(np.mean(valid)) if valid else 0.0), per_class
