"""The model contract read from Triton's JSON model configuration."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aquaflow_inference.errors import InvalidModelConfig
from aquaflow_inference.spec import IMAGENET_MEAN, IMAGENET_STD, UNBATCHED_CHUNK, ModelSpec, Normalisation
from tests.unit.inference.support import REPOSITORY, config_json, parsed_config, repository_spec

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
    assert spec.name == name
    assert spec.input_name == "images"
    assert (spec.layout, spec.output, spec.input_type) == ("NCHW", "probabilities", "FP32")
    assert spec.labels == labels_file(name)
    assert spec.channels == (1 if spec.color == "gray" else 3)
    assert spec.max_batch_size == 32
    assert len(spec.normalisation.mean) in (1, spec.channels)
    assert len(spec.normalisation.std) in (1, spec.channels)
    assert (spec.normalisation.numerator, spec.normalisation.denominator) == (1.0, 255.0)


def test_the_plankton_classifier_config_gives_its_preprocessing_and_labels() -> None:
    spec = repository_spec("plankton_classifier")
    assert (spec.task, spec.color, spec.resize) == ("classification", "gray", "pad_square")
    assert (spec.channels, spec.height, spec.width) == (1, 64, 64)
    assert spec.output_name == "probabilities"
    assert spec.normalisation == Normalisation(invert=True, mean=(0.1,), std=(0.2,))
    assert spec.label_file == "labels.txt"
    assert len(spec.labels) == 8
    assert spec.tile_size is None


def test_the_detector_config_gives_letterbox_and_thresholds() -> None:
    spec = repository_spec("fish_detector")
    assert (spec.task, spec.color, spec.resize) == ("detection", "rgb", "letterbox")
    assert (spec.channels, spec.height, spec.width) == (3, 320, 320)
    assert spec.normalisation == Normalisation()
    assert (spec.score_threshold, spec.iou_threshold) == (0.25, 0.45)
    assert spec.labels == ("damselfish", "seabream", "sardine")
    assert spec.output_name == "output0"
    assert spec.tile_size is None


def test_the_tile_config_gives_per_channel_normalisation_and_tile_size() -> None:
    spec = repository_spec("litter_tiles")
    assert (spec.task, spec.color, spec.resize) == ("classification", "rgb", "pad_square")
    assert (spec.channels, spec.height, spec.width) == (3, 64, 64)
    assert spec.normalisation == Normalisation(mean=IMAGENET_MEAN, std=IMAGENET_STD)
    assert spec.tile_size == 128
    assert spec.labels == ("water", "litter", "other")


def test_thresholds_have_defaults() -> None:
    config = config_json("fish_detector")
    del config["parameters"]["aquaflow.score_threshold"]
    del config["parameters"]["aquaflow.iou_threshold"]
    spec = ModelSpec.from_triton_config(config)
    assert (spec.score_threshold, spec.iou_threshold) == (0.25, 0.45)


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
        ("aquaflow.task", "segmentation", "aquaflow.task 'segmentation' is not one of classification, detection"),
        ("aquaflow.task", None, "aquaflow.task is missing"),
        ("aquaflow.color", "cmyk", "aquaflow.color 'cmyk' is not one of gray, rgb, bgr"),
        ("aquaflow.resize", "stretch", "aquaflow.resize 'stretch' is not one of pad_square, letterbox"),
        ("aquaflow.color", "rgb", "1 input channels do not fit colour rgb"),
        ("aquaflow.labels", "copepod,diatom", r"2 labels but the output gives \[8\] class scores"),
        ("aquaflow.labels", "copepod,,diatom", "empty class name"),
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
        ModelSpec.from_triton_config(broken)
    assert "plankton_classifier" in str(refused.value)


def test_a_detector_whose_output_does_not_fit_its_labels_is_refused() -> None:
    broken = with_parameter(config_json("fish_detector"), "aquaflow.labels", "damselfish,seabream")
    with pytest.raises(InvalidModelConfig, match=r"2 labels need an output \[6, anchors\], got \[7, 2100\]"):
        ModelSpec.from_triton_config(broken)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input", []),
        ("output", []),
        ("input", [{"name": "a", "dims": ["1", "64", "64"]}, {"name": "b", "dims": ["1", "64", "64"]}]),
        ("input", [{"name": "images", "dims": ["64", "64"]}]),
        ("input", [{"name": "images", "dims": ["1", "64", "64"], "data_type": "TYPE_UINT8"}]),
        ("input", [{"name": "images", "dims": ["1", "sixty-four", "64"]}]),
        ("parameters", {}),
    ],
    ids=["no-input", "no-output", "two-inputs", "two-dims", "uint8-input", "dims-not-numbers", "no-parameters"],
)
def test_a_config_with_broken_tensors_or_parameters_is_refused(field: str, value: object) -> None:
    broken = config_json("plankton_classifier")
    broken[field] = value
    with pytest.raises(InvalidModelConfig, match="plankton_classifier"):
        ModelSpec.from_triton_config(broken)


# Model forms: what a config declares, or what its dims say, about the input and the output.


def form(
    input_dims: list[int],
    output_dims: list[int],
    *,
    batch: int = 8,
    task: str = "classification",
    labels: str | None = "a,b,c",
    label_file: bool = False,
    data_type: str = "TYPE_FP32",
    **params: str,
) -> dict[str, Any]:
    """A config as Triton serves it; ``params`` are aquaflow.* parameters with dots as underscores."""
    entries = {"aquaflow.task": task, **({"aquaflow.labels": labels} if labels is not None else {})}
    entries |= {"aquaflow." + key.replace("__", "."): value for key, value in params.items()}
    parameters = "".join(f'parameters {{ key: "{k}" value: {{ string_value: "{v}" }} }}\n' for k, v in entries.items())
    label = ' label_filename: "labels.txt"' if label_file else ""
    return parsed_config(
        f'name: "m"\nmax_batch_size: {batch}\n'
        f'input [{{ name: "x" data_type: {data_type} dims: {input_dims} }}]\n'
        f'output [{{ name: "y" data_type: TYPE_FP32 dims: {output_dims}{label} }}]\n{parameters}'
    )


@pytest.mark.parametrize(
    ("dims", "layout", "shape", "colour"),
    [
        ([3, 224, 224], "NCHW", (3, 224, 224), "rgb"),
        ([224, 224, 3], "NHWC", (224, 224, 3), "rgb"),
        ([1, 96, 128], "NCHW", (1, 96, 128), "gray"),
        ([96, 128, 1], "NHWC", (96, 128, 1), "gray"),
    ],
)
def test_the_layout_and_colour_follow_from_where_the_channels_sit(
    dims: list[int], layout: str, shape: tuple[int, ...], colour: str
) -> None:
    spec = ModelSpec.from_triton_config(form(dims, [3]))
    assert (spec.layout, spec.input_shape, spec.color) == (layout, shape, colour)
    assert (spec.height, spec.width) == ((96, 128) if 96 in dims else (224, 224))


def test_an_ambiguous_layout_must_be_declared_and_a_declared_one_must_fit() -> None:
    with pytest.raises(InvalidModelConfig, match=r"cannot tell NCHW from NHWC.*set aquaflow\.layout"):
        ModelSpec.from_triton_config(form([3, 64, 3], [3]))
    spec = ModelSpec.from_triton_config(form([3, 64, 3], [3], layout="NHWC"))
    assert (spec.layout, spec.height, spec.width, spec.channels) == ("NHWC", 3, 64, 3)
    with pytest.raises(InvalidModelConfig, match=r"\[3, 64, 64\] do not fit aquaflow.layout NHWC"):
        ModelSpec.from_triton_config(form([3, 64, 64], [3], layout="NHWC"))
    with pytest.raises(InvalidModelConfig, match="'CHWN' is not one of NCHW, NHWC"):
        ModelSpec.from_triton_config(form([3, 64, 64], [3], layout="CHWN"))


def test_bgr_is_a_colour_of_three_channels() -> None:
    assert ModelSpec.from_triton_config(form([3, 64, 64], [3], color="bgr")).color == "bgr"
    with pytest.raises(InvalidModelConfig, match="1 input channels do not fit colour bgr"):
        ModelSpec.from_triton_config(form([1, 64, 64], [3], color="bgr"))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, Normalisation()),
        ({"normalize": "unit"}, Normalisation()),
        ({"normalize": "imagenet"}, Normalisation(mean=IMAGENET_MEAN, std=IMAGENET_STD)),
        ({"normalize": "minus_one_one", "invert": "true"}, Normalisation(invert=True, mean=(0.5,), std=(0.5,))),
        ({"normalize": "raw"}, Normalisation(denominator=1.0)),
        ({"scale": "1/255"}, Normalisation()),
        ({"scale": "1"}, Normalisation(denominator=1.0)),
        ({"scale": "0.5", "mean": "10,20,30", "std": "2"}, Normalisation(1.0, 2.0, mean=(10, 20, 30), std=(2,))),
        ({"scale": "2/255", "mean": "1"}, Normalisation(2.0, 255.0, mean=(1.0,))),
    ],
)
def test_normalisations_by_scale_mean_and_std_or_by_name(params: dict[str, str], expected: Normalisation) -> None:
    assert ModelSpec.from_triton_config(form([3, 8, 8], [3], **params)).normalisation == expected


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"normalize": "imagenet", "mean": "0.5"}, "aquaflow.normalize 'imagenet' and aquaflow.mean both given"),
        ({"normalize": "zscore"}, "'zscore' is not one of unit, imagenet, minus_one_one, raw"),
        ({"scale": "0"}, "aquaflow.scale must be positive"),
        ({"scale": "-1/255"}, "aquaflow.scale must be positive"),
        ({"scale": "1/0"}, "breaks the model contract"),
        ({"scale": "a third"}, "breaks the model contract"),
    ],
)
def test_normalisations_that_cannot_be_meant_are_refused(params: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidModelConfig, match=reason):
        ModelSpec.from_triton_config(form([3, 8, 8], [3], **params))


def test_imagenet_needs_three_channels() -> None:
    with pytest.raises(InvalidModelConfig, match="3 mean values for 1 channel"):
        ModelSpec.from_triton_config(form([1, 8, 8], [3], normalize="imagenet"))


def test_a_classifier_declares_logits_or_probabilities_and_a_detector_neither() -> None:
    assert ModelSpec.from_triton_config(form([3, 8, 8], [3])).output == "probabilities"
    assert ModelSpec.from_triton_config(form([3, 8, 8], [3], output="logits")).output == "logits"
    with pytest.raises(InvalidModelConfig, match="'scores' is not one of probabilities, logits"):
        ModelSpec.from_triton_config(form([3, 8, 8], [3], output="scores"))
    with pytest.raises(InvalidModelConfig, match="logits applies to classification models only"):
        ModelSpec.from_triton_config(form([3, 8, 8], [7, 10], task="detection", output="logits"))


def test_the_resize_defaults_to_the_task() -> None:
    assert ModelSpec.from_triton_config(form([3, 8, 8], [3])).resize == "pad_square"
    assert ModelSpec.from_triton_config(form([3, 8, 8], [7, 10], task="detection")).resize == "letterbox"


def test_an_export_with_a_fixed_batch_of_one_runs_one_image_per_call() -> None:
    """Ultralytics' default export: ONNX batch dim fixed at 1, so the Triton config cannot batch."""
    spec = ModelSpec.from_triton_config(
        form([1, 3, 640, 640], [1, 84, 8400], batch=0, task="detection", labels=",".join(f"c{i}" for i in range(80)))
    )
    assert (spec.max_batch_size, spec.input_shape, spec.output_dims) == (1, (3, 640, 640), (84, 8400))
    dynamic = ModelSpec.from_triton_config(form([-1, 3, 64, 64], [-1, 3], batch=0))
    assert (dynamic.max_batch_size, dynamic.output_dims) == (UNBATCHED_CHUNK, (3,))
    with pytest.raises(
        InvalidModelConfig, match=r"input dims must start with the batch dimension .* got \[3, 64, 64\]"
    ):
        ModelSpec.from_triton_config(form([3, 64, 64], [1, 3], batch=0))


