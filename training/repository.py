"""Writes a model's folder in `model_repository/`: config.pbtxt, labels.txt and the MODEL.md card."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"

MAX_BATCH_SIZE = 32


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_dims: tuple[int, ...]
    output_name: str
    output_dims: tuple[int, ...]
    labels: tuple[str, ...]
    parameters: dict[str, str]
    classification: bool  # the output carries label_filename (Triton's classification extension)

    @property
    def folder(self) -> Path:
        return REPOSITORY / self.name

    @property
    def onnx_path(self) -> Path:
        return self.folder / "1" / "model.onnx"


def _dims(dims: tuple[int, ...]) -> str:
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def config_pbtxt(spec: ModelSpec) -> str:
    label_line = '\n    label_filename: "labels.txt"' if spec.classification else ""
    parameters = "".join(
        f'parameters {{\n  key: "{key}"\n  value: {{ string_value: "{value}" }}\n}}\n'
        for key, value in spec.parameters.items()
    )
    return f"""name: "{spec.name}"
backend: "onnxruntime"
max_batch_size: {MAX_BATCH_SIZE}
input [
  {{
    name: "images"
    data_type: TYPE_FP32
    dims: {_dims(spec.input_dims)}
  }}
]
output [
  {{
    name: "{spec.output_name}"
    data_type: TYPE_FP32
    dims: {_dims(spec.output_dims)}{label_line}
  }}
]
dynamic_batching {{
  preferred_batch_size: [ 8, 16, 32 ]
  max_queue_delay_microseconds: 5000
  default_queue_policy {{
    max_queue_size: 512
  }}
}}
instance_group [
  {{
    kind: KIND_CPU
    count: 1
  }}
]
{parameters}"""


def write_config(spec: ModelSpec) -> None:
    spec.folder.mkdir(parents=True, exist_ok=True)
    (spec.folder / "config.pbtxt").write_text(config_pbtxt(spec))
    (spec.folder / "labels.txt").write_text("".join(f"{label}\n" for label in spec.labels))


@dataclass
class Card:
    """A model card; the metrics section is always the one the training run just measured."""

    title: str
    task: str
    inputs: str
    classes: str
    training_data: str
    command: str
    metrics: list[str] = field(default_factory=list)

    def render(self) -> str:
        metrics = "\n".join(self.metrics) if self.metrics else "Not measured yet."
        return f"""# {self.title}

## Task

{self.task}

## Input and normalisation

{self.inputs}

## Classes

{self.classes}

## Training data

{self.training_data}

## Held-out metrics

Written by the training script on every run (measured with ONNX Runtime on the exported `1/model.onnx`):

{metrics}

## Reproduce

```
{self.command}
```
"""


def write_card(spec: ModelSpec, card: Card) -> None:
    (spec.folder / "MODEL.md").write_text(card.render())
