"""Triton's errors sorted into retry or dead-letter; a closed port is an outage, not bad input."""

from __future__ import annotations

import time

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from aquaflow_devstack.ports import free_port
from aquaflow_inference.errors import ModelRejectedInput, TritonBusy, TritonUnavailable
from aquaflow_inference.triton_client import TritonModel, VersionNotServed, translate
from aquaflow_shared.errors import DependencyUnavailable, PermanentError, TransientError


def test_invalid_input_is_permanent() -> None:
    error = translate(InferenceServerException("unexpected shape", status="StatusCode.INVALID_ARGUMENT"), "inference")
    assert isinstance(error, ModelRejectedInput)
    assert isinstance(error, PermanentError)
    assert "unexpected shape" in str(error)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("StatusCode.UNAVAILABLE", "failed to connect to all addresses; last error: Connection refused"),
        ("StatusCode.UNAVAILABLE", "Request for unknown model: 'm' is not found"),
        ("StatusCode.NOT_FOUND", "Request for unknown model: 'm' is not found"),  # Triton 2.51's status
        ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded"),
    ],
)
def test_triton_down_is_an_outage_of_the_dependency_not_the_messages_fault(status: str, message: str) -> None:
    error = translate(InferenceServerException(message, status=status), "inference on m", serving=False)
    assert isinstance(error, TritonUnavailable)
    assert isinstance(error, DependencyUnavailable)
    assert error.dependency == "triton"
    assert status in error.reason


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("StatusCode.UNAVAILABLE", "Exceeds maximum queue size"),  # Triton's backpressure
        ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded"),  # slow, but the server still serves
        ("StatusCode.RESOURCE_EXHAUSTED", "no"),
        ("StatusCode.INTERNAL", "onnxruntime failed"),
    ],
)
def test_a_full_queue_and_failures_of_a_serving_triton_are_retried_a_bounded_number_of_times(
    status: str, message: str
) -> None:
    error = translate(InferenceServerException(message, status=status), "inference on m", serving=True)
    assert isinstance(error, TritonBusy)
    assert isinstance(error, TransientError)
    assert not isinstance(error, DependencyUnavailable)
    assert status in str(error)


def test_a_version_triton_does_not_serve_is_for_the_caller_to_judge() -> None:
    message = "Request for unknown model: 'm' version 3 is not found"
    error = translate(InferenceServerException(message, status="StatusCode.NOT_FOUND"), "inference on m")
    assert isinstance(error, VersionNotServed)
    assert isinstance(error, TransientError)
    assert not isinstance(error, DependencyUnavailable)


async def test_opening_against_a_closed_port_gives_up_at_the_deadline() -> None:
    model = TritonModel(f"127.0.0.1:{free_port()}", "plankton_classifier", timeout_seconds=1)
    started = time.monotonic()
    with pytest.raises(TritonUnavailable, match="not ready"):
        await model.open(ready_timeout=1.5)
    assert time.monotonic() - started < 10
    assert not await model.ready()  # the probe answers False, at once, while nothing listens
    await model.close()


async def test_a_model_that_is_not_open_has_no_spec_and_cannot_infer() -> None:
    model = TritonModel("127.0.0.1:1", "plankton_classifier", timeout_seconds=1)
    with pytest.raises(TritonUnavailable, match="not open"):
        await model.infer(np.zeros((1, 1, 64, 64), np.float32))
    assert not await model.ready()


async def test_inference_against_a_closed_port_is_an_outage_of_triton() -> None:
    import tritonclient.grpc.aio as grpc_aio

    from tests.unit.inference.support import repository_spec

    model = TritonModel(f"127.0.0.1:{free_port()}", "plankton_classifier", timeout_seconds=2)
    # As if Triton went away after the worker opened the model: a client, a spec, nobody listening.
    model._client = grpc_aio.InferenceServerClient(model._url)
    model._spec = repository_spec("plankton_classifier")
    try:
        with pytest.raises(TritonUnavailable) as refused:
            await model.infer(np.zeros((1, 1, 64, 64), np.float32))
    finally:
        await model.close()
    assert refused.value.dependency == "triton"
    assert "UNAVAILABLE" in refused.value.reason
