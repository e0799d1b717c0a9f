"""What a model expects and returns, read from its Triton configuration (docs/model-contract.md).

The configuration is per model, shared by all its versions. Everything the worker must know
to feed a model and read its answer is declared in the ``aquaflow.*`` parameters or follows
from the tensors' dims, so a model exported elsewhere (Ultralytics, a training script of the
user's own) plugs in with a config file and no code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, get_args

from aquaflow_inference.errors import InvalidModelConfig

Task = Literal["classification", "detection"]
Layout = Literal["NCHW", "NHWC"]
Colour = Literal["gray", "rgb", "bgr"]
Resize = Literal["pad_square", "letterbox"]
OutputKind = Literal["probabilities", "logits"]
InputType = Literal["FP32", "FP16"]

# Rows sent in one call to a model whose config has no batching (max_batch_size 0) but whose
# ONNX batch dimension is dynamic: one call per chunk, as with max_batch_size.
UNBATCHED_CHUNK = 32
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_RESIZE: dict[str, Resize] = {"classification": "pad_square", "detection": "letterbox"}
NORMALISATION_KEYS = ("aquaflow.scale", "aquaflow.mean", "aquaflow.std")


@dataclass(frozen=True)
class Normalisation:
    """pixel (0..255) · numerator / denominator, inverted as full scale − x, then (x − mean) / std.

    The scale is kept as a fraction so that the default 1/255 divides by 255 exactly as the
    training scripts do: the tensors then agree bit for bit.
    """

    numerator: float = 1.0
    denominator: float = 255.0
    invert: bool = False
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    @property
    def full_scale(self) -> float:
        """What white (255) becomes after scaling: the top of the range inversion mirrors."""
        return 255.0 * self.numerator / self.denominator


# Named normalisations: `aquaflow.normalize` instead of scale, mean and std.
PRESETS: dict[str, Normalisation] = {
    "unit": Normalisation(),  # 0..1
    "imagenet": Normalisation(mean=IMAGENET_MEAN, std=IMAGENET_STD),  # torchvision's models
    "minus_one_one": Normalisation(mean=(0.5,), std=(0.5,)),  # -1..1 (Inception, many TF exports)
    "raw": Normalisation(denominator=1.0),  # 0..255 as they are (models that normalise inside)
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: Task
    input_name: str
    output_name: str
    layout: Layout
    channels: int
    height: int
    width: int
    # Rows per call: the config's max_batch_size, or what an unbatched model's ONNX batch dim allows.
    max_batch_size: int
    color: Colour
    resize: Resize
    normalisation: Normalisation
    labels: tuple[str, ...]  # empty only while they are still to be read from label_file
    output: OutputKind = "probabilities"
    input_type: InputType = "FP32"
    # The output's label_filename: Triton serves it through its classification extension.
    label_file: str | None = None
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    tile_size: int | None = None
    output_dims: tuple[int, ...] = ()  # one row's output, without the batch dimension

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """One row of the input, in the model's layout."""
        if self.layout == "NHWC":
            return (self.height, self.width, self.channels)
        return (self.channels, self.height, self.width)

    @classmethod
    def from_triton_config(cls, config: dict[str, Any]) -> ModelSpec:
        """Parse the JSON form of a Triton model config (``get_model_config(as_json=True)["config"]``).

        The labels come from ``aquaflow.labels``; without it they must be named by the output's
        ``label_filename``, and the spec has no labels until :meth:`with_labels` gives them.
        """
        name = str(config.get("name", "?"))
        try:
            spec = _parse(name, config)
        except (KeyError, ValueError, TypeError, ZeroDivisionError) as error:
            raise InvalidModelConfig(f"{name}: configuration breaks the model contract: {error!r}") from error
        _check_contract(spec)
        return spec

    def with_labels(self, labels: tuple[str, ...]) -> ModelSpec:
        """The spec with the class names read from its label file (through Triton)."""
        spec = dataclasses.replace(self, labels=labels)
        _check_contract(spec)
        return spec


