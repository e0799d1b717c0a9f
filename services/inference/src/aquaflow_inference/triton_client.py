"""The model behind Triton's async gRPC API, with Triton's errors translated."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import tritonclient.grpc.aio as triton
from tritonclient.utils import InferenceServerException

from aquaflow_inference.errors import ModelRejectedInput, TritonBusy, TritonUnavailable
from aquaflow_inference.postprocess import Floats
from aquaflow_inference.preprocess import Tensor
from aquaflow_inference.spec import ModelSpec

MAX_MESSAGE_BYTES = 2**31 - 1
# gRPC's reconnect backoff grows to two minutes by default: a worker would sit idle that
# long after a Triton restart. A short cap lets retried messages through within seconds.
CHANNEL_ARGS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


# Triton rejects a request at once when the model's queue is full (default_queue_policy
# max_queue_size) with status UNAVAILABLE and this message: backpressure, not an outage.
QUEUE_FULL = "exceeds maximum queue size"
# A readiness probe answers at once from a live server; longer means it is not serving.
PROBE_TIMEOUT_SECONDS = 5.0


def translate(error: InferenceServerException, what: str, *, serving: bool = True) -> Exception:
    """Sort one of Triton's errors into refused input, outage or pushback.

    A refused input is permanent. A server that cannot be reached (connection refused,
    UNAVAILABLE) or a deadline passed while the server is not ``serving`` is an outage of
    the dependency: the consumer waits for it, the message is not to blame. A full queue, a
    deadline while the server still serves, or an internal error are retried a bounded
    number of times.
    """
    status = str(error.status() or "")
    message = str(error.message() or "")
    detail = f"{what}: {status or 'error'} {message}"
    if "INVALID_ARGUMENT" in status:
        return ModelRejectedInput(f"{what}: Triton refused the input: {message}")
    if "UNAVAILABLE" in status and QUEUE_FULL in message.lower():
        return TritonBusy(f"{detail} (queue full)")
    if "UNAVAILABLE" in status or ("DEADLINE_EXCEEDED" in status and not serving):
        return TritonUnavailable(detail)
    return TritonBusy(detail)


class TritonModel:
    """One model on one Triton server; ``spec`` is read from Triton when opened."""

    def __init__(
        self, url: str, model: str, *, timeout_seconds: float, probe_timeout_seconds: float = PROBE_TIMEOUT_SECONDS
    ) -> None:
        self._url = url
        self._model = model
        self._timeout = timeout_seconds
        self._probe_timeout = probe_timeout_seconds
        self._client: triton.InferenceServerClient | None = None
        self._spec: ModelSpec | None = None

    @property
    def spec(self) -> ModelSpec:
        if self._spec is None:
            raise TritonUnavailable("model specification not loaded: the client is not open")
        return self._spec

    async def open(self, ready_timeout: float) -> None:
        """Connect, wait until the model is ready, and read its contract from its configuration."""
        self.connect()
        deadline = time.monotonic() + ready_timeout
        while not await self.ready():
            if time.monotonic() > deadline:
                raise TritonUnavailable(f"model {self._model} not ready on {self._url} within {ready_timeout}s")
            await asyncio.sleep(1.0)

    def connect(self) -> None:
        """Create the client without waiting: the model's contract is read once it is ready."""
        if self._client is None:
            self._client = triton.InferenceServerClient(self._url, channel_args=CHANNEL_ARGS)

    async def _read_contract(self) -> None:
        assert self._client is not None
        try:
            config = await self._client.get_model_config(self._model, as_json=True)
            metadata = await self._client.get_model_metadata(self._model, as_json=True)
        except InferenceServerException as error:
            raise translate(error, "reading the model configuration") from error
        versions = sorted(metadata.get("versions", ["1"]), key=lambda v: int(v) if str(v).isdigit() else 0)
        self._spec = ModelSpec.from_triton_config(config["config"], version=str(versions[-1]))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def ready(self) -> bool:
        """Whether Triton serves the model now: the probe a paused consumer polls."""
        if self._client is None:
            return False
        try:
            if not await self._client.is_model_ready(self._model, client_timeout=self._probe_timeout):
                return False
            if self._spec is None:
                await self._read_contract()
        except (InferenceServerException, TritonUnavailable):
            return False
        return True

    async def infer(self, batch: Tensor) -> Floats:
        """Run ``batch`` in chunks of the model's max batch size; Triton may batch them further."""
        spec = self.spec
        chunks = [batch[i : i + spec.max_batch_size] for i in range(0, len(batch), spec.max_batch_size)]
        outputs = await asyncio.gather(*(self._infer_chunk(chunk) for chunk in chunks))
        return np.concatenate(outputs) if len(outputs) > 1 else outputs[0]

    async def _infer_chunk(self, chunk: Tensor) -> Floats:
        if self._client is None:
            raise TritonUnavailable("Triton client is not open")
        spec = self.spec
        model_input = triton.InferInput(spec.input_name, list(chunk.shape), "FP32")
        model_input.set_data_from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))
        try:
            result = await self._client.infer(
                spec.name,
                [model_input],
                outputs=[triton.InferRequestedOutput(spec.output_name)],
                client_timeout=self._timeout,
            )
        except InferenceServerException as error:
            # A deadline alone does not say whether the server is down or only slow: ask it.
            serving = "DEADLINE_EXCEEDED" not in str(error.status() or "") or await self.ready()
            raise translate(error, f"inference on {spec.name}", serving=serving) from error
        output = result.as_numpy(spec.output_name)
        if output is None:
            raise TritonBusy(f"{spec.name} returned no {spec.output_name}")
        return np.asarray(output, dtype=np.float32)
