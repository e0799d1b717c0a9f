"""Checking an image file as EcoTaxa does before an import (py/BO/Image.py, ImageBO.validate_image).

PNG, JPEG and GIF only; EcoTaxa raises Pillow's limit to 20000x20000 pixels, and Pillow refuses
(DecompressionBombError) above twice its limit. A file Pillow cannot decode is an error quoting
Pillow's message and exception class.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

SUPPORTED_FORMATS = ("PNG", "JPEG", "GIF")
MAX_PIXELS = 20000 * 20000
# Pillow raises DecompressionBombError beyond twice MAX_IMAGE_PIXELS.
REFUSED_ABOVE_PIXELS = 2 * MAX_PIXELS


class ImageRefused(Exception):
    """EcoTaxa raises ImportError for these; the message is what the user sees."""


def check_image_file(path: Path) -> str | None:
    """None if EcoTaxa would accept the image, else the text EcoTaxa puts after 'Error while reading image'."""
    try:
        _validate(path)
    except ImageRefused as refused:
        return f"{refused} {ImportError!s}"
    except Exception as error:  # noqa: BLE001 - Pillow raises many kinds; EcoTaxa reports any of them
        return f"{error} {type(error)!s}"
    return None


def _validate(path: Path) -> None:
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > REFUSED_ABOVE_PIXELS:
                raise ImageRefused("Image too large")
            if Image.MAX_IMAGE_PIXELS is None or width * height <= Image.MAX_IMAGE_PIXELS:
                # Decode fully, as EcoTaxa does, to catch truncated or corrupted data.
                image.load()
            image_format = image.format
    except Image.DecompressionBombError:
        # Pillow's default limit is below EcoTaxa's: the header was readable, accept on it.
        return
    except SyntaxError as error:  # Pillow's PNG plugin raises SyntaxError on bad chunks
        raise ImageRefused("Corrupted PNG") from error
    if image_format not in SUPPORTED_FORMATS:
        supported = {"PNG", "JPEG", "GIF"}
        raise ImageRefused(f"Unsupported image format: {image_format}, please convert to one of {supported}")


def image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size
