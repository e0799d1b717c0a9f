"""ONNX export with a dynamic batch axis, checked with ONNX Runtime before it replaces the shipped file."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from training.arrays import Array

OPSET = 17


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path, *, input_name: str, output_name: str) -> None:
    """Export `model` (eval mode) and verify the file against PyTorch at batch sizes 1 and 3."""
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        candidate = Path(tmp) / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(candidate),
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        with torch.no_grad():
            expected_shape = tuple(model(example).shape)
        _pin_output_shape(candidate, expected_shape)
        onnx.checker.check_model(str(candidate), full_check=True)
        _verify(model, candidate, example, input_name)
        os.replace(candidate, path)


def _pin_output_shape(path: Path, shape: tuple[int, ...]) -> None:
    """Write the fixed (non-batch) output dims into the graph: shape inference loses some through reshapes."""
    model = onnx.load(str(path))
    dims = model.graph.output[0].type.tensor_type.shape.dim
    for dim, size in zip(list(dims)[1:], shape[1:], strict=True):
        dim.Clear()
        dim.dim_value = size
    onnx.save(model, str(path))


def _verify(model: nn.Module, path: Path, example: torch.Tensor, input_name: str) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = example[:1].repeat(batch, *([1] * (example.dim() - 1)))
        x = x + 0.1 * torch.randn_like(x)
        with torch.no_grad():
            expected = model(x).numpy()
        (actual,) = session.run(None, {input_name: x.numpy()})
        if actual.shape != expected.shape or not np.allclose(actual, expected, atol=1e-4, rtol=1e-3):
            raise RuntimeError(f"ONNX Runtime disagrees with PyTorch for {path} at batch {batch}")


def onnx_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_batched(session: ort.InferenceSession, inputs: Array, batch: int = 32) -> Array:
    """Run the exported model over many inputs in batches of at most max_batch_size."""
    name = session.get_inputs()[0].name
    outputs = [
        session.run(None, {name: inputs[i : i + batch].astype(np.float32)})[0] for i in range(0, len(inputs), batch)
    ]
    return np.concatenate(outputs, axis=0)
