"""Unit conversions for plankton measurements: pixels to millimetres, ESD, biovolume. No I/O."""

from __future__ import annotations

import math

MICROMETRES_PER_MILLIMETRE = 1000.0


def length_mm(pixels: float, pixel_size_um: float) -> float:
    return pixels * pixel_size_um / MICROMETRES_PER_MILLIMETRE


def area_mm2(area_pixels: float, pixel_size_um: float) -> float:
    side_mm = pixel_size_um / MICROMETRES_PER_MILLIMETRE
    return area_pixels * side_mm * side_mm


def esd_from_area(area: float) -> float:
    """Equivalent spherical diameter: the diameter of the disc of the same area (same unit)."""
    return 2.0 * math.sqrt(area / math.pi)


def sphere_volume(diameter: float) -> float:
    """Biovolume of a sphere of that diameter, π/6·d³ (mm → mm³)."""
    return math.pi / 6.0 * diameter**3
