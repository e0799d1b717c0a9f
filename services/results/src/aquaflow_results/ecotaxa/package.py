"""One sample's EcoTaxa import package: a zip with ``ecotaxa_<sample>.tsv`` and the region images.

Pure: documents and image bytes in, zip bytes out. The table follows EcoTaxa's importer:
UTF-8 with a BOM, lowercase headers, names on row 1, ``[f]``/``[t]`` on row 2, data from
row 3; one row per object, ``object_id`` deterministic (the result's own id), so a second
import of the same sample with ``skip_existing_objects`` adds nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aquaflow_results.aggregates import one_per_upload
from aquaflow_results.ecotaxa.columns import (
    FIXED_OBJECT_COLUMNS,
    MAX_CUSTOM_NUMERIC,
    NUMBER,
    OBJECT_COLUMNS,
    PREDEFINED_OBJECT_COLUMNS,
    SAMPLE_KEYS_USED_ELSEWHERE,
    TEXT,
    feature,
)
from aquaflow_results.ecotaxa.images import UnusableImage, prepare_image
from aquaflow_results.ecotaxa.values import (
    as_float,
    column_suffix,
    ecotaxa_date,
    ecotaxa_time,
    is_number,
    latitude,
    longitude,
    number,
    text,
)

SOFTWARE = "aquaflow"
# A fixed timestamp for every zip entry: the same sample gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ImageRef:
    """Where an object's image is: its crop in the output bucket, else the uploaded image itself."""

    object_id: str
    bucket: str
    key: str


@dataclass(frozen=True)
class Skipped:
    object_id: str
    reason: str


@dataclass(frozen=True)
class Package:
    filename: str  # the archive's name; EcoTaxa unpacks it into a folder named after its stem
    tsv_name: str
    data: bytes
    object_ids: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    columns: tuple[str, ...]
    notes: tuple[str, ...] = ()


def safe_name(value: str, limit: int = 100) -> str:
    cleaned = _UNSAFE_NAME.sub("_", value).strip("._") or "x"
    return cleaned[:limit]


def archive_name(sample: Mapping[str, Any]) -> str:
    tenant = safe_name(str(sample.get("tenant") or "tenant"), 40)
    return f"aquaflow_{tenant}_{safe_name(str(sample['sample_id']))}.zip"


def tsv_name(sample: Mapping[str, Any]) -> str:
    return f"ecotaxa_{safe_name(str(sample['sample_id']))}.tsv"


def _upload(result: Mapping[str, Any]) -> tuple[str, str, str, str]:
    source = result.get("object") or {}
    parts = (source.get("bucket"), source.get("key"), source.get("etag"), source.get("version_id"))
    return (str(parts[0] or ""), str(parts[1] or ""), str(parts[2] or ""), str(parts[3] or ""))


def _stored(result: Mapping[str, Any]) -> tuple[float, str]:
    stored = result.get("stored_at")
    return (stored.timestamp() if isinstance(stored, datetime) else 0.0, str(result.get("_id", "")))


