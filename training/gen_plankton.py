"""Procedural grey-level plankton vignettes, shaped like the real ZooScan/UVP/FlowCam crops.

Each organism is drawn as an opacity mask on a working canvas, rotated, cropped to its bounding box
with a margin (as a vignetting tool would), resized to a size drawn from the range of the real images
(16 px to ~800 px on the long side), then given the real images' look: light background with a
gradient, varying contrast, blur, sensor noise, dust, and sometimes a ZooScan scale bar with its
"100 µm" caption and corner marks, or UVP-style inverted polarity (bright organism on black).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from training.arrays import Array
from training.drawing import Point, bezier, ellipse_points, log_uniform, smooth_noise, wobbly_polygon

CLASSES: tuple[str, ...] = (
    "copepod",
    "diatom_chain",
    "radiolarian",
    "round_cell",
    "chaetognath",
    "fibre",
    "detritus",
    "bubble",
)

CANVAS = 256
CENTRE: Point = (CANVAS / 2, CANVAS / 2)


def _level(rng: np.random.Generator, low: float, high: float) -> int:
    return int(255 * rng.uniform(low, high))


def _copepod(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    length = rng.uniform(70, 110)
    width = length * rng.uniform(0.32, 0.45)
    cx, cy = CENTRE
    body = _level(rng, 0.55, 0.9)
    # Prosome: the big oval front body.
    draw.polygon(ellipse_points((cx, cy), length / 2, width / 2), fill=body)
    # Urosome: a narrow segmented tail with two furcal setae.
    x = cx + length / 2 - 4
    seg_w = width * 0.35
    for _ in range(int(rng.integers(3, 6))):
        seg_l = length * rng.uniform(0.08, 0.12)
        draw.rectangle((x, cy - seg_w / 2, x + seg_l, cy + seg_w / 2), fill=body)
        x += seg_l + 1
        seg_w *= 0.85
    for sign in (-1, 1):
        draw.line([(x, cy), (x + rng.uniform(15, 35), cy + sign * rng.uniform(4, 12))], fill=body, width=1)
    # Two long antennae sweeping back from the head, and short swimming legs underneath.
    head = (cx - length / 2 + 4, cy)
    for sign in (-1, 1):
        reach = rng.uniform(0.8, 1.4) * length
        ctrl = [
            head,
            (head[0] - reach * 0.3, head[1] + sign * reach * rng.uniform(0.2, 0.5)),
            (head[0] + reach * rng.uniform(0.1, 0.6), head[1] + sign * reach * rng.uniform(0.5, 0.8)),
        ]
        draw.line(bezier(ctrl), fill=body, width=int(rng.integers(1, 3)))
    for i in range(int(rng.integers(3, 6))):
        lx = cx - length * 0.2 + i * length * 0.1
        draw.line([(lx, cy + width / 2 - 2), (lx + rng.uniform(-6, 6), cy + width / 2 + rng.uniform(6, 14))], fill=body)
    # Darker gut / oil sac inside.
    if rng.random() < 0.7:
        draw.polygon(
            ellipse_points((cx + rng.uniform(-8, 8), cy), length * 0.25, width * 0.2), fill=min(255, body + 40)
        )


def _diatom_chain(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    cells = int(rng.integers(3, 9))
    cell_w = rng.uniform(14, 26)
    cell_h = cell_w * rng.uniform(1.0, 2.0)
    gap = rng.uniform(1, 6)
    bend = rng.uniform(-0.08, 0.08)
    total = cells * (cell_w + gap)
    x0, cy = CENTRE[0] - total / 2, CENTRE[1]
    for i in range(cells):
        x = x0 + i * (cell_w + gap)
        y = cy + bend * (x - CENTRE[0]) ** 2 / 10
        wall = _level(rng, 0.55, 0.9)
        draw.rounded_rectangle((x, y - cell_h / 2, x + cell_w, y + cell_h / 2), radius=cell_w * 0.3, fill=wall)
        inner = max(0, wall - int(rng.uniform(40, 120)))
        draw.rounded_rectangle(
            (x + 3, y - cell_h / 2 + 3, x + cell_w - 3, y + cell_h / 2 - 3), radius=cell_w * 0.2, fill=inner
        )
        # Chloroplasts: a few dark dots per cell.
        for _ in range(int(rng.integers(1, 4))):
            px, py = x + rng.uniform(4, cell_w - 4), y + rng.uniform(-cell_h / 3, cell_h / 3)
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=wall)
    if rng.random() < 0.5:  # setae linking the chain (Chaetoceros-like)
        for i in range(cells):
            x = x0 + i * (cell_w + gap) + cell_w / 2
            for sign in (-1, 1):
                draw.line([(x, cy), (x + rng.uniform(-25, 25), cy + sign * rng.uniform(30, 60))], fill=80, width=1)


def _radiolarian(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    radius = rng.uniform(22, 42)
    spines = int(rng.integers(16, 48))
    spine_level = _level(rng, 0.4, 0.8)
    for i in range(spines):
        angle = 2 * math.pi * i / spines + rng.uniform(-0.1, 0.1)
        reach = radius * rng.uniform(1.8, 2.8)
        draw.line(
            [CENTRE, (CENTRE[0] + reach * math.cos(angle), CENTRE[1] + reach * math.sin(angle))],
            fill=spine_level,
            width=int(rng.integers(1, 3)),
        )
    if rng.random() < 0.5:  # a faint lattice shell around the central capsule
        shell = radius * rng.uniform(1.3, 1.6)
        draw.ellipse(
            (CENTRE[0] - shell, CENTRE[1] - shell, CENTRE[0] + shell, CENTRE[1] + shell), outline=spine_level, width=2
        )
    draw.ellipse(
        (CENTRE[0] - radius, CENTRE[1] - radius, CENTRE[0] + radius, CENTRE[1] + radius), fill=_level(rng, 0.6, 0.95)
    )


def _round_cell(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    rx = rng.uniform(35, 80)
    ry = rx * rng.uniform(0.75, 1.0)
    cx, cy = CENTRE
    draw.polygon(ellipse_points(CENTRE, rx, ry, 48), fill=_level(rng, 0.25, 0.6))
    draw.polygon(ellipse_points(CENTRE, rx, ry, 48), outline=_level(rng, 0.6, 0.9), width=int(rng.integers(2, 5)))
    if rng.random() < 0.8:  # nucleus
        nr = rx * rng.uniform(0.2, 0.4)
        nx, ny = cx + rng.uniform(-rx / 3, rx / 3), cy + rng.uniform(-ry / 3, ry / 3)
        draw.ellipse((nx - nr, ny - nr, nx + nr, ny + nr), fill=_level(rng, 0.6, 0.95))
    for _ in range(int(rng.integers(0, 12))):  # granules
        gx, gy = cx + rng.uniform(-rx, rx) * 0.7, cy + rng.uniform(-ry, ry) * 0.7
        draw.ellipse((gx - 2, gy - 2, gx + 2, gy + 2), fill=_level(rng, 0.5, 0.9))


def _chaetognath(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    length = rng.uniform(160, 220)
    half_w = rng.uniform(8, 14)
    cx, cy = CENTRE
    x0, x1 = cx - length / 2, cx + length / 2
    level = _level(rng, 0.3, 0.65)
    top = [(x0 + t * length, cy - half_w * (0.6 + 0.4 * math.sin(math.pi * t))) for t in np.linspace(0, 1, 20)]
    bottom = [(x, 2 * cy - y) for x, y in reversed(top)]
    draw.polygon(top + bottom, fill=level)
    draw.ellipse((x0 - half_w, cy - half_w * 1.2, x0 + half_w * 1.5, cy + half_w * 1.2), fill=min(255, level + 60))
    for fx in (cx + length * 0.1, cx + length * 0.3):  # lateral fins
        for sign in (-1, 1):
            draw.polygon([(fx - 18, cy), (fx + 18, cy), (fx + 6, cy + sign * half_w * 2.6)], fill=level // 2)
    draw.polygon([(x1 - 5, cy), (x1 + 18, cy - 12), (x1 + 18, cy + 12)], fill=level // 2)  # tail fin
    for sign in (-1, 1):  # grasping spines at the head
        draw.line([(x0, cy), (x0 - 12, cy + sign * 8)], fill=level, width=1)


def _fibre(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    length = rng.uniform(150, 240)
    points: list[Point] = []
    for i in range(4):
        t = i / 3 - 0.5
        points.append((CENTRE[0] + t * length, CENTRE[1] + rng.uniform(-40, 40)))
    draw.line(bezier(points, 40), fill=_level(rng, 0.45, 0.95), width=int(rng.integers(2, 5)), joint="curve")
    if rng.random() < 0.3:  # frayed end
        end = points[-1]
        for _ in range(3):
            draw.line([end, (end[0] + rng.uniform(5, 20), end[1] + rng.uniform(-15, 15))], fill=120, width=1)


def _detritus(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    spread = rng.uniform(20, 60)
    for _ in range(int(rng.integers(5, 22))):
        centre = (CENTRE[0] + rng.normal(0, spread), CENTRE[1] + rng.normal(0, spread * rng.uniform(0.5, 1.0)))
        blob = wobbly_polygon(rng, centre, rng.uniform(6, 28), int(rng.integers(5, 10)), 0.5)
        draw.polygon(blob, fill=_level(rng, 0.15, 0.8))
    for _ in range(int(rng.integers(0, 30))):  # loose specks around the aggregate
        px, py = CENTRE[0] + rng.normal(0, spread * 1.5), CENTRE[1] + rng.normal(0, spread * 1.5)
        r = rng.uniform(1, 3)
        draw.ellipse((px - r, py - r, px + r, py + r), fill=_level(rng, 0.2, 0.7))


def _bubble(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    radius = rng.uniform(30, 90)
    ring = max(2, int(radius * rng.uniform(0.08, 0.25)))
    box = (CENTRE[0] - radius, CENTRE[1] - radius, CENTRE[0] + radius, CENTRE[1] + radius)
    draw.ellipse(box, fill=_level(rng, 0.02, 0.15), outline=_level(rng, 0.7, 1.0), width=ring)
    # The bright specular reflection near the centre stays at background level.
    hr = radius * rng.uniform(0.08, 0.2)
    hx, hy = CENTRE[0] + rng.uniform(-0.3, 0.3) * radius, CENTRE[1] + rng.uniform(-0.3, 0.3) * radius
    draw.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=0)


DRAWERS: dict[str, Callable[[ImageDraw.ImageDraw, np.random.Generator], None]] = {
    "copepod": _copepod,
    "diatom_chain": _diatom_chain,
    "radiolarian": _radiolarian,
    "round_cell": _round_cell,
    "chaetognath": _chaetognath,
    "fibre": _fibre,
    "detritus": _detritus,
    "bubble": _bubble,
}


def _organism_mask(label: str, rng: np.random.Generator) -> Array:
    """Opacity 0..1 of the organism, rotated and cropped to its bounding box plus a margin."""
    mask = Image.new("L", (CANVAS, CANVAS), 0)
    DRAWERS[label](ImageDraw.Draw(mask), rng)
    mask = mask.rotate(float(rng.uniform(0, 360)), resample=Image.Resampling.BILINEAR, center=CENTRE)
    if rng.random() < 0.5:
        mask = mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    opacity = np.asarray(mask, dtype=np.float32) / 255.0
    ys, xs = np.nonzero(opacity > 0.05)
    if len(xs) == 0:
        return opacity
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    margin = rng.uniform(0.05, 0.35)
    mx, my = int((x1 - x0) * margin) + 2, int((y1 - y0) * margin) + 2
    padded = np.pad(opacity, ((my, my), (mx, mx)))
    return padded[y0 : y1 + 2 * my, x0 : x1 + 2 * mx]


def _scale_bar(image: Image.Image, rng: np.random.Generator, ink: int) -> None:
    """ZooScan vignettes: a scale bar with a '100 µm' caption at the bottom left, corner marks."""
    draw = ImageDraw.Draw(image)
    w, h = image.size
    bar_y = h - max(3, int(h * 0.06))
    bar_len = max(4, int(w * rng.uniform(0.15, 0.6)))
    draw.line([(2, bar_y), (2 + bar_len, bar_y)], fill=ink, width=max(1, h // 60))
    if h >= 40:
        draw.text((2, bar_y - max(8, h // 12)), str(rng.choice(["100 µm", "1 mm", "100 µm l_8_1b"])), fill=ink)
    if rng.random() < 0.5:
        k = max(3, w // 12)
        draw.line([(2, 2 + k), (2, 2), (2 + k, 2)], fill=ink, width=1)
        draw.line([(w - 3 - k, h - 3), (w - 3, h - 3), (w - 3, h - 3 - k)], fill=ink, width=1)


def render(label: str, rng: np.random.Generator) -> Image.Image:
    """One vignette of the given class as a PIL image (mode L, occasionally RGB as some real crops are)."""
    opacity = _organism_mask(label, rng)
    # Real vignettes: 16x22 px up to ~700x830 px, most of them 40-150 px on the long side.
    long_side = log_uniform(rng, 18, 700) if rng.random() < 0.3 else log_uniform(rng, 32, 180)
    scale = long_side / max(opacity.shape)
    size = (max(8, round(opacity.shape[1] * scale)), max(8, round(opacity.shape[0] * scale)))
    opacity_img = Image.fromarray((opacity * 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR)
    blur = rng.uniform(0, 1.6) * max(1.0, long_side / 120)
    if blur > 0.3:
        opacity_img = opacity_img.filter(ImageFilter.GaussianBlur(blur))
    alpha = np.asarray(opacity_img, dtype=np.float32) / 255.0
    h, w = alpha.shape

    background = rng.uniform(195, 255)
    contrast = rng.uniform(0.35, 1.0) * background
    texture = 0.7 + 0.3 * smooth_noise(rng, h, w, int(rng.integers(3, 10)))
    gradient = rng.uniform(-12, 12) * np.linspace(-1, 1, w)[None, :]
    pixels = background + gradient - contrast * alpha * texture
    pixels += rng.normal(0, rng.uniform(0.5, 6), size=pixels.shape)
    for _ in range(int(rng.poisson(1.5))):  # dust specks on the scanner glass
        px, py = rng.integers(0, w), rng.integers(0, h)
        pixels[max(0, py - 1) : py + 1, max(0, px - 1) : px + 1] -= rng.uniform(20, 90)
    grey = np.clip(pixels, 0, 255).astype(np.uint8)
    if rng.random() < 0.1:  # UVP-style: bright organism on a black background
        grey = (255 - grey).astype(np.uint8)
    image = Image.fromarray(grey, mode="L")
    if rng.random() < 0.35:
        _scale_bar(image, rng, ink=int(np.clip(background - contrast, 0, 120)))
    if rng.random() < 0.2:
        image = image.convert("RGB")
    return image


def sample(rng: np.random.Generator) -> tuple[Image.Image, int]:
    label = int(rng.integers(len(CLASSES)))
    return render(CLASSES[label], rng), label
