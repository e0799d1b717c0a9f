"""Turning untrusted bytes into a decoded image, or a clear reason why not."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from aquaflow_inference.errors import CorruptImage, ImageTooLarge, NotAnImage


@dataclass(frozen=True)
class Decoded:
    """An uploaded image, decoded."""

    image: Image.Image
    # The upload itself when it is a PNG whose pixels ``image`` holds unchanged: one frame, each
    # sample stored at the depth of ``image``'s mode, not turned, not scaled. Those bytes are then
    # as good a PNG of ``image`` as a new encoding, and cost nothing to make.
    png: bytes | None


def decode_image(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode fully (not just the header): a truncated file fails here, not in a model."""
    return decode_upload(data, max_pixels=max_pixels).image


def decode_upload(data: bytes, *, max_pixels: int) -> Decoded:
    """``decode_image``, and whether the upload is already a PNG of the decoded pixels."""
    if not data:
        raise NotAnImage("object is empty")
    kind = "image"
    try:
        with warnings.catch_warnings():
            # Pillow warns of damaged metadata (EXIF) and reads on: the full decode below decides.
            warnings.simplefilter("ignore", UserWarning)
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
            # How the file stores its samples ("RGB;16B": 16 bits, read as 8), known until the pixels are
            # read: a tile's fourth item (its "args"; a plain tuple before Pillow 11).
            stored = image.tile[0][3] if len(image.tile) == 1 else None
            frames = getattr(image, "n_frames", 1)
            image.load()
    except UnidentifiedImageError as error:
        raise NotAnImage(f"not an image in a format we read ({len(data)} bytes, starts {data[:8]!r})") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLarge(f"decompression bomb: {error}") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptImage(f"corrupt or truncated {kind} data: {error}") from error
    decoded = to_8bit(upright(image))
    as_stored = decoded is image and kind == "PNG" and frames == 1 and stored == image.mode
    as_stored = as_stored and _displayed_as_stored(image) is True
    return Decoded(decoded, data if as_stored else None)


def upright(image: Image.Image) -> Image.Image:
    """The image as it is displayed: turned as its EXIF orientation tag says.

    Cameras store the sensor's pixels and record the turn in the tag; every viewer applies
    it, so boxes and crops must refer to the displayed orientation too. The pixel count is
    unchanged, so the bomb guard above still holds. A damaged EXIF block is no reason to
    refuse an image whose pixels decoded: it is then used as stored.
    """
    # Checked first: exif_transpose copies even an upright image, a waste on a large scan.
    if _displayed_as_stored(image) is not False:
        return image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns of a damaged EXIF block, then reads what it can
            turned = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - any failure of an optional tag leaves the pixels as stored
        return image
    return image if turned is None else turned


def _displayed_as_stored(image: Image.Image) -> bool | None:
    """Whether the EXIF orientation tag leaves the image as stored; None when the EXIF block is damaged."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns of a damaged EXIF block, then reads what it can
            return image.getexif().get(ExifTags.Base.Orientation, 1) in (None, 1)
    except Exception:  # noqa: BLE001 - any failure of an optional tag leaves the pixels as stored
        return None


# Sensors store 10, 12 or 14 significant bits in 16-bit containers; the deepest of these that
# holds an image's brightest pixel is taken as the range its sensor used.
SENSOR_BIT_DEPTHS = (8, 10, 12, 14, 16)


def sensor_bit_depth(brightest: int) -> int:
    """The bit depth of the sensor that wrote an image whose brightest pixel is ``brightest``."""
    return next((bits for bits in SENSOR_BIT_DEPTHS if brightest < 1 << bits), SENSOR_BIT_DEPTHS[-1])


def to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and float images (scientific cameras) → 8-bit grey; PIL's own conversion clips them.

    Integer images are scaled by the range of the sensor that wrote them, not by 65535: 12-bit
    data in a 16-bit file (0–4095) becomes 0–255, where dividing by 257 would leave grey levels
    0–15. The range is the sensor's (``sensor_bit_depth``), not the image's own minimum and
    maximum: a faint, nearly uniform frame then stays faint instead of having its noise stretched
    into full contrast, and every image of one camera keeps one grey scale, so grey-level features
    compare across a sample. Float images have no such range and are stretched min→0, max→255.
    """
    if image.mode.startswith("I;16") or image.mode == "I":
        pixels = np.asarray(image)
        low, high = int(pixels.min()), int(pixels.max())
        if low < 0 or high > 65535:
            return _stretched(pixels.astype(np.float64))
        full_scale = (1 << sensor_bit_depth(high)) - 1
        # One grey level per possible value: a table lookup is 10x faster than arithmetic on a scan.
        table = (np.arange(full_scale + 1, dtype=np.float64) * (255.0 / full_scale)).round().astype(np.uint8)
        return Image.fromarray(table[pixels])
    if image.mode == "F":
        return _stretched(np.asarray(image, dtype=np.float64))
    return image


def _stretched(pixels: npt.NDArray[np.float64]) -> Image.Image:
    low, high = float(pixels.min()), float(pixels.max())
    scaled = (pixels - low) / (high - low) * 255.0 if high > low else np.zeros_like(pixels)
    return Image.fromarray(scaled.round().astype(np.uint8))
