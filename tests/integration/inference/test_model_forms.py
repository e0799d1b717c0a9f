"""Models in the forms real exports come in, served by the wheel's Triton, read by the worker's ImageModel.

Each constructed model (tests/integration/triton/model_forms.py) answers in closed form, so
the classes and scores below are what the model must say when the worker feeds it as its
config declares: layout, colour order, normalisation, logits or probabilities, labels from
the config, from Triton's label file or from Ultralytics metadata, fixed batch of one,
versions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aquaflow_devstack.triton import TritonServer
from aquaflow_inference.errors import UnknownModel
from aquaflow_inference.postprocess import softmax
from aquaflow_inference.spec import IMAGENET_MEAN, IMAGENET_STD
from aquaflow_inference.triton_client import TritonModel
from aquaflow_inference.triton_image_model import TritonImageModel
from aquaflow_shared.contracts import Classification
from tests.integration.triton.model_forms import (
    BGR_RAW,
    BGR_STD,
    CLASSIFIER,
    CLASSIFIER_NAMES,
    DETECTOR,
    DETECTOR_NAMES,
    GREY_LABELS,
    GREY_SERVED,
    NHWC_LABELS,
    NHWC_LOGITS,
    VERSION_ANSWERS,
    VERSIONED,
    VERSIONED_LABELS,
    write_forms,
)

pytestmark = [pytest.mark.integration, pytest.mark.triton]


@asynccontextmanager
async def served(server: TritonServer, name: str) -> AsyncIterator[tuple[TritonImageModel, TritonModel]]:
    tensors = TritonModel(server.grpc_url, name, timeout_seconds=30)
    await tensors.open(ready_timeout=30)
    try:
        yield TritonImageModel(tensors), tensors
    finally:
        await tensors.close()


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (30, 20)) -> Image.Image:
    return Image.new("RGB", size, colour)


def assert_scores(found: Classification, labels: tuple[str, ...], expected: np.ndarray) -> None:  # type: ignore[type-arg]
    assert found.label == labels[int(np.argmax(expected))]
    assert [found.scores[label] for label in labels] == pytest.approx(expected.tolist(), abs=1e-5)
    assert found.score == pytest.approx(float(expected.max()), abs=1e-5)


async def test_nhwc_rgb_with_the_imagenet_preset_and_logits(forms_triton: TritonServer) -> None:
    colours = [(200, 30, 60), (10, 240, 20), (90, 100, 250)]
    async with served(forms_triton, NHWC_LOGITS) as (model, tensors):
        found = await model.classify([solid(c) for c in colours])
    assert (tensors.spec.layout, tensors.spec.input_shape, tensors.spec.output) == ("NHWC", (8, 8, 3), "logits")
    for classification, colour in zip(found, colours, strict=True):
        logits = (np.asarray(colour) / 255 - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)
        assert_scores(classification, NHWC_LABELS, softmax(logits.astype(np.float32)))
    assert [c.label for c in found] == ["red", "green", "blue"]


async def test_grey_minus_one_one_with_labels_only_in_the_label_file_triton_serves(forms_triton: TritonServer) -> None:
    async with served(forms_triton, GREY_SERVED) as (model, tensors):
        white, black = await model.classify([solid((255, 255, 255)), solid((0, 0, 0))])
    assert tensors.spec.label_file == "labels.txt"
    assert model.info.labels == GREY_LABELS  # read through Triton's classification extension
    assert_scores(white, GREY_LABELS, softmax(np.array([1.0, -1.0, 0.0], np.float32)))
    assert_scores(black, GREY_LABELS, softmax(np.array([-1.0, 1.0, 0.0], np.float32)))


async def test_bgr_order_with_a_raw_scale(forms_triton: TritonServer) -> None:
    """aquaflow.scale 1, mean 0, std 64: the model sees pixel / 64, blue first."""
    async with served(forms_triton, BGR_RAW) as (model, _):
        (found,) = await model.classify([solid((10, 100, 250))])
    assert_scores(found, ("blue", "green", "red"), softmax(np.array([250, 100, 10], np.float32) / BGR_STD))


async def test_an_ultralytics_detector_export_plugs_in_with_its_metadata_names(forms_triton: TritonServer) -> None:
    """Fixed batch of one, YOLOv8 output, letterbox, classes only in the ONNX file's metadata."""
    async with served(forms_triton, DETECTOR) as (model, tensors):
        found = await model.detect(solid((20, 90, 110), size=(128, 64)))
    assert model.info.labels == tuple(DETECTOR_NAMES.values())  # written into the config when prepared
    assert tensors.spec.max_batch_size == 1
    # Planted in input pixels; the frame is letterboxed at scale 0.5 with 16 pixels of padding above.
    assert [(d.label, round(d.score, 4), d.box.x_min, d.box.y_min, d.box.x_max, d.box.y_max) for d in found] == [
        ("fish", 0.9, 30.0, 20.0, 50.0, 36.0),
        ("crab", 0.8, 64.0, 20.0, 96.0, 44.0),
    ]


async def test_an_ultralytics_classifier_export_runs_one_image_per_call(forms_triton: TritonServer) -> None:
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250)]
    async with served(forms_triton, CLASSIFIER) as (model, _):
        found = await model.classify([solid(c) for c in colours])
    labels = tuple(CLASSIFIER_NAMES.values())
    assert model.info.labels == labels
    for classification, colour in zip(found, colours, strict=True):
        assert_scores(classification, labels, softmax(np.asarray(colour, np.float32) / 255))
    assert [c.label for c in found] == ["sand", "shell", "weed"]


async def test_the_version_asked_for_is_the_one_that_runs(forms_triton: TritonServer) -> None:
    image = solid((1, 2, 3))
    async with served(forms_triton, VERSIONED) as (model, tensors):
        assert tensors.versions == ("1", "2")
        default = await model.version(None)
        first = await model.version("1")
        results = {
            "unpinned": await model.classify([image]),
            "default": await default.classify([image]),
            "1": await first.classify([image]),
        }
        with pytest.raises(UnknownModel, match=r"versioned version '5' is not served; Triton serves \['1', '2'\]"):
            await model.version("5")
    assert (model.info.version, default.info.version, first.info.version) == ("2", "2", "1")
    for run, version in (("unpinned", "2"), ("default", "2"), ("1", "1")):
        assert_scores(results[run][0], VERSIONED_LABELS, np.asarray(VERSION_ANSWERS[version], np.float32))


def test_the_forms_repository_is_what_the_tests_think(tmp_path: Path) -> None:
    folders = sorted(p.name for p in write_forms(tmp_path).iterdir())
    assert folders == sorted([NHWC_LOGITS, GREY_SERVED, BGR_RAW, DETECTOR, CLASSIFIER, VERSIONED])
