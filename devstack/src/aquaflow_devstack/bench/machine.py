"""What the benchmark ran on: CPU, cores, memory, OS and the versions of the parts."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "nvidia-pytriton",
    "tritonclient",
    "onnxruntime",
    "torch",
    "numpy",
    "pillow",
    "faststream",
    "aio-pika",
    "pymongo",
    "moto",
    "secantusdb",
    "py-spy",
)


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name":
            return value.strip()
    return platform.processor() or "unknown"


def memory_gib(meminfo: str) -> float | None:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def os_name(os_release: str) -> str:
    for line in os_release.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.system()


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _rabbitmq_version() -> str | None:
    if shutil.which("rabbitmqctl") is None:
        return None
    try:
        done = subprocess.run(["rabbitmqctl", "version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def describe_machine() -> dict[str, Any]:
    versions = {"python": platform.python_version(), **_package_versions()}
    rabbit = _rabbitmq_version()
    if rabbit:
        versions["rabbitmq"] = rabbit
    if "nvidia-pytriton" in versions:
        versions["tritonserver"] = "2.51 (the nvidia-pytriton wheel's binary, Python backend running ONNX Runtime)"
    return {
        "cpu": cpu_model(_read("/proc/cpuinfo")),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(_read("/proc/meminfo")),
        "os": f"{os_name(_read('/etc/os-release'))}, kernel {platform.release()}",
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "versions": versions,
    }
