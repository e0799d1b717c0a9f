"""One benchmark run, in order: the ceilings, aquaflow end to end, the backlog, the profile, the OSCAR baseline.

Triton (the wheel's binary, serving both benchmark models) and moto's S3 server start
first; raw Triton and ONNX Runtime are measured before the stack runs, so the ceilings
have the machine to themselves. OSCAR's baseline runs last, after the stack has stopped,
for the same reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aquaflow_devstack.bench import oscar, procstat, raw
from aquaflow_devstack.bench.backlog import run_backlog
from aquaflow_devstack.bench.endtoend import end_to_end, profiled_burst
from aquaflow_devstack.bench.images import BenchImage, bench_images
from aquaflow_devstack.bench.machine import describe_machine
from aquaflow_devstack.bench.pipeline import ResultWatcher, start_moto_process
from aquaflow_devstack.bench.profiling import Profiler, py_spy
from aquaflow_devstack.bench.repository import (
    BACKLOG_BUCKET,
    MODELS,
    PLANKTON,
    TENANT,
    buckets,
    prepare_models,
    write_routing_table,
)
from aquaflow_devstack.bench.watch import Watch
from aquaflow_devstack.rabbitmq import BROKER_URL_ENV, DEFAULT_URL, delete_topology
from aquaflow_devstack.stack import REPO_ROOT, NativeStack, StackConfig
from aquaflow_devstack.triton_server import TritonServer, start_triton

WORKDIR = REPO_ROOT / "build" / "bench"
PROFILED_UPLOADS = 600


@dataclass(frozen=True)
class Options:
    uploads: int
    models: list[str]
    oscar: bool
    oscar_files: int
    backlog: int
    profile: bool
    concurrencies: list[int]
    batches: list[int]
    raw_seconds: float
    open_loop_seconds: float
    timeout: float
    triton_threads: int
    out: Path
    workdir: Path = WORKDIR


def _port(url: str, default: int) -> int:
    return urlsplit(url).port or default


async def _ceilings(
    triton: TritonServer, models_dir: Path, images: list[BenchImage], options: Options, watch: Watch
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    bodies = [image.body for image in images]
    for name in options.models:
        spec = await raw.read_spec(triton.grpc_url, name)
        tensors = await asyncio.to_thread(raw.service_tensors, bodies, spec)
        triton_runs = await raw.triton_sweep(
            triton.grpc_url, spec, tensors, watch, concurrencies=options.concurrencies, seconds=options.raw_seconds
        )
        onnx_runs = await asyncio.to_thread(
            raw.onnxruntime_sweep, models_dir / name / "1" / "model.onnx", tensors, options.batches, options.raw_seconds
        )
        top_triton, top_onnx = raw.best(triton_runs), raw.best(onnx_runs)
        found[name] = {
            "summary": MODELS[name].summary,
            "raw_triton": [r.as_dict() for r in triton_runs],
            "raw_triton_best": None if top_triton is None else top_triton.as_dict(),
            "onnxruntime": [r.as_dict() for r in onnx_runs],
            "onnxruntime_best": None if top_onnx is None else top_onnx.as_dict(),
        }
    return found


def checkpoint(options: Options, machine: dict[str, Any], found: dict[str, Any], extra: dict[str, Any]) -> None:
    """What is measured so far, in ``bench.partial.json``: a run cut short (a broker restarted under it,
    Ctrl-C) still leaves its figures."""
    options.out.mkdir(parents=True, exist_ok=True)
    partial = {"machine": machine, "models": found, **extra}
    (options.out / "bench.partial.json").write_text(json.dumps(partial, indent=2, default=str) + "\n")


async def _pipeline(
    triton: TritonServer,
    images: list[BenchImage],
    options: Options,
    watch: Watch,
    *,
    found: dict[str, dict[str, Any]],
    machine: dict[str, Any],
) -> dict[str, Any]:
    backlog_model = PLANKTON if PLANKTON in options.models else options.models[0]
    routing = write_routing_table(options.workdir, options.models, backlog_model)
    prefix = f"aquaflow-bench-{uuid.uuid4().hex[:6]}"
    workdir = options.workdir / "stack"
    shutil.rmtree(workdir, ignore_errors=True)
    config = StackConfig(
        prefix=prefix,
        workdir=workdir,
        buckets=buckets(options.models),
        models=tuple(options.models),
        routing_table=routing,
        triton_grpc_url=triton.grpc_url,
        broker_url=os.environ.get(BROKER_URL_ENV, DEFAULT_URL),
        mongodb_url=os.environ.get("MONGODB_URL"),
    )
    stack = NativeStack(config)
    extra: dict[str, Any] = {}
    try:
        await asyncio.to_thread(stack.start)
        watch.add("mongodb", procstat.pid_listening_on(_port(stack.mongodb_url, 27017)))
        for name, service in stack.services.items():
            assert service.process is not None
            watch.add(name, service.process.pid)
        async with ResultWatcher(stack) as watcher:
            for name in options.models:
                measured = await end_to_end(
                    stack,
                    watcher,
                    watch,
                    model=name,
                    bucket=MODELS[name].bucket,
                    images=images,
                    open_loop_seconds=options.open_loop_seconds,
                    timeout=options.timeout,
                )
                found[name]["end_to_end"] = measured.as_dict()
                checkpoint(options, machine, found, extra)
            if options.backlog > 0:
                report = await run_backlog(
                    stack,
                    watcher,
                    watch,
                    bucket=BACKLOG_BUCKET,
                    tenant=TENANT,
                    count=options.backlog,
                    source=images[0].body,
                    timeout=max(options.timeout, options.backlog / 5),
                )
                extra["backlog"] = {"model": backlog_model, **report.as_dict()}
                checkpoint(options, machine, found, extra)
            extra["profile"] = await _profile(stack, watcher, images, options)
        extra["peak_rss_mib"] = watch.peak_rss_mib()
    finally:
        stack.stop()
        await delete_topology(config.broker_url, prefix, config.models)
    return extra


async def _profile(stack: NativeStack, watcher: ResultWatcher, images: list[BenchImage], options: Options) -> Any:
    if not options.profile:
        return {"skipped": "not asked for"}
    executable = py_spy()
    if executable is None:
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    found: dict[str, Any] = {}
    for name in options.models:
        profiler = Profiler(executable, options.workdir / "profiles" / name)
        pids = {n: s.process.pid for n, s in stack.services.items() if s.process is not None}
        profiler.start(pids)
        try:
            await profiled_burst(
                stack,
                watcher,
                model=name,
                bucket=MODELS[name].bucket,
                images=images[:PROFILED_UPLOADS],
                timeout=options.timeout,
            )
        except Exception as error:  # noqa: BLE001 - the profile is extra: its failure must not lose the figures
            found[name] = {"error": f"{type(error).__name__}: {error}"[:300]}
            profiler.stop()
            continue
        found[name] = profiler.stop()
    return found


def _oscar(options: Options, images: list[BenchImage], models_dir: Path) -> dict[str, dict[str, Any]]:
    if not options.oscar:
        return {name: {"available": False, "reason": "skipped (--skip-oscar)"} for name in options.models}
    try:
        venv = oscar.prepare()
    except oscar.OscarUnavailable as error:
        return {name: {"available": False, "reason": str(error)} for name in options.models}
    files_dir = options.workdir / "oscar-files"
    shutil.rmtree(files_dir, ignore_errors=True)
    files_dir.mkdir(parents=True)
    files = []
    for index, image in enumerate(images[: options.oscar_files]):
        path = files_dir / f"{index:04d}-{image.name}"
        path.write_bytes(image.body)
        files.append(path)
    found: dict[str, dict[str, Any]] = {}
    for name in options.models:
        model_dir = (models_dir / name).resolve()
        try:
            runs = [
                oscar.process_per_file(files, model_dir, venv, parallel=1),
                oscar.process_per_file(files, model_dir, venv, parallel=2),
                oscar.exposed_service(files, model_dir, venv, options.workdir / "deepaas" / name),
            ]
        except Exception as error:  # noqa: BLE001 - any failure of the baseline is reported, not fatal
            found[name] = {"available": False, "reason": f"{type(error).__name__}: {error}"[:500]}
            continue
        found[name] = {"available": True, "files": len(files), "runs": [r.as_dict() for r in runs]}
    return found


async def run(options: Options) -> dict[str, Any]:
    started = datetime.now(UTC)
    machine = describe_machine()
    models_dir = prepare_models(options.workdir, options.models)
    images = bench_images(options.uploads)
    moto = start_moto_process(options.workdir / "logs" / "moto.log")
    triton: TritonServer | None = None
    try:
        triton = start_triton(models_dir, options.workdir / "triton", runner_threads=options.triton_threads)
        watch = Watch({"triton": triton.pid, "s3": moto.process.pid}, triton.metrics_url)
        broker_port = _port(os.environ.get(BROKER_URL_ENV, DEFAULT_URL), 5672)
        watch.add("rabbitmq", procstat.pid_listening_on(broker_port))
        found = await _ceilings(triton, models_dir, images, options, watch)
        checkpoint(options, machine, found, {})
        extra = await _pipeline(triton, images, options, watch, found=found, machine=machine)
    finally:
        if triton is not None:
            triton.stop()
        moto.stop()
    for name, result in _oscar(options, images, models_dir).items():
        found[name]["oscar"] = result
    return {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine,
        "options": {
            "uploads": options.uploads,
            "generated_images": sum(1 for i in images if i.generated),
            "real_images": sum(1 for i in images if not i.generated),
            "models": options.models,
            "oscar_files": options.oscar_files if options.oscar else 0,
            "backlog": options.backlog,
            "concurrencies": options.concurrencies,
            "onnxruntime_batches": options.batches,
            "raw_seconds": options.raw_seconds,
            "open_loop_seconds": options.open_loop_seconds,
            "triton_runner_threads": options.triton_threads,
        },
        "models": found,
        **extra,
    }
