"""Which of a vignette's objects is its organism (pure).

An instrument cuts a vignette around one organism and centres it; neighbours cut by the
vignette's edge, dust and specks are smaller or off-centre. Thresholding may split a pale
organism into a body and fragments a pixel or two apart: those are joined back.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

Mask = npt.NDArray[np.bool_]

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
# The organism's box meets the middle of the vignette: this share of each side, centred.
CENTRE_SHARE = 0.5
# Fragments that come this many pixels close to the organism (one background pixel between) belong to it.
FRAGMENT_GAP = 2


def organism_of(objects: Mask) -> Mask | None:
    """The organism's pixels (holes not filled), or None when there are no objects."""
    labels, count = ndimage.label(objects, structure=EIGHT_CONNECTED)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    boxes = ndimage.find_objects(labels)
    central = [i + 1 for i, box in enumerate(boxes) if box is not None and _meets_centre(box, objects.shape)]
    main = max(central or range(1, count + 1), key=lambda i: sizes[i])
    organism: Mask = labels == main
    while True:
        reach = ndimage.binary_dilation(organism, structure=EIGHT_CONNECTED, iterations=FRAGMENT_GAP)
        joined: Mask = np.isin(labels, np.unique(labels[reach & (labels > 0)]))
        if joined.sum() == organism.sum():
            return organism
        organism = joined


def _meets_centre(box: tuple[slice, slice], shape: tuple[int, ...]) -> bool:
    rows, cols = box
    return _overlaps(rows, shape[0]) and _overlaps(cols, shape[1])


def _overlaps(span: slice, size: int) -> bool:
    margin = size * (1 - CENTRE_SHARE) / 2
    return bool(span.start < size - margin and span.stop > margin)
