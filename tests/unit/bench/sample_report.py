"""A small benchmark report, as ``run`` assembles it, for the report and chart tests."""

from __future__ import annotations

from typing import Any


def model(name: str, *, triton: float, onnx: float, e2e: float, batch: float, cpu: dict[str, float]) -> dict[str, Any]:
    return {
        "summary": f"{name} summary",
        "raw_triton_best": {"setting": "concurrency 32", "images_per_second": triton, "cost": {
            "triton_average_batch": {name: 12.0}}},
        "onnxruntime_best": {"setting": "batch 32", "images_per_second": onnx},
        "end_to_end": {
            "uploads": 2000,
            "images_per_second": e2e,
            "burst": {"results": 2000, "dead_letters": 0},
            "burst_cost": {"cpu_ms_per_item": cpu, "triton_average_batch": {name: batch}, "machine_busy": 0.97},
            "idle_latency_s": 0.1,
            "open_loop_rate": e2e / 2,
            "open_loop_p50_s": 0.12,
            "open_loop_p99_s": 0.25,
        },
        "oscar": {
            "available": True,
            "runs": [
                {"mode": "process per file, one at a time", "images_per_second": 0.4},
                {"mode": "process per file, 2 in parallel", "images_per_second": 0.5},
                {"mode": "exposed service (deepaas-run), one request per file", "images_per_second": 20.0},
            ],
        },
    }  # fmt: skip


def report() -> dict[str, Any]:
    return {
        "machine": {"cpu": "AMD EPYC", "cores": 2, "memory_gib": 23.5},
        "models": {
            "plankton_classifier": model(
                "plankton_classifier", triton=500.0, onnx=900.0, e2e=100.0, batch=4.0,
                cpu={"ingest": 0.25, "router": 0.25, "inference-plankton_classifier": 1.5,
                     "inference-bench_mobilenet": 0.0, "results": 0.5, "rabbitmq": 1.0, "s3": 2.0,
                     "mongodb": 3.0, "triton": 4.0},
            ),
            "bench_mobilenet": model(
                "bench_mobilenet", triton=50.0, onnx=60.0, e2e=45.0, batch=16.0,
                cpu={"ingest": 0.5, "router": 0.4, "inference-bench_mobilenet": 6.0, "results": 0.6,
                     "rabbitmq": 1.0, "s3": 2.0, "mongodb": None, "triton": 40.0},  # type: ignore[dict-item]
            ),
        },
    }  # fmt: skip
