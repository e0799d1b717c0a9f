"""The generated Python-backend repository: same model files, same config but for the backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from aquaflow_devstack.triton import RepositoryError, prepare_repository
from aquaflow_devstack.triton_repository import RUNNER
from tests.integration.triton.constructed import AFFINE, TINY_CLASSIFIER, affine_graph, write_model, write_repository

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
