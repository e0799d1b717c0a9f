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
from aquaflow_shared.contracts import InferenceRequested, ObjectRef
from tests.support.messages import inference_request

REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"


def config_json(name: str) -> dict[str, Any]:
    """``config.pbtxt`` in the JSON form Triton's ``get_model_config(as_json=True)`` returns."""
    text = (REPOSITORY / name / "config.pbtxt").read_text()
    parsed = text_format.Parse(text, model_config_pb2.ModelConfig())
    config: dict[str, Any] = json_format.MessageToDict(parsed, preserving_proto_field_name=True)
    return config


def repository_spec(name: str) -> ModelSpec:
    return ModelSpec.from_triton_config(config_json(name), version="1")


class OnnxRuntimeRunner:
    """A ModelRunner that runs the model file in-process with ONNX Runtime, as Triton's runner does."""

    def __init__(self, name: str) -> None:
        self.spec = repository_spec(name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(str(REPOSITORY / name / "1" / "model.onnx"), options)
        self.calls: list[int] = []

    async def infer(self, batch: Tensor) -> Floats:
        self.calls.append(len(batch))
        (output,) = self._session.run([self.spec.output_name], {self.spec.input_name: batch})
        return np.asarray(output, dtype=np.float32)


def request_for(profile: str, model: str, *, key: str = "scan.png") -> InferenceRequested:
    obj = ObjectRef(bucket="plankton-in", key=key, etag="0123456789abcdef", size=100)
    return inference_request(obj, profile=profile, model=model)
