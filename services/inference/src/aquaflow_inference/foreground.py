"""Which pixels belong to organisms: grey levels, polarity, background, noise, threshold (pure).

An organism is told from the background by its contrast to the background around it, not by
its share of the image's histogram. Otsu's threshold splits the histogram in two, so on a
scan that is 95 % background it lands between the organisms' dark bodies and everything
else and cuts off their pale appendages, and on a vignette its ink legend pulls it darker
still. Here the background is estimated first (a smooth surface under a scan, which follows
the scanner's gradient and vignetting; one level for a vignette), the noise is measured on
it, and a pixel is object when it stands out from the background by several times the noise
(4.5 deviations), or by fewer (2.5) where it hangs on to such a pixel: the pale edge of an
organism. ZooProcess does the same with a fixed grey level on a scan it has flattened beforehand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image
from scipy import ndimage
from scipy.ndimage import median_filter

from aquaflow_inference.imaging import to_8bit

Polarity = Literal["dark_on_light", "bright_on_dark", "auto"]
Resolved = Literal["dark_on_light", "bright_on_dark"]
Grey = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

# A pixel is object when its contrast to the background exceeds this many noise deviations:
# one background pixel in 300 000 passes by chance, and such specks fall under any minimum area.
NOISE_MULTIPLE = 4.5
# ... and the pixels connected to such a core down to this many deviations (hysteresis): the
# pale edges and appendages of an organism on a noisy scan.
EDGE_NOISE_MULTIPLE = 2.5
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
# The least contrast (grey levels) that counts, whatever the noise: the instruments' own
# defaults. ZooProcess takes grey level 245 on a scan it flattened to white (10 below the
# background); on its vignettes, written with gamma 2, that level is 235, 20 below white;
# UVP and FlowCam count pixels 15-20 levels beyond the background.
SCAN_MIN_CONTRAST = 10.0
VIGNETTE_MIN_CONTRAST = 20.0
# Grey levels this close to 0 (or 255) are the saturated ink of a legend.
SATURATION_MARGIN = 12
# The background under a scan: medians of blocks of this side (pixels), then a median over this
# many blocks around each, wider than the largest organism, so that organisms do not pull it.
BACKGROUND_BLOCK = 32
BACKGROUND_WINDOW = 15
# The background's noise and the polarity are judged on every n-th pixel of each axis.
SAMPLE_STEP = 4
# MAD → standard deviation of a normal law.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Foreground:
    """The object pixels of an image and how they were told from the background."""

    objects: Mask  # holes not filled
    polarity: Resolved
    threshold: float  # contrast above the background (grey levels), or the fixed grey level given
    noise: float  # standard deviation of the background (grey levels)


def grey_levels(image: Image.Image) -> Grey:
    """8-bit grey levels as floats; 16-bit and float images are brought to 8 bits first."""
    if image.mode.startswith("I") or image.mode == "F":
        image = to_8bit(image)
    return np.asarray(image.convert("L"), dtype=np.float32)


def scan_foreground(grey: Grey, polarity: Polarity, grey_threshold: int | None) -> Foreground:
    """Organisms on a whole scan: contrast to a smooth background that follows the scanner."""
    residual = grey - smooth_background(grey)
    sample = residual[::SAMPLE_STEP, ::SAMPLE_STEP]
    noise = _robust_sigma(sample)
    resolved = resolve_polarity(polarity, sample, noise)
    if grey_threshold is not None:
        return Foreground(_beyond_level(grey, resolved, grey_threshold), resolved, float(grey_threshold), noise)
    threshold = contrast_threshold(noise, SCAN_MIN_CONTRAST)
    signal = -residual if resolved == "dark_on_light" else residual
    edge = max(EDGE_NOISE_MULTIPLE * noise, SCAN_MIN_CONTRAST)
    return Foreground(_hysteresis(signal, edge, threshold), resolved, threshold, noise)


def grown(mask: Mask, steps: int) -> Mask:
    """``mask`` dilated by ``steps`` 8-connected steps: every pixel within ``steps`` rows and columns of it.

    The same pixels as dilating the whole image ``steps`` times with the 3x3 square, worked out on
    the mask's bounding box widened by ``steps`` (a legend or an organism is a small part of its
    image), as a maximum over rows then over columns: a square is the product of two segments.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    result = np.zeros_like(mask)
    if rows.size == 0:
        return result
    cols = np.flatnonzero(mask.any(axis=0))
    top, left = max(0, int(rows[0]) - steps), max(0, int(cols[0]) - steps)
    window = (slice(top, int(rows[-1]) + 1 + steps), slice(left, int(cols[-1]) + 1 + steps))
    part = mask[window]
    height, width = part.shape
    padded = np.zeros((height + 2 * steps, width + 2 * steps), dtype=bool)
    padded[steps : steps + height, steps : steps + width] = part
    across = padded[:, :width].copy()
    for shift in range(1, 2 * steps + 1):
        across |= padded[:, shift : shift + width]
    spread = across[:height].copy()
    for shift in range(1, 2 * steps + 1):
        spread |= across[shift : shift + height]
    result[window] = spread
    return result


