"""The DEEPaaS backend against a real deepaas-run serving modules/deepaas-plankton."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from PIL import ExifTags, Image

from aquaflow_devstack.deepaas import DeepaasServer, cli_predict, start_deepaas
from aquaflow_devstack.ports import free_port
from aquaflow_devstack.samples import real_images
from aquaflow_inference.deepaas_client import DeepaasClient
from aquaflow_inference.deepaas_mapping import UnexpectedAnswer
from aquaflow_inference.deepaas_model import deepaas_image_model, png_bytes
from aquaflow_inference.errors import ModelRejectedInput
from aquaflow_inference.imaging import decode_image
from aquaflow_shared.errors import DependencyUnavailable
from tests.integration.deepaas.conftest import DECLARATIONS, MODULE, ROOT
from tests.integration.deepaas.counting_proxy import CountingProxy
from training.preprocess import classifier_input

pytestmark = [pytest.mark.integration]

MODEL_DIR = ROOT / "model_repository" / MODULE


def plankton_images(count: int) -> list[Image.Image]:
    """Real vignettes of both instruments, decoded as the inference worker decodes uploads."""
    usable = [s for s in real_images() if not s.corrupt]
    flowcam = [s for s in usable if s.key.startswith("images/")][: count // 2]
    others = [s for s in usable if not s.key.startswith("images/")][: count - len(flowcam)]
    return [decode_image(s.path.read_bytes(), max_pixels=60_000_000) for s in flowcam + others]


def onnxruntime_probabilities(images: list[Image.Image]) -> np.ndarray[Any, Any]:
    """The model file run directly, on the training code's preprocessing."""
    session = ort.InferenceSession(str(MODEL_DIR / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    batch = np.stack([classifier_input(image) for image in images])
    output: list[Any] = session.run(None, {session.get_inputs()[0].name: batch})
    return np.asarray(output[0])


async def test_classification_through_deepaas_matches_onnxruntime_on_the_same_images(deepaas: DeepaasServer) -> None:
    images = plankton_images(8)
    model = deepaas_image_model(MODULE, DECLARATIONS, url=deepaas.url)
    labels = (MODEL_DIR / "labels.txt").read_text().split()
    try:
        results = await model.classify(images)
    finally:
        await model.client.close()

    expected = onnxruntime_probabilities(images)
    assert len(results) == len(images)
    for result, row in zip(results, expected, strict=True):
        assert result.label == labels[int(np.argmax(row))]
        assert list(result.scores) == labels
        assert np.allclose([result.scores[label] for label in labels], row, atol=1e-6)
        assert [t.score for t in result.top] == sorted(row, reverse=True)[:3]
    assert len({r.label for r in results}) > 1, "real vignettes of several kinds get more than one class"


async def test_the_modules_metadata_agrees_with_its_declaration(deepaas: DeepaasServer) -> None:
    model = deepaas_image_model(MODULE, DECLARATIONS, url=deepaas.url)
    try:
        assert await model.ready()
        metadata = await model.client.metadata()
    finally:
        await model.client.close()
    assert metadata is not None
    assert metadata["version"] == model.info.version
    assert tuple(metadata["labels"]) == model.info.labels


@pytest.mark.parametrize("concurrency", [2, 4])
async def test_no_more_requests_reach_the_server_at_once_than_the_concurrency(
    deepaas: DeepaasServer, concurrency: int
) -> None:
    payload = png_bytes(plankton_images(1)[0])
    async with CountingProxy(deepaas.port) as proxy:
        client = DeepaasClient(proxy.url, MODULE, concurrency=concurrency)
        try:
            answers = await asyncio.gather(*(client.predict(payload) for _ in range(4 * concurrency)))
        finally:
            await client.close()
    # The client's connection pool would allow one more; the bound is the client's own.
    assert proxy.peak == concurrency
    assert all(answer == answers[0] for answer in answers)


async def test_a_server_that_stops_is_an_outage_of_deepaas_and_the_probe_says_so(
    deepaas_venv: Path, tmp_path: Path
) -> None:
    image = plankton_images(1)[0]
    own = start_deepaas(tmp_path, venv=deepaas_venv)
    model = deepaas_image_model(MODULE, DECLARATIONS, url=own.url)
    try:
        assert await model.ready()
        assert len(await model.classify([image])) == 1
        own.stop()
        with pytest.raises(DependencyUnavailable) as down:
            await model.classify([image])
        assert down.value.dependency == "deepaas"
        assert not await model.ready()
    finally:
        await model.client.close()
        own.stop()


async def test_no_server_at_all_is_an_outage_too() -> None:
    model = deepaas_image_model(MODULE, DECLARATIONS, url=f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(DependencyUnavailable, match="deepaas unavailable"):
            await model.classify(plankton_images(1))
        assert not await model.ready()
    finally:
        await model.client.close()


async def test_a_server_without_the_module_is_an_outage_not_a_bad_message(deepaas: DeepaasServer) -> None:
    client = DeepaasClient(deepaas.url, "no_such_module")
    try:
        with pytest.raises(DependencyUnavailable, match="does not serve the module 'no_such_module'"):
            await client.predict(png_bytes(plankton_images(1)[0]))
        assert not await client.serves_module()
    finally:
        await client.close()


async def test_input_the_module_refuses_is_the_messages_fault(deepaas: DeepaasServer) -> None:
    client = DeepaasClient(deepaas.url, MODULE)
    try:
        with pytest.raises(ModelRejectedInput, match="answered 400: not a readable image"):
            await client.predict(b"plain text, no image", filename="note.txt", content_type="text/plain")
    finally:
        await client.close()


async def test_an_answer_the_declaration_does_not_map_is_refused_with_the_answer_quoted(
    deepaas: DeepaasServer, tmp_path: Path
) -> None:
    declaration = (DECLARATIONS / f"{MODULE}.yaml").read_text()
    mismatched = declaration.replace("  labels: labels\n  scores: probabilities\n", "  items: predictions\n")
    assert mismatched != declaration
    (tmp_path / f"{MODULE}.yaml").write_text(mismatched)
    model = deepaas_image_model(MODULE, tmp_path, url=deepaas.url)
    try:
        with pytest.raises(UnexpectedAnswer) as bad:
            await model.classify(plankton_images(1))
    finally:
        await model.client.close()
    assert "no 'predictions' in the answer" in bad.value.reason
    assert "'probabilities': [" in bad.value.reason


def test_deepaas_cli_answers_as_the_api_does(deepaas: DeepaasServer, deepaas_venv: Path, tmp_path: Path) -> None:
    """One process per file, as an OSCAR job runs it: the same answer as the long-running API."""
    image = next(s for s in real_images() if s.key.startswith("images/") and not s.corrupt).path

    run = cli_predict(image, venv=deepaas_venv)

    async def through_api() -> Any:
        client = DeepaasClient(deepaas.url, MODULE)
        try:
            return await client.predict(image.read_bytes(), filename=image.name)
        finally:
            await client.close()

    assert run.answer == asyncio.run(through_api())
    assert image.exists(), "the module removes DEEPaaS's temporary copy, never the caller's file"


def twelve_bit_png() -> bytes:
    """A particle as a 12-bit camera writes it into a 16-bit PNG (grey levels 0–4095)."""
    vignette = np.asarray(plankton_images(1)[0].convert("L"), dtype=np.uint16)
    buffer = io.BytesIO()
    Image.fromarray((vignette * 16).astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def turned_jpeg() -> bytes:
    """A wide vignette stored on its side, with the EXIF tag that says to turn it upright."""
    vignette = plankton_images(1)[0].convert("L")
    wide = vignette.resize((vignette.width * 2, vignette.height))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    buffer = io.BytesIO()
    wide.rotate(90, expand=True).save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize("upload", [twelve_bit_png, turned_jpeg], ids=lambda f: f.__name__)
async def test_the_module_decodes_raw_uploads_as_the_inference_worker_does(deepaas: DeepaasServer, upload: Any) -> None:
    """deepaas-cli and the API get the uploaded file itself: its decoding must be aquaflow's."""
    data = upload()
    client = DeepaasClient(deepaas.url, MODULE)
    try:
        answer = await client.predict(data, filename="upload", content_type="application/octet-stream")
    finally:
        await client.close()

    (expected,) = onnxruntime_probabilities([decode_image(data, max_pixels=60_000_000)])
    labels = (MODEL_DIR / "labels.txt").read_text().split()
    by_label = dict(zip(answer["labels"], answer["probabilities"], strict=True))
    assert np.allclose([by_label[label] for label in labels], expected, atol=1e-6)
