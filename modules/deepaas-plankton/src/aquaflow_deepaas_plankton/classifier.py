"""The plankton classifier itself: its ONNX file, its preprocessing, one image in, scores out.

Nothing here knows DEEPaaS. The preprocessing is the model contract of aquaflow
(docs/model-contract.md), read from the ``aquaflow.*`` parameters of the model's
``config.pbtxt``, so this module and Triton feed the network the same tensor.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from PIL import ExifTags, Image, ImageOps

MODEL_NAME = "plankton_classifier"
# Where the model folder is (config.pbtxt, labels, <version>/model.onnx). Unset: the
# model_repository/ of the source tree this package is installed from (editable install).
MODEL_DIR_ENV = "AQUAFLOW_PLANKTON_MODEL_DIR"
# ONNX Runtime threads per process; DEEPaaS runs one process per worker.
THREADS_ENV = "AQUAFLOW_PLANKTON_THREADS"
# The decompression-bomb guard of the inference service, applied to uploads here too.
MAX_PIXELS = 60_000_000
RESAMPLE = Image.Resampling.BILINEAR

Floats = npt.NDArray[np.float32]

UNSUPPORTED = ("aquaflow.scale", "aquaflow.normalize")
_PARAMETER = re.compile(
    r'parameters\s*\{\s*key:\s*"(?P<key>[^"]+)"\s*value:\s*\{\s*string_value:\s*"(?P<value>[^"]*)"\s*\}\s*\}'
)


class ModelFolderError(RuntimeError):
    """The model folder is missing or breaks the model contract."""


class UnreadableImage(ValueError):
    """The uploaded file is not an image this module can read."""


@dataclass(frozen=True)
class Preprocessing:
    """The ``aquaflow.*`` parameters that say how an image becomes the model's input."""

    color: str
    invert: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels: tuple[str, ...]
    logits: bool = False  # the output is logits (softmax taken here), not probabilities

    @classmethod
    def from_config_text(cls, text: str) -> Preprocessing:
        params = {m["key"]: m["value"] for m in _PARAMETER.finditer(text)}
        try:
            task, resize = params["aquaflow.task"], params["aquaflow.resize"]
            color = params["aquaflow.color"]
            labels = tuple(params["aquaflow.labels"].split(","))
            mean = tuple(float(v) for v in params.get("aquaflow.mean", "0").split(","))
            std = tuple(float(v) for v in params.get("aquaflow.std", "1").split(","))
        except (KeyError, ValueError) as error:
            raise ModelFolderError(f"config.pbtxt lacks or garbles an aquaflow parameter: {error!r}") from error
        # This module serves classifiers of whole images; detectors letterbox and decode boxes.
        if task != "classification" or resize != "pad_square" or color not in ("gray", "rgb"):
            raise ModelFolderError(f"not a pad_square classifier: task {task!r}, resize {resize!r}, colour {color!r}")
        if min(std) <= 0:
            raise ModelFolderError(f"aquaflow.std must be positive, got {std}")
        # Contract parameters this module does not implement: refused rather than ignored.
        unsupported = sorted(key for key in UNSUPPORTED if key in params)
        if unsupported or params.get("aquaflow.layout", "NCHW") != "NCHW":
            raise ModelFolderError(f"this module reads NCHW inputs scaled by 1/255 only; config sets {unsupported}")
        invert = params.get("aquaflow.invert", "false").lower() == "true"
        logits = params.get("aquaflow.output", "probabilities") == "logits"
        return cls(color=color, invert=invert, mean=mean, std=std, labels=labels, logits=logits)


def border_colour(image: Image.Image) -> int | tuple[int, ...]:
    """The median of the outermost ring of pixels, per channel: the vignette's background."""
    pixels = np.asarray(image)
    ring = np.concatenate([pixels[0, :], pixels[-1, :], pixels[1:-1, 0], pixels[1:-1, -1]], axis=0)
    median = np.median(ring, axis=0)
    if np.ndim(median) == 0:
        return round(float(median))
    return tuple(round(float(v)) for v in median)


def pad_square(image: Image.Image) -> Image.Image:
    """Pad to a square with the border colour, the image centred: the aspect ratio is kept."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), border_colour(image))
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def model_input(image: Image.Image, prep: Preprocessing, size: tuple[int, int]) -> Floats:
    """Any image → the input tensor [C, H, W]: grey or RGB, padded square, resized, normalised."""
    converted = image.convert("L" if prep.color == "gray" else "RGB")
    resized = pad_square(converted).resize(size, RESAMPLE)
    scaled = np.asarray(resized).astype(np.float32) / 255.0
    if scaled.ndim == 2:
        scaled = scaled[:, :, None]
    if prep.invert:
        scaled = 1.0 - scaled
    chw = np.transpose(scaled, (2, 0, 1))
    mean = np.asarray(prep.mean, dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(prep.std, dtype=np.float32).reshape(-1, 1, 1)
    return np.ascontiguousarray((chw - mean) / std, dtype=np.float32)


def decode(data: bytes) -> Image.Image:
    """Bytes → an upright 8-bit image, as aquaflow's inference service decodes uploads."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise UnreadableImage(f"image is {image.width}x{image.height}, over {MAX_PIXELS} pixels")
            image.seek(0)
            image.load()
    except UnreadableImage:
        raise
    except Exception as error:  # whatever Pillow raises, the upload is not a readable image
        raise UnreadableImage(f"not a readable image ({len(data)} bytes): {error}") from error
    return _to_8bit(_upright(image))


