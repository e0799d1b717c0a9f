"""A model repository the wheel's Triton can serve, made from the same ONNX model files.

``model_repository/`` is written for the official Triton image and its ONNX Runtime
backend. The Triton in the nvidia-pytriton wheel has only the Python backend, so each
model's config is rewritten to ``backend: "python"`` (nothing else changes: batching,
instance groups, labels and parameters stay as they are), the ONNX files and label files
are linked, and the generic runner goes next to each ONNX file as ``model.py``.

Triton does not expose an ONNX file's metadata, where Ultralytics exports keep their class
names (``names``, a Python dict literal ``{0: 'person', 1: 'bicycle', ...}``). A model whose
config gives neither ``aquaflow.labels`` nor a label file gets ``aquaflow.labels`` from them
here, in the generated config. For the official image, which serves ``model_repository/``
itself, the same step writes them into the model's own ``config.pbtxt`` once::

    python -m aquaflow_devstack.triton_repository labels model_repository/<model>
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
from pathlib import Path

import onnxruntime
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

CONFIG_FILE = "config.pbtxt"
ONNX_FILE = "model.onnx"
RUNNER = Path(__file__).resolve().parent / "triton_runner" / "model.py"
# Marks a folder as made here, so a later run may wipe it without asking.
MARKER = ".aquaflow-generated"
ONNX_BACKEND = "onnxruntime"
ONNX_PLATFORM = "onnxruntime_onnx"
LABELS_PARAMETER = "aquaflow.labels"
NAMES_METADATA = "names"  # where Ultralytics exports record their classes


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
    _as_python_backend(config, source.name)  # refuses what is not an ONNX Runtime model, before reading files
    onnx_name = config.default_model_filename or ONNX_FILE
    versions = _versions(source, onnx_name)
    if _lacks_labels(config):
        names = onnx_class_names(versions[-1] / onnx_name, source.name)
        if names is not None:
            config.parameters[LABELS_PARAMETER].string_value = ",".join(names)
    config_text = _as_python_backend(config, source.name)
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


def _versions(folder: Path, onnx_name: str) -> list[Path]:
    """The numbered version folders holding the ONNX file, oldest first."""
    found = [d for d in folder.iterdir() if d.is_dir() and d.name.isdigit() and (d / onnx_name).is_file()]
    if not found:
        raise RepositoryError(f"{folder.name}: no version folder holding {onnx_name}")
    return sorted(found, key=lambda d: int(d.name))


def _lacks_labels(config: model_config_pb2.ModelConfig) -> bool:
    return LABELS_PARAMETER not in config.parameters and not any(o.label_filename for o in config.output)


def onnx_class_names(onnx_file: Path, model: str) -> list[str] | None:
    """The class names an ONNX file's ``names`` metadata gives, in class order; None without it."""
    try:
        session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises exception types of its own for unreadable files
        raise RepositoryError(f"{model}: {onnx_file.name} is not an ONNX model ONNX Runtime reads: {error}") from error
    text = session.get_modelmeta().custom_metadata_map.get(NAMES_METADATA)
    return None if text is None else parse_class_names(text, model)


def parse_class_names(text: str, where: str = "names") -> list[str]:
    """``{0: 'person', 1: 'bicycle'}`` (or a list) → the names in class order, checked."""
    try:
        value = ast.literal_eval(text)  # a literal only: nothing in the file is run
    except (ValueError, SyntaxError) as error:
        raise RepositoryError(f"{where}: names metadata is not a Python literal: {text[:80]!r}") from error
    if isinstance(value, dict):
        if sorted(value) != list(range(len(value))):
            raise RepositoryError(f"{where}: names metadata must number the classes 0..{len(value) - 1}")
        names = [value[i] for i in range(len(value))]
    elif isinstance(value, list | tuple):
        names = list(value)
    else:
        raise RepositoryError(f"{where}: names metadata is neither a dict nor a list: {text[:80]!r}")
    # aquaflow.labels is one comma-separated string in a text-format config.
    if not names or not all(isinstance(n, str) and n.strip() and not set(n) & set(',"\\') for n in names):
        raise RepositoryError(f"{where}: class names must be non-empty text without commas or quotes: {names[:10]}")
    return [n.strip() for n in names]


def write_labels(folder: Path) -> list[str] | None:
    """Give a model's own ``config.pbtxt`` the ``aquaflow.labels`` its ONNX metadata names.

    Appended as one more ``parameters`` entry, so the file's comments and layout stay as they
    are. Nothing is written when the config already names its classes or the ONNX file does
    not; the names written are returned.
    """
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise RepositoryError(f"{folder.name}: no {CONFIG_FILE}")
    text = config_path.read_text()
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    if not _lacks_labels(config):
        return None
    onnx_name = config.default_model_filename or ONNX_FILE
    names = onnx_class_names(_versions(folder, onnx_name)[-1] / onnx_name, folder.name)
    if names is None:
        return None
    entry = (
        f"# {LABELS_PARAMETER}: the class names of the ONNX file's {NAMES_METADATA!r} metadata\n"
        f'parameters {{\n  key: "{LABELS_PARAMETER}"\n  value: {{ string_value: "{",".join(names)}" }}\n}}\n'
    )
    config_path.write_text(text + ("" if text.endswith("\n") else "\n") + entry)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aquaflow_devstack.triton_repository",
        description="Write aquaflow.labels into a model's config.pbtxt from its ONNX file's 'names' metadata.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    labels = commands.add_parser("labels", help="for each model folder given")
    labels.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for folder in args.folders:
        try:
            names = write_labels(folder)
        except RepositoryError as error:
            print(f"{folder}: {error}", file=sys.stderr)
            return 1
        done = f"{len(names)} labels written" if names else "left as it is (labels given, or no names metadata)"
        print(f"{folder / CONFIG_FILE}: {done}")
    return 0


def _link(source: Path, target: Path) -> None:
    """A symlink, so the served bytes are the committed bytes; a copy where links are not allowed."""
    try:
        target.symlink_to(source.resolve())
    except OSError:
        shutil.copyfile(source, target)


if __name__ == "__main__":
    sys.exit(main())
