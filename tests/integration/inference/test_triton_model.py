"""The Triton adapter against the wheel's Triton: contract read at start, chunked batches, refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from aquaflow_inference.errors import ModelRejectedInput
from aquaflow_inference.triton_client import TritonModel
from tests.unit.inference.support import repository_spec, repository_tensors

pytestmark = [pytest.mark.integration, pytest.mark.triton]


async def test_the_spec_comes_from_triton_and_matches_the_repository(triton: Any) -> None:
    model = TritonModel(triton.grpc_url, "fish_detector", timeout_seconds=30)
    await model.open(ready_timeout=30)
    try:
        assert model.spec == repository_spec("fish_detector")
        assert model.versions == ("1",)
        assert await model.ready()
    finally:
        await model.close()


async def test_a_batch_over_max_batch_size_is_split_and_gives_onnx_runtimes_answers(triton: Any) -> None:
    model = TritonModel(triton.grpc_url, "plankton_classifier", timeout_seconds=30)
    await model.open(ready_timeout=30)
    reference = repository_tensors("plankton_classifier")
    batch = np.random.default_rng(7).normal(size=(70, 1, 64, 64)).astype(np.float32)
    try:
        served = await model.infer(batch)
    finally:
        await model.close()
    assert served.shape == (70, len(reference.spec.labels))
    np.testing.assert_allclose(served, await reference.infer(batch), atol=1e-5)


async def test_an_input_of_the_wrong_shape_is_refused_as_permanent(triton: Any) -> None:
    model = TritonModel(triton.grpc_url, "plankton_classifier", timeout_seconds=30)
    await model.open(ready_timeout=30)
    try:
        with pytest.raises(ModelRejectedInput, match="refused the input"):
            await model.infer(np.zeros((2, 3, 64, 64), np.float32))
    finally:
        await model.close()
