"""The ceilings: raw Triton (async gRPC straight to the model) and ONNX Runtime in this process.

Both see the same images as the pipeline, decoded and preprocessed by the inference
service's own functions, so they differ from aquaflow only in what aquaflow adds. Raw
Triton sends one image per request, as the pipeline does for a FlowCam particle, with
``concurrency`` requests in flight; the best concurrency is the ceiling.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import tritonclient.grpc.aio as triton_aio
from tqdm import tqdm

from aquaflow_devstack.bench.watch import Cost, Watch
from aquaflow_inference.imaging import decode_image
from aquaflow_inference.preprocess import Tensor, to_model_input
from aquaflow_inference.settings import InferenceSettings
from aquaflow_inference.spec import ModelSpec

MAX_PIXELS = InferenceSettings.model_fields["max_image_pixels"].default
# Distinct preprocessed tensors kept in memory; the requests cycle through them.
DISTINCT_TENSORS = 128


async def read_spec(grpc_url: str, model: str) -> ModelSpec:
    """The model's contract as the inference service reads it: from Triton's configuration."""
    client = triton_aio.InferenceServerClient(grpc_url)
    try:
        config = await client.get_model_config(model, as_json=True)
    finally:
        await client.close()
    return ModelSpec.from_triton_config(config["config"])


def service_tensors(bodies: list[bytes], spec: ModelSpec, limit: int = DISTINCT_TENSORS) -> list[Tensor]:
    """Up to ``limit`` images decoded and preprocessed exactly as the inference service does."""
    tensors = []
    for body in bodies[:limit]:
        tensor, _placement = to_model_input(decode_image(body, max_pixels=MAX_PIXELS), spec)
        tensors.append(tensor)
    return tensors


@dataclass(frozen=True)
class RawRun:
    setting: str  # "concurrency 16" or "batch 32"
    knob: int
    images: int
    seconds: float
    cost: Cost | None = None

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "images": self.images,
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
            **({"cost": self.cost.as_dict()} if self.cost else {}),
        }


async def _infer(client: triton_aio.InferenceServerClient, spec: ModelSpec, tensor: Tensor) -> None:
    batch = np.ascontiguousarray(tensor[None], dtype=np.float16 if spec.input_type == "FP16" else np.float32)
    model_input = triton_aio.InferInput(spec.input_name, list(batch.shape), spec.input_type)
    model_input.set_data_from_numpy(batch)
    result = await client.infer(spec.name, [model_input], outputs=[triton_aio.InferRequestedOutput(spec.output_name)])
    if result.as_numpy(spec.output_name) is None:
        raise RuntimeError(f"{spec.name} answered without {spec.output_name}")


async def triton_at(
    grpc_url: str, spec: ModelSpec, tensors: list[Tensor], watch: Watch, *, concurrency: int, seconds: float
) -> RawRun:
    """Images per second with ``concurrency`` requests in flight for ``seconds``, after a short warm-up."""
    client = triton_aio.InferenceServerClient(grpc_url)
    done = 0
    try:
        await asyncio.gather(*(_infer(client, spec, tensors[i % len(tensors)]) for i in range(concurrency)))
        deadline = time.monotonic() + seconds

        async def worker(offset: int) -> None:
            nonlocal done
            i = offset
            while time.monotonic() < deadline:
                await _infer(client, spec, tensors[i % len(tensors)])
                done += 1
                i += concurrency

        before = watch.mark()
        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
        after = watch.mark()
    finally:
        await client.close()
    cost = watch.cost(before, after, done, (spec.name,))
    return RawRun(f"concurrency {concurrency}", concurrency, done, elapsed, cost)


async def triton_sweep(
    grpc_url: str, spec: ModelSpec, tensors: list[Tensor], watch: Watch, *, concurrencies: list[int], seconds: float
) -> list[RawRun]:
    runs = []
    for concurrency in tqdm(concurrencies, desc=f"raw Triton {spec.name}", unit="setting"):
        runs.append(await triton_at(grpc_url, spec, tensors, watch, concurrency=concurrency, seconds=seconds))
    return runs


def onnxruntime_sweep(
    onnx_file: Path, tensors: list[Tensor], batches: list[int], seconds: float, threads: int | None = None
) -> list[RawRun]:
    """Images per second of one in-process ONNX Runtime session at each batch size (all cores by default)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    stacked = np.stack(tensors).astype(np.float32)
    runs = []
    for batch in tqdm(batches, desc=f"ONNX Runtime {onnx_file.parent.parent.name}", unit="setting"):
        rows = [np.arange(i, i + batch) % len(stacked) for i in range(0, len(stacked), batch)]
        feeds = [np.take(stacked, chosen, axis=0) for chosen in rows]
        session.run(None, {name: feeds[0]})  # warm-up
        done, started = 0, time.perf_counter()
        deadline = started + seconds
        i = 0
        while time.perf_counter() < deadline:
            session.run(None, {name: feeds[i % len(feeds)]})
            done += batch
            i += 1
        runs.append(RawRun(f"batch {batch}", batch, done, time.perf_counter() - started))
    return runs


def best(runs: list[RawRun]) -> RawRun | None:
    return max(runs, key=lambda r: r.images_per_second, default=None)
