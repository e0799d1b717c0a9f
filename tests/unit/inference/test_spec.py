"""The model contract read from Triton's JSON model configuration."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aquaflow_inference.errors import InvalidModelConfig
from aquaflow_inference.spec import ModelSpec
from tests.unit.inference.support import REPOSITORY, config_json, repository_spec


def test_the_plankton_classifier_config_gives_its_preprocessing_and_labels() -> None:
    spec = repository_spec("plankton_classifier")
    assert (spec.task, spec.color, spec.resize, spec.invert) == ("classification", "gray", "pad_square", True)
    assert (spec.channels, spec.height, spec.width, spec.max_batch_size) == (1, 64, 64, 32)
    assert (spec.input_name, spec.output_name) == ("images", "probabilities")
    assert spec.labels == tuple((REPOSITORY / "plankton_classifier" / "labels.txt").read_text().split())
    assert spec.tile_size is None


def test_the_detector_config_gives_letterbox_and_thresholds() -> None:
    spec = repository_spec("fish_detector")
    assert (spec.task, spec.color, spec.resize, spec.invert) == ("detection", "rgb", "letterbox", False)
    assert (spec.channels, spec.height, spec.width) == (3, 320, 320)
    assert (spec.score_threshold, spec.iou_threshold) == (0.25, 0.45)
    assert spec.labels == ("damselfish", "seabream", "sardine")
    assert spec.output_name == "output0"


def test_the_tile_config_gives_per_channel_normalisation_and_tile_size() -> None:
    spec = repository_spec("litter_tiles")
    assert spec.mean == (0.485, 0.456, 0.406)
    assert spec.std == (0.229, 0.224, 0.225)
    assert spec.tile_size == 128
    assert spec.labels == ("water", "litter", "other")


def with_parameter(config: dict[str, Any], key: str, value: str | None) -> dict[str, Any]:
    changed = copy.deepcopy(config)
    if value is None:
        del changed["parameters"][key]
    else:
        changed["parameters"][key] = {"string_value": value}
    return changed


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("aquaflow.task", "segmentation", "is not classification or detection"),
        ("aquaflow.color", "cmyk", "unsupported colour"),
        ("aquaflow.resize", "stretch", "unsupported colour 'gray' or resize 'stretch'"),
        ("aquaflow.color", "rgb", "1 input channels do not fit colour rgb"),
        ("aquaflow.labels", None, "aquaflow.labels"),
        ("aquaflow.mean", "zero", "breaks the model contract"),
    ],
)
def test_a_config_that_breaks_the_contract_is_refused_with_the_reason(key: str, value: str | None, reason: str) -> None:
    broken = with_parameter(config_json("plankton_classifier"), key, value)
    with pytest.raises(InvalidModelConfig, match=reason):
        ModelSpec.from_triton_config(broken, version="1")


def test_a_config_without_the_input_is_refused() -> None:
    broken = config_json("plankton_classifier")
    broken["input"] = []
    with pytest.raises(InvalidModelConfig, match="plankton_classifier"):
        ModelSpec.from_triton_config(broken, version="1")