def test_dynamic_height_and_width_need_an_input_size() -> None:
    with pytest.raises(InvalidModelConfig, match=r"dynamic; set aquaflow\.input_size"):
        ModelSpec.from_triton_config(form([3, -1, -1], [3]))
    square = ModelSpec.from_triton_config(form([3, -1, -1], [3], input_size="640"))
    assert (square.height, square.width) == (640, 640)
    oblong = ModelSpec.from_triton_config(form([-1, -1, 3], [3], input_size="480,640"))
    assert (oblong.layout, oblong.input_shape) == ("NHWC", (480, 640, 3))
    with pytest.raises(InvalidModelConfig, match="contradicts the input dims"):
        ModelSpec.from_triton_config(form([3, 64, 64], [3], input_size="32"))
    with pytest.raises(InvalidModelConfig, match="is not 'size' or 'height,width'"):
        ModelSpec.from_triton_config(form([3, -1, -1], [3], input_size="1,2,3"))


def test_half_precision_inputs_are_understood() -> None:
    assert ModelSpec.from_triton_config(form([3, 8, 8], [3], data_type="TYPE_FP16")).input_type == "FP16"


def test_labels_come_from_the_parameter_first_then_from_the_label_file() -> None:
    spaced = ModelSpec.from_triton_config(form([3, 8, 8], [3], labels="sand, shell ,weed", label_file=True))
    assert (spaced.labels, spaced.label_file) == (("sand", "shell", "weed"), "labels.txt")
    from_file = ModelSpec.from_triton_config(form([3, 8, 8], [3], labels=None, label_file=True))
    assert (from_file.labels, from_file.label_file) == ((), "labels.txt")
    assert from_file.with_labels(("x", "y", "z")).labels == ("x", "y", "z")
    with pytest.raises(InvalidModelConfig, match=r"2 labels but the output gives \[3\] class scores"):
        from_file.with_labels(("x", "y"))


def test_without_any_source_of_labels_the_config_is_refused() -> None:
    with pytest.raises(InvalidModelConfig, match=r"no class names: set aquaflow\.labels, or a label_filename"):
        ModelSpec.from_triton_config(form([3, 8, 8], [3], labels=None))
    with pytest.raises(InvalidModelConfig, match=r"a detection model names its classes in aquaflow\.labels"):
        ModelSpec.from_triton_config(form([3, 8, 8], [7, 10], task="detection", labels=None, label_file=True))
