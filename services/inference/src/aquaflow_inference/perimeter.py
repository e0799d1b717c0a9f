"""The perimeter of a digitised region, measured so that it does not depend on orientation (pure).

Counting pixel edges (crack length) or joining boundary pixel centres makes a straight edge
look longer the further it is from the pixel axes: a staircase at 22.5° is 8 % longer than
the line it digitises, so a disc comes out ~5 % long and its circularity ~0.90. Here the
boundary is first traced at sub-pixel level, half way between each object pixel and its
background neighbour (marching squares on the mask at level 0.5: a closed polygon whose area
is the pixel count), and the polygon's vertices are then averaged along the contour with
weights 1-2-3-2-1. The averaging removes the staircase, whose period is a few vertices, and
barely moves a smooth boundary: a digitised disc of radius 8–80 pixels keeps its circularity
within 1 % of 1, and turning a 40-pixel square by 30° changes its perimeter by under 1 %
(``tests/unit/inference/test_features.py``). Sharp corners are rounded by about half a pixel,
so a small square (20 pixels) reads 2–5 % short.

The outline is traced here rather than by scikit-image's ``find_contours``, whose general
contour assembly (any grey image, any level) costs more than the rest of a vignette's
measures; on a mask it gives the very same polygons, vertex for vertex and in the same
order, so the lengths are the same to the last bit (``tests/unit/inference/test_perimeter.py``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Weights of the moving average along the contour (vertices before, at and after each vertex).
CONTOUR_SMOOTHING = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0

Vertices = npt.NDArray[np.float64]

# Marching squares on a mask at level 0.5. A cell is the square between four pixel centres;
# its case adds 1, 2, 4 and 8 for its upper-left, upper-right, lower-left and lower-right
# pixels in the region. The outline crosses the middle of a side of the cell whose two
# pixels differ: top, bottom, left or right, at these offsets (rows, columns) in half pixels.
TOP, BOTTOM, LEFT, RIGHT = 0, 1, 2, 3
SIDE_ROW = np.array([0, 2, 1, 1])
SIDE_COL = np.array([1, 1, 0, 2])
# The segments each case draws (from side, to side), the region on their right, in the order
# scikit-image draws them; diagonal pixels are connected (its fully_connected="high").
CASE_SEGMENTS: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((TOP, LEFT),),
    2: ((RIGHT, TOP),),
    3: ((RIGHT, LEFT),),
    4: ((LEFT, BOTTOM),),
    5: ((TOP, BOTTOM),),
    6: ((LEFT, TOP), (RIGHT, BOTTOM)),
    7: ((RIGHT, BOTTOM),),
    8: ((BOTTOM, RIGHT),),
    9: ((TOP, RIGHT), (BOTTOM, LEFT)),
    10: ((BOTTOM, TOP),),
    11: ((BOTTOM, LEFT),),
    12: ((LEFT, RIGHT),),
    13: ((TOP, RIGHT),),
    14: ((LEFT, TOP),),
}
_NONE = -1
FIRST_FROM = np.array([CASE_SEGMENTS[c][0][0] if c in CASE_SEGMENTS else _NONE for c in range(16)])
FIRST_TO = np.array([CASE_SEGMENTS[c][0][1] if c in CASE_SEGMENTS else _NONE for c in range(16)])
SECOND_FROM = np.array([CASE_SEGMENTS[c][1][0] if len(CASE_SEGMENTS.get(c, ())) > 1 else _NONE for c in range(16)])
SECOND_TO = np.array([CASE_SEGMENTS[c][1][1] if len(CASE_SEGMENTS.get(c, ())) > 1 else _NONE for c in range(16)])


def perimeter(mask: npt.NDArray[np.bool_]) -> float:
    """Length of the outline of the object pixels in ``mask`` (pixels), holes not counted.

    ``mask`` should hold one 8-connected object with its holes filled; with several objects
    the lengths of their outlines add up.
    """
    if not mask.any():
        return 0.0
    padded = np.pad(mask, 1)  # closes the outline of an object on the edge
    return float(sum(_smoothed_length(contour) for contour in outlines(padded)))


def outlines(mask: npt.NDArray[np.bool_]) -> list[Vertices]:
    """The closed outlines of ``mask``'s regions at level 0.5, as ``find_contours`` traces them.

    Each is a polygon of (row, column) vertices, its first vertex not repeated at the end;
    they come in the order of their first segment in reading order, each starting where the
    last of its segments in reading order ends. ``mask`` must be False along its edges.
    """
    width = mask.shape[1]
    pixels = mask.astype(np.uint8)
    cases = pixels[:-1, :-1] + 2 * pixels[:-1, 1:] + 4 * pixels[1:, :-1] + 8 * pixels[1:, 1:]
    flat = cases.ravel()
    cells = np.flatnonzero((flat != 0) & (flat != 15))
    kinds = flat[cells]
    saddle = SECOND_FROM[kinds] != _NONE
    # Segments in the order they are drawn: cell by cell in reading order, a saddle's two in turn.
    counts = 1 + saddle
    starts = np.cumsum(counts) - counts
    from_side = np.empty(int(counts.sum()), dtype=np.intp)
    to_side = np.empty_like(from_side)
    from_side[starts] = FIRST_FROM[kinds]
    to_side[starts] = FIRST_TO[kinds]
    from_side[starts[saddle] + 1] = SECOND_FROM[kinds[saddle]]
    to_side[starts[saddle] + 1] = SECOND_TO[kinds[saddle]]
    rows, cols = np.divmod(np.repeat(cells, counts), width - 1)
    # Vertices in half pixels, so that each has one integer key.
    from_row, from_col = 2 * rows + SIDE_ROW[from_side], 2 * cols + SIDE_COL[from_side]
    to_key = (2 * rows + SIDE_ROW[to_side]) * (2 * width) + 2 * cols + SIDE_COL[to_side]
    from_key = from_row * (2 * width) + from_col
    # On a mask each vertex starts one segment and ends one: the outlines are the cycles of "next".
    order = np.argsort(from_key)
    following = order[np.searchsorted(from_key[order], to_key)].tolist()
    vertices = np.column_stack([from_row, from_col]) / 2.0
    found = []
    seen = [False] * len(following)
    for first in range(len(following)):
        if seen[first]:
            continue
        cycle = []
        segment = first
        while not seen[segment]:
            seen[segment] = True
            cycle.append(segment)
            segment = following[segment]
        # find_contours closes an outline with its last segment drawn: the outline starts where it ends.
        last = cycle.index(max(cycle)) + 1
        found.append(vertices[cycle[last:] + cycle[:last]])
    return found


def _smoothed_length(closed: Vertices) -> float:
    count = len(closed)
    if count < len(CONTOUR_SMOOTHING):
        return _length(closed)
    half = len(CONTOUR_SMOOTHING) // 2
    # The polygon with ``half`` vertices wrapped around at each end: vertex i moved by s is
    # wrapped[half + i - s], what np.roll(closed, s) holds at i, without a roll per weight.
    wrapped = np.concatenate([closed[-half:], closed, closed[:half]])
    smoothed = sum(
        w * wrapped[half - s : half - s + count] for s, w in zip(range(-half, half + 1), CONTOUR_SMOOTHING, strict=True)
    )
    return _length(np.asarray(smoothed))


def _length(vertices: Vertices) -> float:
    """Length of the closed polygon through ``vertices``."""
    steps = np.concatenate([vertices[1:], vertices[:1]]) - vertices
    return float(np.hypot(steps[:, 0], steps[:, 1]).sum())