def _hysteresis(signal: Grey, low: float, high: float) -> Mask:
    """Pixels above ``low`` connected to a pixel above ``high``.

    An organism's core stands well clear of the noise; its pale edge and appendages may not,
    and are kept where they hang on to a core. Noise alone rarely reaches ``high``.
    """
    candidates = signal > low
    if low >= high:
        return candidates
    labels, count = ndimage.label(candidates, structure=EIGHT_CONNECTED)
    anchored = np.zeros(count + 1, dtype=bool)
    anchored[labels[signal > high]] = True
    anchored[0] = False
    return anchored[labels]  # type: ignore[no-any-return]


def vignette_foreground(
    grey: Grey, polarity: Polarity, grey_threshold: int | None, ignored: Mask | None = None
) -> Foreground:
    """Organisms on a pre-cut vignette: contrast to the level of its border.

    ``ignored`` pixels (the legend) neither count as background nor become object.
    """
    kept = None if ignored is None else ~ignored
    border = _border(grey.shape)
    samples = grey[border] if kept is None else grey[border & kept]
    if samples.size == 0:
        samples = grey[kept] if kept is not None and kept.any() else grey.ravel()
    level = float(median_of(samples))
    noise = _robust_sigma(samples - level)
    if polarity == "auto":
        residual = grey - level
        resolved = resolve_polarity(polarity, residual.ravel() if kept is None else residual[kept], noise)
    else:
        resolved = polarity
    if grey_threshold is not None:
        objects = _beyond_level(grey, resolved, grey_threshold)
        return Foreground(objects if kept is None else objects & kept, resolved, float(grey_threshold), noise)
    threshold = contrast_threshold(noise, VIGNETTE_MIN_CONTRAST)
    signal = level - grey if resolved == "dark_on_light" else grey - level
    if ignored is not None:
        signal[ignored] = 0
    edge = max(EDGE_NOISE_MULTIPLE * noise, VIGNETTE_MIN_CONTRAST)
    return Foreground(_hysteresis(signal, edge, threshold), resolved, threshold, noise)


def saturated_ink(grey: Grey, polarity: Resolved) -> Mask:
    """Pixels at the organism's end of the grey scale, where legends are drawn (black or white)."""
    return grey <= SATURATION_MARGIN if polarity == "dark_on_light" else grey >= 255 - SATURATION_MARGIN


def contrast_threshold(noise: float, least: float) -> float:
    return max(NOISE_MULTIPLE * noise, least)


