"""Serves a model's ``model.onnx`` with ONNX Runtime inside Triton's Python backend.

The official Triton image runs aquaflow's models with its ONNX Runtime backend. The Triton
binary in the nvidia-pytriton wheel has only the Python backend, so this file stands in for
it: one ONNX Runtime session per model instance, tensor names and types taken from the
model's config, and every dynamic batch Triton forms run as ONE session call whose rows are
split back into one response per request. A request that cannot run gets an error
response of its own; nothing here may take the stub process down.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

# ONNX Runtime threads per model instance. Several models share a few CPUs, and Triton
# already overlaps work across instances, so one thread each is the sensible default.
THREADS_ENV = "AQUAFLOW_RUNNER_THREADS"
ONNX_FILE = "model.onnx"

Feeds = dict[str, np.ndarray[Any, Any]]


class RequestError(ValueError):
    """A request whose tensors do not fit the model's config."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: Any  # a numpy scalar type
    dims: tuple[int, ...]  # without the batch dimension; -1 means any size

    @classmethod
    def from_config(cls, entry: dict[str, Any]) -> TensorSpec:
        dims = tuple(int(d) for d in entry.get("dims", []))
        return cls(entry["name"], pb_utils.triton_string_to_numpy(entry["data_type"]), dims)

    def fits(self, shape: tuple[int, ...], batched: bool) -> bool:
        if batched and not shape:
            return False
        item = shape[1:] if batched else shape
        return len(item) == len(self.dims) and all(want in (-1, got) for want, got in zip(self.dims, item, strict=True))


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.name: str = config["name"]
        self.batched = int(config.get("max_batch_size", 0)) > 0
        self.inputs = [TensorSpec.from_config(entry) for entry in config["input"]]
        self.outputs = [TensorSpec.from_config(entry) for entry in config["output"]]
        model_file = Path(args["model_repository"]) / args["model_version"] / ONNX_FILE
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get(THREADS_ENV, "1"))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._check_names()

    def _check_names(self) -> None:
        """Fail the load, with a readable reason, when config and ONNX file disagree."""
        onnx_inputs = {i.name for i in self.session.get_inputs()}
        onnx_outputs = {o.name for o in self.session.get_outputs()}
        config_inputs = {s.name for s in self.inputs}
        config_outputs = {s.name for s in self.outputs}
        if config_inputs != onnx_inputs or not config_outputs <= onnx_outputs:
            raise ValueError(
                f"{self.name}: config.pbtxt and {ONNX_FILE} disagree: config inputs {sorted(config_inputs)}, "
                f"ONNX inputs {sorted(onnx_inputs)}; config outputs {sorted(config_outputs)}, "
                f"ONNX outputs {sorted(onnx_outputs)}"
            )

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        readable: dict[int, Feeds] = {}
        for index, request in enumerate(requests):
            try:
                readable[index] = self._read(request)
            except RequestError as error:
                responses[index] = self._error(str(error))
        if self.batched:
            self._run_batch(readable, responses)
        else:
            for index, feeds in readable.items():
                self._run_batch({index: feeds}, responses)
        return responses

    def _read(self, request: Any) -> Feeds:
        feeds: Feeds = {}
        for spec in self.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, spec.name)
            if tensor is None:
                raise RequestError(f"{self.name}: input {spec.name!r} is missing")
            array = tensor.as_numpy()
            if array.dtype != spec.dtype:
                raise RequestError(
                    f"{self.name}: input {spec.name!r} has type {array.dtype}, expected {np.dtype(spec.dtype)}"
                )
            if not spec.fits(array.shape, self.batched):
                expected = ("batch", *spec.dims) if self.batched else spec.dims
                raise RequestError(
                    f"{self.name}: input {spec.name!r} has shape {list(array.shape)}, expected {list(expected)}"
                )
            feeds[spec.name] = array
        sizes = {array.shape[0] for array in feeds.values()}
        if self.batched and len(sizes) > 1:
            raise RequestError(f"{self.name}: inputs disagree on the batch size: {sorted(sizes)}")
        return feeds

    def _run_batch(self, batch: dict[int, Feeds], responses: list[Any]) -> None:
        if not batch:
            return
        try:
            results = self._run_together(list(batch.values()))
        except Exception as error:  # noqa: BLE001 - any failure must become an error response, never a dead stub
            if len(batch) == 1:
                (index,) = batch
                responses[index] = self._error(f"{self.name}: inference failed: {error}")
                return
            # One bad request must not fail its batch neighbours: run each on its own.
            for index, feeds in batch.items():
                self._run_batch({index: feeds}, responses)
            return
        for index, outputs in zip(batch, results, strict=True):
            responses[index] = pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor(name, array) for name, array in outputs.items()]
            )

    def _run_together(self, requests: list[Feeds]) -> list[Feeds]:
        """One ONNX Runtime call for all requests: rows concatenated, then split back in order."""
        if len(requests) == 1:
            joined = requests[0]
        else:
            joined = {spec.name: np.concatenate([feeds[spec.name] for feeds in requests]) for spec in self.inputs}
        names = [spec.name for spec in self.outputs]
        produced = dict(zip(names, self.session.run(names, joined), strict=True))
        if not self.batched:
            return [self._typed(produced)]
        rows = [feeds[self.inputs[0].name].shape[0] for feeds in requests]
        for name, array in produced.items():
            if array.shape[:1] != (sum(rows),):
                raise RuntimeError(f"output {name!r} has shape {list(array.shape)} for a batch of {sum(rows)} rows")
        bounds = np.cumsum(rows)[:-1]
        split = {name: np.split(array, bounds) for name, array in produced.items()}
        return [self._typed({name: parts[i] for name, parts in split.items()}) for i in range(len(requests))]

    def _typed(self, outputs: Feeds) -> Feeds:
        types = {spec.name: spec.dtype for spec in self.outputs}
        return {name: np.ascontiguousarray(array, dtype=types[name]) for name, array in outputs.items()}

    @staticmethod
    def _error(message: str) -> Any:
        return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message))

    def finalize(self) -> None:
        self.session = None
