"""Region images as EcoTaxa accepts them: PNG, JPEG or GIF, at most 20000×20000 pixels."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MAX_SIDE = 20000
# Refuse to decode anything that claims more pixels than EcoTaxa would ever accept.
_MAX_PIXELS = MAX_SIDE * MAX_SIDE
ACCEPTED = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg", b"GIF87a": "gif", b"GIF89a": "gif"}


class UnusableImage(ValueError):
    """The bytes are no image EcoTaxa can take, even after conversion."""


@dataclass(frozen=True)
class PackagedImage:
    data: bytes
    extension: str  # png, jpg or gif


def sniff(data: bytes) -> str | None:
    for magic, extension in ACCEPTED.items():
        if data.startswith(magic):
            return extension
    return None


def prepare_image(data: bytes) -> PackagedImage:
    """Keep PNG/JPEG/GIF as they are when their size is acceptable; convert other formats to PNG."""
    extension = sniff(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
                    raise UnusableImage(f"image is {width}x{height} pixels; EcoTaxa takes at most {MAX_SIDE}")
                if width * height > _MAX_PIXELS:
                    raise UnusableImage("image has too many pixels")
                if extension is not None:
                    return PackagedImage(data, extension)
                image.load()
                converted = image.convert(
                    "RGBA"
                    if "A" in image.getbands()
                    else ("L" if image.mode in {"1", "L", "I;16", "I", "F"} else "RGB")
                )
                out = io.BytesIO()
                converted.save(out, format="PNG")
                return PackagedImage(out.getvalue(), "png")
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError) as error:
        raise UnusableImage(f"not a readable image: {error}") from error
