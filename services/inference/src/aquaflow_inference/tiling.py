"""Drone images cut into fixed-size tiles, row by row (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class Tile:
    image: Image.Image
    box: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max


def tiles(image: Image.Image, size: int) -> list[Tile]:
    """Tiles of ``size`` pixels; those at the right and bottom edges may be smaller."""
    width, height = image.size
    found = []
    for top in range(0, height, size):
        for left in range(0, width, size):
            box = (left, top, min(left + size, width), min(top + size, height))
            found.append(Tile(image.crop(box), box))
    return found


LITTER_LABEL = "litter"


def litter_fraction(cut: list[Tile], labels: list[str]) -> float:
    """Share of the image area in tiles classified as litter (edge tiles weigh less)."""
    areas = [(t.box[2] - t.box[0]) * (t.box[3] - t.box[1]) for t in cut]
    total = sum(areas)
    littered = sum(a for a, label in zip(areas, labels, strict=True) if label == LITTER_LABEL)
    return round(littered / total, 4) if total else 0.0
