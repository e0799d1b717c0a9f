"""Small drawing helpers shared by the image generators."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
from PIL import Image

from training.arrays import Array

Point = tuple[float, float]


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> Array:
    """Low-frequency noise in 0..1: a coarse random grid upsampled bicubically."""
    coarse = rng.random((max(2, cells), max(2, cells))).astype(np.float32)
    image = Image.fromarray(coarse, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    field = np.asarray(image, dtype=np.float32)
    low, high = float(field.min()), float(field.max())
    return (field - low) / max(high - low, 1e-6)


def rotate_points(points: list[Point], centre: Point, angle: float) -> list[Point]:
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    cx, cy = centre
    return [(cx + (x - cx) * cos_a - (y - cy) * sin_a, cy + (x - cx) * sin_a + (y - cy) * cos_a) for x, y in points]


def ellipse_points(centre: Point, rx: float, ry: float, count: int = 32, start: float = 0.0) -> list[Point]:
    cx, cy = centre
    return [
        (cx + rx * math.cos(start + 2 * math.pi * i / count), cy + ry * math.sin(start + 2 * math.pi * i / count))
        for i in range(count)
    ]


def wobbly_polygon(rng: np.random.Generator, centre: Point, radius: float, count: int, wobble: float) -> list[Point]:
    """A closed irregular blob: radius varies by ±wobble around the centre."""
    cx, cy = centre
    angles = np.sort(rng.uniform(0, 2 * math.pi, count))
    radii = radius * (1 + rng.uniform(-wobble, wobble, count))
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)]


def bezier(points: list[Point], steps: int = 24) -> list[Point]:
    """A Bézier curve through control points (de Casteljau), as a polyline."""
    out: list[Point] = []
    for i in range(steps + 1):
        t = i / steps
        layer = list(points)
        while len(layer) > 1:
            layer = [((1 - t) * a[0] + t * b[0], (1 - t) * a[1] + t * b[1]) for a, b in pairwise(layer)]
        out.append(layer[0])
    return out


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))
