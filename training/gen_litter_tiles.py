"""Procedural RGB drone-image tiles: open water, floating litter, and other things seen at the surface.

A tile is drawn at the drone image's tile size (128 px, jittered a little to cover altitude changes)
and then goes through the same tile preprocessing as the service's tiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from training.drawing import bezier, ellipse_points, rotate_points, smooth_noise, wobbly_polygon
from training.preprocess import TILE_SOURCE_SIZE

CLASSES: tuple[str, ...] = ("water", "litter", "other")

Colour = tuple[int, int, int]


def _water(rng: np.random.Generator, size: int) -> Image.Image:
    """Sea surface: a blue-green base, wave ripples in a random direction, patchy shading, sun glints."""
    base = np.array(
        [rng.uniform(5, 60), rng.uniform(50, 140), rng.uniform(80, 170)], dtype=np.float32
    )  # deep blue to teal to green-grey
    if rng.random() < 0.3:
        base[1] = base[2] * rng.uniform(0.9, 1.2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    freq = rng.uniform(0.08, 0.5)
    phase = xx * math.cos(angle) + yy * math.sin(angle)
    waves = np.sin(phase * freq + smooth_noise(rng, size, size, 4) * rng.uniform(2, 8))
    shade = smooth_noise(rng, size, size, int(rng.integers(2, 6))) - 0.5
    light = 1 + waves[..., None] * rng.uniform(0.03, 0.15) + shade[..., None] * rng.uniform(0.1, 0.4)
    pixels = base[None, None, :] * light
    crest = (waves > rng.uniform(0.85, 0.99)) & (rng.random((size, size)) < rng.uniform(0.0, 0.6))
    pixels[crest] = pixels[crest] * 0.4 + 255 * 0.6
    for _ in range(int(rng.poisson(rng.uniform(0, 6)))):  # sun glints: tiny, saturated highlights
        gx, gy = rng.integers(0, size, 2)
        r = rng.uniform(0.5, 1.8)
        pixels[max(0, gy - int(r)) : gy + int(r) + 1, max(0, gx - int(r)) : gx + int(r) + 1] = 250
    pixels += rng.normal(0, rng.uniform(1, 5), pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")


def _blend(tile: Image.Image, layer: Image.Image, mask: Image.Image) -> Image.Image:
    return Image.composite(layer, tile, mask)


ShapeDrawer = Callable[[ImageDraw.ImageDraw], None]


def _polygon(points: list[tuple[float, float]]) -> ShapeDrawer:
    return lambda draw: draw.polygon(points, fill=255)


def _stroke(points: list[tuple[float, float]], width: int) -> ShapeDrawer:
    return lambda draw: draw.line(points, fill=255, width=width)


def _disc(centre: tuple[float, float], radius: float) -> ShapeDrawer:
    x, y = centre
    return lambda draw: draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)


def _shape_on(
    tile: Image.Image,
    rng: np.random.Generator,
    draw_shape: ShapeDrawer,
    colour: Colour,
    opacity: float,
    *,
    blur: float = 0.6,
) -> Image.Image:
    mask = Image.new("L", tile.size, 0)
    draw_shape(ImageDraw.Draw(mask))
    mask = mask.filter(ImageFilter.GaussianBlur(blur)).point(lambda v: int(v * opacity))
    shading = smooth_noise(rng, tile.size[1], tile.size[0], 3)[..., None] * 0.3 + 0.85
    layer = np.clip(np.asarray(colour, dtype=np.float32)[None, None, :] * shading, 0, 255).astype(np.uint8)
    return _blend(tile, Image.fromarray(layer, mode="RGB"), mask)


def _bright(rng: np.random.Generator) -> Colour:
    palette: list[Colour] = [
        (235, 235, 235),
        (250, 250, 240),
        (200, 230, 245),
        (60, 160, 70),
        (230, 60, 40),
        (40, 90, 220),
        (240, 200, 30),
        (250, 130, 30),
        (150, 90, 40),
        (30, 30, 30),
    ]
    return palette[int(rng.integers(len(palette)))]


def _litter(rng: np.random.Generator, size: int) -> Image.Image:
    tile = _water(rng, size)
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.choice(["bottle", "bag", "net", "fragment", "can"])
        cx, cy = rng.uniform(size * 0.15, size * 0.85, 2)
        angle = rng.uniform(0, 2 * math.pi)
        colour = _bright(rng)
        if kind == "bottle":
            length, width = rng.uniform(22, 55), rng.uniform(8, 16)
            body = [
                (cx - length / 2, cy - width / 2),
                (cx + length / 4, cy - width / 2),
                (cx + length / 2, cy - width / 5),
                (cx + length / 2 + 6, cy - width / 5),
                (cx + length / 2 + 6, cy + width / 5),
                (cx + length / 2, cy + width / 5),
                (cx + length / 4, cy + width / 2),
                (cx - length / 2, cy + width / 2),
            ]
            pts = rotate_points(body, (cx, cy), angle)
            tile = _shape_on(tile, rng, _polygon(pts), colour, rng.uniform(0.7, 1.0))
            cap = rotate_points([(cx + length / 2 + 6, cy)], (cx, cy), angle)[0]
            tile = _shape_on(
                tile,
                rng,
                _disc(cap, 3),
                _bright(rng),
                1.0,
            )
        elif kind == "bag":
            blob = wobbly_polygon(rng, (cx, cy), rng.uniform(10, 30), int(rng.integers(6, 12)), 0.45)
            tile = _shape_on(tile, rng, _polygon(blob), colour, rng.uniform(0.55, 0.95))
            for _ in range(int(rng.integers(1, 4))):  # creases
                a = rng.choice(len(blob), 2, replace=False)
                tile = _shape_on(
                    tile,
                    rng,
                    _stroke([blob[a[0]], blob[a[1]]], 1),
                    (255, 255, 255),
                    0.6,
                    blur=0.3,
                )
        elif kind == "net":
            span = rng.uniform(25, 60)
            mesh = rng.uniform(4, 9)
            lines: list[list[tuple[float, float]]] = []
            for k in np.arange(-span / 2, span / 2, mesh):
                lines.append(
                    rotate_points(
                        [(cx + k, cy - span / 2), (cx + k + rng.uniform(-4, 4), cy + span / 2)], (cx, cy), angle
                    )
                )
                lines.append(
                    rotate_points(
                        [(cx - span / 2, cy + k), (cx + span / 2, cy + k + rng.uniform(-4, 4))], (cx, cy), angle
                    )
                )

            def draw_net(d: ImageDraw.ImageDraw, ls: list[list[tuple[float, float]]] = lines) -> None:
                for line in ls:
                    d.line(line, fill=255, width=int(rng.integers(1, 3)))

            tile = _shape_on(tile, rng, draw_net, colour, rng.uniform(0.8, 1.0), blur=0.3)
        elif kind == "fragment":
            for _ in range(int(rng.integers(1, 6))):
                px, py = cx + rng.normal(0, 12), cy + rng.normal(0, 12)
                pts = [(px + rng.uniform(-8, 8), py + rng.uniform(-8, 8)) for _ in range(int(rng.integers(3, 6)))]
                tile = _shape_on(tile, rng, _polygon(pts), _bright(rng), 1.0, blur=0.3)
        else:  # can
            length, width = rng.uniform(14, 24), rng.uniform(8, 12)
            pts = rotate_points(
                [
                    (cx - length / 2, cy - width / 2),
                    (cx + length / 2, cy - width / 2),
                    (cx + length / 2, cy + width / 2),
                    (cx - length / 2, cy + width / 2),
                ],
                (cx, cy),
                angle,
            )
            tile = _shape_on(tile, rng, _polygon(pts), colour, 1.0, blur=0.3)
            stripe = rotate_points([(cx - length / 2, cy), (cx + length / 2, cy)], (cx, cy), angle)
            tile = _shape_on(tile, rng, _stroke(stripe, 3), (220, 220, 225), 1.0, blur=0.3)
    return tile


def _other(rng: np.random.Generator, size: int) -> Image.Image:
    tile = _water(rng, size)
    kind = rng.choice(["foam", "seaweed", "bird", "boat"])
    cx, cy = rng.uniform(size * 0.2, size * 0.8, 2)
    angle = rng.uniform(0, 2 * math.pi)
    if kind == "foam":
        # Foam: many small soft bubbles along a wave crest, never a solid edge.
        crest = bezier([(rng.uniform(0, size), rng.uniform(0, size)) for _ in range(3)], 30)
        mask = Image.new("L", tile.size, 0)
        draw = ImageDraw.Draw(mask)
        for x, y in crest:
            for _ in range(int(rng.integers(3, 9))):
                bx, by, r = x + rng.normal(0, 6), y + rng.normal(0, 6), rng.uniform(0.8, 3)
                draw.ellipse((bx - r, by - r, bx + r, by + r), fill=int(rng.uniform(90, 230)))
        mask = mask.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.0)))
        white = Image.new("RGB", tile.size, (240, 245, 245))
        return _blend(tile, white, mask)
    if kind == "seaweed":
        colour: Colour = (int(rng.uniform(70, 130)), int(rng.uniform(60, 110)), int(rng.uniform(10, 40)))
        for _ in range(int(rng.integers(3, 9))):
            pts = [(cx + rng.normal(0, 15), cy + rng.normal(0, 15)) for _ in range(3)]
            tile = _shape_on(
                tile,
                rng,
                _stroke(bezier(pts), int(rng.integers(2, 5))),
                colour,
                rng.uniform(0.7, 1.0),
            )
        for _ in range(int(rng.integers(2, 7))):
            blob = wobbly_polygon(rng, (cx + rng.normal(0, 12), cy + rng.normal(0, 12)), rng.uniform(3, 8), 7, 0.4)
            tile = _shape_on(tile, rng, _polygon(blob), colour, 0.9)
        return tile
    if kind == "bird":
        span = rng.uniform(20, 45)
        body = rotate_points(ellipse_points((cx, cy), span * 0.22, span * 0.08, 16), (cx, cy), angle)
        wings = [
            rotate_points(
                [
                    (cx - span * 0.05, cy),
                    (cx + span * 0.1, cy + sign * span / 2),
                    (cx + span * 0.15, cy + sign * span / 2),
                    (cx + span * 0.08, cy),
                ],
                (cx, cy),
                angle,
            )
            for sign in (-1, 1)
        ]
        grey: Colour = (235, 235, 235) if rng.random() < 0.6 else (120, 120, 125)
        for wing in wings:
            tile = _shape_on(tile, rng, _polygon(wing), grey, 1.0, blur=0.4)
            tip = wing[1:3]
            tile = _shape_on(tile, rng, _stroke(tip, 3), (25, 25, 25), 1.0, blur=0.3)
        tile = _shape_on(tile, rng, _polygon(body), grey, 1.0, blur=0.4)
        if rng.random() < 0.5:  # its shadow on the water
            shadow = [(x + 6, y + 6) for x, y in body]
            tile = _shape_on(tile, rng, _polygon(shadow), (10, 20, 30), 0.4, blur=1.5)
        return tile
    # Boat: a long hull with a cabin and a V-shaped white wake behind it.
    length, width = rng.uniform(45, 100), rng.uniform(12, 24)
    hull = rotate_points(
        [
            (cx - length / 2, cy - width / 2),
            (cx + length / 3, cy - width / 2),
            (cx + length / 2, cy),
            (cx + length / 3, cy + width / 2),
            (cx - length / 2, cy + width / 2),
        ],
        (cx, cy),
        angle,
    )
    wake = rotate_points(
        [
            (cx - length / 2, cy - width / 2),
            (cx - length * 1.6, cy - width * 2.5),
            (cx - length * 1.6, cy + width * 2.5),
            (cx - length / 2, cy + width / 2),
        ],
        (cx, cy),
        angle,
    )
    tile = _shape_on(tile, rng, _polygon(wake), (235, 240, 240), rng.uniform(0.3, 0.6), blur=3.0)
    hull_colour: Colour = (240, 240, 240) if rng.random() < 0.6 else _bright(rng)
    tile = _shape_on(tile, rng, _polygon(hull), hull_colour, 1.0, blur=0.5)
    cabin = rotate_points(
        [
            (cx - length * 0.2, cy - width * 0.3),
            (cx + length * 0.1, cy - width * 0.3),
            (cx + length * 0.1, cy + width * 0.3),
            (cx - length * 0.2, cy + width * 0.3),
        ],
        (cx, cy),
        angle,
    )
    return _shape_on(tile, rng, _polygon(cabin), (90, 100, 110), 1.0, blur=0.4)


RENDERERS: dict[str, Callable[[np.random.Generator, int], Image.Image]] = {
    "water": _water,
    "litter": _litter,
    "other": _other,
}


def render(label: str, rng: np.random.Generator) -> Image.Image:
    size = int(TILE_SOURCE_SIZE * rng.uniform(0.85, 1.15))
    tile = RENDERERS[label](rng, size)
    if rng.random() < 0.3:  # slight motion blur / defocus of the drone camera
        tile = tile.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    if rng.random() < 0.15:  # an edge tile: the drone image ends inside this tile
        keep = int(size * rng.uniform(0.4, 0.95))
        tile = tile.crop((0, 0, keep, size) if rng.random() < 0.5 else (0, 0, size, keep))
    return tile


def sample(rng: np.random.Generator) -> tuple[Image.Image, int]:
    label = int(rng.integers(len(CLASSES)))
    return render(CLASSES[label], rng), label
