"""The legend that instruments draw on a pre-cut vignette, found so that it is never measured (pure).

ZooProcess, the UVP software and EcoTaxa exports draw on each vignette, in ink of the
organism's polarity:
- a scale bar: a thin, straight, horizontal line in the lower part (``|____|`` on UVP
  vignettes, whose end ticks stand up from it);
- its caption ("100 µm", "1 mm") and the vignette's name ("l_8_1b"), a line of small glyphs
  just above or below the bar;
- on ZooScan vignettes, two corner marks: thin L-shaped brackets at the top-left and
  bottom-right corners of the organism's box.

These are recognised by shape among the ink's connected components: the bar is a component
much wider than tall whose longest row is nearly its whole width; the caption is the small
components in the band of rows next to the bar; a corner mark is a component that lies on two
adjacent sides of its own box, like an L. The organism never has these shapes as a whole: it is
at the vignette's centre, taller than a line of text, and not a bare L.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

Mask = npt.NDArray[np.bool_]

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
# A scale bar: at least this long, this many times longer than tall, its longest run of ink
# this share of its width, its middle below this share of the vignette's height.
BAR_MIN_LENGTH = 8
BAR_MIN_ASPECT = 4.0
BAR_MIN_RUN = 0.8
BAR_LOWEST_START = 0.6
# Caption glyphs: no taller than this (pixels, or this share of the height), ending at most
# this far above the bar (or starting this far below it).
GLYPH_MAX_HEIGHT_PX = 14
GLYPH_MAX_HEIGHT_SHARE = 0.08
CAPTION_GAP_PX = 8
# A corner mark: arms at least this long, at most this thick, all its ink on the two arms.
MARK_MIN_ARM = 6
MARK_MAX_THICKNESS = 3
MARK_MAX_SHARE = 0.5  # of the vignette's smaller side
MARK_INK_ON_ARMS = 0.95
MARK_ARM_COVERAGE = 0.8
# Pixels this close to legend ink are legend too (anti-aliasing, JPEG ringing).
LEGEND_HALO = 1


@dataclass(frozen=True)
class Component:
    index: int  # label in the labelled ink
    top: int
    left: int
    ink: Mask  # the component's pixels in its bounding box

    @property
    def height(self) -> int:
        return int(self.ink.shape[0])

    @property
    def width(self) -> int:
        return int(self.ink.shape[1])

    @property
    def bottom(self) -> int:
        return self.top + self.height


def legend_mask(*inks: Mask) -> Mask:
    """The legend's pixels among the ``inks``, masks of pixels that contrast with the background.

    Legends are drawn in flat, saturated ink (black on white, white on black) or a flat grey;
    give both the pixels that contrast at all and those at the end of the grey scale: in the
    latter a mark drawn against a paler organism stands apart from it. The scale bar and its
    caption are taken as a whole, the box around the bar and the glyphs beside it, so that a
    glyph touching the organism is still legend (the organism's part inside that box is lost).
    Returns an empty mask when the vignette has no legend.
    """
    legend = np.zeros(inks[0].shape, dtype=bool)
    for ink in inks:
        legend |= _legend_in(ink)
    if not legend.any():
        return legend
    return ndimage.binary_dilation(legend, structure=EIGHT_CONNECTED, iterations=LEGEND_HALO)  # type: ignore[no-any-return]


def _legend_in(ink: Mask) -> Mask:
    labels, _ = ndimage.label(ink, structure=EIGHT_CONNECTED)
    components = [
        Component(i + 1, box[0].start, box[1].start, labels[box] == i + 1)
        for i, box in enumerate(ndimage.find_objects(labels))
        if box is not None
    ]
    height, width = ink.shape
    legend = np.zeros(ink.shape, dtype=bool)
    marks = [c.index for c in components if is_corner_mark(c, height, width)]
    legend |= np.isin(labels, marks)
    for bar in (c for c in components if is_scale_bar(c, height)):
        caption = [c for c in components if is_caption_of(c, bar, height)]
        top = min(c.top for c in [bar, *caption])
        bottom = max(c.bottom for c in [bar, *caption])
        left = min(c.left for c in [bar, *caption])
        right = max(c.left + c.width for c in [bar, *caption])
        legend[top:bottom, left:right] = True
        legend |= np.isin(labels, [bar.index] + [c.index for c in caption])
    return legend


def is_scale_bar(component: Component, height: int) -> bool:
    if component.width < BAR_MIN_LENGTH or component.width < BAR_MIN_ASPECT * component.height:
        return False
    if (component.top + component.bottom) / 2 < BAR_LOWEST_START * height:
        return False
    return _longest_row_run(component.ink) >= BAR_MIN_RUN * component.width


def is_caption_of(component: Component, bar: Component, height: int) -> bool:
    """A glyph of the text line just above or just below ``bar``."""
    if component.index == bar.index:
        return False
    tallest = max(GLYPH_MAX_HEIGHT_PX, round(GLYPH_MAX_HEIGHT_SHARE * height))
    if component.height > tallest:
        return False
    above = bar.top - CAPTION_GAP_PX <= component.bottom <= bar.bottom
    below = bar.top <= component.top <= bar.bottom + CAPTION_GAP_PX
    return above or below


def is_corner_mark(component: Component, height: int, width: int) -> bool:
    """An L bracket: two thin arms along adjacent sides of its box, and nothing else."""
    h, w = component.height, component.width
    if min(h, w) < MARK_MIN_ARM or max(h, w) > MARK_MAX_SHARE * min(height, width):
        return False
    ink = component.ink
    total = int(ink.sum())
    if total > (h + w) * MARK_MAX_THICKNESS:
        return False
    t = MARK_MAX_THICKNESS
    for rows in (slice(0, t), slice(h - t, h)):
        for cols in (slice(0, t), slice(w - t, w)):
            arms = np.zeros_like(ink)
            arms[rows, :] = True
            arms[:, cols] = True
            on_arms = int((ink & arms).sum()) >= MARK_INK_ON_ARMS * total
            horizontal = ink[rows, :].any(axis=0).mean() >= MARK_ARM_COVERAGE
            vertical = ink[:, cols].any(axis=1).mean() >= MARK_ARM_COVERAGE
            if on_arms and horizontal and vertical:
                return True
    return False


def _longest_row_run(ink: Mask) -> int:
    """The longest horizontal run of ink in any row."""
    longest = 0
    for row in ink:
        padded = np.concatenate([[False], row, [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        if edges.size:
            longest = max(longest, int((edges[1::2] - edges[::2]).max()))
    return longest
