"""Classification top-k, and YOLOv8 decoding with class-wise NMS on the output of a real ONNX graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from aquaflow_inference.pipeline import run_inference
from aquaflow_inference.postprocess import (
    Floats,
    classify,
    count_labels,
    decode_yolov8,
    iou,
    non_max_suppression,
    softmax,
)
from aquaflow_inference.preprocess import Placement, to_model_input
from aquaflow_inference.triton_image_model import TritonImageModel
from aquaflow_shared.contracts import Detection
from tests.unit.inference.support import OnnxTensorModel, repository_spec, request_for

DETECTOR = repository_spec("fish_detector")
ANCHORS = 2100

# In model-input pixels of a 640x320 frame letterboxed to 320x320 (scale 0.5, pad_y 80):
# (anchor column, class, score, centre x, centre y, width, height)
PLANTED = [
    (5, 0, 0.90, 100, 120, 40, 20),  # A
    (700, 0, 0.80, 102, 121, 40, 20),  # overlaps A (IoU 0.82), same class: suppressed
    (1500, 1, 0.70, 102, 121, 40, 20),  # the same box as a different species: kept
    (2000, 0, 0.60, 250, 200, 30, 30),  # elsewhere: kept
    (33, 0, 0.50, 125, 120, 40, 20),  # overlaps A a little (IoU 0.23): kept
    (1999, 2, 0.20, 60, 160, 20, 20),  # under the 0.25 score threshold: dropped
    (2099, 2, 0.95, 300, 85, 60, 20),  # reaches past the picture: clipped to it
    (1200, 1, 0.85, 160, 30, 40, 20),  # wholly in the grey letterbox band, no pixel of the picture: dropped
]
# Expected detections in the original 640x320 frame, best first.
SURVIVORS = [
    ("sardine", 0.95, (540.0, 0.0, 640.0, 30.0)),
    ("damselfish", 0.90, (160.0, 60.0, 240.0, 100.0)),
    ("seabream", 0.70, (164.0, 62.0, 244.0, 102.0)),
    ("damselfish", 0.60, (470.0, 210.0, 530.0, 270.0)),
    ("damselfish", 0.50, (210.0, 60.0, 290.0, 100.0)),
]


def planted_output() -> Floats:
    output = np.zeros((4 + len(DETECTOR.labels), ANCHORS), dtype=np.float32)
    output[4:] = 0.01  # every other anchor scores low, as a sigmoid does for background
    for column, cls, score, cx, cy, w, h in PLANTED:
        output[:4, column] = (cx, cy, w, h)
        output[4 + cls, column] = score
    return output


def yolo_layout_model(path: Path) -> Path:
    """An ONNX graph with the detector's input and output that emits the planted boxes for any image."""
    planted = numpy_helper.from_array(planted_output()[None], name="planted")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["mean", "per_image"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "planted"], ["output0"]),  # broadcast over the batch
    ]
    graph = helper.make_graph(
        nodes,
        "planted_yolov8",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 320, 320])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 7, ANCHORS])],
        initializer=[
            planted,
            numpy_helper.from_array(np.array([-1, 1, 1], dtype=np.int64), name="per_image"),
            numpy_helper.from_array(np.zeros((), dtype=np.float32), name="zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def as_tuples(detections: list[Detection]) -> list[tuple[str, float, tuple[float, ...]]]:
    return [(d.label, round(d.score, 4), (d.box.x_min, d.box.y_min, d.box.x_max, d.box.y_max)) for d in detections]


def test_decode_and_class_wise_nms_keep_exactly_the_expected_boxes(tmp_path: Path) -> None:
    frame = Image.new("RGB", (640, 320), (20, 90, 110))
    tensor, placement = to_model_input(frame, DETECTOR)
    assert placement == Placement(0.5, 0, 80)
    session = ort.InferenceSession(str(yolo_layout_model(tmp_path / "planted.onnx")))
    (output,) = session.run(["output0"], {"images": np.stack([tensor, tensor])})
    assert output.shape == (2, 7, ANCHORS)
    detections = decode_yolov8(
        output[1],
        DETECTOR.labels,
        score_threshold=DETECTOR.score_threshold,
        iou_threshold=DETECTOR.iou_threshold,
        placement=placement,
        width=640,
        height=320,
    )
    assert as_tuples(detections) == SURVIVORS


async def test_the_obsea_pipeline_reports_detections_and_counts_per_species(tmp_path: Path) -> None:
    tensors = OnnxTensorModel(DETECTOR, {"1": yolo_layout_model(tmp_path / "planted.onnx")})
    done = await run_inference(
        request_for("obsea", "fish_detector"), Image.new("RGB", (640, 320)), TritonImageModel(tensors), max_regions=10
    )
    assert as_tuples(done.detections) == SURVIVORS
    assert done.counts == {"damselfish": 3, "sardine": 1, "seabream": 1}
    assert done.classification is None
    assert not done.regions


def test_nothing_over_the_threshold_means_no_detections() -> None:
    output = planted_output()
    output[4:] = 0.1
    found = decode_yolov8(
        output,
        DETECTOR.labels,
        score_threshold=0.25,
        iou_threshold=0.45,
        placement=Placement(1.0, 0, 0),
        width=320,
        height=320,
    )
    assert found == []


def test_an_output_of_the_wrong_shape_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"expected \[7, anchors\]"):
        decode_yolov8(
            np.zeros((6, 100), np.float32),
            DETECTOR.labels,
            score_threshold=0.25,
            iou_threshold=0.45,
            placement=Placement(1.0, 0, 0),
            width=10,
            height=10,
        )


def test_iou_of_known_boxes() -> None:
    box = np.array([0, 0, 10, 10], np.float32)
    others = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [10, 10, 20, 20], [2, 2, 4, 4]], np.float32)
    assert iou(box, others) == pytest.approx([1.0, 50 / 150, 0.0, 4 / 100])


