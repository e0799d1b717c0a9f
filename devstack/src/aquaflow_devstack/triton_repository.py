"""A model repository the wheel's Triton can serve, made from the same ONNX model files.

``model_repository/`` is written for the official Triton image and its ONNX Runtime
backend. The Triton in the nvidia-pytriton wheel has only the Python backend, so each
model's config is rewritten to ``backend: "python"`` (nothing else changes: batching,
instance groups, labels and parameters stay as they are), the ONNX files and label files
are linked, and the generic runner goes next to each ONNX file as ``model.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

CONFIG_FILE = "config.pbtxt"
ONNX_FILE = "model.onnx"
RUNNER = Path(__file__).resolve().parent / "triton_runner" / "model.py"
# Marks a folder as made here, so a later run may wipe it without asking.
MARKER = ".aquaflow-generated"
ONNX_BACKEND = "onnxruntime"
ONNX_PLATFORM = "onnxruntime_onnx"


class RepositoryError(ValueError):
    """The source repository holds something this conversion cannot serve."""


def prepare_repository(source: Path, target: Path) -> Path:
    """Write a Python-backend repository for every model in ``source`` into ``target``."""
    models = [folder for folder in sorted(source.iterdir()) if folder.is_dir() and not folder.name.startswith(".")]
    if not models:
        raise RepositoryError(f"no model folders in {source}")
    _reset(target)
    for folder in models:
        _convert(folder, target / folder.name)
    return target


def python_backend_config(onnx_config: str, model: str) -> str:
    """The same config text with the ONNX Runtime backend replaced by the Python backend."""
    return _as_python_backend(text_format.Parse(onnx_config, model_config_pb2.ModelConfig()), model)


def _as_python_backend(config: model_config_pb2.ModelConfig, model: str) -> str:
    if config.backend != ONNX_BACKEND and config.platform != ONNX_PLATFORM:
        served_by = config.backend or config.platform or "nothing"
        raise RepositoryError(f"{model}: not an ONNX Runtime model (backend/platform is {served_by!r})")
    rewritten = model_config_pb2.ModelConfig()
    rewritten.CopyFrom(config)
    rewritten.backend = "python"
    rewritten.ClearField("platform")
    # The runner always finds the ONNX file as model.onnx; the Python backend's own default is model.py.
    rewritten.ClearField("default_model_filename")
    text: str = text_format.MessageToString(rewritten)
    return f"# Generated from model_repository/{model}/config.pbtxt for the Python backend; edit that file.\n{text}"


def _reset(target: Path) -> None:
    if target.exists():
        if any(target.iterdir()) and not (target / MARKER).exists():
            raise RepositoryError(f"{target} is not empty and was not made by prepare_repository; not touching it")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / MARKER).write_text("made by aquaflow_devstack.triton_repository.prepare_repository; safe to delete\n")


def _convert(source: Path, target: Path) -> None:
    config_path = source / CONFIG_FILE
    if not config_path.is_file():
        raise RepositoryError(f"{source.name}: no {CONFIG_FILE} (the Python backend cannot infer a config)")
    config = text_format.Parse(config_path.read_text(), model_config_pb2.ModelConfig())
    config_text = _as_python_backend(config, source.name)
    onnx_name = config.default_model_filename or ONNX_FILE
    versions = [d for d in sorted(source.iterdir()) if d.is_dir() and d.name.isdigit() and (d / onnx_name).is_file()]
    if not versions:
        raise RepositoryError(f"{source.name}: no version folder holding {onnx_name}")
    label_files = sorted({output.label_filename for output in config.output if output.label_filename})
    missing = [name for name in label_files if not (source / name).is_file()]
    if missing:
        raise RepositoryError(f"{source.name}: label files named in {CONFIG_FILE} are missing: {missing}")
    target.mkdir()
    (target / CONFIG_FILE).write_text(config_text)
    for version in versions:
        (target / version.name).mkdir()
        _link(version / onnx_name, target / version.name / ONNX_FILE)
        shutil.copyfile(RUNNER, target / version.name / "model.py")
    for name in label_files:
        _link(source / name, target / name)


def _link(source: Path, target: Path) -> None:
    """A symlink, so the served bytes are the committed bytes; a copy where links are not allowed."""
    try:
        target.symlink_to(source.resolve())
    except OSError:
        shutil.copyfile(source, target)