def pushed_results(results: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The results whose objects go to EcoTaxa: the primary model's, one per upload.

    A rule naming several models (a classifier and a detector, two versions of a classifier)
    stores several results per upload; pushing them all would import each organism once per
    model. The rule's first model is the primary one, and its objects are the sample's. An
    upload with two primary results (replayed after its rule's pinned version changed) sends
    the latest. A canary's results are primary too, on their own uploads, so they are pushed.
    Results stored before rules could name several models count as primary.
    """
    primary = [r for r in results if r.get("primary", True)]
    return one_per_upload(primary, _upload, _stored)


def sample_objects(results: Sequence[Mapping[str, Any]]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Every (result, object) pair to push, in a stable order: by source key, model, then object index."""

    def result_order(result: Mapping[str, Any]) -> tuple[str, str, str]:
        source = result.get("object") or {}
        return (str(source.get("key", "")), str(result.get("model", "")), str(result.get("_id", "")))

    for result in sorted(pushed_results(results), key=result_order):
        objects = result.get("objects") or []
        for entry in sorted(objects, key=lambda o: (int(o.get("index", 0)), str(o.get("object_id", "")))):
            if entry.get("object_id"):
                yield result, entry


def image_refs(results: Sequence[Mapping[str, Any]]) -> list[ImageRef]:
    """The images a package of these results needs, one per object id."""
    refs: dict[str, ImageRef] = {}
    for result, entry in sample_objects(results):
        object_id = str(entry["object_id"])
        if object_id in refs:
            continue
        crop_key = entry.get("crop_key")
        if crop_key and result.get("output_bucket"):
            refs[object_id] = ImageRef(object_id, str(result["output_bucket"]), str(crop_key))
            continue
        source = result.get("object") or {}
        if source.get("bucket") and source.get("key"):
            refs[object_id] = ImageRef(object_id, str(source["bucket"]), str(source["key"]))
    return list(refs.values())


def build_package(sample: dict[str, Any], results: Sequence[dict[str, Any]], crops: Mapping[str, bytes]) -> bytes:
    """The zip EcoTaxa imports. ``crops`` maps each object id to its image bytes."""
    return assemble_package(sample, results, crops).data


def assemble_package(
    sample: Mapping[str, Any], results: Sequence[Mapping[str, Any]], crops: Mapping[str, bytes]
) -> Package:
    """The zip and what went into it: objects without a usable image are left out and listed."""
    metadata: Mapping[str, Any] = sample.get("metadata") or {}
    pixel_um = as_float(metadata.get("pixel_size_um"))
    if pixel_um is not None and pixel_um <= 0:
        pixel_um = None
    sample_cells, sample_types = _sample_cells(sample, metadata)
    rows: list[dict[str, str]] = []
    types: dict[str, str] = dict(OBJECT_COLUMNS)
    files: list[tuple[str, bytes]] = []
    used_names: set[str] = set()
    seen: set[str] = set()
    skipped: list[Skipped] = []
    for result, entry in sample_objects(results):
        object_id = text(entry["object_id"])
        if object_id in seen:
            skipped.append(Skipped(object_id, "duplicate object_id"))
            continue
        seen.add(object_id)
        data = crops.get(str(entry["object_id"]))
        if data is None:
            skipped.append(Skipped(object_id, "no image"))
            continue
        try:
            image = prepare_image(data)
        except UnusableImage as error:
            skipped.append(Skipped(object_id, str(error)))
            continue
        file_name = _unique_file_name(object_id, image.extension, used_names)
        files.append((file_name, image.data))
        row = _object_cells(result, entry, metadata, pixel_um, types)
        row["object_id"] = object_id
        row["img_file_name"] = file_name
        row["img_rank"] = "0"
        row.update(sample_cells)
        row.update(_acquisition_cells(sample, result, metadata, pixel_um))
        rows.append(row)
    types.update(sample_types)
    columns, notes = _columns(rows, types)
    table = _tsv(columns, types, rows)
    name = tsv_name(sample)
    return Package(
        filename=archive_name(sample),
        tsv_name=name,
        data=_zip([(name, table), *files]),
        object_ids=tuple(row["object_id"] for row in rows),
        skipped=tuple(skipped),
        columns=tuple(columns),
        notes=tuple(notes),
    )


def _unique_file_name(object_id: str, extension: str, used: set[str]) -> str:
    base = safe_name(object_id)
    name = f"{base}.{extension}"
    if name.lower() in used:
        digest = hashlib.sha256(object_id.encode()).hexdigest()[:10]
        name = f"{base}_{digest}.{extension}"
    counter = 2
    while name.lower() in used:
        name = f"{base}_{counter}.{extension}"
        counter += 1
    used.add(name.lower())
    return name


def _object_cells(
    result: Mapping[str, Any],
    entry: Mapping[str, Any],
    metadata: Mapping[str, Any],
    pixel_um: float | None,
    types: dict[str, str],
) -> dict[str, str]:
    row: dict[str, str] = {
        "object_lat": latitude(metadata.get("lat", metadata.get("latitude"))),
        "object_lon": longitude(metadata.get("lon", metadata.get("longitude"))),
        "object_date": ecotaxa_date(metadata.get("date")),
        "object_time": ecotaxa_time(metadata.get("time")),
        "object_depth_min": number(as_float(metadata.get("depth_min"))),
        "object_depth_max": number(as_float(metadata.get("depth_max"))),
        "object_score": number(entry.get("score")),
        "object_score_threshold": number(entry.get("threshold")),
        "object_model_label": _model_label(entry),
        "object_index": number(entry.get("index")),
    }
    label = text(entry.get("label"))
    if entry.get("status") == "predicted" and label:
        row["object_annotation_category"] = label
        row["object_annotation_status"] = "predicted"
    source = result.get("object") or {}
    if source.get("bucket") and source.get("key"):
        row["object_source"] = text(f"s3://{source['bucket']}/{source['key']}")
    box = entry.get("box") or {}
    x_min, y_min = as_float(box.get("x_min")), as_float(box.get("y_min"))
    x_max, y_max = as_float(box.get("x_max")), as_float(box.get("y_max"))
    if x_min is not None and y_min is not None:
        row["object_bx"], row["object_by"] = number(x_min), number(y_min)
        if x_max is not None and y_max is not None:
            row["object_width"], row["object_height"] = number(x_max - x_min), number(y_max - y_min)
    for name, value in sorted((entry.get("features") or {}).items()):
        spec = feature(str(name))
        measured = as_float(value)
        if measured is None or spec.column in PREDEFINED_OBJECT_COLUMNS:
            continue
        if spec.column in FIXED_OBJECT_COLUMNS and row.get(spec.column):
            continue  # the box already gave it
        row[spec.column] = number(measured)
        types.setdefault(spec.column, NUMBER)
        if pixel_um is not None and spec.mm_column is not None:
            scale = pixel_um / 1000.0
            row[spec.mm_column] = number(measured * scale**spec.dimension)
            types.setdefault(spec.mm_column, NUMBER)
    return row


def _model_label(entry: Mapping[str, Any]) -> str:
    """The model's top class, kept even when it is below the threshold and so not a prediction."""
    label = text(entry.get("label"))
    if label:
        return label
    scores = {str(k): v for k, v in (entry.get("scores") or {}).items() if as_float(v) is not None}
    if not scores:
        return ""
    return text(max(sorted(scores), key=lambda name: float(scores[name])))


def _sample_cells(sample: Mapping[str, Any], metadata: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    cells: dict[str, str] = {"sample_id": text(sample["sample_id"])}
    types: dict[str, str] = {"sample_id": TEXT}
    if metadata.get("station") is not None:
        cells["sample_stationid"], types["sample_stationid"] = text(metadata["station"]), TEXT
    volume = as_float(metadata.get("volume_m3"))
    if volume is None and as_float(metadata.get("volume_ml")) is not None:
        volume = float(as_float(metadata.get("volume_ml")) or 0.0) * 1e-6
    if volume is not None:
        cells["sample_tot_vol"], types["sample_tot_vol"] = number(volume), NUMBER
    for key, value in sorted(metadata.items()):
        if str(key).lower() in SAMPLE_KEYS_USED_ELSEWHERE or isinstance(value, dict | list | tuple):
            continue
        column = f"sample_{column_suffix(str(key))}"
        if column in cells:
            continue
        if is_number(value):
            cells[column], types[column] = number(value), NUMBER
        else:
            cells[column], types[column] = text(value), TEXT
    return cells, types


def _acquisition_cells(
    sample: Mapping[str, Any], result: Mapping[str, Any], metadata: Mapping[str, Any], pixel_um: float | None
) -> dict[str, str]:
    # EcoTaxa keeps one process per acquisition: both are keyed by sample and model version.
    model = text(result.get("model"))
    version = text(result.get("model_version"))
    key = safe_name(f"{sample['sample_id']}_{model}_{version}", 200)
    cells = {
        "acq_id": key,
        "acq_instrument": text(metadata.get("instrument") or result.get("profile")),
        "acq_profile": text(result.get("profile")),
        "process_id": f"aquaflow_{key}",
        "process_software": SOFTWARE,
        "process_model": model,
        "process_model_version": version,
        "process_route": text(result.get("route")),
    }
    if pixel_um is not None:
        cells["process_pixel"] = number(pixel_um)
    return cells


_PARENT_TYPES = {
    "acq_id": TEXT,
    "acq_instrument": TEXT,
    "acq_profile": TEXT,
    "process_id": TEXT,
    "process_software": TEXT,
    "process_model": TEXT,
    "process_model_version": TEXT,
    "process_route": TEXT,
    "process_pixel": NUMBER,
}


def _columns(rows: list[dict[str, str]], types: dict[str, str]) -> tuple[list[str], list[str]]:
    """Fixed object columns first, then features, then sample, acquisition and process columns."""
    types.update(_PARENT_TYPES)
    present = {name for row in rows for name in row}
    fixed = [name for name, _ in OBJECT_COLUMNS]
    features = sorted(n for n in present if n.startswith("object_") and n not in FIXED_OBJECT_COLUMNS)
    notes: list[str] = []
    custom_fixed = [n for n in fixed if n not in PREDEFINED_OBJECT_COLUMNS and types[n] == NUMBER]
    room = MAX_CUSTOM_NUMERIC - len(custom_fixed)
    if len(features) > room:
        notes.append(f"{len(features) - room} feature columns left out: EcoTaxa takes {MAX_CUSTOM_NUMERIC} at most")
        features = features[:room]
    sample_columns = ["sample_id", *sorted(n for n in present if n.startswith("sample_") and n != "sample_id")]
    acq = ["acq_id", *sorted(n for n in present if n.startswith("acq_") and n != "acq_id")]
    process = ["process_id", *sorted(n for n in present if n.startswith("process_") and n != "process_id")]
    return [*fixed, *features, *sample_columns, *acq, *process], notes


def _tsv(columns: list[str], types: dict[str, str], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow([types.get(name, TEXT) for name in columns])
    for row in rows:
        writer.writerow([row.get(name, "") for name in columns])
    return out.getvalue().encode("utf-8-sig")


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            # Images are compressed already; the table is not.
            info.compress_type = zipfile.ZIP_DEFLATED if name.endswith(".tsv") else zipfile.ZIP_STORED
            archive.writestr(info, data)
    return buffer.getvalue()
