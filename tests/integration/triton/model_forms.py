"""Small ONNX models in the forms real exports come in, each with an answer known in closed form.

Every model reads its input in a way that makes a wrong layout, colour order or
normalisation change the answer: the tests send images through the worker's preprocessing
and Triton, and compare with what the model must say.

| model | form |
|---|---|
| ``nhwc_logits`` | NHWC RGB, ``imagenet`` preset, logits out, labels in ``aquaflow.labels`` |
| ``grey_served_labels`` | NCHW grey, ``minus_one_one`` preset, probabilities, labels only in ``labels.txt`` |
| ``bgr_raw`` | NCHW BGR, ``aquaflow.scale: 1`` with mean and std, logits |
| ``ultralytics_detector`` | Ultralytics export: fixed batch of 1, YOLOv8 output, class names only in ONNX metadata |
| ``ultralytics_classifier`` | Ultralytics classify export: fixed batch of 1, softmax applied, names in metadata |
| ``versioned`` | two versions of one model, each with its own answer |
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]

NHWC_LOGITS = "nhwc_logits"
NHWC_LABELS = ("red", "green", "blue")
GREY_SERVED = "grey_served_labels"
GREY_LABELS = ("light", "dark", "neither")
BGR_RAW = "bgr_raw"
BGR_LABELS = ("blue", "green", "red")  # in the model's channel order
BGR_STD = 64.0
DETECTOR = "ultralytics_detector"
DETECTOR_NAMES = {0: "fish", 1: "crab"}
DETECTOR_SIZE = 64
ANCHORS = 84  # 8² + 4² + 2²: strides 8, 16, 32 on a 64-pixel input
CLASSIFIER = "ultralytics_classifier"
CLASSIFIER_NAMES = {0: "sand", 1: "shell", 2: "weed"}
VERSIONED = "versioned"
VERSIONED_LABELS = ("old", "new")
VERSION_ANSWERS = {"1": (0.9, 0.1), "2": (0.2, 0.8)}

# (anchor, class, score, centre x, centre y, width, height) in input pixels: what the detector always finds.
PLANTED = [(3, 0, 0.9, 20.0, 30.0, 10.0, 8.0), (10, 1, 0.8, 40.0, 32.0, 16.0, 12.0)]


def _save(graph: onnx.GraphProto, path: Path, metadata: dict[str, str] | None = None) -> None:
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _value(name: str, dims: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _axes(name: str, axes: list[int]) -> onnx.TensorProto:
    return helper.make_tensor(name, TensorProto.INT64, [len(axes)], axes)


def channel_means_graph(
    name: str, input_dims: list[int | str], axes: list[int], *, softmax: bool, tensors: tuple[str, str] = ("x", "y")
) -> onnx.GraphProto:
    """output[n, c] = the mean of channel c of input n (softmax of it, or as logits)."""
    x, y = tensors
    nodes = [helper.make_node("ReduceMean", [x], ["means" if softmax else y], axes=axes, keepdims=0)]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["means"], [y], axis=-1))
    outputs = [_value(y, [input_dims[0], 3])]
    return helper.make_graph(nodes, name, [_value(x, input_dims)], outputs)


def grey_graph() -> onnx.GraphProto:
    """m = mean of the image (−1..1): probabilities = softmax([m, −m, 0])."""
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["mean", "last"], ["m"]),
        helper.make_node("Neg", ["m"], ["minus_m"]),
        helper.make_node("Sub", ["m", "m"], ["zero"]),
        helper.make_node("Concat", ["m", "minus_m", "zero"], ["logits"], axis=1),
        helper.make_node("Softmax", ["logits"], ["y"], axis=-1),
    ]
    return helper.make_graph(
        nodes,
        GREY_SERVED,
        [_value("x", ["n", 1, 8, 8])],
        [_value("y", ["n", 3])],
        [_axes("last", [1])],
    )


def planted_output() -> NDArray[np.float32]:
    output = np.zeros((4 + len(DETECTOR_NAMES), ANCHORS), dtype=np.float32)
    for anchor, cls, score, cx, cy, w, h in PLANTED:
        output[:4, anchor] = (cx, cy, w, h)
        output[4 + cls, anchor] = score
    return output


def constant_graph(
    name: str, input_dims: list[int | str], answer: NDArray[np.float32], tensors: tuple[str, str]
) -> onnx.GraphProto:
    """The same answer for every input, which still flows through the graph (its mean times zero)."""
    x, output = tensors
    nodes = [
        helper.make_node("ReduceMean", [x], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Reshape", ["nothing", "per_row"], ["per_row_zero"]),
        helper.make_node("Add", ["per_row_zero", "answer"], [output]),
    ]
    rank = answer.ndim
    return helper.make_graph(
        nodes,
        name,
        [_value(x, input_dims)],
        [_value(output, [input_dims[0], *answer.shape])],
        [
            numpy_helper.from_array(np.zeros((), np.float32), name="zero"),
            numpy_helper.from_array(np.array([-1] + [1] * rank, np.int64), name="per_row"),
            numpy_helper.from_array(answer, name="answer"),
        ],
    )


def _parameters(**params: str) -> str:
    return "".join(
        f'parameters {{\n  key: "aquaflow.{key}"\n  value: {{ string_value: "{value}" }}\n}}\n'
        for key, value in params.items()
    )


def _config(
    name: str,
    input_dims: list[int],
    output_dims: list[int],
    *,
    batch: int = 8,
    tensors: tuple[str, str] = ("x", "y"),
    label_file: bool = False,
    extra: str = "",
    **params: str,
) -> str:
    label = '\n    label_filename: "labels.txt"' if label_file else ""
    return (
        f'name: "{name}"\nbackend: "onnxruntime"\nmax_batch_size: {batch}\n{extra}'
        f'input [\n  {{\n    name: "{tensors[0]}"\n    data_type: TYPE_FP32\n    dims: {input_dims}\n  }}\n]\n'
        f'output [\n  {{\n    name: "{tensors[1]}"\n    data_type: TYPE_FP32\n    dims: {output_dims}{label}\n  }}\n]\n'
        + _parameters(**params)
    )


def _folder(root: Path, name: str, config: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.pbtxt").write_text(config)
    return folder


def ultralytics_metadata(names: dict[int, str], task: str, size: int) -> dict[str, str]:
    """The metadata_props an Ultralytics export writes (values are Python literals as text)."""
    return {
        "description": f"Ultralytics YOLOv8n-{task} model",
        "author": "Ultralytics",
        "stride": "32",
        "task": task,
        "batch": "1",
        "imgsz": f"[{size}, {size}]",
        "names": repr(names),
    }


def write_forms(root: Path) -> Path:
    """The repository of form models, as the official image's ONNX Runtime backend would serve it."""
    folder = _folder(
        root,
        NHWC_LOGITS,
        _config(
            NHWC_LOGITS,
            [8, 8, 3],
            [3],
            task="classification",
            labels=",".join(NHWC_LABELS),
            normalize="imagenet",
            output="logits",
        ),
    )
    _save(channel_means_graph(NHWC_LOGITS, ["n", 8, 8, 3], [1, 2], softmax=False), folder / "1" / "model.onnx")

    folder = _folder(
        root,
        GREY_SERVED,
        _config(GREY_SERVED, [1, 8, 8], [3], label_file=True, task="classification", normalize="minus_one_one"),
    )
    (folder / "labels.txt").write_text("\n".join(GREY_LABELS) + "\n")
    _save(grey_graph(), folder / "1" / "model.onnx")

    folder = _folder(
        root,
        BGR_RAW,
        _config(
            BGR_RAW,
            [3, 8, 8],
            [3],
            task="classification",
            labels=",".join(BGR_LABELS),
            color="bgr",
            scale="1",
            mean="0",
            std=str(BGR_STD),
            output="logits",
        ),
    )
    _save(channel_means_graph(BGR_RAW, ["n", 3, 8, 8], [2, 3], softmax=False), folder / "1" / "model.onnx")

    folder = _folder(
        root,
        DETECTOR,
        _config(
            DETECTOR,
            [1, 3, DETECTOR_SIZE, DETECTOR_SIZE],
            [1, 4 + len(DETECTOR_NAMES), ANCHORS],
            batch=0,
            tensors=("images", "output0"),
            task="detection",
            normalize="unit",
        ),
    )
    _save(
        constant_graph(DETECTOR, [1, 3, DETECTOR_SIZE, DETECTOR_SIZE], planted_output(), ("images", "output0")),
        folder / "1" / "model.onnx",
        ultralytics_metadata(DETECTOR_NAMES, "detect", DETECTOR_SIZE),
    )

    folder = _folder(
        root,
        CLASSIFIER,
        _config(CLASSIFIER, [1, 3, 16, 16], [1, 3], batch=0, tensors=("images", "output0"), task="classification"),
    )
    graph = channel_means_graph(CLASSIFIER, [1, 3, 16, 16], [2, 3], softmax=True, tensors=("images", "output0"))
    _save(graph, folder / "1" / "model.onnx", ultralytics_metadata(CLASSIFIER_NAMES, "classify", 16))

    folder = _folder(
        root,
        VERSIONED,
        _config(
            VERSIONED,
            [3, 4, 4],
            [2],
            extra="version_policy: { all {} }\n",
            task="classification",
            labels=",".join(VERSIONED_LABELS),
        ),
    )
    for version, answer in VERSION_ANSWERS.items():
        graph = constant_graph(VERSIONED, ["n", 3, 4, 4], np.asarray(answer, np.float32), ("x", "y"))
        _save(graph, folder / version / "model.onnx")
    return root
