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

from aquaflow_inference.foreground import grown

Mask = npt.NDArray[np.bool_]
Labels = npt.NDArray[np.int32]

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


Indices = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Pieces:
    """The connected pieces of one ink, as arrays: piece ``i`` is label ``i + 1`` of ``labels``.

    Their boxes are judged all at once; only the few boxes shaped like a legend piece have their
    ink cut out and looked at, since a vignette's ink holds dozens of specks.
    """

    labels: Labels
    top: Indices
    left: Indices
    bottom: Indices  # exclusive
    right: Indices  # exclusive
    size: Indices  # pixels

    @property
    def height(self) -> Indices:
        return self.bottom - self.top

    @property
    def width(self) -> Indices:
        return self.right - self.left

    def ink(self, i: int) -> Mask:
        """Piece ``i``'s pixels in its box."""
        box = self.labels[self.top[i] : self.bottom[i], self.left[i] : self.right[i]]
        return box == i + 1  # type: ignore[no-any-return]


def pieces_of(ink: Mask) -> Pieces:
    labels, count = ndimage.label(ink, structure=EIGHT_CONNECTED)
    # Labels run from 1 to count without gaps: every box is there.
    boxes = [(b[0].start, b[1].start, b[0].stop, b[1].stop) for b in ndimage.find_objects(labels) if b is not None]
    top, left, bottom, right = np.array(boxes, dtype=np.intp).reshape(count, 4).T
    size = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    return Pieces(labels, top, left, bottom, right, size)


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
    return grown(legend, LEGEND_HALO)


def _legend_in(ink: Mask) -> Mask:
    pieces = pieces_of(ink)
    height, width = ink.shape
    legend = np.zeros(ink.shape, dtype=bool)
    # Which labels are legend: one lookup over the labelled ink at the end, not one pass per piece.
    chosen = np.zeros(pieces.size.size + 1, dtype=bool)
    for i in np.flatnonzero(boxed_like_corner_mark(pieces, height, width)).tolist():
        chosen[i + 1] = inked_like_corner_mark(pieces.ink(i), int(pieces.size[i]))
    for bar in np.flatnonzero(boxed_like_scale_bar(pieces, height)).tolist():
        if _longest_row_run(pieces.ink(bar)) < BAR_MIN_RUN * int(pieces.width[bar]):
            continue
        members = captions_of(pieces, bar, height)
        members[bar] = True
        top, bottom = int(pieces.top[members].min()), int(pieces.bottom[members].max())
        left, right = int(pieces.left[members].min()), int(pieces.right[members].max())
        legend[top:bottom, left:right] = True
        chosen[1:] |= members
    if chosen.any():
        legend |= chosen[pieces.labels]
    return legend


def boxed_like_scale_bar(pieces: Pieces, height: int) -> Mask:
    """Pieces long, flat and low enough to be a scale bar; one is if its ink runs along it (``BAR_MIN_RUN``)."""
    width = pieces.width
    long_and_flat = (width >= BAR_MIN_LENGTH) & (width >= BAR_MIN_ASPECT * pieces.height)
    return long_and_flat & ((pieces.top + pieces.bottom) / 2 >= BAR_LOWEST_START * height)  # type: ignore[no-any-return]


def captions_of(pieces: Pieces, bar: int, height: int) -> Mask:
    """The glyphs of the text lines just above and just below piece ``bar``."""
    tallest = max(GLYPH_MAX_HEIGHT_PX, round(GLYPH_MAX_HEIGHT_SHARE * height))
    top, bottom = int(pieces.top[bar]), int(pieces.bottom[bar])
    above = (top - CAPTION_GAP_PX <= pieces.bottom) & (pieces.bottom <= bottom)
    below = (top <= pieces.top) & (pieces.top <= bottom + CAPTION_GAP_PX)
    glyphs: Mask = (pieces.height <= tallest) & (above | below)
    glyphs[bar] = False
    return glyphs


def boxed_like_corner_mark(pieces: Pieces, height: int, width: int) -> Mask:
    """Pieces whose box and pixel count fit an L bracket: both arms long enough, thin enough."""
    h, w = pieces.height, pieces.width
    sized = (np.minimum(h, w) >= MARK_MIN_ARM) & (np.maximum(h, w) <= MARK_MAX_SHARE * min(height, width))
    return sized & (pieces.size <= (h + w) * MARK_MAX_THICKNESS)  # type: ignore[no-any-return]


def inked_like_corner_mark(ink: Mask, total: int) -> bool:
    """An L bracket: two thin arms along adjacent sides of its box, and nothing else."""
    h, w = ink.shape
    t = MARK_MAX_THICKNESS
    bands = (slice(0, t), slice(h - t, h)), (slice(0, t), slice(w - t, w))
    # Arms first (cheap), then whether all the ink is on them.
    horizontal = [rows for rows in bands[0] if _share(ink[rows, :].any(axis=0)) >= MARK_ARM_COVERAGE]
    vertical = [cols for cols in bands[1] if _share(ink[:, cols].any(axis=1)) >= MARK_ARM_COVERAGE]
    for rows in horizontal:
        for cols in vertical:
            # The ink on the two arms, counted without drawing them: the corner they share counts once.
            shared = np.count_nonzero(ink[rows, cols])
            on_arms = np.count_nonzero(ink[rows, :]) + np.count_nonzero(ink[:, cols]) - shared
            if on_arms >= MARK_INK_ON_ARMS * total:
                return True
    return False


def _share(covered: Mask) -> float:
    """The share of ``covered`` that is True (its mean, counted)."""
    return int(np.count_nonzero(covered)) / covered.size


def _longest_row_run(ink: Mask) -> int:
    """The longest horizontal run of ink in any row."""
    padded = np.zeros((ink.shape[0], ink.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = ink
    edges = np.diff(padded, axis=1)
    # Row by row, runs start (+1) and end (-1) in turn: the k-th start in reading order pairs with the k-th end.
    starts = np.nonzero(edges == 1)[1]
    ends = np.nonzero(edges == -1)[1]
    return int((ends - starts).max()) if starts.size else 0