def _parse(name: str, config: dict[str, Any]) -> ModelSpec:
    params = {str(k): str(v.get("string_value", "")).strip() for k, v in config.get("parameters", {}).items()}
    (model_input,) = config["input"]
    (model_output,) = config["output"]
    batched = int(config.get("max_batch_size", 0)) > 0
    input_dims = _dims(model_input, batched, name, "input")
    output_dims = _dims(model_output, batched, name, "output")
    if len(input_dims) != 3:
        raise InvalidModelConfig(f"{name}: the input must be one image [C, H, W] or [H, W, C], got {list(input_dims)}")
    task = _choice(name, params, "aquaflow.task", get_args(Task), None)
    layout = _layout(name, input_dims, params.get("aquaflow.layout"))
    if layout == "NHWC":
        height, width, channels = input_dims
    else:
        channels, height, width = input_dims
    height, width = _input_size(name, height, width, params.get("aquaflow.input_size"))
    colour = _choice(name, params, "aquaflow.color", get_args(Colour), "gray" if channels == 1 else "rgb")
    labels = _labels(name, params["aquaflow.labels"]) if "aquaflow.labels" in params else ()
    label_file = str(model_output.get("label_filename", "")) or None
    if not labels and label_file is None:
        raise InvalidModelConfig(
            f"{name}: no class names: set aquaflow.labels, or a label_filename on the output"
            " (Ultralytics exports: the repository preparation writes aquaflow.labels from the ONNX metadata)"
        )
    return ModelSpec(
        name=name,
        task=task,  # type: ignore[arg-type]
        input_name=str(model_input["name"]),
        output_name=str(model_output["name"]),
        layout=layout,
        channels=channels,
        height=height,
        width=width,
        max_batch_size=_rows_per_call(config, model_input),
        color=colour,  # type: ignore[arg-type]
        resize=_choice(name, params, "aquaflow.resize", get_args(Resize), DEFAULT_RESIZE[task]),  # type: ignore[arg-type]
        normalisation=_normalisation(name, params),
        labels=labels,
        output=_choice(name, params, "aquaflow.output", get_args(OutputKind), "probabilities"),  # type: ignore[arg-type]
        input_type=_input_type(name, model_input),
        label_file=label_file,
        score_threshold=float(params.get("aquaflow.score_threshold", "0.25")),
        iou_threshold=float(params.get("aquaflow.iou_threshold", "0.45")),
        tile_size=int(params["aquaflow.tile_size"]) if "aquaflow.tile_size" in params else None,
        output_dims=output_dims,
    )


def _dims(tensor: dict[str, Any], batched: bool, name: str, what: str) -> tuple[int, ...]:
    """A tensor's dims for one row: without batching, the config's first dim is the batch."""
    dims = tuple(int(d) for d in tensor["dims"])
    if batched:
        return dims
    if not dims or dims[0] not in (1, -1):
        raise InvalidModelConfig(
            f"{name}: with max_batch_size 0 the {what} dims must start with the batch dimension (1 or -1),"
            f" got {list(dims)}"
        )
    return dims[1:]


def _rows_per_call(config: dict[str, Any], model_input: dict[str, Any]) -> int:
    batch = int(config.get("max_batch_size", 0))
    if batch > 0:
        return batch
    # An export with a fixed batch of one (Ultralytics' default) takes one image per call.
    return 1 if int(model_input["dims"][0]) == 1 else UNBATCHED_CHUNK


def _choice(name: str, params: dict[str, str], key: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = params.get(key, default)
    if value is None:
        raise InvalidModelConfig(f"{name}: {key} is missing (one of {', '.join(allowed)})")
    if value not in allowed:
        raise InvalidModelConfig(f"{name}: {key} {value!r} is not one of {', '.join(allowed)}")
    return value


def _layout(name: str, dims: tuple[int, ...], declared: str | None) -> Layout:
    """NCHW or NHWC: declared, or told by where the 1 or 3 channels sit."""
    channels_first, channels_last = dims[0] in (1, 3), dims[2] in (1, 3)
    if declared is not None:
        if declared not in get_args(Layout):
            raise InvalidModelConfig(f"{name}: aquaflow.layout {declared!r} is not one of NCHW, NHWC")
        if (declared == "NCHW" and not channels_first) or (declared == "NHWC" and not channels_last):
            raise InvalidModelConfig(f"{name}: input dims {list(dims)} do not fit aquaflow.layout {declared}")
        return declared  # type: ignore[return-value]
    if channels_first and not channels_last:
        return "NCHW"
    if channels_last and not channels_first:
        return "NHWC"
    raise InvalidModelConfig(f"{name}: cannot tell NCHW from NHWC in input dims {list(dims)}; set aquaflow.layout")


def _input_size(name: str, height: int, width: int, declared: str | None) -> tuple[int, int]:
    """Fixed dims, or ``aquaflow.input_size`` (``640`` or ``height,width``) for dynamic ones."""
    if declared is None:
        if height < 1 or width < 1:
            raise InvalidModelConfig(f"{name}: the input's height and width are dynamic; set aquaflow.input_size")
        return height, width
    sizes = [int(part) for part in declared.split(",")]
    wanted = (sizes[0], sizes[0]) if len(sizes) == 1 else (sizes[0], sizes[1]) if len(sizes) == 2 else None
    if wanted is None or min(wanted) < 1:
        raise InvalidModelConfig(f"{name}: aquaflow.input_size {declared!r} is not 'size' or 'height,width'")
    for fixed, asked in zip((height, width), wanted, strict=True):
        if fixed > 0 and fixed != asked:
            raise InvalidModelConfig(f"{name}: aquaflow.input_size {declared!r} contradicts the input dims")
    return wanted


def _labels(name: str, text: str) -> tuple[str, ...]:
    labels = tuple(part.strip() for part in text.split(","))
    if not all(labels):
        raise InvalidModelConfig(f"{name}: aquaflow.labels has an empty class name: {text!r}")
    return labels


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(","))


