"""Training and held-out evaluation shared by the two image classifiers (plankton, litter tiles)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from training.arrays import Array
from training.export import export_onnx, onnx_session, run_batched
from training.metrics import accuracy, confusion_matrix, per_class_accuracy
from training.nets import SmallClassifier, WithSoftmax
from training.repository import ModelSpec

Sampler = Callable[[np.random.Generator], tuple[Image.Image, int]]
Preprocess = Callable[[Image.Image], Array]


def setup_torch(seed: int) -> None:
    torch.set_num_threads(2)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def generate(sampler: Sampler, preprocess: Preprocess, count: int, seed: int, desc: str) -> tuple[Array, Array]:
    """A fixed data set: `count` generated images through the model's preprocessing, stored as float16."""
    rng = np.random.default_rng(seed)
    first, _ = sampler(rng)
    shape = preprocess(first).shape
    inputs = np.empty((count, *shape), dtype=np.float16)
    labels = np.empty(count, dtype=np.int64)
    for i in tqdm(range(count), desc=desc, unit="img", mininterval=1.0):
        image, label = sampler(rng)
        inputs[i] = preprocess(image)
        labels[i] = label
    return inputs, labels


@dataclass(frozen=True)
class ClassifierRun:
    train_size: int
    test_size: int
    epochs: int
    batch_size: int = 64
    learning_rate: float = 3e-3
    width: int = 24
    seed: int = 0


@dataclass(frozen=True)
class ClassifierResult:
    accuracy: float
    per_class: list[float]
    confusion: Array
    train_seconds: float
    parameters: int


def _augment(batch: torch.Tensor) -> torch.Tensor:
    """Cheap geometric augmentation that keeps the class: flips and 90° turns."""
    if torch.rand(()) < 0.5:
        batch = torch.flip(batch, dims=(3,))
    if torch.rand(()) < 0.5:
        batch = torch.flip(batch, dims=(2,))
    if torch.rand(()) < 0.5:
        batch = torch.rot90(batch, 1, dims=(2, 3))
    return batch


def train_and_export(
    spec: ModelSpec, sampler: Sampler, preprocess: Preprocess, run: ClassifierRun, name: str
) -> ClassifierResult:
    setup_torch(run.seed)
    train_x, train_y = generate(sampler, preprocess, run.train_size, run.seed + 1, f"{name}: generating training set")
    test_x, test_y = generate(sampler, preprocess, run.test_size, run.seed + 1000, f"{name}: generating held-out set")
    num_classes = len(spec.labels)
    model = SmallClassifier(in_channels=train_x.shape[1], num_classes=num_classes, width=run.width)
    optimiser = torch.optim.AdamW(model.parameters(), lr=run.learning_rate, weight_decay=1e-4)
    steps = run.epochs * int(np.ceil(run.train_size / run.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=run.learning_rate, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    order_rng = np.random.default_rng(run.seed + 2)
    started = time.monotonic()
    for epoch in range(run.epochs):
        model.train()
        order = order_rng.permutation(run.train_size)
        progress = tqdm(
            range(0, run.train_size, run.batch_size), desc=f"{name}: epoch {epoch + 1}/{run.epochs}", mininterval=1.0
        )
        seen, correct, total_loss = 0, 0, 0.0
        for start in progress:
            idx = order[start : start + run.batch_size]
            x = _augment(torch.from_numpy(train_x[idx].astype(np.float32)))
            y = torch.from_numpy(train_y[idx])
            logits = model(x)
            loss = loss_fn(logits, y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            seen += len(idx)
            correct += int((logits.argmax(1) == y).sum())
            total_loss += loss.item() * len(idx)
            progress.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
    train_seconds = time.monotonic() - started

    model.eval()
    export_onnx(
        WithSoftmax(model),
        torch.from_numpy(test_x[:2].astype(np.float32)),
        spec.onnx_path,
        input_name="images",
        output_name=spec.output_name,
    )
    probabilities = run_batched(onnx_session(spec.onnx_path), test_x)
    return ClassifierResult(
        accuracy=accuracy(probabilities, test_y),
        per_class=per_class_accuracy(probabilities, test_y, num_classes),
        confusion=confusion_matrix(probabilities, test_y, num_classes),
        train_seconds=train_seconds,
        parameters=sum(p.numel() for p in model.parameters()),
    )


def metrics_lines(result: ClassifierResult, labels: tuple[str, ...], run: ClassifierRun) -> list[str]:
    lines = [
        f"- top-1 accuracy: **{result.accuracy:.4f}** on {run.test_size} held-out generated images "
        f"(seed {run.seed + 1000}; training set seed {run.seed + 1})",
        f"- {run.train_size} training images, {run.epochs} epochs, {result.parameters} parameters, "
        f"trained in {result.train_seconds:.0f} s on 2 CPU threads",
        "",
        "| class | accuracy |",
        "|---|---|",
    ]
    lines += [f"| {label} | {acc:.3f} |" for label, acc in zip(labels, result.per_class, strict=True)]
    lines += ["", "Confusion matrix (rows: true class, columns: predicted, in class order):", "", "```"]
    lines += [" ".join(f"{v:5d}" for v in row) for row in result.confusion]
    lines.append("```")
    return lines


def print_result(name: str, result: ClassifierResult, labels: tuple[str, ...]) -> None:
    print(f"{name}: held-out top-1 accuracy {result.accuracy:.4f}")
    for label, acc in zip(labels, result.per_class, strict=True):
        print(f"  {label:14s} {acc:.3f}")
