"""The model behind Triton's async gRPC API, tensors in and out, with Triton's errors translated.

The configuration is per model; the versions Triton serves are read with it, and each call
names the version it runs, so a result can say which one answered.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import tritonclient.grpc.aio as triton
from tritonclient.utils import InferenceServerException

from aquaflow_inference.errors import InvalidModelConfig, ModelRejectedInput, TritonBusy, TritonUnavailable
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
# How old the list of served versions may be when a request takes the default: a version
# loaded into Triton becomes the default within this time, without a call per message.
VERSIONS_MAX_AGE_SECONDS = 10.0


class VersionNotServed(TritonBusy):
    """Triton serves the model but not the version a call named (unloaded, or never there)."""


def translate(error: InferenceServerException, what: str, *, serving: bool = True) -> Exception:
    """Sort one of Triton's errors into refused input, outage or pushback.

    A refused input is permanent. A server that cannot be reached (connection refused,
    UNAVAILABLE), a model it does not serve, or a deadline passed while the server is not
    ``serving`` is an outage of the dependency: the consumer waits for it, the message is not
    to blame. A version it does not serve is for the caller to judge (``VersionNotServed``).
    A full queue, a deadline while the server still serves, or an internal error are retried
    a bounded number of times.
    """
    status = str(error.status() or "")
    message = str(error.message() or "")
    detail = f"{what}: {status or 'error'} {message}"
    if "INVALID_ARGUMENT" in status:
        return ModelRejectedInput(f"{what}: Triton refused the input: {message}")
    if "UNAVAILABLE" in status and QUEUE_FULL in message.lower():
        return TritonBusy(f"{detail} (queue full)")
    if "NOT_FOUND" in status:
        # Triton 2.5x: "Request for unknown model: 'm' version 3 is not found" / "... 'm' is not found".
        return VersionNotServed(detail) if " version " in message else TritonUnavailable(detail)
    if "UNAVAILABLE" in status or ("DEADLINE_EXCEEDED" in status and not serving):
        return TritonUnavailable(detail)
    return TritonBusy(detail)


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


class TritonModel:
    """One model on one Triton server; ``spec`` and ``versions`` are read from Triton once it is ready."""

    def __init__(
        self, url: str, model: str, *, timeout_seconds: float, probe_timeout_seconds: float = PROBE_TIMEOUT_SECONDS
    ) -> None:
        self._url = url
        self._model = model
        self._timeout = timeout_seconds
        self._probe_timeout = probe_timeout_seconds
        self._client: triton.InferenceServerClient | None = None
        self._spec: ModelSpec | None = None
        self._batching: bool | None = None
        self._versions: tuple[str, ...] = ()
        self._versions_read_at = 0.0

    @property
    def spec(self) -> ModelSpec:
        if self._spec is None:
            raise TritonUnavailable("model specification not loaded: the client is not open")
        return self._spec

    @property
    def batching(self) -> bool:
        """Whether Triton batches the model (``max_batch_size`` > 0): only then may requests' rows be stacked."""
        if self._batching is None:
            raise TritonUnavailable("model configuration not loaded: the client is not open")
        return self._batching

    @property
    def versions(self) -> tuple[str, ...]:
        """The versions Triton served when last asked, oldest first; the last is the default."""
        if not self._versions:
            raise TritonUnavailable("model versions not loaded: the client is not open")
        return self._versions

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

    async def refresh_versions(self) -> tuple[str, ...]:
        """Ask Triton again which versions it serves (one was asked for that it did not serve)."""
        if self._client is None:
            raise TritonUnavailable("Triton client is not open")
        try:
            metadata = await self._client.get_model_metadata(self._model, as_json=True)
        except InferenceServerException as error:
            raise translate(error, f"reading the versions of {self._model}") from error
        versions = tuple(sorted((str(v) for v in metadata.get("versions", [])), key=_version_order))
        if not versions:
            raise TritonUnavailable(f"Triton serves no version of {self._model}")
        self._versions, self._versions_read_at = versions, time.monotonic()
        return versions

    async def served_versions(self) -> tuple[str, ...]:
        """The versions served, read again from Triton when the last answer is more than a few seconds old."""
        if time.monotonic() - self._versions_read_at > VERSIONS_MAX_AGE_SECONDS:
            return await self.refresh_versions()
        return self.versions

    async def _read_contract(self) -> None:
        assert self._client is not None
        try:
            config = await self._client.get_model_config(self._model, as_json=True)
        except InferenceServerException as error:
            raise translate(error, "reading the model configuration") from error
        versions = await self.refresh_versions()
        spec = ModelSpec.from_triton_config(config["config"])
        if not spec.labels:
            spec = spec.with_labels(await self._served_labels(spec, versions[-1]))
        self._batching = int(config["config"].get("max_batch_size", 0)) > 0
        self._spec = spec

    async def _served_labels(self, spec: ModelSpec, version: str) -> tuple[str, ...]:
        """The names in the output's label file, as Triton's classification extension serves them.

        Triton reads the file beside the model; a worker may see nothing of the repository. One
        call on a blank input, asking for every class, returns ``score:index:label`` per class.
        """
        assert self._client is not None
        (classes,) = spec.output_dims
        blank = np.zeros((1, *spec.input_shape), dtype=_input_dtype(spec))
        model_input = triton.InferInput(spec.input_name, list(blank.shape), spec.input_type)
        model_input.set_data_from_numpy(blank)
        try:
            result = await self._client.infer(
                spec.name,
                [model_input],
                model_version=version,
                outputs=[triton.InferRequestedOutput(spec.output_name, class_count=classes)],
                client_timeout=self._timeout,
            )
        except InferenceServerException as error:
            refused = translate(error, f"reading the labels of {spec.name}")
            if isinstance(refused, ModelRejectedInput):
                raise InvalidModelConfig(f"{spec.name}: Triton did not serve {spec.label_file}: {refused}") from error
            raise refused from error
        entries = result.as_numpy(spec.output_name)
        names: dict[int, str] = {}
        for entry in np.asarray(entries).reshape(-1):
            parts = (entry.decode() if isinstance(entry, bytes) else str(entry)).split(":", 2)
            if len(parts) == 3:
                names[int(parts[1])] = parts[2]
        if sorted(names) != list(range(classes)):
            raise InvalidModelConfig(f"{spec.name}: {spec.label_file} names {len(names)} of the {classes} classes")
        return tuple(names[i] for i in range(classes))

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
        except (InferenceServerException, TritonUnavailable, TritonBusy):
            return False
        return True

    async def infer(self, batch: Tensor, version: str | None = None) -> Floats:
        """Run ``batch`` on ``version`` (None: Triton's default) in chunks of the model's max batch size.

        Triton's dynamic batcher may join the chunks of many calls into one execution.
        """
        spec = self.spec
        chunks = [batch[i : i + spec.max_batch_size] for i in range(0, len(batch), spec.max_batch_size)]
        outputs = await asyncio.gather(*(self._infer_chunk(chunk, version) for chunk in chunks))
        return np.concatenate(outputs) if len(outputs) > 1 else outputs[0]

    async def _infer_chunk(self, chunk: Tensor, version: str | None) -> Floats:
        if self._client is None:
            raise TritonUnavailable("Triton client is not open")
        spec = self.spec
        model_input = triton.InferInput(spec.input_name, list(chunk.shape), spec.input_type)
        model_input.set_data_from_numpy(np.ascontiguousarray(chunk, dtype=_input_dtype(spec)))
        try:
            result = await self._client.infer(
                spec.name,
                [model_input],
                model_version=version or "",
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


def _input_dtype(spec: ModelSpec) -> type[np.floating[Any]]:
    return np.float16 if spec.input_type == "FP16" else np.float32
