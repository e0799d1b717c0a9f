"""The shipped model folders keep the contract of docs/model-contract.md: config, labels and ONNX agree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

REPOSITORY = Path(__file__).resolve().parents[3] / "model_repository"


class Expected(NamedTuple):
    input: list[int]
    output: str
    task: str
    color: str


EXPECTED = {
    "plankton_classifier": Expected([1, 64, 64], "probabilities", "classification", "gray"),
    "litter_tiles": Expected([3, 64, 64], "probabilities", "classification", "rgb"),
    "fish_detector": Expected([3, 320, 320], "output0", "detection", "rgb"),
}


def _config(name: str) -> str:
    return (REPOSITORY / name / "config.pbtxt").read_text()


def _dims(config: str, tensor: str) -> list[int]:
    match = re.search(rf'name: "{tensor}"\s+data_type: TYPE_FP32\s+dims: \[([^\]]*)\]', config)
    assert match, f"no FP32 tensor {tensor}"
    return [int(v) for v in match.group(1).split(",")]


def _parameters(config: str) -> dict[str, str]:
    return dict(re.findall(r'key: "([^"]+)"\s+value: \{ string_value: "([^"]*)" \}', config))


def _labels(name: str) -> list[str]:
    return (REPOSITORY / name / "labels.txt").read_text().splitlines()


@pytest.mark.parametrize("name", EXPECTED)
def test_config_labels_and_onnx_agree(name: str) -> None:
    expected = EXPECTED[name]
    config = _config(name)
    parameters = _parameters(config)
    labels = _labels(name)
    assert f'name: "{name}"' in config
    assert 'backend: "onnxruntime"' in config
    assert "max_batch_size: 32" in config
    assert "preferred_batch_size: [ 8, 16, 32 ]" in config
    assert "max_queue_delay_microseconds: 5000" in config
    assert "max_queue_size: 512" in config
    assert "kind: KIND_CPU" in config
    assert _dims(config, "images") == expected.input
    assert parameters["aquaflow.task"] == expected.task
    assert parameters["aquaflow.color"] == expected.color
    assert parameters["aquaflow.labels"].split(",") == labels
    assert len(set(labels)) == len(labels)
    for key in ("aquaflow.mean", "aquaflow.std"):
        values = [float(v) for v in parameters[key].split(",")]
        assert len(values) in (1, expected.input[0])
    assert parameters["aquaflow.invert"] in ("true", "false")

    session = ort.InferenceSession(str(REPOSITORY / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    (model_input,) = session.get_inputs()
    (model_output,) = session.get_outputs()
    assert model_input.name == "images"
    assert model_input.type == model_output.type == "tensor(float)"
    assert model_input.shape[1:] == expected.input
    assert model_output.name == expected.output
    assert model_output.shape[1:] == _dims(config, expected.output)
    assert isinstance(model_input.shape[0], str)  # dynamic batch axis
    assert (REPOSITORY / name / "1" / "model.onnx").stat().st_size < 8 * 1024 * 1024
    assert "## Held-out metrics" in (REPOSITORY / name / "MODEL.md").read_text()


@pytest.mark.parametrize("name", EXPECTED)
def test_triton_parses_the_config_as_written(name: str) -> None:
    config = text_format.Parse(_config(name), model_config_pb2.ModelConfig())
    assert config.name == name
    assert config.backend == "onnxruntime"
    assert config.max_batch_size == 32
    assert [tuple(t.dims) for t in config.input] == [tuple(EXPECTED[name].input)]
    assert config.input[0].data_type == model_config_pb2.TYPE_FP32
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 16, 32]
    assert config.dynamic_batching.max_queue_delay_microseconds == 5000
    assert config.dynamic_batching.default_queue_policy.max_queue_size == 512
    assert [(g.kind, g.count) for g in config.instance_group] == [(model_config_pb2.ModelInstanceGroup.KIND_CPU, 1)]
    assert {key: value.string_value for key, value in config.parameters.items()} == _parameters(_config(name))


@pytest.mark.parametrize("name", ["plankton_classifier", "litter_tiles"])
def test_classifiers_output_probabilities_over_their_labels(name: str) -> None:
    config = _config(name)
    assert 'label_filename: "labels.txt"' in config
    assert _dims(config, "probabilities") == [len(_labels(name))]
    session = ort.InferenceSession(str(REPOSITORY / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    batch = np.random.default_rng(0).normal(size=(5, *EXPECTED[name].input)).astype(np.float32)
    (probabilities,) = session.run(None, {"images": batch})
    assert probabilities.shape == (5, len(_labels(name)))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities >= 0).all()


def test_litter_declares_its_tile_size() -> None:
    assert int(_parameters(_config("litter_tiles"))["aquaflow.tile_size"]) > 0


def test_detector_output_follows_the_yolov8_layout() -> None:
    config = _config("fish_detector")
    parameters = _parameters(config)
    labels = _labels("fish_detector")
    assert _dims(config, "output0") == [4 + len(labels), 40 * 40 + 20 * 20 + 10 * 10]
    assert parameters["aquaflow.resize"] == "letterbox"
    assert 0 < float(parameters["aquaflow.score_threshold"]) < 1
    assert 0 < float(parameters["aquaflow.iou_threshold"]) < 1
    session = ort.InferenceSession(
        str(REPOSITORY / "fish_detector" / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (output,) = session.run(None, {"images": np.full((2, 3, 320, 320), 114 / 255, dtype=np.float32)})
    assert output.shape == (2, 4 + len(labels), 2100)
    scores = output[:, 4:]
    assert ((scores >= 0) & (scores <= 1)).all()  # sigmoid scores, no objectness row
    assert (output[:, 2:4] >= 0).all()  # widths and heights
    # The first column is the top-left cell of the stride-8 grid: its box is centred near (4, 4) or spans it.
    cx, cy, w, h = output[0, :4, 0]
    assert cx - w / 2 <= 4 + 1e-3 <= cx + w / 2 + 2e-3
    assert cy - h / 2 <= 4 + 1e-3 <= cy + h / 2 + 2e-3
