"""Procedural underwater camera frames with fish of three Mediterranean coastal species and their boxes.

Scenes mimic a fixed observatory camera: a hazy blue-green water column darkening with depth,
a textured seabed, suspended particles, light shafts, and fish at various distances. Distance
sets both the size and how much the fish fades into the water colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from training.arrays import Array
from training.drawing import ellipse_points, log_uniform, rotate_points, smooth_noise

CLASSES: tuple[str, ...] = ("damselfish", "seabream", "sardine")

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    boxes: Array  # [N, 4] x1, y1, x2, y2 in image pixels
    labels: Array  # [N] class indices


def _background(rng: np.random.Generator, width: int, height: int) -> tuple[Array, Array]:
    """Water with depth gradient, texture, light shafts and maybe a seabed. Returns pixels and the water colour."""
    surface = np.array([rng.uniform(20, 90), rng.uniform(110, 190), rng.uniform(120, 200)], dtype=np.float32)
    deep = surface * rng.uniform(0.25, 0.6)
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    column = surface[None, None, :] * (1 - t) + deep[None, None, :] * t
    pixels: Array = np.broadcast_to(column, (height, width, 3)).astype(np.float32)
    pixels *= (0.85 + 0.3 * smooth_noise(rng, height, width, int(rng.integers(3, 8))))[..., None]
    if rng.random() < 0.6:  # sun rays slanting down from the surface
        xx = np.arange(width, dtype=np.float32)[None, :] + np.arange(height, dtype=np.float32)[:, None] * rng.uniform(
            -0.4, 0.4
        )
        rays = np.sin(xx * np.float32(rng.uniform(0.01, 0.05)) + np.float32(rng.uniform(0, 6))) ** 8
        pixels += (rays * (1 - t[..., 0]) * np.float32(rng.uniform(10, 40)))[..., None]
    if rng.random() < 0.7:  # seabed: sand or rock, only in the lower part
        horizon = int(height * rng.uniform(0.55, 0.9))
        bed = np.array([rng.uniform(70, 140), rng.uniform(80, 130), rng.uniform(60, 100)], dtype=np.float32)
        rock = smooth_noise(rng, height - horizon, width, int(rng.integers(6, 20)))
        grain = 8 * rng.standard_normal((height - horizon, width, 1), dtype=np.float32)
        seabed = bed[None, None, :] * (0.6 + 0.6 * rock[..., None]) + grain
        mix = np.linspace(0.3, 0.85, height - horizon, dtype=np.float32)[:, None, None]
        pixels[horizon:] = pixels[horizon:] * (1 - mix) + seabed * mix
    water = pixels[height // 3, width // 2].copy()
    return pixels, water


def _fish_polygons(
    species: int, rng: np.random.Generator, length: float
) -> tuple[list[tuple[list[tuple[float, float]], Colour]], float]:
    """The fish facing right at the origin: coloured polygons, and the body height."""
    parts: list[tuple[list[tuple[float, float]], Colour]] = []
    if species == 0:  # damselfish (Chromis): small, dark brown-black, deep body, deeply forked tail
        height = length * rng.uniform(0.45, 0.55)
        body: Colour = (int(rng.uniform(15, 45)), int(rng.uniform(20, 45)), int(rng.uniform(35, 70)))
        fin = body
        tail = [
            (-length * 0.35, 0),
            (-length * 0.55, -height * 0.55),
            (-length * 0.45, 0),
            (-length * 0.55, height * 0.55),
        ]
    elif species == 1:  # sea bream (Diplodus): silver, deep oval body, black band at the tail root, vertical bars
        height = length * rng.uniform(0.45, 0.55)
        body = (int(rng.uniform(170, 225)),) * 2 + (int(rng.uniform(180, 235)),)
        fin = (int(rng.uniform(120, 160)),) * 3
        tail = [
            (-length * 0.4, 0),
            (-length * 0.55, -height * 0.45),
            (-length * 0.5, 0),
            (-length * 0.55, height * 0.45),
        ]
    else:  # sardine: slender, blue-green back, silver belly
        height = length * rng.uniform(0.16, 0.22)
        body = (int(rng.uniform(150, 200)), int(rng.uniform(180, 220)), int(rng.uniform(200, 240)))
        fin = (int(rng.uniform(60, 100)), int(rng.uniform(110, 150)), int(rng.uniform(140, 170)))
        tail = [
            (-length * 0.42, 0),
            (-length * 0.55, -height * 0.9),
            (-length * 0.5, 0),
            (-length * 0.55, height * 0.9),
        ]
    parts.append((tail, fin))
    dorsal = [(-length * 0.15, -height * 0.4), (length * 0.1, -height * 0.75), (length * 0.15, -height * 0.4)]
    parts.append((dorsal, fin))
    outline = [(x, y) for x, y in ellipse_points((0.0, 0.0), length * 0.45, height / 2, 28)]
    parts.append((outline, body))
    if species == 1:
        band = [(x, y) for x, y in ellipse_points((-length * 0.33, 0.0), length * 0.05, height * 0.25, 12)]
        parts.append((band, (15, 15, 20)))
        for bx in (-length * 0.1, length * 0.05):
            parts.append(
                (
                    [
                        (bx - 2, -height * 0.45),
                        (bx + 2, -height * 0.45),
                        (bx + 2, height * 0.3),
                        (bx - 2, height * 0.3),
                    ],
                    (120, 120, 130),
                )
            )
    if species == 2:
        back = [(x, min(y, -height * 0.05)) for x, y in ellipse_points((0.0, 0.0), length * 0.45, height / 2, 28)]
        parts.append((back, fin))
    eye_r = max(1.0, height * 0.09)
    parts.append((ellipse_points((length * 0.3, -height * 0.08), eye_r, eye_r, 10), (10, 10, 10)))
    return parts, height


def _draw_fish(
    image: Image.Image,
    rng: np.random.Generator,
    species: int,
    *,
    centre: tuple[float, float],
    length: float,
    water: Array,
    haze: float,
) -> Array:
    """Draw one fish onto the image; returns its bounding box [x1, y1, x2, y2]."""
    parts, _ = _fish_polygons(species, rng, length)
    facing = 1 if rng.random() < 0.5 else -1
    angle = rng.uniform(-0.35, 0.35)
    draw = ImageDraw.Draw(image)
    xs: list[float] = []
    ys: list[float] = []
    for polygon, colour in parts:
        placed = [(centre[0] + facing * x, centre[1] + y) for x, y in polygon]
        placed = rotate_points(placed, centre, angle)
        faded = tuple(int(c * (1 - haze) + w * haze) for c, w in zip(colour, water, strict=True))
        draw.polygon(placed, fill=faded)
        xs.extend(p[0] for p in placed)
        ys.extend(p[1] for p in placed)
    return np.array([min(xs), min(ys), max(xs), max(ys)], dtype=np.float32)


def render(rng: np.random.Generator, max_fish: int = 8) -> Scene:
    """One frame at a camera-like aspect ratio, long side 320-480 px, with 0..max_fish fish."""
    aspect = float(rng.choice([4 / 3, 16 / 9, 1.0, 3 / 4]))
    long_side = int(rng.uniform(320, 480))
    width, height = (long_side, int(long_side / aspect)) if aspect >= 1 else (int(long_side * aspect), long_side)
    pixels, water = _background(rng, width, height)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")

    count = int(rng.integers(0, max_fish + 1)) if rng.random() < 0.9 else 0
    school = rng.random() < 0.3
    fish = []
    for _ in range(count):
        # Far fish are small and hazy, near fish large and clear.
        length = log_uniform(rng, 0.06, 0.45) * long_side
        haze = float(np.clip(0.55 - length / long_side * 1.2 + rng.uniform(-0.1, 0.15), 0.0, 0.6))
        fish.append((length, haze))
    fish.sort(key=lambda f: -f[1])  # the haziest (farthest) fish first, so nearer ones occlude them
    species_of_school = int(rng.integers(len(CLASSES)))
    boxes: list[Array] = []
    labels: list[int] = []
    for length, haze in fish:
        species = species_of_school if school else int(rng.integers(len(CLASSES)))
        centre = (rng.uniform(0.05, 0.95) * width, rng.uniform(0.08, 0.92) * height)
        box = _draw_fish(image, rng, species, centre=centre, length=length, water=water, haze=haze)
        box = np.clip(box, 0, [width, height, width, height])
        if (box[2] - box[0]) >= 6 and (box[3] - box[1]) >= 4:
            boxes.append(box)
            labels.append(species)
    # Particles (marine snow), camera blur and sensor noise.
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(0, 120))):
        px, py, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.5, 2.0)
        grey = int(rng.uniform(150, 240))
        draw.ellipse((px - r, py - r, px + r, py + r), fill=(grey, grey, grey))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.2)))
    noise = rng.standard_normal((height, width, 3), dtype=np.float32) * np.float32(rng.uniform(1, 6))
    noisy = np.asarray(image, dtype=np.float32) + noise
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), mode="RGB")
    return Scene(
        image=image,
        boxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        labels=np.array(labels, dtype=np.int64),
    )
