"""Sample and result documents as the results service stores them, for the EcoTaxa tests."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from PIL import Image


def png(width: int = 12, height: int = 9, shade: int = 120) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), shade).save(out, format="PNG")
    return out.getvalue()


def tiff(width: int = 10, height: int = 10) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(out, format="TIFF")
    return out.getvalue()


def sample(tenant: str = "lov", sample_id: str = "m106_mn01_n1", **metadata: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "station": "point B",
        "lat": 43.685,
        "lon": 7.315,
        "date": "20240612",
        "time": "093000",
        "depth_min": 0.0,
        "depth_max": 75.5,
        "volume_m3": 2.5,
        "pixel_size_um": 10.6,
        "instrument": "zooscan",
        "ship": "Sagitta III",
        "net_mesh_um": 200,
    }
    meta.update(metadata)
    return {
        "_id": f"{tenant}:{sample_id}",
        "tenant": tenant,
        "sample_id": sample_id,
        "metadata": meta,
        "closed": True,
    }


def entry(
    object_id: str,
    index: int,
    *,
    label: str | None = "Copepoda",
    score: float | None = 0.93,
    threshold: float = 0.5,
    crop_key: str | None = None,
    features: dict[str, float] | None = None,
) -> dict[str, Any]:
    predicted = label is not None and score is not None and score >= threshold
    return {
        "object_id": object_id,
        "index": index,
        "crop_key": crop_key if crop_key is not None else f"crops/{object_id}.png",
        "box": {"x_min": 10.0, "y_min": 20.0, "x_max": 40.0, "y_max": 60.0},
        "features": features
        if features is not None
        else {
            "area": 400.0,
            "perimeter": 80.0,
            "major_axis_length": 30.0,
            "minor_axis_length": 15.0,
            "equivalent_diameter": 22.57,
            "eccentricity": 0.86,
            "solidity": 0.9,
            "circularity": 0.785,
            "mean_intensity": 141.2,
            "centroid_x": 25.5,
            "centroid_y": 40.1,
        },
        "label": label if predicted else None,
        "score": score,
        "scores": {"Copepoda": score or 0.0, "detritus": 1 - (score or 0.0)},
        "status": "predicted" if predicted else "unclassified",
        "threshold": threshold,
    }


def result(
    key: str, objects: list[dict[str, Any]], *, tenant: str = "lov", sample_id: str = "m106_mn01_n1"
) -> dict[str, Any]:
    return {
        "_id": f"result-{key}",
        "tenant": tenant,
        "sample_id": sample_id,
        "object": {"bucket": "plankton-zooscan", "key": key, "etag": "e1", "version_id": None, "metadata": {}},
        "profile": "zooscan",
        "model": "zooscan-classifier",
        "model_version": "3",
        "route": "zooscan",
        "image_width": 200,
        "image_height": 150,
        "output_bucket": "aquaflow-output",
        "stored_at": datetime(2024, 6, 12, 10, 0, tzinfo=UTC),
        "objects": objects,
    }
