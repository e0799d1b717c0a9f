"""The generic runner inside the real Triton binary, on ONNX models built by the tests.

Closed-form models show that a dynamic batch is run as one ONNX Runtime call and split
back so that every request gets exactly its own rows, that names and types come from
the config, and that bad requests get error responses while Triton keeps serving.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from tritonclient.grpc import InferRequestedOutput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from aquaflow_devstack.triton import TritonServer, TritonStartError, TritonUnavailable, start_triton
from tests.integration.triton.constructed import (
    AFFINE,
    PAIR,
    PICKER,
    TABLE,
    TINY_CLASSIFIER,
    affine_config,
    affine_expected,
    affine_graph,
    write_model,
    write_repository,
)
from tests.integration.triton.support import infer, infer_input, metric
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.triton]


@pytest.fixture(scope="module")
def constructed_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    root = tmp_path_factory.mktemp("constructed")
    try:
        server = start_triton(write_repository(root / "onnx"), root / "triton")
    except TritonUnavailable as missing:
        pytest.skip(f"Triton binary not installed: {missing}")
    yield server
    server.stop()


@pytest.fixture
async def client(constructed_triton: TritonServer) -> AsyncIterator[InferenceServerClient]:
    grpc = InferenceServerClient(constructed_triton.grpc_url)
    yield grpc
    await grpc.close()


async def executions(server: TritonServer, model: str) -> tuple[float, float]:
    text = server.metrics_text()
    return metric(text, "nv_inference_count", model), metric(text, "nv_inference_exec_count", model)


async def test_a_dynamic_batch_runs_once_and_every_request_gets_its_own_rows(
    constructed_triton: TritonServer, client: InferenceServerClient
) -> None:
    before_count, before_exec = await executions(constructed_triton, AFFINE)
    # 64 requests in flight, of 1 to 3 rows each, every row distinct.
    batches = [np.arange(i * 100, i * 100 + 4 * (1 + i % 3), dtype=np.float32).reshape(-1, 4) for i in range(64)]

    responses = await asyncio.gather(*(infer(client, AFFINE, {"x": x}) for x in batches))

    calls = [int(r.as_numpy("rows_in_call")[0, 0]) for r in responses]
    for x, response, call in zip(batches, responses, calls, strict=True):
        np.testing.assert_array_equal(response.as_numpy("y"), affine_expected(x))
        np.testing.assert_array_equal(response.as_numpy("rows_in_call"), np.full((len(x), 1), call))
        assert call >= len(x)
    # Requests of at most 3 rows ran in ONNX Runtime calls of more: their rows were concatenated.
    assert max(calls) > 3, f"every request ran in its own ONNX Runtime call: {calls}"
    rows = sum(len(x) for x in batches)
    count, execs = await eventually(
        lambda: executions(constructed_triton, AFFINE), until=lambda m: m[0] - before_count >= rows
    )
    assert count - before_count == rows
    assert (count - before_count) / (execs - before_exec) > 1, "no dynamic batch formed"


async def test_inputs_and_outputs_keep_their_names_and_types(client: InferenceServerClient) -> None:
    a = np.array([[1, -2], [3, 4]], dtype=np.int32)
    b = np.array([[0.5, 0.25], [-1.0, 2.0]], dtype=np.float32)

    response = await infer(client, PAIR, {"a": a, "b": b})

    assert response.as_numpy("sum").dtype == np.float32
    assert response.as_numpy("neg").dtype == np.int32
    np.testing.assert_array_equal(response.as_numpy("sum"), a.astype(np.float32) + b)
    np.testing.assert_array_equal(response.as_numpy("neg"), -a)
    only_neg = await infer(client, PAIR, {"a": a, "b": b}, outputs=["neg"])
    assert only_neg.as_numpy("sum") is None
    np.testing.assert_array_equal(only_neg.as_numpy("neg"), -a)


async def test_a_request_that_fails_in_onnx_runtime_fails_alone(
    constructed_triton: TritonServer, client: InferenceServerClient
) -> None:
    before_count, before_exec = await executions(constructed_triton, PICKER)
    indices = [i % len(TABLE) for i in range(15)]

    async def pick(index: int) -> NDArray[Any] | InferenceServerException:
        try:
            response = await infer(client, PICKER, {"index": np.array([[index]], dtype=np.int64)})
        except InferenceServerException as refused:
            return refused
        value: NDArray[Any] = response.as_numpy("value")
        return value

    results = await asyncio.gather(*(pick(i) for i in [*indices[:7], 99, *indices[7:]]))

    bad = results.pop(7)
    assert isinstance(bad, InferenceServerException)
    assert "picker: inference failed" in str(bad.message())
    assert "out of data bounds, idx=99" in str(bad.message())
    assert [float(r[0, 0]) for r in results if isinstance(r, np.ndarray)] == [TABLE[i] for i in indices]
    _, execs = await eventually(
        lambda: executions(constructed_triton, PICKER), until=lambda m: m[0] - before_count >= 15
    )
    # Batched with the bad one (fewer executions than requests), yet the good ones all succeeded.
    assert execs - before_exec < 16
    assert (await infer(client, PICKER, {"index": np.array([[2]], dtype=np.int64)})).as_numpy("value")[0, 0] == 30.0


async def test_wrong_shape_or_type_is_refused_clearly_and_triton_keeps_serving(
    constructed_triton: TritonServer, client: InferenceServerClient
) -> None:
    with pytest.raises(InferenceServerException, match=r"unexpected shape for input 'x'.*got \[1,5\]"):
        await infer(client, AFFINE, {"x": np.zeros((1, 5), dtype=np.float32)})
    with pytest.raises(InferenceServerException, match="data-type is 'FP64', but model 'affine' expects 'FP32'"):
        await infer(client, AFFINE, {"x": np.zeros((1, 4), dtype=np.float64)})
    with pytest.raises(InferenceServerException, match=r"missing required input\(s\) \['b'\]"):
        await client.infer(PAIR, [infer_input("a", np.zeros((1, 2), dtype=np.int32))])

    assert constructed_triton.running()
    assert constructed_triton.ready()
    response = await infer(client, AFFINE, {"x": np.ones((1, 4), dtype=np.float32)})
    np.testing.assert_array_equal(response.as_numpy("y"), np.full((1, 4), 3.0, dtype=np.float32))


async def test_classification_extension_reads_the_linked_labels(client: InferenceServerClient) -> None:
    x = np.array([[0.0, 1.0, 2.0]], dtype=np.float32)
    response = await client.infer(
        TINY_CLASSIFIER, [infer_input("x", x)], outputs=[InferRequestedOutput("probabilities", class_count=3)]
    )
    top = [entry.decode().split(":") for entry in response.as_numpy("probabilities")[0]]
    assert [(index, label) for _, index, label in top] == [("2", "weed"), ("1", "shell"), ("0", "sand")]
    assert float(top[0][0]) == pytest.approx(np.exp(2) / np.exp([0.0, 1.0, 2.0]).sum(), abs=1e-6)


def test_a_model_that_cannot_load_stops_the_start_with_its_reason(tmp_path: Path) -> None:
    config = (
        'name: "mismatch"\nbackend: "onnxruntime"\nmax_batch_size: 4\n'
        'input [{ name: "pixels" data_type: TYPE_FP32 dims: [4] }]\n'
        'output [{ name: "y" data_type: TYPE_FP32 dims: [4] }]\n'
    )
    write_model(tmp_path / "onnx", "mismatch", affine_graph(), config)

    with pytest.raises(TritonStartError, match=r"config\.pbtxt and model\.onnx disagree") as failed:
        start_triton(tmp_path / "onnx", tmp_path / "triton", timeout=120)
    assert "'pixels'" in str(failed.value)


def test_stop_leaves_no_triton_process_behind(tmp_path: Path) -> None:
    source = tmp_path / "onnx"
    write_model(source, AFFINE, affine_graph(), affine_config())
    server = start_triton(source, tmp_path / "triton")
    assert server.model_ready(AFFINE)

    server.stop()

    assert not server.running()
    with pytest.raises(ProcessLookupError):
        os.killpg(server.pid, 0)  # the group (server and its Python stubs) is gone
