"""The benchmark's Triton repository and routing table, written under build/bench at bench time.

Two models: the project's plankton classifier (linked from ``model_repository/``) and a
MobileNetV2 of realistic cost exported here (``mobilenet.py``), with a model card saying
that it exists only for the benchmark. Nothing here is committed, and no routing rule of
``config/routing.yaml`` names the benchmark model: only the table written here does.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from aquaflow_devstack.stack import REPO_ROOT

PLANKTON = "plankton_classifier"
MOBILENET = "bench_mobilenet"
MOBILENET_CLASSES = 20
MOBILENET_LABELS = tuple(f"bench_class_{i:02d}" for i in range(MOBILENET_CLASSES))
TENANT = "bench"
BACKLOG_BUCKET = "bench-backlog"
# Bump when the network or its export changes: a stale build/bench export is then made again.
MOBILENET_REVISION = "mobilenet_v2 width 1.0, 224x224 RGB, 20 classes, random weights seed 0, opset 17, training.export"
STAMP = ".bench-stamp"


class ModelExportUnavailable(RuntimeError):
    """The benchmark model cannot be exported here (PyTorch missing)."""


@dataclass(frozen=True)
class BenchModel:
    name: str
    bucket: str  # uploads here are routed to this model
    summary: str


MODELS: dict[str, BenchModel] = {
    PLANKTON: BenchModel(PLANKTON, "bench-plankton", "the project's plankton classifier, 64x64 grey (tiny)"),
    MOBILENET: BenchModel(MOBILENET, "bench-mobilenet", "MobileNetV2 224x224 RGB, random weights (realistic cost)"),
}


MOBILENET_CONFIG = f"""# The benchmark model (build/bench only; see MODEL.md), written by aquaflow_devstack.bench.
name: "{MOBILENET}"
backend: "onnxruntime"
max_batch_size: 32
input [
  {{
    name: "images"
    data_type: TYPE_FP32
    dims: [ 3, 224, 224 ]
  }}
]
output [
  {{
    name: "probabilities"
    data_type: TYPE_FP32
    dims: [ {MOBILENET_CLASSES} ]
  }}
]
dynamic_batching {{
  preferred_batch_size: [ 8, 16, 32 ]
  max_queue_delay_microseconds: 5000
  default_queue_policy {{
    max_queue_size: 512
  }}
}}
instance_group [
  {{
    kind: KIND_CPU
    count: 1
  }}
]
parameters {{
  key: "aquaflow.task"
  value: {{ string_value: "classification" }}
}}
parameters {{
  key: "aquaflow.color"
  value: {{ string_value: "rgb" }}
}}
parameters {{
  key: "aquaflow.resize"
  value: {{ string_value: "pad_square" }}
}}
parameters {{
  key: "aquaflow.mean"
  value: {{ string_value: "0.485,0.456,0.406" }}
}}
parameters {{
  key: "aquaflow.std"
  value: {{ string_value: "0.229,0.224,0.225" }}
}}
parameters {{
  key: "aquaflow.labels"
  value: {{ string_value: "{",".join(MOBILENET_LABELS)}" }}
}}
"""


def model_card(parameters: int) -> str:
    return f"""# {MOBILENET} (benchmark only)

A MobileNetV2 (width 1.0) classifying 224x224 RGB images into {MOBILENET_CLASSES} placeholder
classes (`{MOBILENET_LABELS[0]}` … `{MOBILENET_LABELS[-1]}`).

- **It exists only for the benchmark** (`make bench`, `python -m aquaflow_devstack.bench`): it
  gives the pipeline a model of the cost iMagine's served classifiers have (about 0.3 GFLOP,
  {parameters:,} parameters per image), next to the tiny plankton classifier.
- **Its weights are random** (PyTorch's initialisation from seed {0}); it was never trained and
  its answers mean nothing. Do not use its results.
- **No routing rule uses it**: `config/routing.yaml` does not name it; only the benchmark's own
  table (`build/bench/routing.yaml`) routes its bucket to it.
- Written at bench time into `build/bench/` (not committed) by
  `aquaflow_devstack.bench.mobilenet`; preprocessing as `config.pbtxt` says (RGB, pad to
  square, ImageNet mean and standard deviation), output probabilities (softmax in the graph).
- Export: ONNX opset 17, dynamic batch axis, checked against PyTorch at batch sizes 1 and 3.
- Revision: {MOBILENET_REVISION}.
"""


def _fingerprint() -> str:
    return hashlib.sha256(f"{MOBILENET_REVISION}\n{MOBILENET_CONFIG}".encode()).hexdigest()


def prepare_models(root: Path, wanted: list[str]) -> Path:
    """``root/models``: a Triton repository (ONNX Runtime configs) with the benchmark models wanted.

    The MobileNetV2 is exported again only when missing or made by another revision.
    """
    models = root / "models"
    models.mkdir(parents=True, exist_ok=True)
    plankton = models / PLANKTON
    if plankton.is_symlink() or plankton.is_file():
        plankton.unlink()
    elif plankton.exists():
        shutil.rmtree(plankton)
    plankton.symlink_to((REPO_ROOT / "model_repository" / PLANKTON).resolve())
    folder = models / MOBILENET
    if MOBILENET not in wanted:
        shutil.rmtree(folder, ignore_errors=True)
        return models
    if (folder / STAMP).is_file() and (folder / STAMP).read_text() == _fingerprint():
        return models
    try:
        from aquaflow_devstack.bench.mobilenet import export_mobilenet  # PyTorch: only when exporting
    except ImportError as error:
        raise ModelExportUnavailable(
            f"{MOBILENET} is exported with PyTorch, which is not installed ({error}): run `make venv` "
            f"(it installs the training extra) or leave it out with --models {PLANKTON}"
        ) from error

    shutil.rmtree(folder, ignore_errors=True)
    parameters = export_mobilenet(folder / "1" / "model.onnx", MOBILENET_CLASSES)
    (folder / "config.pbtxt").write_text(MOBILENET_CONFIG)
    (folder / "MODEL.md").write_text(model_card(parameters))
    (folder / STAMP).write_text(_fingerprint())
    return models


def routing_table(models: list[str], backlog_model: str) -> dict[str, object]:
    """One rule per model (its bucket, the flowcam profile: one particle per image) and the backlog's bucket."""
    rules: list[dict[str, object]] = [
        {
            "name": f"bench-{MODELS[name].bucket.removeprefix('bench-')}",
            "match": {"bucket": MODELS[name].bucket},
            "profile": "flowcam",
            "model": name,
            "sample": {"from": "key", "pattern": "{sample}/**"},
        }
        for name in models
    ]
    rules.append(
        {
            "name": "bench-backlog",
            "match": {"bucket": BACKLOG_BUCKET},
            "profile": "flowcam",
            "model": backlog_model,
            "sample": {"from": "key", "pattern": "{sample}/**"},
        }
    )
    return {"manifest_names": ["sample.json", "sample.tsv"], "rules": rules}


def write_routing_table(root: Path, models: list[str], backlog_model: str) -> Path:
    path = root / "routing.yaml"
    header = "# The benchmark's routing table (written by aquaflow_devstack.bench; not config/routing.yaml).\n"
    path.write_text(header + yaml.safe_dump(routing_table(models, backlog_model), sort_keys=False))
    return path


def buckets(models: list[str]) -> dict[str, str]:
    """Every watched bucket of the benchmark → its tenant."""
    return {**{MODELS[name].bucket: TENANT for name in models}, BACKLOG_BUCKET: TENANT}