def test_nms_keeps_the_best_of_each_overlapping_group() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [21, 20, 31, 30], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.7, 0.1], np.float32)
    assert non_max_suppression(boxes, scores, iou_threshold=0.5) == [1, 3]
    assert non_max_suppression(boxes, scores, iou_threshold=1.0) == [1, 3, 0, 2, 4]


def test_classification_gives_the_top_three_labels_best_first() -> None:
    labels = ("copepod", "diatom", "detritus", "egg")
    result = classify(np.array([0.1, 0.6, 0.05, 0.25], np.float32), labels)
    assert result.label == "diatom"
    assert result.score == pytest.approx(0.6)
    assert [t.label for t in result.top] == ["diatom", "egg", "copepod"]


def test_classification_carries_every_classs_score() -> None:
    labels = ("copepod", "diatom", "detritus", "egg")
    result = classify(np.array([0.1, 0.6, 0.05, 0.25], np.float32), labels)
    assert list(result.scores) == list(labels)
    assert result.scores == pytest.approx({"copepod": 0.1, "diatom": 0.6, "detritus": 0.05, "egg": 0.25})
    assert sum(result.scores.values()) == pytest.approx(1.0)


def test_classification_refuses_scores_that_do_not_match_the_labels() -> None:
    with pytest.raises(ValueError, match="expected 3 class scores"):
        classify(np.zeros(4, np.float32), ("a", "b", "c"))


def test_softmax_turns_logits_into_probabilities_row_by_row() -> None:
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 0.0]], np.float32)
    probabilities = softmax(logits)
    expected = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    assert probabilities[0] == pytest.approx(expected)
    assert probabilities[1] == pytest.approx([0.5, 0.5, 0.0])  # large logits do not overflow
    assert probabilities.dtype == np.float32


def test_counts_are_per_label() -> None:
    assert count_labels(["b", "a", "b"]) == {"a": 1, "b": 2}
