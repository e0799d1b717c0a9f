"""The project's own models, read and run without a server, for the pure pipeline tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from aquaflow_inference.postprocess import Floats
from aquaflow_inference.preprocess import Tensor
from aquaflow_inference.spec import ModelSpec
from aquaflow_inference.triton_image_model import TritonImageModel
from aquaflow_shared.contracts import InferenceRequested, ObjectRef
from tests.support.messages import inference_request

REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"


def parsed_config(text: str) -> dict[str, Any]:
    """``config.pbtxt`` text in the JSON form Triton's ``get_model_config(as_json=True)`` returns."""
    parsed = text_format.Parse(text, model_config_pb2.ModelConfig())
    config: dict[str, Any] = json_format.MessageToDict(parsed, preserving_proto_field_name=True)
    return config


def config_json(name: str) -> dict[str, Any]:
    return parsed_config((REPOSITORY / name / "config.pbtxt").read_text())


def repository_spec(name: str) -> ModelSpec:
    return ModelSpec.from_triton_config(config_json(name))


class OnnxTensorModel:
    """A TensorModel that runs the model file in-process with ONNX Runtime, as Triton's runner does.

    ``files`` maps each version to its ONNX file; ``calls`` records (version, rows) per call.
    """

    def __init__(self, spec: ModelSpec, files: dict[str, Path]) -> None:
        self.spec = spec
        self.versions = tuple(sorted(files, key=int))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._sessions = {version: ort.InferenceSession(str(path), options) for version, path in files.items()}
        self.calls: list[tuple[str, int]] = []

    async def refresh_versions(self) -> tuple[str, ...]:
        return self.versions

    async def served_versions(self) -> tuple[str, ...]:
        return await self.refresh_versions()

    async def infer(self, batch: Tensor, version: str | None = None) -> Floats:
        chosen = version or self.versions[-1]
        self.calls.append((chosen, len(batch)))
        (output,) = self._sessions[chosen].run([self.spec.output_name], {self.spec.input_name: batch})
        return np.asarray(output, dtype=np.float32)

    @property
    def rows(self) -> list[int]:
        return [rows for _, rows in self.calls]


def repository_tensors(name: str) -> OnnxTensorModel:
    return OnnxTensorModel(repository_spec(name), {"1": REPOSITORY / name / "1" / "model.onnx"})


def repository_model(name: str) -> tuple[TritonImageModel, OnnxTensorModel]:
    """The ImageModel the worker builds over Triton, over the same file run in-process."""
    tensors = repository_tensors(name)
    return TritonImageModel(tensors), tensors


def request_for(profile: str, model: str, *, key: str = "scan.png") -> InferenceRequested:
    obj = ObjectRef(bucket="plankton-in", key=key, etag="0123456789abcdef", size=100)
    return inference_request(obj, profile=profile, model=model)
