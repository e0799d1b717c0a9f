"""Train the fish detector on generated underwater scenes, export it and rewrite its model card.

    python -m training.train_detector            # the full run
    python -m training.train_detector --quick    # a short smoke run with the same outputs

Assignment (anchor-free, FCOS-like with YOLOv8-style quality targets): each ground-truth box goes to
one pyramid level by its size; the cells of that level whose centre lies inside the box and near its
centre are its positives (a cell claimed by two boxes goes to the smaller). Positives regress the
four edge distances (GIoU + L1); the class target of a positive is the IoU its predicted box reaches,
so the score ranks boxes by quality, which is what NMS and mAP reward.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from training import gen_fish_scenes
from training.arrays import Array
from training.classifier_training import setup_torch
from training.export import export_onnx, onnx_session, run_batched
from training.metrics import Detections, decode_yolo, mean_average_precision
from training.nets import (
    DETECTOR_STRIDES,
    DetectorExport,
    TinyDetector,
    anchor_points,
    distances_to_xyxy,
    flatten_levels,
)
from training.preprocess import DETECTOR_SIZE, LETTERBOX_FILL, letterbox
from training.repository import Card, ModelSpec, write_card, write_config

NUM_ANCHORS = sum((DETECTOR_SIZE // s) ** 2 for s in DETECTOR_STRIDES)
SCORE_THRESHOLD = 0.25
IOU_THRESHOLD = 0.45

SPEC = ModelSpec(
    name="fish_detector",
    input_dims=(3, DETECTOR_SIZE, DETECTOR_SIZE),
    output_name="output0",
    output_dims=(4 + len(gen_fish_scenes.CLASSES), NUM_ANCHORS),
    labels=gen_fish_scenes.CLASSES,
    parameters={
        "aquaflow.task": "detection",
        "aquaflow.color": "rgb",
        "aquaflow.resize": "letterbox",
        "aquaflow.invert": "false",
        "aquaflow.mean": "0.0",
        "aquaflow.std": "1.0",
        "aquaflow.labels": ",".join(gen_fish_scenes.CLASSES),
        "aquaflow.score_threshold": str(SCORE_THRESHOLD),
        "aquaflow.iou_threshold": str(IOU_THRESHOLD),
    },
    classification=False,
)

# Level by the box's longest side in input pixels: up to 64 → stride 8, up to 128 → 16, larger → 32.
LEVEL_LIMITS = (64.0, 128.0)
CENTRE_RADIUS = 2.5  # in strides


@dataclass(frozen=True)
class DetectorRun:
    train_scenes: int
    test_scenes: int
    epochs: int
    batch_size: int = 16
    learning_rate: float = 4e-3
    width: int = 12
    seed: int = 0


FULL = DetectorRun(train_scenes=1200, test_scenes=300, epochs=6)
QUICK = DetectorRun(train_scenes=64, test_scenes=32, epochs=1)


@dataclass
class SceneSet:
    images: Array  # [N, 3, S, S] uint8, letterboxed
    boxes: list[Array]  # per scene [n, 4] xyxy in input pixels
    labels: list[Array]  # per scene [n]


def generate_scenes(count: int, seed: int, desc: str) -> SceneSet:
    rng = np.random.default_rng(seed)
    images = np.empty((count, 3, DETECTOR_SIZE, DETECTOR_SIZE), dtype=np.uint8)
    boxes, labels = [], []
    for i in tqdm(range(count), desc=desc, unit="scene", mininterval=1.0):
        scene = gen_fish_scenes.render(rng)
        tensor, geometry = letterbox(scene.image)
        images[i] = np.round(tensor * 255).astype(np.uint8)
        boxes.append(geometry.to_input(scene.boxes))
        labels.append(scene.labels)
    return SceneSet(images, boxes, labels)


def _level_stride(boxes: torch.Tensor) -> torch.Tensor:
    longest = torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    stride = torch.full_like(longest, float(DETECTOR_STRIDES[2]))
    stride[longest <= LEVEL_LIMITS[1]] = float(DETECTOR_STRIDES[1])
    stride[longest <= LEVEL_LIMITS[0]] = float(DETECTOR_STRIDES[0])
    return stride


def assign(boxes: torch.Tensor, points: torch.Tensor, strides: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For one image: index of the assigned box per anchor (−1 for background) → (assigned [A], foreground [A])."""
    anchors = points.shape[0]
    if boxes.shape[0] == 0:
        return torch.full((anchors,), -1, dtype=torch.long), torch.zeros(anchors, dtype=torch.bool)
    px, py = points[:, 0:1], points[:, 1:2]  # [A, 1]
    x1, y1, x2, y2 = (boxes[:, i][None, :] for i in range(4))  # [1, N]
    inside = (px > x1) & (px < x2) & (py > y1) & (py < y2)
    level = strides[:, None] == _level_stride(boxes)[None, :]
    radius = CENTRE_RADIUS * strides[:, None]
    near = ((px - (x1 + x2) / 2).abs() < radius) & ((py - (y1 + y2) / 2).abs() < radius)
    candidate = inside & level & near
    # Every box gets at least the cell nearest its centre on its level, however thin the box.
    centre_distance = (px - (x1 + x2) / 2) ** 2 + (py - (y1 + y2) / 2) ** 2
    nearest = torch.where(level, centre_distance, torch.full_like(centre_distance, float("inf"))).argmin(dim=0)
    candidate[nearest, torch.arange(boxes.shape[0])] = True
    area = ((x2 - x1) * (y2 - y1)).expand(anchors, -1)
    area = torch.where(candidate, area, torch.full_like(area, float("inf")))
    smallest, assigned = area.min(dim=1)
    foreground = torch.isfinite(smallest)
    return torch.where(foreground, assigned, torch.full_like(assigned, -1)), foreground


def giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and generalised IoU of matching xyxy boxes [K, 4]."""
    inter_wh = (torch.minimum(a[:, 2:], b[:, 2:]) - torch.maximum(a[:, :2], b[:, :2])).clamp(min=0)
    inter = inter_wh[:, 0] * inter_wh[:, 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    hull_wh = torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])
    hull = hull_wh[:, 0] * hull_wh[:, 1] + 1e-7
    return iou, iou - (hull - union) / hull


class DetectionLoss(nn.Module):
    points: torch.Tensor
    strides: torch.Tensor

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        points, strides = anchor_points(DETECTOR_SIZE)
        self.register_buffer("points", points)
        self.register_buffer("strides", strides)

    def forward(
        self, levels: list[tuple[torch.Tensor, torch.Tensor]], boxes: list[torch.Tensor], labels: list[torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        points, strides = self.points, self.strides
        distances, logits = flatten_levels(levels)
        predicted = distances_to_xyxy(distances, points, strides)
        cls_target = torch.zeros_like(logits)
        box_losses, l1_losses = [], []
        for i, (gt_boxes, gt_labels) in enumerate(zip(boxes, labels, strict=True)):
            assigned, foreground = assign(gt_boxes, points, strides)
            if not foreground.any():
                continue
            target = gt_boxes[assigned[foreground]]
            pred = predicted[i, foreground]
            iou, generalised = giou(pred, target)
            box_losses.append(1.0 - generalised)
            s = strides[foreground][:, None]
            p = points[foreground]
            target_distances = torch.cat((p - target[:, :2], target[:, 2:] - p), dim=1) / s
            l1_losses.append((distances[i, foreground] - target_distances).abs().mean(dim=1))
            cls_target[i, foreground, gt_labels[assigned[foreground]]] = iou.detach().clamp(min=0.05)
        normaliser = max(float(cls_target.sum()), 1.0)
        cls_loss = nn.functional.binary_cross_entropy_with_logits(logits, cls_target, reduction="sum") / normaliser
        if box_losses:
            box_loss = torch.cat(box_losses).mean()
            l1_loss = torch.cat(l1_losses).mean()
        else:
            box_loss = l1_loss = logits.sum() * 0.0
        total = cls_loss + 2.5 * box_loss + 0.25 * l1_loss
        return total, {"cls": cls_loss.item(), "box": box_loss.item(), "l1": l1_loss.item()}


def _flip(images: torch.Tensor, boxes: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Horizontal flip of the batch (fish swim both ways; letterbox bars stay symmetric)."""
    flipped = [torch.stack((DETECTOR_SIZE - b[:, 2], b[:, 1], DETECTOR_SIZE - b[:, 0], b[:, 3]), dim=1) for b in boxes]
    return torch.flip(images, dims=(3,)), flipped


