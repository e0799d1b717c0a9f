"""The sample manifest: its format (docs/samples.md), parsing and validation. Pure, no I/O.

A manifest is uploaded beside a sample's images as ``sample.json`` (a small JSON
object) or ``sample.tsv`` (EcoTaxa style: a header row, a ``[t]``/``[f]`` types row
and one data row of ``sample_*`` columns). Image objects may also carry sample
metadata as user metadata (``x-amz-meta-sample-station: …``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aquaflow_shared.contracts import SampleId
from aquaflow_shared.errors import PermanentError

MAX_MANIFEST_BYTES = 1024 * 1024
MISSING = {"", "nan", "na", "none", "null"}
# TSV and user-metadata names that differ from the JSON ones (EcoTaxa habits).
ALIASES = {"latitude": "lat", "longitude": "lon", "depthmin": "depth_min", "depthmax": "depth_max"}
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_TIME = re.compile(r"^(\d{2}):?(\d{2})(?::?(\d{2}))?$")


class ManifestInvalid(PermanentError):
    code = "invalid_manifest"


def normal_date(value: str) -> tuple[str, str | None]:
    """``YYYYMMDD`` or an ISO date or date-time → (``YYYYMMDD``, ``HHMMSS`` or None)."""
    text = value.strip()
    if re.fullmatch(r"\d{8}", text):
        datetime.strptime(text, "%Y%m%d")  # validates the calendar date
        return text, None
    if _ISO_DATE.match(text):
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        has_time = len(text) > 10
        return parsed.strftime("%Y%m%d"), parsed.strftime("%H%M%S") if has_time else None
    raise ValueError(f"date {value!r} is neither YYYYMMDD nor ISO 8601")


def normal_time(value: str) -> str:
    """``HHMMSS``, ``HHMM``, ``HH:MM`` or ``HH:MM:SS`` → ``HHMMSS``."""
    found = _TIME.match(value.strip())
    if not found:
        raise ValueError(f"time {value!r} is not HHMMSS or HH:MM[:SS]")
    hours, minutes, seconds = int(found[1]), int(found[2]), int(found[3] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"time {value!r} is out of range")
    return f"{hours:02d}{minutes:02d}{seconds:02d}"


class SampleMetadata(BaseModel):
    """What is known of a sample; every field optional. Units in the names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    station: str | None = Field(default=None, max_length=200)
    lat: float | None = Field(default=None, ge=-90.0, le=90.0, description="decimal degrees")
    lon: float | None = Field(default=None, ge=-180.0, le=180.0, description="decimal degrees")
    date: str | None = Field(default=None, description="YYYYMMDD (ISO dates are converted)")
    time: str | None = Field(default=None, description="HHMMSS")
    depth_min: float | None = Field(default=None, ge=0.0, description="m")
    depth_max: float | None = Field(default=None, ge=0.0, description="m")
    volume_m3: float | None = Field(default=None, gt=0.0, description="sampled volume, m³")
    volume_ml: float | None = Field(default=None, gt=0.0, description="sampled volume, mL (FlowCam)")
    pixel_size_um: float | None = Field(default=None, gt=0.0, description="µm per pixel")
    instrument: str | None = Field(default=None, max_length=100)
    # Anything else the scientist wants kept with the sample (free text or numbers).
    fields: dict[str, str | float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_date_time(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("date"), str):
            date, time = normal_date(data["date"])
            data = {**data, "date": date}
            if time is not None and not data.get("time"):
                data["time"] = time
        if isinstance(data, dict) and data.get("time") is not None:
            data = {**data, "time": normal_time(str(data["time"]))}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> SampleMetadata:
        if self.depth_min is not None and self.depth_max is not None and self.depth_min > self.depth_max:
            raise ValueError(f"depth_min {self.depth_min} m is below depth_max {self.depth_max} m")
        if self.volume_m3 is not None and self.volume_ml is not None:
            raise ValueError("give the sampled volume once: volume_m3 or volume_ml, not both")
        return self

    def as_document(self) -> dict[str, Any]:
        """Known fields only, free fields merged in, for the ``metadata`` of a sample document."""
        known = self.model_dump(exclude={"fields"}, exclude_none=True)
        return {**self.fields, **known}


class SampleManifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sample_id: SampleId
    # The sample is complete when this many uploads are processed or failed.
    expected_objects: int | None = Field(default=None, ge=0)
    metadata: SampleMetadata = Field(default_factory=SampleMetadata)

    @field_validator("sample_id", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


def _problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in error.errors()[:5])


def manifest_from_fields(values: dict[str, Any]) -> SampleManifest:
    """Build a manifest from flat fields (the JSON object's keys, or TSV columns without ``sample_``)."""
    flat = {ALIASES.get(k, k): v for k, v in values.items()}
    sample_id = flat.pop("sample_id", flat.pop("id", None))
    expected = flat.pop("expected_objects", None)
    known = set(SampleMetadata.model_fields) - {"fields"}
    free = dict(flat.pop("fields", None) or {})
    free |= {k: v for k, v in flat.items() if k not in known}
    metadata = {k: v for k, v in flat.items() if k in known}
    try:
        return SampleManifest(
            sample_id=sample_id,
            expected_objects=int(expected) if isinstance(expected, float) and expected.is_integer() else expected,
            metadata=SampleMetadata(**metadata, fields=free),
        )
    except (ValidationError, ValueError, TypeError) as error:
        reason = _problems(error) if isinstance(error, ValidationError) else str(error)
        raise ManifestInvalid(f"invalid sample manifest: {reason}") from error


def parse_json_manifest(data: bytes) -> SampleManifest:
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestInvalid(f"sample manifest is not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ManifestInvalid("sample manifest is not a JSON object")
    return manifest_from_fields(raw)


def _text(data: bytes) -> str:
    # EcoTaxa reads TSV as latin-1 unless it starts with a UTF-8 BOM; accept plain UTF-8 too.
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_tsv_manifest(data: bytes) -> SampleManifest:
    rows = [row for row in csv.reader(io.StringIO(_text(data)), delimiter="\t") if any(cell.strip() for cell in row)]
    if len(rows) != 3:
        raise ManifestInvalid(
            f"sample.tsv needs a header row, a [t]/[f] types row and one data row; found {len(rows)} rows"
        )
    header, types, values = ([cell.strip() for cell in row] for row in rows)
    if not len(header) == len(types) == len(values):
        raise ManifestInvalid("sample.tsv rows differ in length")
    fields: dict[str, Any] = {}
    for name, kind, value in zip(header, types, values, strict=True):
        column = name.lower()
        if not column.startswith("sample_"):
            raise ManifestInvalid(f"sample.tsv column {name!r} is not a sample_* column")
        if kind.lower() not in {"[t]", "[f]"}:
            raise ManifestInvalid(f"sample.tsv column {name!r} has type {kind!r}, not [t] or [f]")
        if value.lower() in MISSING:
            continue
        if kind.lower() == "[f]":
            try:
                fields[column.removeprefix("sample_") if column != "sample_id" else column] = float(value)
            except ValueError as error:
                raise ManifestInvalid(f"sample.tsv column {name!r} is [f] but holds {value!r}") from error
        else:
            fields[column.removeprefix("sample_") if column != "sample_id" else column] = value
    return manifest_from_fields(fields)


def parse_manifest(key: str, data: bytes) -> SampleManifest:
    """Parse a manifest object by its name: ``*.json`` or ``*.tsv``."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"sample manifest is {len(data)} bytes; at most {MAX_MANIFEST_BYTES} are read")
    suffix = PurePosixPath(key).suffix.lower()
    if suffix == ".json":
        return parse_json_manifest(data)
    if suffix in {".tsv", ".txt"}:
        return parse_tsv_manifest(data)
    raise ManifestInvalid(f"sample manifest {key!r} is neither .json nor .tsv")


def metadata_from_user_metadata(user_metadata: dict[str, str]) -> SampleMetadata | None:
    """Sample metadata an image carries as ``sample_*`` (or ``sample-*``) user metadata.

    Best effort: an upload's other metadata must not make its result fail, so values
    that do not validate are left out. The sample id itself comes from routing, never
    from here.
    """
    values: dict[str, Any] = {}
    for name, value in user_metadata.items():
        key = name.lower().replace("-", "_")
        if key.startswith("sample_") and key != "sample_id" and value.strip().lower() not in MISSING:
            values[key.removeprefix("sample_")] = value.strip()
    if not values:
        return None
    flat = {ALIASES.get(k, k): v for k, v in values.items()}
    known = set(SampleMetadata.model_fields) - {"fields"}
    kept: dict[str, Any] = {"fields": {k: v for k, v in flat.items() if k not in known}}
    for field, value in flat.items():
        if field in known:
            try:
                SampleMetadata(**{field: value})
            except (ValidationError, ValueError):
                continue
            kept[field] = value
    try:
        return SampleMetadata(**kept)
    except (ValidationError, ValueError):
        return SampleMetadata(fields=kept["fields"])
