"""A MobileNetV2 (width 1.0, 224x224 RGB): a classifier of the cost iMagine's served models have.

It exists for the benchmark only. Its weights are random (a fixed seed): what it answers
means nothing, what it costs is what a real MobileNetV2 costs, about 0.3 GFLOP and 3.5
million parameters per image. Needs PyTorch (the workspace's ``training`` extra).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

INPUT_SIZE = 224
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
SEED = 0
# (expansion, output channels, repeats, first stride) per stage, as the MobileNetV2 paper's table 2.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int, *, groups: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """Expand (1x1), filter each channel (3x3 depthwise), project back (1x1, linear); residual when shapes agree."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = [] if expansion == 1 else [conv_bn(c_in, hidden, 1, 1)]
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, c_out, 1, 1, relu=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.block(x)
        return x + out if self.residual else out


class MobileNetV2(nn.Module):
    """Images [B, 3, 224, 224] normalised as ImageNet → class probabilities [B, classes]."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, STEM_CHANNELS, 3, 2)]
        channels = STEM_CHANNELS
        for expansion, c_out, repeats, stride in STAGES:
            for i in range(repeats):
                layers.append(InvertedResidual(channels, c_out, stride if i == 0 else 1, expansion))
                channels = c_out
        layers += [conv_bn(channels, LAST_CHANNELS, 1, 1), nn.AdaptiveAvgPool2d(1)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(LAST_CHANNELS, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.head(torch.flatten(self.features(images), 1))
        return torch.softmax(logits, dim=1)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def export_mobilenet(path: Path, classes: int) -> int:
    """Write the ONNX file (dynamic batch axis), checked against PyTorch; returns the parameter count.

    The export and its check are the training code's (``training.export``), as for the shipped models.
    """
    from training.export import export_onnx  # the repository's training code: run from its root, as make does

    torch.manual_seed(SEED)
    model = MobileNetV2(classes).eval()
    example = torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE)
    export_onnx(model, example, path, input_name=INPUT_NAME, output_name=OUTPUT_NAME)
    return parameter_count(model)