def _upright(image: Image.Image) -> Image.Image:
    """Turned as its EXIF orientation says (what a viewer shows); a damaged tag leaves it as stored."""
    try:
        if image.getexif().get(ExifTags.Base.Orientation, 1) in (None, 1):
            return image
        turned = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - an optional tag never refuses an image whose pixels decoded
        return image
    return image if turned is None else turned


# Sensors store 10, 12 or 14 significant bits in 16-bit containers (as aquaflow's decoder reads them).
SENSOR_BIT_DEPTHS = (8, 10, 12, 14, 16)


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit images scaled by their sensor's range (the deepest holding the brightest pixel); float ones stretched."""
    if image.mode.startswith("I;16") or image.mode == "I":
        pixels = np.asarray(image, dtype=np.float64)
        if image.mode == "I" and (pixels.min() < 0 or pixels.max() > 65535):
            return _stretched(pixels)
        brightest = int(pixels.max())
        bits = next((b for b in SENSOR_BIT_DEPTHS if brightest < 1 << b), SENSOR_BIT_DEPTHS[-1])
        return Image.fromarray((pixels * (255.0 / ((1 << bits) - 1))).round().astype(np.uint8))
    if image.mode == "F":
        return _stretched(np.asarray(image, dtype=np.float64))
    return image


def _stretched(pixels: npt.NDArray[np.float64]) -> Image.Image:
    low, high = float(pixels.min()), float(pixels.max())
    scaled = (pixels - low) / (high - low) * 255.0 if high > low else np.zeros_like(pixels)
    return Image.fromarray(scaled.round().astype(np.uint8))


def find_model_dir() -> Path:
    """The folder named by the environment, else model_repository/plankton_classifier above this file."""
    named = os.environ.get(MODEL_DIR_ENV)
    if named:
        return Path(named)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "model_repository" / MODEL_NAME
        if (candidate / "config.pbtxt").is_file():
            return candidate
    raise ModelFolderError(f"no model folder: set {MODEL_DIR_ENV} to the folder holding config.pbtxt")


def latest_version(model_dir: Path) -> str:
    versions = sorted(
        (p.name for p in model_dir.iterdir() if p.name.isdigit() and (p / "model.onnx").is_file()), key=int
    )
    if not versions:
        raise ModelFolderError(f"{model_dir} has no <version>/model.onnx")
    return versions[-1]


class PlanktonClassifier:
    """One ONNX Runtime session over the model's newest version."""

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        config = model_dir / "config.pbtxt"
        try:
            self.preprocessing = Preprocessing.from_config_text(config.read_text(encoding="utf-8"))
        except OSError as error:
            raise ModelFolderError(f"cannot read {config}: {error}") from error
        self.version = latest_version(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_dir / self.version / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        (model_in,) = self._session.get_inputs()
        height, width = model_in.shape[-2:]
        self._input = str(model_in.name)
        self._size = (int(width), int(height))

    @property
    def labels(self) -> tuple[str, ...]:
        return self.preprocessing.labels

    def probabilities(self, image: Image.Image) -> Floats:
        """The model's softmax output for one image, one score per label, in the labels' order."""
        batch = model_input(image, self.preprocessing, self._size)[None]
        outputs: list[Any] = self._session.run(None, {self._input: batch})
        scores: Floats = np.asarray(outputs[0], dtype=np.float32)[0]
        if self.preprocessing.logits:
            shifted = np.exp(scores - scores.max())
            scores = (shifted / shifted.sum()).astype(np.float32)
        if scores.shape != (len(self.labels),):
            raise ModelFolderError(f"{len(self.labels)} labels but the model gives {scores.shape} scores")
        return scores

    def ranked(self, image: Image.Image) -> dict[str, list[Any]]:
        """Every class, most probable first: the JSON answer of ``predict``."""
        scores = self.probabilities(image)
        order = np.argsort(-scores, kind="stable")
        return {
            "labels": [self.labels[i] for i in order],
            "probabilities": [float(scores[i]) for i in order],
        }


def threads_from_environment() -> int:
    try:
        return max(1, int(os.environ.get(THREADS_ENV, "1")))
    except ValueError:
        return 1
