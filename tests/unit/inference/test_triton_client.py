"""Triton's errors sorted into retry or dead-letter; a closed port is an outage, not bad input."""

from __future__ import annotations

import time

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from aquaflow_devstack.ports import free_port
from aquaflow_inference.errors import ModelRejectedInput, TritonUnavailable
from aquaflow_inference.triton_client import TritonModel, translate
from aquaflow_shared.errors import PermanentError, TransientError


def test_invalid_input_is_permanent() -> None:
    error = translate(InferenceServerException("unexpected shape", status="StatusCode.INVALID_ARGUMENT"), "inference")
    assert isinstance(error, ModelRejectedInput)
    assert isinstance(error, PermanentError)
    assert "unexpected shape" in str(error)


@pytest.mark.parametrize(
    "status",
    ["StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.RESOURCE_EXHAUSTED", "StatusCode.INTERNAL"],
)
def test_outages_timeouts_and_a_full_queue_are_transient(status: str) -> None:
    error = translate(InferenceServerException("no", status=status), "inference on m")
    assert isinstance(error, TritonUnavailable)
    assert isinstance(error, TransientError)
    assert status in str(error)


async def test_opening_against_a_closed_port_gives_up_at_the_deadline() -> None:
    model = TritonModel(f"127.0.0.1:{free_port()}", "plankton_classifier", timeout_seconds=1)
    started = time.monotonic()
    with pytest.raises(TritonUnavailable, match="not ready"):
        await model.open(ready_timeout=1.5)
    assert time.monotonic() - started < 10
    assert not await model.ready()
    await model.close()


async def test_a_model_that_is_not_open_has_no_spec_and_cannot_infer() -> None:
    model = TritonModel("127.0.0.1:1", "plankton_classifier", timeout_seconds=1)
    with pytest.raises(TritonUnavailable, match="not open"):
        await model.infer(np.zeros((1, 1, 64, 64), np.float32))
    assert not await model.ready()