@dataclass(frozen=True)
class DetectorResult:
    map50: float
    per_class_ap: list[float]
    train_seconds: float
    parameters: int
    objects: int


def evaluate(session_output: Array, test: SceneSet) -> tuple[float, list[float]]:
    predictions: list[Detections] = [
        decode_yolo(out, score_threshold=0.001, iou_threshold=IOU_THRESHOLD) for out in session_output
    ]
    truths = list(zip(test.boxes, test.labels, strict=True))
    return mean_average_precision(predictions, truths, len(gen_fish_scenes.CLASSES), iou_threshold=0.5)


def train_and_export(run: DetectorRun) -> DetectorResult:
    setup_torch(run.seed)
    train = generate_scenes(run.train_scenes, run.seed + 1, "fish_detector: generating training scenes")
    test = generate_scenes(run.test_scenes, run.seed + 1000, "fish_detector: generating held-out scenes")
    model = TinyDetector(num_classes=len(gen_fish_scenes.CLASSES), width=run.width)
    loss_fn = DetectionLoss(len(gen_fish_scenes.CLASSES))
    optimiser = torch.optim.AdamW(model.parameters(), lr=run.learning_rate, weight_decay=5e-4)
    steps = run.epochs * int(np.ceil(run.train_scenes / run.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=run.learning_rate, total_steps=steps, pct_start=0.15
    )
    order_rng = np.random.default_rng(run.seed + 2)
    started = time.monotonic()
    for epoch in range(run.epochs):
        model.train()
        order = order_rng.permutation(run.train_scenes)
        progress = tqdm(
            range(0, run.train_scenes, run.batch_size),
            desc=f"fish_detector: epoch {epoch + 1}/{run.epochs}",
            mininterval=1.0,
        )
        for start in progress:
            idx = order[start : start + run.batch_size]
            images = torch.from_numpy(train.images[idx].astype(np.float32) / 255.0)
            boxes = [torch.from_numpy(train.boxes[i]) for i in idx]
            labels = [torch.from_numpy(train.labels[i]) for i in idx]
            if order_rng.random() < 0.5:
                images, boxes = _flip(images, boxes)
            loss, parts = loss_fn(model(images), boxes, labels)
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimiser.step()
            schedule.step()
            progress.set_postfix({k: f"{v:.3f}" for k, v in parts.items()})
    train_seconds = time.monotonic() - started

    model.eval()
    exported = DetectorExport(model, DETECTOR_SIZE)
    example = torch.full((2, 3, DETECTOR_SIZE, DETECTOR_SIZE), LETTERBOX_FILL / 255.0)
    example[0] = torch.from_numpy(test.images[0].astype(np.float32) / 255.0)
    export_onnx(exported, example, SPEC.onnx_path, input_name="images", output_name=SPEC.output_name)
    outputs = run_batched(onnx_session(SPEC.onnx_path), test.images.astype(np.float32) / 255.0)
    map50, per_class = evaluate(outputs, test)
    return DetectorResult(
        map50=map50,
        per_class_ap=per_class,
        train_seconds=train_seconds,
        parameters=sum(p.numel() for p in model.parameters()),
        objects=sum(len(b) for b in test.boxes),
    )


def card(run: DetectorRun, result: DetectorResult) -> Card:
    metrics = [
        f"- mAP@0.5: **{result.map50:.4f}** on {run.test_scenes} held-out generated scenes with {result.objects} "
        f"fish (seed {run.seed + 1000}; training scenes seed {run.seed + 1})",
        "- evaluation: `output0` decoded with score > 0.001, per-class NMS at IoU "
        f"{IOU_THRESHOLD}, at most 300 detections per image; per-class AP with all-point interpolation "
        "(`training/metrics.py`)",
        f"- {run.train_scenes} training scenes, {run.epochs} epochs, {result.parameters} parameters, trained in "
        f"{result.train_seconds:.0f} s on 2 CPU threads",
        "",
        "| class | AP@0.5 |",
        "|---|---|",
    ]
    metrics += [f"| {label} | {ap:.3f} |" for label, ap in zip(SPEC.labels, result.per_class_ap, strict=True)]
    return Card(
        title="fish_detector",
        task="Detects fish in underwater observatory camera frames and tells three species apart, for counts "
        "per species. Single-stage, anchor-free; output in the Ultralytics YOLOv8 layout so any YOLOv8 "
        "decoder works: `output0` [4 + C, 2100] per image, rows 0-3 box centre x, centre y, width, height in "
        "input pixels, then one sigmoid score per class (no objectness); columns are the cells of the "
        "stride 8, 16 and 32 grids (40x40, 20x20, 10x10), row-major, level by level. Decode: score = max "
        f"class score, keep > `aquaflow.score_threshold` ({SCORE_THRESHOLD}), NMS at `aquaflow.iou_threshold` "
        f"({IOU_THRESHOLD}), then undo the letterbox.",
        inputs=f"`images` FP32 [3, {DETECTOR_SIZE}, {DETECTOR_SIZE}] (batch implicit, max 32), RGB. Letterbox: "
        f"scale by min({DETECTOR_SIZE}/w, {DETECTOR_SIZE}/h) (bilinear), centre on a {DETECTOR_SIZE}x"
        f"{DETECTOR_SIZE} canvas of grey {LETTERBOX_FILL}, scale to 0..1 (mean 0, std 1, no inversion). "
        "Reference implementation: `training/preprocess.py::letterbox`.",
        classes="0. `damselfish`: small dark brown-black fish with a deep body and forked tail (Chromis-like)\n"
        "1. `seabream`: silver deep-bodied fish with dark vertical bars and a black spot at the tail root "
        "(Diplodus-like)\n"
        "2. `sardine`: slender silver fish with a blue-green back, often in schools",
        training_data="Procedurally generated frames (`training/gen_fish_scenes.py`): camera-like aspect "
        "ratios (4:3, 16:9, 1:1, 3:4), long side 320-480 px; blue-green water darkening with depth, "
        "low-frequency texture, light shafts, sandy or rocky seabed, marine snow, blur and noise; 0-8 fish "
        "per frame (10% empty, 30% single-species schools), sizes 6-45% of the frame, distant fish smaller "
        "and fainter (haze towards the water colour), nearer fish occluding farther ones, slight tilts, both "
        "swimming directions. Training and held-out scenes come from different seeds.",
        command="python -m training.train_detector   # or: python -m training.train_all",
        metrics=metrics,
    )


def main(quick: bool = False) -> DetectorResult:
    run = QUICK if quick else FULL
    write_config(SPEC)
    result = train_and_export(run)
    write_card(SPEC, card(run, result))
    print(f"fish_detector: held-out mAP@0.5 {result.map50:.4f}")
    for label, ap in zip(SPEC.labels, result.per_class_ap, strict=True):
        print(f"  {label:12s} AP@0.5 {ap:.3f}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run (not the published metrics)")
    main(parser.parse_args().quick)
