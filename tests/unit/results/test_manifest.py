"""Sample manifests: sample.json, sample.tsv and sample_* user metadata."""

from __future__ import annotations

import json

import pytest

from aquaflow_results.manifest import (
    ManifestInvalid,
    metadata_from_user_metadata,
    parse_manifest,
)


def test_json_manifest_normalises_dates_and_keeps_free_fields() -> None:
    body = {
        "sample_id": "tara_042",
        "station": "Villefranche point B",
        "lat": 43.68,
        "lon": 7.32,
        "date": "2024-05-17T09:30:00Z",
        "depth_min": 0,
        "depth_max": 200,
        "volume_m3": 3.5,
        "pixel_size_um": 10.6,
        "instrument": "zooscan",
        "expected_objects": 12,
        "fields": {"net": "WP2", "operator": "lab"},
    }
    manifest = parse_manifest("uploads/tara_042/sample.json", json.dumps(body).encode())
    assert manifest.sample_id == "tara_042"
    assert manifest.expected_objects == 12
    assert manifest.metadata.as_document() == {
        "net": "WP2",
        "operator": "lab",
        "station": "Villefranche point B",
        "lat": 43.68,
        "lon": 7.32,
        "date": "20240517",
        "time": "093000",
        "depth_min": 0.0,
        "depth_max": 200.0,
        "volume_m3": 3.5,
        "pixel_size_um": 10.6,
        "instrument": "zooscan",
    }


def test_tsv_manifest_in_ecotaxa_style() -> None:
    tsv = (
        "sample_id\tsample_station\tsample_latitude\tsample_date\tsample_time\tsample_volume_ml\t"
        "sample_expected_objects\tsample_ship\n"
        "[t]\t[t]\t[f]\t[t]\t[t]\t[f]\t[f]\t[t]\n"
        "fc_run_9\tB\t43.5\t20240102\t10:20\t2.5\t300\tnan\n"
    )
    manifest = parse_manifest("sample.tsv", ("\ufeff" + tsv).encode())
    assert manifest.sample_id == "fc_run_9"
    assert manifest.expected_objects == 300
    assert manifest.metadata.as_document() == {
        "station": "B",
        "lat": 43.5,
        "date": "20240102",
        "time": "102000",
        "volume_ml": 2.5,
    }


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("sample.json", b"{not json", "not JSON"),
        ("sample.json", b"[1]", "not a JSON object"),
        ("sample.json", b'{"station": "B"}', "sample_id"),
        ("sample.json", b'{"sample_id": "a b"}', "sample_id"),
        ("sample.json", b'{"sample_id": "s", "lat": 91}', "lat"),
        ("sample.json", b'{"sample_id": "s", "date": "17/05/2024"}', "date"),
        ("sample.json", b'{"sample_id": "s", "depth_min": 50, "depth_max": 10}', "depth_min"),
        ("sample.json", b'{"sample_id": "s", "volume_m3": 1, "volume_ml": 5}', "volume"),
        ("sample.json", b'{"sample_id": "s", "expected_objects": -1}', "expected_objects"),
        ("sample.tsv", b"sample_id\n[t]\n", "found 2 rows"),
        ("sample.tsv", b"sample_id\tobject_x\n[t]\t[f]\ns\t1\n", "not a sample_* column"),
        ("sample.tsv", b"sample_id\tsample_lat\n[t]\t[f]\ns\tnorth\n", "[f] but holds"),
        ("sample.csv", b"", "neither .json nor .tsv"),
    ],
)
def test_bad_manifests_say_why(key: str, body: bytes, reason: str) -> None:
    with pytest.raises(ManifestInvalid, match=r"manifest|sample") as raised:
        parse_manifest(key, body)
    assert reason in raised.value.reason
    assert raised.value.code == "invalid_manifest"


def test_user_metadata_gives_what_validates_and_skips_the_rest() -> None:
    found = metadata_from_user_metadata(
        {"sample-station": "B", "sample_lat": "91", "sample_pixel_size_um": "10.6", "sample_cruise": "X1", "other": "y"}
    )
    assert found is not None
    assert found.as_document() == {"cruise": "X1", "station": "B", "pixel_size_um": 10.6}
    assert metadata_from_user_metadata({"instrument": "flowcam"}) is None
