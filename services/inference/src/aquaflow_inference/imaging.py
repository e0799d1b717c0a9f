"""Turning untrusted bytes into a decoded image, or a clear reason why not."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from aquaflow_inference.errors import CorruptImage, ImageTooLarge, NotAnImage


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode fully (not just the header): a truncated file fails here, not in a model."""
    if not data:
        raise NotAnImage("object is empty")
    kind = "image"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            kind = image.format or kind
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}"
                    " (decompression bomb guard)"
                )
            if width == 0 or height == 0:
                raise CorruptImage(f"image has no pixels ({width}x{height})")
            image.seek(0)  # the first frame of an animated GIF
            image.load()
    except UnidentifiedImageError as error:
        raise NotAnImage(f"not an image in a format we read ({len(data)} bytes, starts {data[:8]!r})") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLarge(f"decompression bomb: {error}") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptImage(f"corrupt or truncated {kind} data: {error}") from error
    return to_8bit(image)


def to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and float images (scientific cameras) → 8-bit grey; PIL's own conversion clips them."""
    if image.mode.startswith("I;16"):
        return Image.fromarray((np.asarray(image, dtype=np.float32) / 257.0).round().astype(np.uint8))
    if image.mode in ("I", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) / (high - low) * 255.0 if high > low else np.zeros_like(pixels)
        return Image.fromarray(scaled.round().astype(np.uint8))
    return image
