"""Small ONNX models built here with onnx.helper, in an ONNX-Runtime-backend repository.

Their outputs are known in closed form, so a test can tell whether every request got
its own rows back from a dynamic batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper

OPSET = [helper.make_opsetid("", 17)]

# y = 2x + 1 on rows of 4 numbers; rows_in_call reports the size of the ONNX Runtime call.
AFFINE = "affine"
# sum = float(a) + b, neg = -a: several inputs and outputs of different types.
PAIR = "pair"
# value = TABLE[index]; an index outside the table makes ONNX Runtime fail at run time.
PICKER = "picker"
TABLE = [10.0, 20.0, 30.0]
# probabilities = softmax(x) over 3 classes, with labels for the classification extension.
TINY_CLASSIFIER = "tiny_classifier"
TINY_LABELS = ["sand", "shell", "weed"]


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8  # readable by every ONNX Runtime this project supports
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def affine_graph() -> onnx.GraphProto:
    """y = 2x + 1, and rows_in_call: how many rows the ONNX Runtime call that made each row had."""
    return helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["twice"]),
            helper.make_node("Add", ["twice", "one"], ["y"]),
            helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Slice", ["shape", "zero_i", "one_i"], ["n"]),
            helper.make_node("Concat", ["n", "one_i"], ["column"], axis=0),
            helper.make_node("Reshape", ["n", "one_by_one"], ["n_cell"]),
            helper.make_node("Expand", ["n_cell", "column"], ["rows_in_call"]),
        ],
        AFFINE,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4]),
            helper.make_tensor_value_info("rows_in_call", TensorProto.INT64, ["n", 1]),
        ],
        initializer=[
            helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
            helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
            helper.make_tensor("zero_i", TensorProto.INT64, [1], [0]),
            helper.make_tensor("one_i", TensorProto.INT64, [1], [1]),
            helper.make_tensor("one_by_one", TensorProto.INT64, [2], [1, 1]),
        ],
    )


def pair_graph() -> onnx.GraphProto:
    return helper.make_graph(
        [
            helper.make_node("Cast", ["a"], ["a_float"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["a_float", "b"], ["sum"]),
            helper.make_node("Neg", ["a"], ["neg"]),
        ],
        PAIR,
        [
            helper.make_tensor_value_info("a", TensorProto.INT32, ["n", 2]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["n", 2]),
        ],
        [
            helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["n", 2]),
            helper.make_tensor_value_info("neg", TensorProto.INT32, ["n", 2]),
        ],
    )


def picker_graph() -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Gather", ["table", "index"], ["value"], axis=0)],
        PICKER,
        [helper.make_tensor_value_info("index", TensorProto.INT64, ["n", 1])],
        [helper.make_tensor_value_info("value", TensorProto.FLOAT, ["n", 1])],
        initializer=[helper.make_tensor("table", TensorProto.FLOAT, [len(TABLE)], TABLE)],
    )


def tiny_classifier_graph() -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["probabilities"], axis=-1)],
        TINY_CLASSIFIER,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", 3])],
    )


def _tensor(name: str, data_type: str, dims: list[int], labels: bool = False) -> str:
    label = '\n    label_filename: "labels.txt"' if labels else ""
    return f'  {{\n    name: "{name}"\n    data_type: {data_type}\n    dims: {dims}{label}\n  }}'


def _config(name: str, inputs: list[str], outputs: list[str], queue_delay_us: int) -> str:
    separator = ",\n"
    return (
        f'name: "{name}"\nbackend: "onnxruntime"\nmax_batch_size: 64\n'
        f"input [\n{separator.join(inputs)}\n]\noutput [\n{separator.join(outputs)}\n]\n"
        f"dynamic_batching {{\n  max_queue_delay_microseconds: {queue_delay_us}\n}}\n"
        "instance_group [\n  {\n    kind: KIND_CPU\n    count: 1\n  }\n]\n"
        'parameters {\n  key: "aquaflow.task"\n  value: { string_value: "test" }\n}\n'
    )


def affine_config() -> str:
    outputs = [_tensor("y", "TYPE_FP32", [4]), _tensor("rows_in_call", "TYPE_INT64", [1])]
    return _config(AFFINE, [_tensor("x", "TYPE_FP32", [4])], outputs, 20_000)


def write_model(root: Path, name: str, graph: onnx.GraphProto, config: str, labels: list[str] | None = None) -> Path:
    folder = root / name
    _save(graph, folder / "1" / "model.onnx")
    (folder / "config.pbtxt").write_text(config)
    if labels is not None:
        (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    return folder


def write_repository(root: Path) -> Path:
    """The constructed models, configured as the official image's ONNX Runtime backend would serve them."""
    write_model(root, AFFINE, affine_graph(), affine_config())
    write_model(
        root,
        PAIR,
        pair_graph(),
        _config(
            PAIR,
            [_tensor("a", "TYPE_INT32", [2]), _tensor("b", "TYPE_FP32", [2])],
            [_tensor("sum", "TYPE_FP32", [2]), _tensor("neg", "TYPE_INT32", [2])],
            1_000,
        ),
    )
    write_model(
        root,
        PICKER,
        picker_graph(),
        _config(PICKER, [_tensor("index", "TYPE_INT64", [1])], [_tensor("value", "TYPE_FP32", [1])], 100_000),
    )
    write_model(
        root,
        TINY_CLASSIFIER,
        tiny_classifier_graph(),
        _config(
            TINY_CLASSIFIER,
            [_tensor("x", "TYPE_FP32", [3])],
            [_tensor("probabilities", "TYPE_FP32", [3], labels=True)],
            1_000,
        ),
        labels=TINY_LABELS,
    )
    return root


def affine_expected(x: NDArray[Any]) -> NDArray[Any]:
    return 2 * x + 1