def resolve_polarity(polarity: Polarity, residual: Grey, noise: float) -> Resolved:
    """``auto``: organisms lie on the side of the background where the residual has more weight.

    Noise is symmetric and cancels; a gradient has been removed with the background; what is
    left beyond a few deviations on one side is organisms. Ties (a uniform image) go to
    ``dark_on_light``, the common case of transmitted light.
    """
    if polarity != "auto":
        return polarity
    margin = contrast_threshold(noise, SCAN_MIN_CONTRAST)
    darker = float(np.clip(-residual - margin, 0, None).sum())
    brighter = float(np.clip(residual - margin, 0, None).sum())
    return "bright_on_dark" if brighter > darker else "dark_on_light"


def smooth_background(grey: Grey) -> Grey:
    """The scan without its organisms: block medians, a wide median over blocks, bilinear.

    Each block's median ignores organisms covering less than half the block; the median over
    ``BACKGROUND_WINDOW``² blocks ignores blocks covered by organisms smaller than half the
    window (≈ 480 pixels across). Linear gradients come through unchanged.
    """
    height, width = grey.shape
    block = BACKGROUND_BLOCK
    if height < 2 * block or width < 2 * block:
        return np.full(grey.shape, np.median(grey), dtype=np.float32)
    rows, cols = height // block, width // block
    # Every other pixel of each block is plenty for a median and halves the work.
    blocks = grey[: rows * block, : cols * block].reshape(rows, block, cols, block)[:, ::2, :, ::2]
    medians = np.median(blocks.transpose(0, 2, 1, 3).reshape(rows, cols, -1), axis=2)
    window = min(BACKGROUND_WINDOW, 2 * (min(rows, cols) // 2) + 1)
    surface = median_filter(medians, size=window, mode="reflect")
    return _bilinear(surface.astype(np.float32), height, width, block)


def _bilinear(grid: Grey, height: int, width: int, block: int) -> Grey:
    """Upsample a grid of block values (each at its block's centre) to the full image."""
    ys = _interpolation(grid.shape[0], height, block)
    xs = _interpolation(grid.shape[1], width, block)
    rows = np.asarray(grid[ys[0]] * (1 - ys[2])[:, None] + grid[ys[1]] * ys[2][:, None], dtype=np.float32)
    return np.asarray(rows[:, xs[0]] * (1 - xs[2]) + rows[:, xs[1]] * xs[2], dtype=np.float32)


def _interpolation(cells: int, size: int, block: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], Grey]:
    position = np.clip((np.arange(size, dtype=np.float32) + 0.5) / block - 0.5, 0, cells - 1)
    lower = np.floor(position).astype(np.intp)
    upper = np.minimum(lower + 1, cells - 1)
    return lower, upper, (position - lower).astype(np.float32)


def _beyond_level(grey: Grey, polarity: Resolved, level: int) -> Mask:
    """ZooProcess's rule for a calibrated scanner: a fixed grey level separates organisms."""
    return grey < level if polarity == "dark_on_light" else grey > level


def _robust_sigma(values: Grey) -> float:
    if values.size == 0:
        return 0.0
    return float(MAD_TO_SIGMA * median_of(np.abs(values - median_of(values))))


def median_of(values: Grey) -> np.float32:
    """``np.median`` of an array of finite grey levels, its number type kept: the middle value,
    or the mean of the middle two. Without np.median's generality (axes, NaN checks), whose
    overhead exceeds the partition itself on the few thousand values of a vignette.
    """
    flat = values.ravel()
    middle = flat.size // 2
    if flat.size % 2:
        return np.partition(flat, middle)[middle]  # type: ignore[no-any-return]
    low, high = np.partition(flat, (middle - 1, middle))[middle - 1 : middle + 1]
    # Halving is exact: the same value as np.median's mean of the two.
    return (low + high) * np.float32(0.5)  # type: ignore[no-any-return]


def _border(shape: tuple[int, ...]) -> Mask:
    """The outermost two pixels of each side."""
    border = np.ones(shape, dtype=bool)
    border[2:-2, 2:-2] = False
    return border
