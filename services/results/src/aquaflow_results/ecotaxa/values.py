"""Values written as EcoTaxa reads them: pure formatting, empty for missing."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from typing import Any

_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y")
_TIME_RE = re.compile(r"^(\d{1,2}):?(\d{2})(?::?(\d{2}))?(?:\.\d+)?$")
_UNSAFE_TEXT = re.compile(r"[\t\r\n]+")


def number(value: Any) -> str:
    """A finite number as text without loss that matters; anything else is empty."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return ""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


def is_number(value: Any) -> bool:
    return number(value) != ""


def text(value: Any) -> str:
    """Free text on one line: tabs and line breaks would break the table."""
    if value is None:
        return ""
    return _UNSAFE_TEXT.sub(" ", str(value)).strip()


def ecotaxa_date(value: Any) -> str:
    """``YYYYMMDD`` from a date, a datetime or common date strings; empty if not a date."""
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    if not isinstance(value, str) or not value.strip():
        return ""
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt).strftime("%Y%m%d")
        except ValueError:
            continue
    return ""


def ecotaxa_time(value: Any) -> str:
    """``HHMMSS`` from a time, a datetime or ``HHMMSS``/``HH:MM[:SS]``; empty if not a time."""
    if isinstance(value, datetime | time):
        return value.strftime("%H%M%S")
    if not isinstance(value, str) or not value.strip():
        return ""
    raw = value.strip()
    if raw.isdigit() and len(raw) == 6:
        hours, minutes, seconds = int(raw[:2]), int(raw[2:4]), int(raw[4:])
    else:
        match = _TIME_RE.match(raw)
        if match is None:
            return ""
        hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        return ""
    return f"{hours:02d}{minutes:02d}{seconds:02d}"


def _coordinate(value: Any, limit: float) -> str:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return ""
    if not is_number(value) or abs(float(value)) > limit:
        return ""
    return number(float(value))


def latitude(value: Any) -> str:
    """Decimal degrees in −90..90; empty otherwise."""
    return _coordinate(value, 90.0)


def longitude(value: Any) -> str:
    """Decimal degrees in −180..180; empty otherwise."""
    return _coordinate(value, 180.0)


def as_float(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def column_suffix(name: str) -> str:
    """A free column name part: lowercase letters, digits and underscores."""
    cleaned = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    return cleaned or "value"
