"""The model contract read from Triton's JSON model configuration."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aquaflow_inference.errors import InvalidModelConfig
from aquaflow_inference.spec import ModelSpec
from tests.unit.inference.support import REPOSITORY, config_json, repository_spec

MODELS = sorted(p.name for p in REPOSITORY.iterdir() if (p / "config.pbtxt").is_file())


def labels_file(name: str) -> tuple[str, ...]:
    return tuple((REPOSITORY / name / "labels.txt").read_text().split())


def test_the_repository_holds_the_three_models() -> None:
    assert MODELS == ["fish_detector", "litter_tiles", "plankton_classifier"]


def test_the_json_form_is_the_one_triton_serves() -> None:
    # Triton's JSON renders int64 fields as strings: the parser must cope with that.
    config = config_json("fish_detector")
    assert config["input"][0]["dims"] == ["3", "320", "320"]
    assert config["output"][0]["dims"] == ["7", "2100"]
    assert config["parameters"]["aquaflow.task"] == {"string_value": "detection"}


@pytest.mark.parametrize("name", MODELS)
def test_every_model_in_the_repository_keeps_the_contract(name: str) -> None:
    spec = repository_spec(name)
    assert (spec.name, spec.version) == (name, "1")
    assert spec.input_name == "images"
    assert spec.labels == labels_file(name)
    assert spec.channels == (1 if spec.color == "gray" else 3)
    assert spec.max_batch_size == 32
    assert len(spec.mean) in (1, spec.channels)
    assert len(spec.std) in (1, spec.channels)


def test_the_plankton_classifier_config_gives_its_preprocessing_and_labels() -> None:
    spec = repository_spec("plankton_classifier")
    assert (spec.task, spec.color, spec.resize, spec.invert) == ("classification", "gray", "pad_square", True)
    assert (spec.channels, spec.height, spec.width) == (1, 64, 64)
    assert spec.output_name == "probabilities"
    assert (spec.mean, spec.std) == ((0.1,), (0.2,))
    assert len(spec.labels) == 8
    assert spec.tile_size is None


def test_the_detector_config_gives_letterbox_and_thresholds() -> None:
    spec = repository_spec("fish_detector")
    assert (spec.task, spec.color, spec.resize, spec.invert) == ("detection", "rgb", "letterbox", False)
    assert (spec.channels, spec.height, spec.width) == (3, 320, 320)
    assert (spec.mean, spec.std) == ((0.0,), (1.0,))
    assert (spec.score_threshold, spec.iou_threshold) == (0.25, 0.45)
    assert spec.labels == ("damselfish", "seabream", "sardine")
    assert spec.output_name == "output0"
    assert spec.tile_size is None


def test_the_tile_config_gives_per_channel_normalisation_and_tile_size() -> None:
    spec = repository_spec("litter_tiles")
    assert (spec.task, spec.color, spec.resize, spec.invert) == ("classification", "rgb", "pad_square", False)
    assert (spec.channels, spec.height, spec.width) == (3, 64, 64)
    assert spec.mean == (0.485, 0.456, 0.406)
    assert spec.std == (0.229, 0.224, 0.225)
    assert spec.tile_size == 128
    assert spec.labels == ("water", "litter", "other")


def test_the_version_comes_from_the_caller_and_thresholds_have_defaults() -> None:
    config = config_json("fish_detector")
    del config["parameters"]["aquaflow.score_threshold"]
    del config["parameters"]["aquaflow.iou_threshold"]
    spec = ModelSpec.from_triton_config(config, version="7")
    assert (spec.version, spec.score_threshold, spec.iou_threshold) == ("7", 0.25, 0.45)


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
        ("aquaflow.task", None, "aquaflow.task"),
        ("aquaflow.color", "cmyk", "unsupported colour"),
        ("aquaflow.resize", "stretch", "unsupported colour 'gray' or resize 'stretch'"),
        ("aquaflow.color", "rgb", "1 input channels do not fit colour rgb"),
        ("aquaflow.labels", None, "aquaflow.labels"),
        ("aquaflow.labels", "copepod,diatom", r"2 labels but the output gives \[8\] class scores"),
        ("aquaflow.mean", "zero", "breaks the model contract"),
        ("aquaflow.mean", "0.1,0.2", "2 mean values for 1 channel"),
        ("aquaflow.std", "0", "std must be positive"),
        ("aquaflow.tile_size", "large", "breaks the model contract"),
        ("aquaflow.tile_size", "0", "tile_size must be positive"),
    ],
)
def test_a_classifier_config_that_breaks_the_contract_is_refused_with_the_reason(
    key: str, value: str | None, reason: str
) -> None:
    broken = with_parameter(config_json("plankton_classifier"), key, value)
    with pytest.raises(InvalidModelConfig, match=reason) as refused:
        ModelSpec.from_triton_config(broken, version="1")
    assert "plankton_classifier" in str(refused.value)


def test_a_detector_whose_output_does_not_fit_its_labels_is_refused() -> None:
    broken = with_parameter(config_json("fish_detector"), "aquaflow.labels", "damselfish,seabream")
    with pytest.raises(InvalidModelConfig, match=r"2 labels need an output \[6, anchors\], got \[7, 2100\]"):
        ModelSpec.from_triton_config(broken, version="1")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input", []),
        ("output", []),
        ("input", [{"name": "a", "dims": ["1", "64", "64"]}, {"name": "b", "dims": ["1", "64", "64"]}]),
        ("input", [{"name": "images", "dims": ["64", "64"]}]),
        ("input", [{"name": "images", "dims": ["1", "sixty-four", "64"]}]),
        ("parameters", {}),
    ],
    ids=["no-input", "no-output", "two-inputs", "two-dims", "dims-not-numbers", "no-parameters"],
)
def test_a_config_with_broken_tensors_or_parameters_is_refused(field: str, value: object) -> None:
    broken = config_json("plankton_classifier")
    broken[field] = value
    with pytest.raises(InvalidModelConfig, match="plankton_classifier"):
        ModelSpec.from_triton_config(broken, version="1")
