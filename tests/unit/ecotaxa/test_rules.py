"""EcoTaxa's import rules as pure functions: values, TSV reading, header and row validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from aquaflow_devstack.ecotaxa.diagnostic import Diagnostic
from aquaflow_devstack.ecotaxa.mapping import ProjectMapping
from aquaflow_devstack.ecotaxa.taxonomy import Taxonomy, default_taxa
from aquaflow_devstack.ecotaxa.tsv import parse_tsv
from aquaflow_devstack.ecotaxa.validation import ImportRules, validate_content, validate_structure
from aquaflow_devstack.ecotaxa.values import clean_value, parse_date, parse_time, to_decimal_degrees

LABELS = Path(__file__).resolve().parents[3] / "model_repository" / "plankton_classifier" / "labels.txt"


def table(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def validate(data: bytes, images_ok: bool = True) -> list[str]:
    diag = Diagnostic()
    rules = ImportRules(mapping=ProjectMapping())
    parsed = parse_tsv(data)
    validate_structure(parsed, "[base]/ecotaxa_x.tsv", rules, diag)
    validate_content(parsed, "[base]/ecotaxa_x.tsv", rules, lambda _n: None if images_ok else "missing", diag)
    return diag.errors


def test_missing_values_and_numbers() -> None:
    assert clean_value(" NaN ", numeric=True) == ""
    assert clean_value("na") == "na"
    assert to_decimal_degrees("43°30 00") == pytest.approx(43.5)


def test_dates_and_times() -> None:
    assert parse_date("20240131").isoformat() == "2024-01-31"
    assert parse_time("320").isoformat() == "03:20:00"
    with pytest.raises(ValueError, match="day"):
        parse_date("20140433")


def test_bom_means_utf8_else_latin1() -> None:
    assert parse_tsv(b"\xef\xbb\xbfObject_ID\n[t]\n\xc3\xa9\n").rows[0]["Object_ID"] == "é"
    assert parse_tsv(b"object_id\n[t]\n\xe9\n").names == ["object_id"]


def test_a_valid_row_passes() -> None:
    data = table(
        "object_id\timg_file_name\tobject_lat\tobject_score\tobject_annotation_category\tobject_annotation_status",
        "[t]\t[t]\t[f]\t[f]\t[t]\t[t]",
        "a1\ta1.png\t43.2\t0.93\tcopepod\tpredicted",
    )
    assert validate(data) == []


@pytest.mark.parametrize(
    ("header", "types", "row", "error"),
    [
        ("object_id\timg_file_name\tobject_lat", "[t]\t[t]\t[f]", "a\ta.png\t91", "Invalid Lat. value '91'"),
        ("object_id\timg_file_name\tobject_x", "[t]\t[t]\t[f]", "a\ta.png\tabc", "Invalid float value 'abc'"),
        ("object_id\timg_file_name\tobject_x", "[t]\t[t]\t[z]", "a\ta.png\t1", "Invalid Type '[z]'"),
        ("object_id\timg_file_name\tsample_x", "[t]\t[t]\t[t]", "a\ta.png\ts", "Field sample_id is mandatory"),
        ("object_id\timg_file_name\timg_foo", "[t]\t[t]\t[t]", "a\ta.png\tx", "Unknown table prefix 'img'"),
        ("object_id\timg_file_name\tobject_annotation_status", "[t]\t[t]\t[t]", "a\ta.png\tvalidated",
         "there has to be a category"),
        ("object_id\timg_file_name\tobject_annotation_category", "[t]\t[t]\t[t]", "a\ta.png\tx",
         "it has to be with a status"),
        ("object_id\timg_file_name", "[t]\t[t]", "\ta.png", "Missing object_id."),
    ],
)  # fmt: skip
def test_rule_violations(header: str, types: str, row: str, error: str) -> None:
    assert any(error in message for message in validate(table(header, types, row))), validate(table(header, types, row))


def test_missing_image_is_reported() -> None:
    errors = validate(table("object_id\timg_file_name", "[t]\t[t]", "a\ta.png"), images_ok=False)
    assert errors == ["In [base]/ecotaxa_x.tsv:", " - line 3: Missing Image 'a.png'."]


def test_at_most_20_custom_text_object_columns() -> None:
    names = "\t".join(f"object_t{i}" for i in range(21))
    data = table(f"object_id\timg_file_name\t{names}", "\t".join(["[t]"] * 23), "\t".join(["a", "a.png"] + ["x"] * 21))
    assert validate(data)[-1] == " - Field object_t20 cannot be mapped. Too many custom fields, or bad type."


def test_default_taxa_cover_the_labels_the_models_push() -> None:
    taxonomy = Taxonomy(default_taxa())
    pushed = [*LABELS.read_text().split(), "damselfish", "seabream", "sardine", "litter"]
    assert all(taxonomy.resolve(label) is not None for label in pushed)
    # A model label that is also the name of several taxa stays ambiguous, as in EcoTaxa
    # (litter tiles' "other" is never pushed: only litter tiles become objects).
    assert taxonomy.resolve("other") is None
    assert taxonomy.resolve("copepoda") is not None
    assert taxonomy.resolve("not-living") is not None


def test_ambiguous_taxon_is_unresolved() -> None:
    taxonomy = Taxonomy({"part<a": 1, "part<b": 2, "egg<other": 3})
    assert taxonomy.resolve("part") is None
    assert taxonomy.resolve("egg (other)") == 3
