"""bench.png: throughput by setting (log scale) and CPU per image by process (stacked), drawn with Pillow.

``chart_data`` picks the figures from the report (pure); ``draw`` only draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from aquaflow_devstack.bench.report import BACKING_PARTS, SERVICES, cpu_by_part

PARTS = (*SERVICES, *BACKING_PARTS)
COLOURS = {
    "raw Triton": "#4363d8",
    "ONNX Runtime": "#42d4f4",
    "aquaflow": "#3cb44b",
    "OSCAR, 1 at a time": "#e6194b",
    "OSCAR, 2 in parallel": "#f58231",
    "OSCAR exposed": "#911eb4",
    "ingest": "#3cb44b",
    "router": "#bfef45",
    "inference": "#4363d8",
    "results": "#42d4f4",
    "rabbitmq": "#f58231",
    "s3": "#ffe119",
    "mongodb": "#e6194b",
    "triton": "#911eb4",
}
OSCAR_MODES = {
    "process per file, one at a time": "OSCAR, 1 at a time",
    "process per file, 2 in parallel": "OSCAR, 2 in parallel",
    "exposed service (deepaas-run), one request per file": "OSCAR exposed",
}


@dataclass(frozen=True)
class Bar:
    group: str
    label: str
    value: float


@dataclass(frozen=True)
class StackedBar:
    group: str
    parts: tuple[tuple[str, float], ...]

    @property
    def total(self) -> float:
        return sum(v for _, v in self.parts)


@dataclass(frozen=True)
class ChartData:
    throughput: tuple[Bar, ...]
    cpu: tuple[StackedBar, ...]


def chart_data(report: dict[str, Any]) -> ChartData:
    bars: list[Bar] = []
    stacks: list[StackedBar] = []
    for name, model in report["models"].items():
        figures = [
            ("raw Triton", (model.get("raw_triton_best") or {}).get("images_per_second")),
            ("ONNX Runtime", (model.get("onnxruntime_best") or {}).get("images_per_second")),
            ("aquaflow", model["end_to_end"].get("images_per_second")),
        ]
        runs = model.get("oscar", {}).get("runs", [])
        figures += [(OSCAR_MODES.get(r["mode"], r["mode"]), r["images_per_second"]) for r in runs]
        bars += [Bar(name, label, float(value)) for label, value in figures if value]
        cost = model["end_to_end"].get("burst_cost") or {}
        parts = cpu_by_part(cost.get("cpu_ms_per_item") or {})
        stacks.append(StackedBar(name, tuple((p, parts[p]) for p in PARTS if parts.get(p))))
    return ChartData(tuple(bars), tuple(stacks))


WIDTH = 1100
ROW = 22
LEFT = 330
RIGHT = 60


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def draw(data: ChartData, title: str, path: Path) -> Path:
    groups = list(dict.fromkeys([b.group for b in data.throughput] + [s.group for s in data.cpu]))
    height = 90 + len(data.throughput) * ROW + len(groups) * 30 + 60 + len(data.cpu) * 34 + 50
    image = Image.new("RGB", (WIDTH, height), "white")
    pen = ImageDraw.Draw(image)
    pen.text((20, 12), title, fill="black", font=_font(18))
    y = _throughput(pen, data.throughput, groups, 50)
    _cpu(pen, data.cpu, y + 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _throughput(pen: ImageDraw.ImageDraw, bars: tuple[Bar, ...], groups: list[str], top: int) -> int:
    pen.text((20, top), "Throughput, images per second (log scale)", fill="black", font=_font(15))
    y = top + 28
    if not bars:
        return y
    low = 10 ** math.floor(math.log10(min(b.value for b in bars)))
    high = 10 ** math.ceil(math.log10(max(b.value for b in bars) * 1.01))
    span = WIDTH - LEFT - RIGHT

    def x_of(value: float) -> float:
        return LEFT + span * (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))

    bottom = y + len(groups) * 30 + len(bars) * ROW
    decade = low
    while decade <= high:  # the grid first, so bars and labels lie on top of it
        x = x_of(decade)
        pen.line([x, y, x, bottom], fill="#dddddd")
        pen.text((x - 10, bottom + 2), f"{decade:g}", fill="#555555", font=_font(11))
        decade *= 10
    for group in groups:
        pen.text((20, y + 4), group, fill="black", font=_font(14))
        y += 24
        for bar in (b for b in bars if b.group == group):
            pen.text((40, y + 3), bar.label, fill="#333333", font=_font(13))
            pen.rectangle([LEFT, y + 2, x_of(bar.value), y + ROW - 4], fill=COLOURS.get(bar.label, "#888888"))
            pen.text((x_of(bar.value) + 4, y + 3), f"{bar.value:,.3g}", fill="black", font=_font(12))
            y += ROW
        y += 6
    return bottom + 20


def _short(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _cpu(pen: ImageDraw.ImageDraw, stacks: tuple[StackedBar, ...], top: int) -> None:
    pen.text((20, top), "CPU milliseconds per image at full load, by process", fill="black", font=_font(15))
    y = top + 28
    most = max((s.total for s in stacks), default=0.0)
    if most <= 0:
        return
    span = WIDTH - LEFT - RIGHT
    for stack in stacks:
        pen.text((20, y + 6), stack.group, fill="black", font=_font(14))
        x = float(LEFT)
        for part, value in stack.parts:
            width = span * value / most
            pen.rectangle([x, y, x + width, y + 26], fill=COLOURS.get(part, "#888888"), outline="white")
            if width > 34:
                pen.text((x + 3, y + 7), _short(value), fill="black", font=_font(11))
            x += width
        pen.text((x + 4, y + 7), f"{stack.total:.3g} ms", fill="black", font=_font(12))
        y += 34
    x = LEFT
    for part in PARTS:
        pen.rectangle([x, y + 10, x + 14, y + 24], fill=COLOURS[part])
        pen.text((x + 18, y + 10), part, fill="black", font=_font(12))
        x += 90
