"""Pictures of results: regions drawn on their scan, and a labelled contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"]
THUMB = 160


def _colour(label: str, labels: list[str]) -> str:
    return PALETTE[labels.index(label) % len(PALETTE)] if label in labels else "#000000"


def annotate(image_path: Path, result: dict[str, Any], labels: list[str], scale: int = 3) -> Image.Image:
    """The image enlarged, each region's or detection's box outlined and labelled."""
    image = Image.open(image_path).convert("RGB")
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    boxes = [(r["box"], (r.get("classification") or {}).get("label", "?")) for r in result.get("regions", [])]
    boxes += [(d["box"], d["label"]) for d in result.get("detections", [])]
    for box, label in boxes:
        corners = [box["x_min"] * scale, box["y_min"] * scale, box["x_max"] * scale, box["y_max"] * scale]
        colour = _colour(label, labels)
        draw.rectangle(corners, outline=colour, width=2)
        draw.text((corners[0] + 2, corners[1] + 2), label, fill=colour)
    return image


def contact_sheet(items: list[tuple[Path, str]], columns: int = 8) -> Image.Image:
    """Thumbnails with their predicted label underneath."""
    rows = (len(items) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * THUMB, rows * (THUMB + 16)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (path, caption) in enumerate(items):
        thumb = Image.open(path).convert("RGB")
        thumb.thumbnail((THUMB - 8, THUMB - 8))
        x, y = (i % columns) * THUMB, (i // columns) * (THUMB + 16)
        sheet.paste(thumb, (x + (THUMB - thumb.width) // 2, y + (THUMB - thumb.height) // 2))
        draw.text((x + 4, y + THUMB), caption[:26], fill="black")
    return sheet
