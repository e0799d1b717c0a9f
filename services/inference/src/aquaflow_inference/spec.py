"""What a model expects and returns, read from its Triton configuration (docs/model-contract.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from aquaflow_inference.errors import InvalidModelConfig

Task = Literal["classification", "detection"]


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(","))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str
    task: Task
    input_name: str
    output_name: str
    channels: int
    height: int
    width: int
    max_batch_size: int
    color: Literal["gray", "rgb"]
    resize: Literal["pad_square", "letterbox"]
    invert: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels: tuple[str, ...]
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    tile_size: int | None = None

    @classmethod
    def from_triton_config(cls, config: dict[str, Any], version: str) -> ModelSpec:
        """Parse the JSON form of a Triton model config (``get_model_config(as_json=True)["config"]``)."""
        name = str(config.get("name", "?"))
        try:
            params = {k: str(v.get("string_value", "")) for k, v in config.get("parameters", {}).items()}
            (model_input,) = config["input"]
            (model_output,) = config["output"]
            channels, height, width = (int(d) for d in model_input["dims"])
            output_dims = tuple(int(d) for d in model_output["dims"])
            task = params["aquaflow.task"]
            if task not in ("classification", "detection"):
                raise InvalidModelConfig(f"{name}: aquaflow.task {task!r} is not classification or detection")
            color = params["aquaflow.color"]
            resize = params["aquaflow.resize"]
            if color not in ("gray", "rgb") or resize not in ("pad_square", "letterbox"):
                raise InvalidModelConfig(f"{name}: unsupported colour {color!r} or resize {resize!r}")
            spec = cls(
                name=name,
                version=version,
                task=task,  # type: ignore[arg-type]
                input_name=str(model_input["name"]),
                output_name=str(model_output["name"]),
                channels=channels,
                height=height,
                width=width,
                max_batch_size=max(1, int(config.get("max_batch_size", 1))),
                color=color,  # type: ignore[arg-type]
                resize=resize,  # type: ignore[arg-type]
                invert=params.get("aquaflow.invert", "false").lower() == "true",
                mean=_floats(params.get("aquaflow.mean", "0")),
                std=_floats(params.get("aquaflow.std", "1")),
                labels=tuple(params["aquaflow.labels"].split(",")),
                score_threshold=float(params.get("aquaflow.score_threshold", "0.25")),
                iou_threshold=float(params.get("aquaflow.iou_threshold", "0.45")),
                tile_size=int(params["aquaflow.tile_size"]) if "aquaflow.tile_size" in params else None,
            )
        except (KeyError, ValueError, TypeError) as error:
            raise InvalidModelConfig(f"{name}: configuration breaks the model contract: {error!r}") from error
        _check_contract(spec, output_dims)
        return spec


def _check_contract(spec: ModelSpec, output_dims: tuple[int, ...]) -> None:
    """Mismatches that would otherwise fail on every message, caught once at start-up."""
    name = spec.name
    if spec.channels != (1 if spec.color == "gray" else 3):
        raise InvalidModelConfig(f"{name}: {spec.channels} input channels do not fit colour {spec.color}")
    for what, values in (("mean", spec.mean), ("std", spec.std)):
        if len(values) not in (1, spec.channels):
            raise InvalidModelConfig(f"{name}: {len(values)} {what} values for {spec.channels} channel(s)")
    if min(spec.std) <= 0:
        raise InvalidModelConfig(f"{name}: aquaflow.std must be positive, got {spec.std}")
    if spec.tile_size is not None and spec.tile_size < 1:
        raise InvalidModelConfig(f"{name}: aquaflow.tile_size must be positive, got {spec.tile_size}")
    classes = len(spec.labels)
    if spec.task == "classification" and output_dims != (classes,):
        raise InvalidModelConfig(f"{name}: {classes} labels but the output gives {list(output_dims)} class scores")
    if spec.task == "detection" and (len(output_dims) != 2 or output_dims[0] != 4 + classes):
        raise InvalidModelConfig(
            f"{name}: {classes} labels need an output [{4 + classes}, anchors], got {list(output_dims)}"
        )
