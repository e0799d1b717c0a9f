"""The files that declare a model served by DEEPaaS, and what the worker sends the module."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aquaflow_inference.deepaas_model import deepaas_image_model, load_deepaas_config, png_bytes
from aquaflow_inference.errors import InvalidModelConfig, UnknownModel
from aquaflow_inference.settings import InferenceSettings

ROOT = Path(__file__).resolve().parents[3]
DECLARATIONS = ROOT / "config" / "deepaas"


@pytest.mark.parametrize("declaration", sorted(DECLARATIONS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_declaration_is_valid_and_names_the_labels_of_its_model(declaration: Path) -> None:
    config = load_deepaas_config(DECLARATIONS, declaration.stem)
    labels_file = ROOT / "model_repository" / declaration.stem / "labels.txt"
    if labels_file.exists():  # a model also in the Triton repository has the same classes there
        assert config.labels == tuple(labels_file.read_text().split())


def test_the_plankton_declaration_builds_a_model_that_says_it_is_served_by_deepaas() -> None:
    model = deepaas_image_model("plankton_classifier", DECLARATIONS, url="http://127.0.0.1:5999/", concurrency=3)

    assert model.info.backend == "deepaas"
    assert (model.info.task, model.info.version) == ("classification", "1")
    assert model.client.predict_url == "http://127.0.0.1:5999/v2/models/plankton_classifier/predict/"
    assert model.client.concurrency == 3


async def test_a_module_serves_only_its_declared_version() -> None:
    model = deepaas_image_model("plankton_classifier", DECLARATIONS)
    assert await model.version(None) is model
    assert await model.version("1") is model
    with pytest.raises(UnknownModel, match="version '2' is not served"):
        await model.version("2")


def test_missing_or_invalid_declarations_stop_the_worker_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(InvalidModelConfig, match="no DEEPaaS declaration"):
        load_deepaas_config(tmp_path, "absent")
    (tmp_path / "typo.yaml").write_text("module: m\ntask: classification\nanswer: {labels: l, scores: s}\nworkers: 2\n")
    with pytest.raises(InvalidModelConfig, match="workers"):
        load_deepaas_config(tmp_path, "typo")
    (tmp_path / "detector.yaml").write_text("module: m\ntask: detection\nanswer: {labels: l, scores: s}\n")
    with pytest.raises(InvalidModelConfig, match="detection answer is mapped with items"):
        load_deepaas_config(tmp_path, "detector")


def test_the_backend_is_chosen_in_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQUAFLOW_INFERENCE_MODEL", "plankton_classifier")
    monkeypatch.setenv("AQUAFLOW_INFERENCE_BACKEND", "deepaas")
    monkeypatch.setenv("AQUAFLOW_INFERENCE_DEEPAAS_URL", "http://deepaas:5000")
    settings = InferenceSettings()  # type: ignore[call-arg]
    assert (settings.backend, settings.deepaas_url, settings.deepaas_concurrency) == (
        "deepaas",
        "http://deepaas:5000",
        None,
    )
    monkeypatch.setenv("AQUAFLOW_INFERENCE_BACKEND", "onnx")
    with pytest.raises(ValueError, match="triton"):
        InferenceSettings()  # type: ignore[call-arg]


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16"])
def test_images_go_to_the_module_with_their_pixels_unchanged(mode: str) -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 255, size=(23, 31, 3), dtype=np.uint8)
    image = (
        Image.fromarray(pixels).convert(mode)
        if mode != "I;16"
        else Image.fromarray(pixels[:, :, 0].astype(np.uint16) * 200)
    )

    sent = Image.open(io.BytesIO(png_bytes(image)))

    assert sent.format == "PNG"
    assert sent.mode == image.mode
    assert np.array_equal(np.asarray(sent), np.asarray(image))


def test_modes_png_cannot_hold_are_sent_as_rgb() -> None:
    image = Image.new("CMYK", (4, 3), (0, 255, 0, 0))
    sent = Image.open(io.BytesIO(png_bytes(image)))
    assert sent.mode == "RGB"
    assert np.array_equal(np.asarray(sent), np.asarray(image.convert("RGB")))
