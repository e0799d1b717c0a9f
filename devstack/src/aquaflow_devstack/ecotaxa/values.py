"""Cleaning and parsing of TSV cell values, by EcoTaxa's rules (py/BO/helpers/TSVHelpers.py, py/DB/Object.py)."""

from __future__ import annotations

import datetime
import math
import re

# A numeric cell holding one of these is missing data, like an empty cell.
_MISSING_NUMERIC = frozenset({"nan", "na"})
_DEGREES_MINUTES_SECONDS = re.compile(r"(-?\d+)°(\d+) (\d+)")


def clean_value(raw: str | None, *, numeric: bool = False) -> str:
    """Strip a cell; '' when absent, and for a numeric column also when it says nan/na."""
    if raw is None:
        return ""
    value = raw.strip()
    if numeric and value.lower() in _MISSING_NUMERIC:
        return ""
    return value


def to_float(value: str) -> float | None:
    """A float, or None when it does not parse; -inf is refused as EcoTaxa does."""
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return None if number == float("-inf") else number


def to_decimal_degrees(value: str) -> float | None:
    """Decimal degrees from '43.7' or from the UVP notation 'DDD°MM SS'."""
    match = _DEGREES_MINUTES_SECONDS.search(value)
    if match is None:
        return to_float(value)
    degrees, minutes, seconds = (float(part) for part in match.group(1, 2, 3))
    minutes += seconds / 60
    return degrees + math.copysign(minutes / 60, degrees)


def parse_date(text: str) -> datetime.date:
    """YYYYMMDD, or YYYY-MM-DD; raises ValueError otherwise."""
    if text[4:5] == text[7:8] == "-":
        return datetime.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    return datetime.date(int(text[0:4]), int(text[4:6]), int(text[6:8]))


def parse_time(text: str) -> datetime.time:
    """HHMM with optional SS (left-padded, spreadsheets drop zeros), or HH:MM:SS; raises ValueError."""
    if text[2:3] == text[5:6] == ":":
        return datetime.time(int(text[0:2]), int(text[3:5]), int(text[6:8]))
    if len(text) < 4:
        text = "0" * (4 - len(text)) + text
    if len(text) < 6:
        text += "0" * (6 - len(text))
    return datetime.time(int(text[0:2]), int(text[2:4]), int(text[4:6]))
