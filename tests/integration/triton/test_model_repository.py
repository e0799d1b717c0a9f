"""The project's model_repository/ served by the real Triton binary from the wheel.

Every model loads; answers have the declared shapes; the classifiers' labels come through
Triton's classification extension; numbers equal ONNX Runtime run directly on the same
file; concurrent requests form dynamic batches; a malformed request is refused while
Triton keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tritonclient.grpc import InferRequestedOutput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from aquaflow_devstack.triton import TritonServer
from tests.integration.triton.support import infer, infer_input, metric, model_config, random_inputs
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.triton]

REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"
MODELS = sorted(p.name for p in REPOSITORY.iterdir() if (p / "config.pbtxt").is_file())
CLASSIFIERS = [
    m
    for m in MODELS
    if (REPOSITORY / m / "labels.txt").is_file() and "label_filename" in (REPOSITORY / m / "config.pbtxt").read_text()
]


@pytest.fixture
async def client(triton: TritonServer) -> AsyncIterator[InferenceServerClient]:
    grpc = InferenceServerClient(triton.grpc_url)
    yield grpc
    await grpc.close()


def test_the_repository_has_models_and_classifiers() -> None:
    assert MODELS, "model_repository/ holds no models"
    assert CLASSIFIERS, "no model in model_repository/ declares a label_filename"


async def test_every_model_is_loaded_and_ready(triton: TritonServer, client: InferenceServerClient) -> None:
    index = await client.get_model_repository_index(as_json=True)
    assert {m["name"]: m.get("state") for m in index["models"]} == dict.fromkeys(MODELS, "READY")
    for model in MODELS:
        assert await client.is_model_ready(model)
        assert triton.model_ready(model)


@pytest.mark.parametrize("model", MODELS)
async def test_answers_have_the_declared_output_shapes(client: InferenceServerClient, model: str) -> None:
    config = await model_config(client, model)

    response = await infer(client, model, random_inputs(config, batch=2))

    for output in config["output"]:
        assert response.as_numpy(output["name"]).shape == (2, *(int(d) for d in output["dims"]))


@pytest.mark.parametrize("model", MODELS)
async def test_numbers_equal_onnx_runtime_on_the_same_file(client: InferenceServerClient, model: str) -> None:
    config = await model_config(client, model)
    inputs = random_inputs(config, batch=3, seed=7)
    direct = ort.InferenceSession(str(REPOSITORY / model / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o["name"] for o in config["output"]]

    served = await infer(client, model, inputs)

    for name, expected in zip(names, direct.run(names, inputs), strict=True):
        np.testing.assert_allclose(served.as_numpy(name), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", CLASSIFIERS)
async def test_classifiers_name_their_classes_from_labels_txt(client: InferenceServerClient, model: str) -> None:
    config = await model_config(client, model)
    labels = (REPOSITORY / model / "labels.txt").read_text().splitlines()
    output = config["output"][0]["name"]
    inputs = random_inputs(config, batch=1, seed=3)

    raw = (await infer(client, model, inputs)).as_numpy(output)[0]
    classified = await client.infer(
        model,
        [infer_input(name, array) for name, array in inputs.items()],
        outputs=[InferRequestedOutput(output, class_count=3)],
    )

    top = [entry.decode().split(":", 2) for entry in classified.as_numpy(output)[0]]
    assert len(top) == 3
    for score, index, label in top:
        assert label == labels[int(index)]
        assert float(score) == pytest.approx(raw[int(index)], abs=1e-6)  # Triton prints 6 decimals
    assert [int(index) for _, index, _ in top] == list(np.argsort(-raw)[:3])


async def test_concurrent_requests_form_dynamic_batches(triton: TritonServer, client: InferenceServerClient) -> None:
    model = "plankton_classifier" if "plankton_classifier" in MODELS else MODELS[0]
    config = await model_config(client, model)

    async def counters() -> tuple[float, float]:
        text = triton.metrics_text()
        return metric(text, "nv_inference_count", model), metric(text, "nv_inference_exec_count", model)

    before_count, before_exec = await counters()
    requests = [random_inputs(config, batch=1, seed=i) for i in range(64)]

    responses = await asyncio.gather(*(infer(client, model, inputs) for inputs in requests))

    assert len(responses) == 64
    count, execs = await eventually(counters, until=lambda c: c[0] - before_count >= 64)
    average_batch = (count - before_count) / (execs - before_exec)
    assert average_batch > 1, f"64 requests in flight ran in {execs - before_exec:.0f} executions: no batching"


async def test_a_wrong_shape_is_refused_clearly_and_triton_keeps_serving(
    triton: TritonServer, client: InferenceServerClient
) -> None:
    model = MODELS[0]
    config = await model_config(client, model)
    good = random_inputs(config, batch=1)
    name, array = next(iter(good.items()))
    wrong = np.zeros((1, *[d + 1 for d in array.shape[1:]]), dtype=array.dtype)

    with pytest.raises(InferenceServerException, match=f"unexpected shape for input '{name}' for model '{model}'"):
        await infer(client, model, {**good, name: wrong})

    assert triton.running()
    assert await client.is_server_ready()
    assert (await infer(client, model, good)).as_numpy(config["output"][0]["name"]) is not None
