"""The three networks: a small CNN classifier and a tiny anchor-free detector in YOLOv8's output layout."""

from __future__ import annotations

import math

import torch
from torch import nn

DETECTOR_STRIDES = (8, 16, 32)


def conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.SiLU(inplace=True),
    )


class SmallClassifier(nn.Module):
    """Conv stages with pooling (64 → 32 → 16 → 8), global average pooling, one linear layer: logits out."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 24) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_block(in_channels, w),
            nn.MaxPool2d(2),  # 32
            conv_block(w, 2 * w),
            conv_block(2 * w, 2 * w),
            nn.MaxPool2d(2),  # 16
            conv_block(2 * w, 4 * w),
            conv_block(4 * w, 4 * w),
            nn.MaxPool2d(2),  # 8
            conv_block(4 * w, 8 * w),
            nn.AdaptiveAvgPool2d(1),
        )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(8 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.dropout(torch.flatten(self.features(x), 1)))
        return logits


class WithSoftmax(nn.Module):
    """What gets exported: the contract says probabilities, softmax inside the model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(images), dim=1)


class TinyDetector(nn.Module):
    """Anchor-free single-stage detector.

    A strided conv backbone gives feature maps at strides 8, 16 and 32; a small top-down path mixes
    coarse context into the finer maps; one decoupled head per level predicts, for each grid cell,
    the distances from the cell centre to the box's left, top, right and bottom edges (in strides)
    and one logit per class. `forward` returns raw per-level maps for training; `decode` turns them
    into YOLOv8's `output0` layout [B, 4 + C, 2100] with boxes in input pixels and sigmoid scores.
    """

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        w = width
        self.num_classes = num_classes
        self.stem = nn.Sequential(conv_block(3, w, 2), conv_block(w, 2 * w, 2), conv_block(2 * w, 2 * w))  # /4
        self.stage3 = nn.Sequential(conv_block(2 * w, 4 * w, 2), conv_block(4 * w, 4 * w))  # /8
        self.stage4 = nn.Sequential(conv_block(4 * w, 6 * w, 2), conv_block(6 * w, 6 * w))  # /16
        self.stage5 = nn.Sequential(conv_block(6 * w, 8 * w, 2), conv_block(8 * w, 8 * w))  # /32
        self.lateral5 = nn.Conv2d(8 * w, 4 * w, 1)
        self.lateral4 = nn.Conv2d(6 * w, 4 * w, 1)
        self.lateral3 = nn.Conv2d(4 * w, 4 * w, 1)
        self.smooth = nn.ModuleList(conv_block(4 * w, 4 * w) for _ in DETECTOR_STRIDES)
        self.box_heads = nn.ModuleList(
            nn.Sequential(conv_block(4 * w, 4 * w), nn.Conv2d(4 * w, 4, 1)) for _ in DETECTOR_STRIDES
        )
        cls_outputs = [nn.Conv2d(4 * w, num_classes, 1) for _ in DETECTOR_STRIDES]
        for final in cls_outputs:
            assert final.bias is not None
            nn.init.constant_(final.bias, -math.log((1 - 0.01) / 0.01))  # start every score near 0.01
        self.cls_heads = nn.ModuleList(nn.Sequential(conv_block(4 * w, 4 * w), final) for final in cls_outputs)

    def forward(self, images: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per level (stride 8, 16, 32): box distances [B, 4, H, W] in strides (≥ 0) and class logits [B, C, H, W]."""
        c3 = self.stage3(self.stem(images))
        c4 = self.stage4(c3)
        c5 = self.stage5(c4)
        p5 = self.lateral5(c5)
        p4 = self.lateral4(c4) + nn.functional.interpolate(p5, scale_factor=2.0, mode="nearest")
        p3 = self.lateral3(c3) + nn.functional.interpolate(p4, scale_factor=2.0, mode="nearest")
        out = []
        for level, feature in enumerate((p3, p4, p5)):
            f = self.smooth[level](feature)
            distances = nn.functional.softplus(self.box_heads[level](f))
            out.append((distances, self.cls_heads[level](f)))
        return out


def anchor_points(size: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres [A, 2] in input pixels and each one's stride [A], level by level, row-major (as YOLOv8)."""
    points, strides = [], []
    for stride in DETECTOR_STRIDES:
        cells = size // stride
        ys, xs = torch.meshgrid(torch.arange(cells, device=device), torch.arange(cells, device=device), indexing="ij")
        grid = torch.stack((xs.reshape(-1), ys.reshape(-1)), dim=1).float()
        points.append((grid + 0.5) * stride)
        strides.append(torch.full((cells * cells,), float(stride), device=device))
    return torch.cat(points), torch.cat(strides)


def flatten_levels(levels: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-level maps → distances [B, A, 4] (in strides) and logits [B, A, C]."""
    distances = torch.cat([d.flatten(2) for d, _ in levels], dim=2).transpose(1, 2)
    logits = torch.cat([c.flatten(2) for _, c in levels], dim=2).transpose(1, 2)
    return distances, logits


def distances_to_xyxy(distances: torch.Tensor, points: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """[B, A, 4] left/top/right/bottom in strides → [B, A, 4] x1, y1, x2, y2 in pixels."""
    scaled = distances * strides[None, :, None]
    x1y1 = points[None] - scaled[..., :2]
    x2y2 = points[None] + scaled[..., 2:]
    return torch.cat((x1y1, x2y2), dim=-1)


class DetectorExport(nn.Module):
    """What gets exported: images [B, 3, 320, 320] → output0 [B, 4 + C, 2100] (cx, cy, w, h, class scores)."""

    points: torch.Tensor
    strides: torch.Tensor

    def __init__(self, model: TinyDetector, size: int) -> None:
        super().__init__()
        self.model = model
        points, strides = anchor_points(size)
        self.register_buffer("points", points)
        self.register_buffer("strides", strides)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        distances, logits = flatten_levels(self.model(images))
        xyxy = distances_to_xyxy(distances, self.points, self.strides)
        centre = (xyxy[..., :2] + xyxy[..., 2:]) / 2
        size = xyxy[..., 2:] - xyxy[..., :2]
        return torch.cat((centre, size, torch.sigmoid(logits)), dim=-1).transpose(1, 2)
