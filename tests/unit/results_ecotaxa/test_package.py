"""The import package checked against EcoTaxa's reading rules, by parsing it back."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest

from aquaflow_devstack.samples import sample_root
from aquaflow_results.ecotaxa.package import assemble_package, build_package, image_refs, pushed_results
from tests.unit.results_ecotaxa.factories import entry, png, result, sample, tiff

QA_DATA = sample_root()
PREFIXES = ("object_", "sample_", "acq_", "process_")


def _parse(package: bytes) -> tuple[zipfile.ZipFile, str, list[list[str]], bytes]:
    archive = zipfile.ZipFile(io.BytesIO(package))
    tables = [n for n in archive.namelist() if n.endswith(".tsv")]
    assert len(tables) == 1
    raw = archive.read(tables[0])
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter="\t", quotechar='"'))
    return archive, tables[0], rows, raw


def _records(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[2:]]


def _package() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, bytes]]:
    results = [
        result("scans/m106_1.tif", [entry("obj_a_0000", 0), entry("obj_a_0001", 1, score=0.3)]),
        result("scans/m106_2.tif", [entry("obj_b_0000", 0, label="Chaetognatha", score=0.8)]),
    ]
    crops = {"obj_a_0000": png(), "obj_a_0001": png(20, 10), "obj_b_0000": png(8, 8)}
    return sample(), results, crops


def test_the_table_follows_ecotaxas_layout() -> None:
    s, results, crops = _package()
    archive, name, rows, raw = _parse(build_package(s, results, crops))

    assert name == "ecotaxa_m106_mn01_n1.tsv"
    assert raw.startswith(b"\xef\xbb\xbf")
    header, types = rows[0], rows[1]
    assert header == [h.lower() for h in header]
    assert len(set(header)) == len(header)
    assert set(types) <= {"[f]", "[t]"}
    assert all(h.startswith(PREFIXES) or h in {"img_file_name", "img_rank"} for h in header)
    for required in ("object_id", "img_file_name", "img_rank", "sample_id", "acq_id", "process_id"):
        assert required in header
    assert all(len(row) == len(header) for row in rows)
    records = _records(rows)
    assert len(records) == 3
    assert len({r["object_id"] for r in records}) == 3
    assert {r["img_file_name"] for r in records} <= set(archive.namelist())


def test_numbers_dates_and_times_are_in_ecotaxas_formats() -> None:
    s, results, crops = _package()
    _, _, rows, _ = _parse(build_package(s, results, crops))
    kinds = dict(zip(rows[0], rows[1], strict=True))
    for record in _records(rows):
        for column, value in record.items():
            if kinds[column] == "[f]" and value != "":
                float(value)
        assert re.fullmatch(r"\d{8}", record["object_date"])
        assert re.fullmatch(r"\d{6}", record["object_time"])
        assert record["object_date"] == "20240612"
        assert record["object_time"] == "093000"
        assert float(record["object_lat"]) == pytest.approx(43.685)
        assert float(record["object_lon"]) == pytest.approx(7.315)
        assert float(record["object_depth_max"]) == pytest.approx(75.5)


def test_only_objects_above_threshold_carry_a_predicted_category() -> None:
    s, results, crops = _package()
    _, _, rows, _ = _parse(build_package(s, results, crops))
    by_id = {r["object_id"]: r for r in _records(rows)}

    assert by_id["obj_a_0000"]["object_annotation_category"] == "Copepoda"
    assert by_id["obj_a_0000"]["object_annotation_status"] == "predicted"
    assert by_id["obj_b_0000"]["object_annotation_category"] == "Chaetognatha"
    below = by_id["obj_a_0001"]
    assert below["object_annotation_category"] == ""
    assert below["object_annotation_status"] == ""
    assert float(below["object_score"]) == pytest.approx(0.3)
    assert below["object_model_label"] == "detritus"  # the model's top class, kept apart from annotations


def test_features_use_ecotaxa_names_in_pixels_and_mm() -> None:
    s, results, crops = _package()
    _, _, rows, _ = _parse(build_package(s, results, crops))
    record = _records(rows)[0]
    mm = 10.6 / 1000

    assert float(record["object_area"]) == 400
    assert float(record["object_perim."]) == 80
    assert float(record["object_major"]) == 30
    assert float(record["object_minor"]) == 15
    assert float(record["object_esd"]) == pytest.approx(22.57)
    assert float(record["object_circ."]) == pytest.approx(0.785)
    assert float(record["object_mean"]) == pytest.approx(141.2)
    assert float(record["object_x"]) == pytest.approx(25.5)
    assert float(record["object_area_mm2"]) == pytest.approx(400 * mm * mm)
    assert float(record["object_esd_mm"]) == pytest.approx(22.57 * mm)
    assert float(record["object_major_mm"]) == pytest.approx(30 * mm)
    assert float(record["object_perim_mm"]) == pytest.approx(80 * mm)
    assert (record["object_bx"], record["object_by"], record["object_width"], record["object_height"]) == (
        "10",
        "20",
        "30",
        "40",
    )
    assert float(record["process_pixel"]) == pytest.approx(10.6)


def test_feature_names_are_those_of_real_ecotaxa_tables() -> None:
    known: set[str] = set()
    for table in QA_DATA.rglob("*.tsv"):
        with table.open(encoding="latin-1") as handle:
            known |= {c.strip().strip('"').lower() for c in handle.readline().rstrip("\n").split("\t")}
    for archive in QA_DATA.rglob("*.zip"):
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if member.endswith(".tsv"):
                    first = z.read(member).decode("latin-1").splitlines()[0]
                    known |= {c.strip().lower() for c in first.split("\t")}
    if not known:
        pytest.skip("EcoTaxa QA tables not present")
    s, results, crops = _package()
    _, _, rows, _ = _parse(build_package(s, results, crops))
    for column in (
        "object_area",
        "object_perim.",
        "object_major",
        "object_minor",
        "object_esd",
        "object_circ.",
        "object_mean",
        "object_x",
        "object_y",
        "object_by",
        "object_width",
        "object_height",
    ):
        assert column in rows[0]
        assert column in known, column


def test_without_pixel_size_there_are_no_mm_columns() -> None:
    s, results, crops = _package()
    del s["metadata"]["pixel_size_um"]
    _, _, rows, _ = _parse(build_package(s, results, crops))
    assert not [c for c in rows[0] if c.endswith(("_mm", "_mm2"))]
    assert "process_pixel" not in rows[0]


def test_sample_acquisition_and_process_columns() -> None:
    s, results, crops = _package()
    _, _, rows, _ = _parse(build_package(s, results, crops))
    record = _records(rows)[0]
    kinds = dict(zip(rows[0], rows[1], strict=True))

    assert record["sample_id"] == "m106_mn01_n1"
    assert record["sample_stationid"] == "point B"
    assert record["sample_ship"] == "Sagitta III"
    assert record["sample_net_mesh_um"] == "200"
    assert kinds["sample_net_mesh_um"] == "[f]"
    assert float(record["sample_tot_vol"]) == pytest.approx(2.5)
    assert record["acq_instrument"] == "zooscan"
    assert record["process_software"] == "aquaflow"
    assert record["process_model"] == "zooscan-classifier"
    assert record["process_model_version"] == "3"
    assert record["process_id"] == "aquaflow_" + record["acq_id"]


def test_missing_values_are_empty() -> None:
    s, results, crops = _package()
    s["metadata"] = {"date": "not a date", "time": "25:00", "lat": 123.0}
    _, _, rows, _ = _parse(build_package(s, results, crops))
    record = _records(rows)[0]
    assert record["object_date"] == ""
    assert record["object_time"] == ""
    assert record["object_lat"] == ""
    assert record["object_depth_min"] == ""


def test_same_input_same_bytes() -> None:
    s, results, crops = _package()
    assert build_package(s, results, crops) == build_package(s, list(reversed(results)), crops)


def test_images_are_png_jpeg_or_gif_and_others_are_converted_or_left_out() -> None:
    results = [
        result(
            "scans/x.tif",
            [entry("ok", 0), entry("converted", 1), entry("garbage", 2), entry("absent", 3), entry("ok", 4)],
        )
    ]
    crops = {"ok": png(), "converted": tiff(), "garbage": b"not an image at all"}
    package = assemble_package(sample(), results, crops)
    archive, _, rows, _ = _parse(package.data)

    assert package.object_ids == ("ok", "converted")
    assert {s.object_id: s.reason for s in package.skipped}.keys() == {"garbage", "absent", "ok"}
    images = [n for n in archive.namelist() if not n.endswith(".tsv")]
    assert sorted(images) == ["converted.png", "ok.png"]
    assert archive.read("converted.png").startswith(b"\x89PNG")
    assert len(_records(rows)) == 2


def test_image_file_names_are_unique_and_safe() -> None:
    results = [result("scans/x.tif", [entry("a/b", 0), entry("a:b", 1), entry("a b", 2)])]
    crops = {"a/b": png(), "a:b": png(), "a b": png()}
    archive, _, rows, _ = _parse(build_package(sample(), results, crops))
    names = [r["img_file_name"] for r in _records(rows)]
    assert len(set(names)) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", n) for n in names)
    assert all(n in archive.namelist() for n in names)


def test_image_refs_point_at_crops_or_the_uploaded_image() -> None:
    whole = entry("flowcam_0", 0)
    whole["crop_key"] = None
    refs = image_refs([result("run/p1.png", [entry("roi_0", 0), whole])])
    by_id = {r.object_id: (r.bucket, r.key) for r in refs}
    assert by_id["roi_0"] == ("aquaflow-output", "crops/roi_0.png")
    assert by_id["flowcam_0"] == ("plankton-zooscan", "run/p1.png")


def test_text_cells_stay_on_one_line() -> None:
    s = sample(ship="Sagitta\tIII\nnew line", comment='he said "hi"')
    results = [result("scans/x.tif", [entry("one", 0)])]
    _, _, rows, _ = _parse(build_package(s, results, {"one": png()}))
    record = _records(rows)[0]
    assert record["sample_ship"] == "Sagitta III new line"
    assert record["sample_comment"] == 'he said "hi"'


def test_only_the_primary_models_objects_are_pushed_one_result_per_upload() -> None:
    later = datetime(2024, 6, 12, 11, 0, tzinfo=UTC)
    classifier = result("scans/m106_1.tif", [entry("clf_0000", 0)])
    detector = {
        **result("scans/m106_1.tif", [entry("det_0000", 0, label="sardine")]),
        "_id": "result-detector",
        "model": "fish_detector",
        "primary": False,
    }
    # Replayed after the rule's pinned version changed: the rerun replaces the first result.
    first_run = result("scans/m106_2.tif", [entry("old_0000", 0)])
    rerun = {**result("scans/m106_2.tif", [entry("new_0000", 0)]), "_id": "result-rerun", "stored_at": later}
    crops = {name: png() for name in ("clf_0000", "det_0000", "old_0000", "new_0000")}
    results = [detector, rerun, classifier, first_run]

    package = assemble_package(sample(), results, crops)

    assert set(package.object_ids) == {"clf_0000", "new_0000"}
    assert {ref.object_id for ref in image_refs(results)} == {"clf_0000", "new_0000"}
    assert [r["_id"] for r in pushed_results(results)] == ["result-rerun", "result-scans/m106_1.tif"]


def test_a_canarys_results_are_pushed_beside_the_pinned_versions() -> None:
    pinned = {**result("scans/m106_1.tif", [entry("v2_0000", 0)]), "model_version": "2", "primary": True}
    canary = {**result("scans/m106_2.tif", [entry("v3_0000", 0)]), "model_version": "3", "primary": True}
    _, _, rows, _ = _parse(build_package(sample(), [pinned, canary], {"v2_0000": png(), "v3_0000": png()}))
    assert sorted((r["object_id"], r["process_model_version"]) for r in _records(rows)) == [
        ("v2_0000", "2"),
        ("v3_0000", "3"),
    ]
