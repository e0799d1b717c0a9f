"""Which of a vignette's objects is its organism (pure).

An instrument cuts a vignette around one organism and centres it; neighbours cut by the
vignette's edge, dust and specks are smaller or off-centre. Thresholding may split a pale
organism into a body and fragments a pixel or two apart: those are joined back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from aquaflow_inference.foreground import grown

Mask = npt.NDArray[np.bool_]
Box = tuple[slice, slice]

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
# The organism's box meets the middle of the vignette: this share of each side, centred.
CENTRE_SHARE = 0.5
# Fragments that come this many pixels close to the organism (one background pixel between) belong to it.
FRAGMENT_GAP = 2


@dataclass(frozen=True)
class Organism:
    box: Box  # the bounding box of its pixels in the vignette
    pixels: Mask  # its pixels within the box (holes not filled)


def organism_of(objects: Mask) -> Organism | None:
    """The organism (holes not filled) and its bounding box, or None when there are no objects.

    Worked out on labels and boxes: the pixels are drawn once, within the organism's box.
    """
    labels, count = ndimage.label(objects, structure=EIGHT_CONNECTED)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    boxes = ndimage.find_objects(labels)
    central = [i + 1 for i, box in enumerate(boxes) if box is not None and _meets_centre(box, objects.shape)]
    main = max(central or range(1, count + 1), key=lambda i: sizes[i])
    members = np.zeros(count + 1, dtype=bool)
    members[main] = True
    joined = [main]
    while True:
        # Every pixel within FRAGMENT_GAP of the organism lies within its box widened by as much.
        box = _widened(_union(boxes, joined), FRAGMENT_GAP)
        window = labels[box]
        reach = grown(members[window], FRAGMENT_GAP)
        touched = np.unique(window[reach])
        # The labels the reach touches always include the organism's own: none new, none to join.
        touched = touched[touched > 0]
        if touched.size == len(joined):
            organism_box = _union(boxes, joined)
            return Organism(organism_box, members[labels[organism_box]])
        joined = [int(i) for i in touched]
        members[touched] = True


def _union(boxes: list[Box | None], indices: list[int]) -> Box:
    """The bounding box of the labelled objects ``indices`` (labels start at 1)."""
    chosen = [box for i in indices if (box := boxes[i - 1]) is not None]
    rows = slice(min(b[0].start for b in chosen), max(b[0].stop for b in chosen))
    cols = slice(min(b[1].start for b in chosen), max(b[1].stop for b in chosen))
    return rows, cols


def _widened(box: Box, margin: int) -> Box:
    rows, cols = box
    return (
        slice(max(0, rows.start - margin), rows.stop + margin),
        slice(max(0, cols.start - margin), cols.stop + margin),
    )


def _meets_centre(box: tuple[slice, slice], shape: tuple[int, ...]) -> bool:
    rows, cols = box
    return _overlaps(rows, shape[0]) and _overlaps(cols, shape[1])


def _overlaps(span: slice, size: int) -> bool:
    margin = size * (1 - CENTRE_SHARE) / 2
    return bool(span.start < size - margin and span.stop > margin)
