"""Helpers for the Triton tests: Prometheus text, model configs, and aio gRPC requests."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import np_to_triton_dtype, triton_to_np_dtype


def metric(text: str, name: str, model: str) -> float:
    """Sum of a Prometheus metric's samples labelled with this model."""
    pattern = re.compile(rf'^{re.escape(name)}\{{[^}}]*model="{re.escape(model)}"[^}}]*\}} (\S+)$', re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def infer_input(name: str, array: NDArray[Any]) -> InferInput:
    tensor = InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
    tensor.set_data_from_numpy(array)
    return tensor


async def infer(
    client: InferenceServerClient, model: str, inputs: dict[str, NDArray[Any]], outputs: list[str] | None = None
) -> Any:
    requested = [InferRequestedOutput(name) for name in outputs] if outputs else None
    return await client.infer(model, [infer_input(n, a) for n, a in inputs.items()], outputs=requested)


async def model_config(client: InferenceServerClient, model: str) -> dict[str, Any]:
    response: dict[str, Any] = await client.get_model_config(model, as_json=True)
    config: dict[str, Any] = response["config"]
    return config


def random_inputs(config: dict[str, Any], batch: int, seed: int = 0) -> dict[str, NDArray[Any]]:
    """A batch of inputs matching the served config, values in the range the models were trained on."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for entry in config["input"]:
        dtype = triton_to_np_dtype(entry["data_type"].removeprefix("TYPE_"))
        shape = [batch, *(int(d) for d in entry["dims"])]
        arrays[entry["name"]] = rng.normal(0.0, 1.0, size=shape).astype(dtype)
    return arrays
