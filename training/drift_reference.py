"""Write each model's drift reference: what it sees and says on its held-out validation data.

    python -m training.drift_reference [MODEL ...] [--count N]

The validation inputs are the training runs' held-out images (generator seed 1000: plankton vignettes,
litter tiles, fish frames). They go through the worker's own ImageModel (`TritonImageModel`, its
preprocessing and decoding) over the shipped ONNX file run in-process, and are measured by the very
functions the worker's drift watch uses (`aquaflow_inference.drift`), so that the reference and the live
windows are measured alike. Written to `model_repository/<model>/drift_reference.json`
(`docs/drift.md`).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import json_format, text_format
from PIL import Image
from tritonclient.grpc import model_config_pb2

from aquaflow_inference.drift import DriftReference, Measurements, measure_classified, measure_detected
from aquaflow_inference.model_port import ImageModel
from aquaflow_inference.spec import ModelSpec
from aquaflow_inference.triton_image_model import TritonImageModel
from training import gen_fish_scenes, gen_litter_tiles, gen_plankton
from training.arrays import Array
from training.cards import write_section
from training.export import onnx_session
from training.repository import REPOSITORY

SEED = 1000  # the held-out seed of every training run
BATCH = 32
SECTION = "## Drift reference"
UNITS = {
    "brightness": "mean grey level, 0-255",
    "contrast": "standard deviation of grey levels",
    "object_size": "long side in pixels (detections: share of the frame's long side)",
    "confidence": "top score (detections: each score)",
}


def _vignette(rng: np.random.Generator) -> Image.Image:
    return gen_plankton.sample(rng)[0]


def _tile(rng: np.random.Generator) -> Image.Image:
    return gen_litter_tiles.sample(rng)[0]


def _frame(rng: np.random.Generator) -> Image.Image:
    return gen_fish_scenes.render(rng).image


# Per model: the generator of its validation inputs, and how many (a fish frame holds several fish).
VALIDATION: dict[str, tuple[Callable[[np.random.Generator], Image.Image], int]] = {
    "plankton_classifier": (_vignette, 1000),
    "litter_tiles": (_tile, 1000),
    "fish_detector": (_frame, 300),
}


class OnnxTensors:
    """The worker's TensorModel seam over ONNX Runtime in-process: one version, the shipped file."""

    def __init__(self, folder: Path) -> None:
        config = text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        self.spec = ModelSpec.from_triton_config(json_format.MessageToDict(config, preserving_proto_field_name=True))
        self.versions = ("1",)
        self._session = onnx_session(folder / "1" / "model.onnx")

    async def refresh_versions(self) -> tuple[str, ...]:
        return self.versions

    async def served_versions(self) -> tuple[str, ...]:
        return self.versions

    async def infer(self, batch: Array, version: str | None = None) -> Array:
        (output,) = self._session.run([self.spec.output_name], {self.spec.input_name: batch})
        return np.asarray(output, dtype=np.float32)


def served_model(name: str) -> ImageModel:
    return TritonImageModel(OnnxTensors(REPOSITORY / name))


def merged(parts: list[Measurements]) -> Measurements:
    numbers: dict[str, list[float]] = {}
    labels: list[str] = []
    for part in parts:
        for signal, values in part.numbers.items():
            numbers.setdefault(signal, []).extend(values)
        labels.extend(part.labels)
    return Measurements(numbers, labels)


async def measure(model: ImageModel, images: list[Image.Image]) -> Measurements:
    """What the worker's drift watch would record for these inputs."""
    info = model.info
    parts = []
    if info.task == "detection":
        for image in images:
            parts.append(measure_detected(image, await model.detect(image)))
    else:
        for start in range(0, len(images), BATCH):
            chunk = images[start : start + BATCH]
            answers = await model.classify(chunk)
            parts.append(measure_classified(chunk, answers, object_size=info.tile_size is None))
    return merged(parts)


def validation_images(name: str, count: int | None = None, seed: int = SEED) -> list[Image.Image]:
    generator, default = VALIDATION[name]
    rng = np.random.default_rng(seed)
    return [generator(rng) for _ in range(count or default)]


def build(name: str, count: int | None = None, seed: int = SEED) -> DriftReference:
    images = validation_images(name, count, seed)
    measured = asyncio.run(measure(served_model(name), images))
    source = f"{len(images)} generated held-out inputs (seed {seed}) through the shipped model"
    return DriftReference.from_measurements(name, measured, source)


def document(name: str, reference: DriftReference) -> dict[str, Any]:
    onnx = REPOSITORY / name / "1" / "model.onnx"
    return {
        **reference.to_document(),
        "model_sha256": hashlib.sha256(onnx.read_bytes()).hexdigest(),
        "written_by": "python -m training.drift_reference",
    }


def card_section(reference: DriftReference) -> str:
    lines = [
        "Written by `python -m training.drift_reference` to `drift_reference.json`: what the model sees and "
        f"says on {reference.source}, measured as the inference worker measures each input it gives the model. "
        "The worker compares the latest inputs with it and exports `aquaflow_model_drift_score` and "
        "`aquaflow_model_drift_detected` per signal (`docs/drift.md`).",
        "",
        "| signal | measure | values | median | 5th-95th percentile |",
        "|---|---|---|---|---|",
    ]
    for signal in reference.signals:
        if signal == "class_mix":
            continue
        values = reference.sample(signal)
        low, median, high = np.percentile(values, [5, 50, 95])
        lines.append(f"| {signal} | {UNITS[signal]} | {len(values)} | {median:.3g} | {low:.3g}-{high:.3g} |")
    total = sum(reference.class_counts.values())
    mix = ", ".join(f"{label} {count / total:.0%}" for label, count in reference.class_counts.items())
    lines += ["", f"Class mix of the answers ({total}): {mix}."]
    return "\n".join(lines)


def main(models: list[str] | None = None, count: int | None = None) -> dict[str, DriftReference]:
    written = {}
    for name in models or list(VALIDATION):
        reference = build(name, count)
        path = REPOSITORY / name / "drift_reference.json"
        path.write_text(json.dumps(document(name, reference)) + "\n")
        write_section(REPOSITORY / name / "MODEL.md", SECTION, card_section(reference))
        sizes = ", ".join(f"{s} {len(reference.sample(s))}" for s in reference.signals)
        print(f"{name}: drift reference written ({sizes})")
        written[name] = reference
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help=f"default: every model ({', '.join(VALIDATION)})")
    parser.add_argument("--count", type=int, default=None, help="validation inputs per model (default per model)")
    arguments = parser.parse_args()
    unknown = sorted(set(arguments.models) - set(VALIDATION))
    if unknown:
        parser.error(f"unknown models {unknown}; known: {list(VALIDATION)}")
    main(arguments.models or None, arguments.count)
