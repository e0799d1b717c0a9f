"""Detection decode, NMS and mAP@0.5 on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    Detections,
    accuracy,
    average_precision,
    box_iou,
    decode_yolo,
    mean_average_precision,
    nms,
)


def _detections(boxes: list[list[float]], scores: list[float], labels: list[int]) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), np.array(labels))


def test_box_iou_of_half_overlapping_boxes_is_one_third() -> None:
    iou = box_iou(np.array([[0, 0, 2, 2]], np.float32), np.array([[1, 0, 3, 2], [5, 5, 6, 6]], np.float32))
    assert iou[0, 0] == pytest.approx(1 / 3)
    assert iou[0, 1] == 0.0


def test_nms_keeps_the_best_of_overlapping_boxes_and_separate_ones() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.6, 0.9, 0.3], np.float32), iou_threshold=0.45)
    assert keep.tolist() == [1, 2]


def test_decode_reads_the_yolov8_layout_and_applies_threshold_and_per_class_nms() -> None:
    # Four anchors, two classes: rows cx, cy, w, h, score class 0, score class 1.
    output = np.array(
        [
            [50, 52, 200, 50],
            [50, 50, 200, 50],
            [20, 20, 10, 20],
            [20, 20, 10, 20],
            [0.9, 0.8, 0.1, 0.05],
            [0.1, 0.2, 0.7, 0.85],
        ],
        dtype=np.float32,
    )
    detections = decode_yolo(output, score_threshold=0.25, iou_threshold=0.45)
    # Anchor 1 is suppressed by anchor 0 (same class, overlapping). Anchor 3 has the very same box as
    # anchor 0 but scores for the other class, and NMS runs per class, so it stays.
    assert detections.scores.tolist() == pytest.approx([0.9, 0.85, 0.7])
    assert detections.labels.tolist() == [0, 1, 1]
    assert np.allclose(detections.boxes[0], [40, 40, 60, 60])
    assert np.allclose(detections.boxes[1], [40, 40, 60, 60])
    assert np.allclose(detections.boxes[2], [195, 195, 205, 205])


def test_average_precision_uses_the_all_point_precision_envelope() -> None:
    # Ranked hits: TP, FP, TP with 2 ground truths → recall 0.5, 0.5, 1.0; precision 1, 0.5, 2/3.
    recall = np.array([0.5, 0.5, 1.0])
    precision = np.array([1.0, 0.5, 2 / 3])
    assert average_precision(recall, precision) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)


def test_map_is_one_for_perfect_detections_and_lower_for_misses_and_false_positives() -> None:
    truths = [
        (np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32), np.array([0, 1])),
        (np.array([[5, 5, 15, 15]], np.float32), np.array([0])),
    ]
    perfect = [
        _detections([[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.8], [0, 1]),
        _detections([[5, 5, 15, 15]], [0.7], [0]),
    ]
    assert mean_average_precision(perfect, truths, num_classes=2)[0] == pytest.approx(1.0)

    # Class 0: a high-scoring false positive, then both hits → precision 1/2, 2/3 at recall 0.5, 1.
    # Class 1: the wrong place (IoU < 0.5) → AP 0.
    flawed = [
        _detections([[0, 0, 10, 10], [60, 60, 70, 70], [20, 20, 30, 30]], [0.5, 0.95, 0.9], [0, 0, 1]),
        _detections([[5, 5, 15, 15]], [0.6], [0]),
    ]
    map50, per_class = mean_average_precision(flawed, truths, num_classes=2)
    assert per_class[0] == pytest.approx(2 / 3)
    assert per_class[1] == 0.0
    assert map50 == pytest.approx(1 / 3)


def test_a_ground_truth_box_is_matched_only_once() -> None:
    truths = [(np.array([[0, 0, 10, 10]], np.float32), np.array([0]))]
    duplicates = [_detections([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [0, 0])]
    _, per_class = mean_average_precision(duplicates, truths, num_classes=1)
    assert per_class[0] == pytest.approx(
        1.0
    )  # recall reaches 1 at the first, the duplicate only lowers later precision


def test_accuracy() -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert accuracy(probabilities, np.array([0, 1, 1])) == pytest.approx(2 / 3)
