"""A DEEPaaS module's JSON answer → aquaflow's classification or detections, by declaration."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from aquaflow_inference.deepaas_mapping import (
    AnswerMapping,
    UnexpectedAnswer,
    read_path,
    to_classification,
    to_detections,
)
from aquaflow_shared.contracts import BoundingBox

LABELS = ("copepod", "diatom_chain", "detritus", "bubble")
LISTS = AnswerMapping(labels="labels", scores="probabilities")


def test_parallel_lists_give_the_best_class_the_top_three_and_every_score_in_label_order() -> None:
    answer = {"labels": ["detritus", "copepod", "bubble", "diatom_chain"], "probabilities": [0.6, 0.25, 0.1, 0.05]}

    result = to_classification(answer, LISTS, LABELS)

    assert (result.label, result.score) == ("detritus", 0.6)
    assert [(t.label, t.score) for t in result.top] == [("detritus", 0.6), ("copepod", 0.25), ("bubble", 0.1)]
    assert list(result.scores) == list(LABELS)  # the model's order, as Triton's models give it
    assert result.scores == {"copepod": 0.25, "diatom_chain": 0.05, "detritus": 0.6, "bubble": 0.1}


def test_the_answer_need_not_be_sorted_and_ties_keep_the_modules_order() -> None:
    answer = {"labels": ["bubble", "copepod", "detritus"], "probabilities": [0.2, 0.4, 0.4]}

    result = to_classification(answer, LISTS)

    assert result.label == "copepod"
    assert [t.label for t in result.top] == ["copepod", "detritus", "bubble"]
    assert list(result.scores) == ["bubble", "copepod", "detritus"]  # no declared labels: the answer's order


def test_a_list_of_objects_wrapped_by_deepaas_is_read_through_its_path() -> None:
    # DEEPaaS wraps the answer of a module that declares no response schema.
    answer = {
        "status": "OK",
        "predictions": [{"label": "copepod", "probability": 0.9}, {"label": "bubble", "probability": 0.1}],
    }
    mapping = AnswerMapping(items="predictions")

    result = to_classification(answer, mapping, LABELS)

    assert (result.label, result.score) == ("copepod", 0.9)
    assert result.scores == {"copepod": 0.9, "bubble": 0.1}


def test_custom_field_names_and_indexes_into_lists() -> None:
    answer = {
        "predictions": [{"results": [{"class_name": "detritus", "conf": 0.7}, {"class_name": "bubble", "conf": 0.3}]}]
    }
    mapping = AnswerMapping(items="predictions.0.results", label="class_name", score="conf")

    assert to_classification(answer, mapping).label == "detritus"


def test_the_empty_path_is_the_answer_itself() -> None:
    answer = [{"label": "bubble", "probability": 1.0}]

    assert to_classification(answer, AnswerMapping(items="")).label == "bubble"
    assert read_path({"a": [1, 2]}, "a.-1") == 2


@pytest.mark.parametrize(
    ("answer", "mapping", "says"),
    [
        ({"labels": ["copepod"]}, LISTS, "no 'probabilities'"),
        ({"predictions": {"labels": []}}, AnswerMapping(labels="predictions.0", scores="x"), "no 'predictions.0'"),
        ({"labels": "copepod", "probabilities": [1.0]}, LISTS, "not a list"),
        ({"labels": ["copepod", "bubble"], "probabilities": [1.0]}, LISTS, "2 labels"),
        ({"labels": ["copepod"], "probabilities": ["high"]}, LISTS, "not a finite number"),
        ({"labels": ["copepod"], "probabilities": [float("nan")]}, LISTS, "not a finite number"),
        ({"labels": ["copepod"], "probabilities": [63.2]}, LISTS, "not a probability"),
        ({"labels": [None], "probabilities": [0.5]}, LISTS, "not a class name"),
        ({"labels": ["copepod", "copepod"], "probabilities": [0.5, 0.5]}, LISTS, "appears twice"),
        ({"labels": ["shrimp"], "probabilities": [0.9]}, LISTS, "['shrimp'] are not among"),
        ({"labels": [], "probabilities": []}, LISTS, "no class"),
        ({"predictions": [{"label": "copepod"}]}, AnswerMapping(items="predictions"), "predictions.0.probability"),
    ],
)
def test_an_answer_of_another_shape_is_refused_saying_what_is_wrong(
    answer: Any, mapping: AnswerMapping, says: str
) -> None:
    with pytest.raises(UnexpectedAnswer) as refused:
        to_classification(answer, mapping, LABELS)
    assert says in refused.value.reason
    assert refused.value.code == "deepaas_bad_answer"


def test_float_rounding_just_past_one_is_clipped_not_refused() -> None:
    result = to_classification({"labels": ["bubble"], "probabilities": [1.00001]}, LISTS)
    assert result.score == 1.0


def test_detections_in_corner_form_best_first() -> None:
    answer = {
        "boxes": [
            {"label": "copepod", "score": 0.4, "box": [10, 20, 30, 60]},
            {"label": "bubble", "score": 0.8, "box": [0, 0, 5, 5]},
        ]
    }
    mapping = AnswerMapping(items="boxes", score="score")

    found = to_detections(answer, mapping, width=100, height=80, known_labels=LABELS)

    assert [d.label for d in found] == ["bubble", "copepod"]
    assert found[1].box == BoundingBox(x_min=10, y_min=20, x_max=30, y_max=60)


@pytest.mark.parametrize(
    ("box_format", "box", "expected"),
    [
        ("xyxy", [10, 20, 30, 60], (10, 20, 30, 60)),
        ("xywh", [10, 20, 20, 40], (10, 20, 30, 60)),
        ("cxcywh", [20, 40, 20, 40], (10, 20, 30, 60)),
    ],
)
def test_box_formats_become_pixel_corners(box_format: Any, box: list[float], expected: tuple[float, ...]) -> None:
    mapping = AnswerMapping(items="", score="s", box="b", box_format=box_format)

    (found,) = to_detections([{"label": "fish", "s": 0.9, "b": box}], mapping, width=100, height=80)

    assert (found.box.x_min, found.box.y_min, found.box.x_max, found.box.y_max) == expected


def test_normalised_boxes_in_named_fields_are_scaled_to_the_image_and_clipped() -> None:
    mapping = AnswerMapping(
        items="objects",
        label="name",
        score="confidence",
        box="bbox",
        box_keys=("x", "y", "w", "h"),
        box_format="xywh",
        normalized=True,
    )
    answer = {"objects": [{"name": "fish", "confidence": 0.7, "bbox": {"x": 0.5, "y": 0.25, "w": 0.75, "h": 0.5}}]}

    (found,) = to_detections(answer, mapping, width=200, height=100)

    assert found.box == BoundingBox(x_min=100, y_min=25, x_max=200, y_max=75)  # x_max clipped from 250


def test_boxes_outside_the_image_are_left_out_and_malformed_ones_refused() -> None:
    mapping = AnswerMapping(items="", score="s")
    outside = [{"label": "fish", "s": 0.5, "box": [150, 10, 180, 20]}]
    assert to_detections(outside, mapping, width=100, height=80) == []

    for bad_box, says in (([1, 2, 3], "not four numbers"), ([1, 2, 3, "x"], "not a finite number")):
        with pytest.raises(UnexpectedAnswer) as refused:
            to_detections([{"label": "fish", "s": 0.5, "box": bad_box}], mapping, width=100, height=80)
        assert says in refused.value.reason


def test_a_detection_of_an_undeclared_class_is_refused() -> None:
    mapping = AnswerMapping(items="", score="s")
    with pytest.raises(UnexpectedAnswer, match="'shark' at 0 is not among"):
        to_detections(
            [{"label": "shark", "s": 0.5, "box": [1, 1, 5, 5]}], mapping, width=10, height=10, known_labels=LABELS
        )


def test_a_mapping_gives_exactly_one_form_and_detection_needs_items() -> None:
    with pytest.raises(ValidationError, match="either labels and scores"):
        AnswerMapping()
    with pytest.raises(ValidationError, match="either labels and scores"):
        AnswerMapping(labels="l", scores="s", items="i")
    with pytest.raises(ValidationError, match="go together"):
        AnswerMapping(labels="l")
    with pytest.raises(ValidationError, match="extra"):
        AnswerMapping.model_validate({"items": "", "lables": "typo"})
    with pytest.raises(ValueError, match="detection answer is mapped with items"):
        LISTS.check_for("detection")