def _normalisation(name: str, params: dict[str, str]) -> Normalisation:
    invert = params.get("aquaflow.invert", "false").lower() == "true"
    preset = params.get("aquaflow.normalize")
    if preset is not None:
        given = [key for key in NORMALISATION_KEYS if key in params]
        if given:
            raise InvalidModelConfig(f"{name}: aquaflow.normalize {preset!r} and {', '.join(given)} both given")
        if preset not in PRESETS:
            raise InvalidModelConfig(f"{name}: aquaflow.normalize {preset!r} is not one of {', '.join(PRESETS)}")
        return dataclasses.replace(PRESETS[preset], invert=invert)
    scale = Fraction(params.get("aquaflow.scale", "1/255"))
    if scale <= 0:
        raise InvalidModelConfig(f"{name}: aquaflow.scale must be positive, got {params['aquaflow.scale']!r}")
    return Normalisation(
        numerator=float(scale.numerator),
        denominator=float(scale.denominator),
        invert=invert,
        mean=_floats(params.get("aquaflow.mean", "0")),
        std=_floats(params.get("aquaflow.std", "1")),
    )


def _input_type(name: str, model_input: dict[str, Any]) -> InputType:
    data_type = str(model_input.get("data_type", "TYPE_FP32")).removeprefix("TYPE_")
    if data_type not in get_args(InputType):
        raise InvalidModelConfig(f"{name}: input type {data_type} is not one of FP32, FP16")
    return data_type  # type: ignore[return-value]


def _check_contract(spec: ModelSpec) -> None:
    """Mismatches that would otherwise fail on every message, caught once at start-up."""
    name, norm = spec.name, spec.normalisation
    if spec.channels != (1 if spec.color == "gray" else 3):
        raise InvalidModelConfig(f"{name}: {spec.channels} input channels do not fit colour {spec.color}")
    for what, values in (("mean", norm.mean), ("std", norm.std)):
        if len(values) not in (1, spec.channels):
            raise InvalidModelConfig(f"{name}: {len(values)} {what} values for {spec.channels} channel(s)")
    if min(norm.std) <= 0:
        raise InvalidModelConfig(f"{name}: aquaflow.std must be positive, got {norm.std}")
    if spec.tile_size is not None and spec.tile_size < 1:
        raise InvalidModelConfig(f"{name}: aquaflow.tile_size must be positive, got {spec.tile_size}")
    if spec.output == "logits" and spec.task != "classification":
        raise InvalidModelConfig(f"{name}: aquaflow.output logits applies to classification models only")
    if spec.task == "detection" and not spec.labels:
        raise InvalidModelConfig(
            f"{name}: a detection model names its classes in aquaflow.labels (Triton serves label files"
            " for classifier outputs only)"
        )
    if not spec.labels:
        return  # still to be read from the label file
    classes, dims = len(spec.labels), list(spec.output_dims)
    if spec.task == "classification" and spec.output_dims != (classes,):
        raise InvalidModelConfig(f"{name}: {classes} labels but the output gives {dims} class scores")
    if spec.task == "detection" and (len(spec.output_dims) != 2 or spec.output_dims[0] != 4 + classes):
        raise InvalidModelConfig(f"{name}: {classes} labels need an output [{4 + classes}, anchors], got {dims}")
