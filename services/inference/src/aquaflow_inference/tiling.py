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


# The drone survey's object class: its tiles are the objects, its share of the area is measured.
LITTER_LABEL = "litter"


def label_fraction(cut: list[Tile], labels: list[str], label: str) -> float:
    """Share of the image area in tiles classified as ``label`` (edge tiles weigh less)."""
    areas = [(t.box[2] - t.box[0]) * (t.box[3] - t.box[1]) for t in cut]
    total = sum(areas)
    matching = sum(a for a, found in zip(areas, labels, strict=True) if found == label)
    return round(matching / total, 4) if total else 0.0
