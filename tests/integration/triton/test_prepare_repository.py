"""The generated Python-backend repository: same model files, same config but for the backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from aquaflow_devstack.triton import RepositoryError, prepare_repository
from aquaflow_devstack.triton_repository import RUNNER, main, parse_class_names, write_labels
from tests.integration.triton.constructed import AFFINE, TINY_CLASSIFIER, affine_graph, write_model, write_repository
from tests.integration.triton.model_forms import (
    CLASSIFIER,
    CLASSIFIER_NAMES,
    DETECTOR,
    DETECTOR_NAMES,
    GREY_SERVED,
    NHWC_LABELS,
    NHWC_LOGITS,
    write_forms,
)

pytestmark = pytest.mark.integration

PROJECT_REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"


def parsed(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def project_models() -> list[str]:
    return sorted(p.name for p in PROJECT_REPOSITORY.iterdir() if (p / "config.pbtxt").is_file())


def test_project_configs_change_only_in_their_backend(tmp_path: Path) -> None:
    target = prepare_repository(PROJECT_REPOSITORY, tmp_path / "served")
    assert project_models(), "model_repository/ holds no models"
    for name in project_models():
        source, served = parsed(PROJECT_REPOSITORY / name / "config.pbtxt"), parsed(target / name / "config.pbtxt")
        assert served.backend == "python"
        assert not served.platform
        served.backend = source.backend
        assert served == source, name  # batching, instance groups, labels and parameters untouched
        assert source.max_batch_size > 0
        assert served.HasField("dynamic_batching")


def test_model_files_are_the_same_bytes_and_the_runner_sits_beside_them(tmp_path: Path) -> None:
    source = write_repository(tmp_path / "onnx")
    target = prepare_repository(source, tmp_path / "served")
    for name in (AFFINE, TINY_CLASSIFIER):
        assert (target / name / "1" / "model.onnx").read_bytes() == (source / name / "1" / "model.onnx").read_bytes()
        assert (target / name / "1" / "model.py").read_text() == RUNNER.read_text()
    labels = (source / TINY_CLASSIFIER / "labels.txt").read_text()
    assert (target / TINY_CLASSIFIER / "labels.txt").read_text() == labels
    assert not (target / AFFINE / "labels.txt").exists()


def test_platform_and_custom_onnx_file_name_are_understood(tmp_path: Path) -> None:
    config = 'name: "net"\nplatform: "onnxruntime_onnx"\ndefault_model_filename: "net.onnx"\nmax_batch_size: 4\n'
    folder = write_model(tmp_path / "onnx", "net", affine_graph(), config)
    (folder / "1" / "model.onnx").rename(folder / "1" / "net.onnx")
    target = prepare_repository(tmp_path / "onnx", tmp_path / "served")
    served = parsed(target / "net" / "config.pbtxt")
    assert (served.backend, served.platform, served.default_model_filename) == ("python", "", "")
    assert (target / "net" / "1" / "model.onnx").read_bytes() == (folder / "1" / "net.onnx").read_bytes()


@pytest.mark.parametrize(
    ("config", "files", "reason"),
    [
        ('name: "m"\nbackend: "pytorch"\n', ["1/model.onnx"], "not an ONNX Runtime model"),
        ('name: "m"\nbackend: "onnxruntime"\n', [], "no version folder holding model.onnx"),
        (
            'name: "m"\nbackend: "onnxruntime"\noutput [{ name: "p" data_type: TYPE_FP32 dims: [2] '
            'label_filename: "labels.txt" }]\n',
            ["1/model.onnx"],
            "label files named in config.pbtxt are missing: ['labels.txt']",
        ),
        (None, ["1/model.onnx"], "no config.pbtxt"),
        # Without labels the ONNX file's metadata is read for class names: it must be ONNX.
        ('name: "m"\nbackend: "onnxruntime"\n', ["1/model.onnx"], "model.onnx is not an ONNX model ONNX Runtime reads"),
    ],
)
def test_unservable_models_are_refused_with_the_reason(
    tmp_path: Path, config: str | None, files: list[str], reason: str
) -> None:
    folder = tmp_path / "onnx" / "m"
    folder.mkdir(parents=True)
    if config is not None:
        (folder / "config.pbtxt").write_text(config)
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"onnx")
    with pytest.raises(RepositoryError, match=r"^m: ") as refused:
        prepare_repository(tmp_path / "onnx", tmp_path / "served")
    assert reason in str(refused.value)


def test_regenerating_replaces_its_own_output_but_never_a_foreign_folder(tmp_path: Path) -> None:
    source = write_repository(tmp_path / "onnx")
    target = prepare_repository(source, tmp_path / "served")
    (target / "stale_model").mkdir()
    prepare_repository(source, target)
    assert not (target / "stale_model").exists()

    foreign = tmp_path / "someone_elses"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(RepositoryError, match="not made by prepare_repository"):
        prepare_repository(source, foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"


# Ultralytics exports name their classes in the ONNX metadata, which Triton does not expose.


def labels_parameter(config: model_config_pb2.ModelConfig) -> str | None:
    entry = config.parameters.get("aquaflow.labels")
    return entry.string_value if entry is not None else None


def test_class_names_in_onnx_metadata_become_the_labels_of_the_generated_config(tmp_path: Path) -> None:
    source = write_forms(tmp_path / "onnx")
    target = prepare_repository(source, tmp_path / "served")
    assert labels_parameter(parsed(target / DETECTOR / "config.pbtxt")) == ",".join(DETECTOR_NAMES.values())
    assert labels_parameter(parsed(target / CLASSIFIER / "config.pbtxt")) == ",".join(CLASSIFIER_NAMES.values())
    # Labels the config gives, or a label file, are left as they are.
    assert labels_parameter(parsed(target / NHWC_LOGITS / "config.pbtxt")) == ",".join(NHWC_LABELS)
    assert labels_parameter(parsed(target / GREY_SERVED / "config.pbtxt")) is None
    # The source repository is not touched.
    assert labels_parameter(parsed(source / DETECTOR / "config.pbtxt")) is None


def test_the_labels_command_writes_them_into_the_models_own_config_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_forms(tmp_path / "onnx")
    config = source / DETECTOR / "config.pbtxt"
    before = "# the operator's own comment\n" + config.read_text()
    config.write_text(before)

    assert main(["labels", str(source / DETECTOR), str(source / NHWC_LOGITS)]) == 0

    after = config.read_text()
    assert after.startswith(before)  # appended: comments and layout kept
    assert labels_parameter(parsed(config)) == "fish,crab"
    assert "2 labels written" in capsys.readouterr().out
    assert write_labels(source / DETECTOR) is None  # already labelled: nothing more is written
    assert config.read_text() == after
    assert labels_parameter(parsed(source / NHWC_LOGITS / "config.pbtxt")) == ",".join(NHWC_LABELS)


def test_a_model_without_names_metadata_is_left_without_labels(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "onnx", AFFINE, affine_graph(), 'name: "affine"\nbackend: "onnxruntime"\n')
    assert write_labels(folder) is None
    served = prepare_repository(tmp_path / "onnx", tmp_path / "served")
    assert labels_parameter(parsed(served / AFFINE / "config.pbtxt")) is None


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("{0: 'person', 1: 'bicycle', 2: 'traffic light'}", ["person", "bicycle", "traffic light"]),
        ("{1: 'b', 0: 'a'}", ["a", "b"]),
        ("['copepod', 'diatom']", ["copepod", "diatom"]),
    ],
)
def test_names_metadata_is_read_in_class_order(text: str, names: list[str]) -> None:
    assert parse_class_names(text) == names


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("__import__('os').system('true')", "not a Python literal"),
        ("{0: 'a', 2: 'c'}", "number the classes 0..1"),
        ("{0: 'a', 1: 'b,c'}", "without commas"),
        ("{0: 'a', 1: 'say \"hi\"'}", "without commas or quotes"),
        ("{0: 'a', 1: ''}", "non-empty"),
        ("{}", "non-empty"),
        ("'person'", "neither a dict nor a list"),
    ],
)
def test_names_metadata_that_cannot_be_labels_is_refused(text: str, reason: str) -> None:
    with pytest.raises(RepositoryError, match=reason):
        parse_class_names(text)
