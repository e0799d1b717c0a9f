"""EcoTaxa's import validation of one TSV, as pure functions (py/BO/TSVFile.py: validate_structure,
validate_content, validate_line; py/BO/ProjectTidying.py for the sample/acquisition topology).

Messages are EcoTaxa's, word for word, so a client sees the same errors as against the real service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .diagnostic import Diagnostic
from .mapping import (
    DOUBLED_FIELDS,
    EXTENDABLE_PREFIXES,
    PREDEFINED_FIELDS,
    TYPE_CODES,
    ColumnType,
    ProjectMapping,
    lookup,
)
from .tsv import Row, TsvTable
from .values import clean_value, parse_date, parse_time, to_decimal_degrees, to_float

# Status words in a TSV and the one-letter state EcoTaxa stores (py/DB/Object.py).
STATUS_CODES = {"predicted": "P", "validated": "V", "dubious": "D", "discarded": "X"}

MISSING_IMAGE = "missing"
# Given an image name as written in the TSV: None when fine, MISSING_IMAGE, or Pillow's complaint.
ImageCheck = Callable[[str], str | None]


@dataclass
class ImportRules:
    """What validation needs to know besides the TSV, and what it collects for the next steps."""

    mapping: ProjectMapping
    skip_existing_objects: bool = False
    # "orig_id*image name" of what the project holds, then of what earlier TSVs of this import hold
    existing_keys: set[str] = field(default_factory=set)
    # acquisition orig_id -> the sample orig_ids it belongs to
    acquisition_samples: dict[str, set[str]] = field(default_factory=dict)
    taxo_mappings: dict[str, str] = field(default_factory=dict)
    # collected: taxon names without id (lowercase -> id once resolved), persons, category ids
    found_taxa: dict[str, int | None] = field(default_factory=dict)
    found_users: dict[str, dict[str, Any]] = field(default_factory=dict)
    classif_ids_seen: set[int] = field(default_factory=set)


def validate_structure(table: TsvTable, where: str, rules: ImportRules, diag: Diagnostic) -> None:
    """Check the header line: names, prefixes, types, room for custom columns, mandatory ids."""
    fields_per_prefix: dict[str, set[str]] = {}
    for name in table.names:
        prefix, sep, rest = name.partition("_")
        if not sep:
            diag.error(f"Invalid Header '{name}'. Format must be Table_Field.", where)
            continue
        fields_per_prefix.setdefault(prefix, set()).add(name)
        if name in PREDEFINED_FIELDS or name in DOUBLED_FIELDS or rules.mapping.search(name) is not None:
            continue
        if prefix not in EXTENDABLE_PREFIXES:
            diag.error(f"Invalid Header '{name}'. Unknown table prefix '{prefix}'.", where)
            continue
        column_type: ColumnType = "t"  # sample, acq and process custom columns are always text
        if prefix == "object":
            type_cell = table.types.get(name, "")
            if type_cell not in TYPE_CODES:
                diag.error(f"Invalid Type '{type_cell}' for field '{name}'.", where)
                continue
            column_type = TYPE_CODES[type_cell]
        added, _slot = rules.mapping.add(prefix, rest, column_type)
        if not added:
            diag.error(f"Field {name} cannot be mapped. Too many custom fields, or bad type.", where)
    for prefix, fields in fields_per_prefix.items():
        if prefix in EXTENDABLE_PREFIXES and f"{prefix}_id" not in fields:
            diag.error(
                f"Field {prefix}_id is mandatory as there are some {prefix} columns: {sorted(fields)}.",
                where,
            )


def validate_content(table: TsvTable, where: str, rules: ImportRules, check_image: ImageCheck, diag: Diagnostic) -> int:
    """Check every data row; returns the number of rows (EcoTaxa counts them all, valid or not)."""
    cache: set[tuple[str, Any]] = set()
    local_keys: dict[str, int] = {}
    for index, row in enumerate(table.rows):
        line = index + 3
        validate_line(table, row, line, where, rules, cache, diag)
        object_id = clean_value(table.value(row, "object_id"))
        if object_id == "":
            diag.error(f"line {line}: Missing object_id.", where)
        present_name = table.value(row, "img_file_name")
        image_name = clean_value(present_name if "img_file_name" in table.names else "absent img_file_name")
        image_problem = check_image(image_name)
        if image_problem == MISSING_IMAGE:
            diag.error(f"line {line}: Missing Image '{image_name}'.", where)
        elif image_problem is not None:
            diag.error(f"line {line}: Error while reading image '{image_name}': {image_problem}", where)
        key = f"{object_id}*{image_name}"
        if key in local_keys:
            diag.error(
                f"line {line}: (Object '{object_id}', Image '{image_name}') is already in this TSV line "
                f"{local_keys[key]}.",
                where,
            )
        elif not rules.skip_existing_objects and key in rules.existing_keys:
            diag.error(
                f"line {line}: (Object '{object_id}', Image '{image_name}') is already in EcoTaxa or being imported.",
                where,
            )
        local_keys[key] = line
        _check_topology(table, row, rules, diag)
        _check_status_and_category(table, row, line, where, diag)
    rules.existing_keys.update(local_keys)
    return len(table.rows)


def _check_topology(table: TsvTable, row: Row, rules: ImportRules, diag: Diagnostic) -> None:
    """An acquisition belongs to one sample only (py/BO/ProjectTidying.py)."""
    sample_id = clean_value(table.value(row, "sample_id"))
    acquisition_id = clean_value(table.value(row, "acq_id"))
    if sample_id != "" and acquisition_id != "":
        parents = rules.acquisition_samples.get(acquisition_id)
        if parents is not None and sample_id not in parents:
            diag.error(
                f"Acquisition '{acquisition_id}' is already associated with sample '{parents}', "
                f"it cannot be associated as well with '{sample_id}"
            )
    rules.acquisition_samples.setdefault(acquisition_id, set()).add(sample_id)


def _check_status_and_category(table: TsvTable, row: Row, line: int, where: str, diag: Diagnostic) -> None:
    status = table.value(row, "object_annotation_status") or ""
    if "object_annotation_category" in table.names:
        category = (table.value(row, "object_annotation_category") or "").strip()
    else:
        category = (table.value(row, "object_annotation_category_id") or "").strip()
    if status != "" and not category:
        diag.error(f"line {line}: When annotation status '{status}' is provided there has to be a category.", where)
    if category != "" and status == "":
        diag.error(f"line {line}: When a category ({category}) is provided it has to be with a status.", where)


def validate_line(  # noqa: PLR0912, PLR0917 - EcoTaxa checks field by field in one pass
    table: TsvTable,
    row: Row,
    line: int,
    where: str,
    rules: ImportRules,
    cache: set[tuple[str, Any]],
    diag: Diagnostic,
) -> None:
    """Check the values of one row. Like EcoTaxa, a (column, value) pair is checked once per file."""
    if None in row:
        diag.error(f"line {line}: Value(s) {row[None]} must not be in a header-less column.", where)
        return
    for raw_name, name in table.columns:
        target = lookup(name, rules.mapping)
        if target is None:
            continue
        cell = row.get(raw_name)
        raw_value = cell if isinstance(cell, str) else None
        cache_key = (raw_name, raw_value)
        if cache_key in cache:
            continue
        cache.add(cache_key)
        numeric = target.type == "n"
        value = clean_value(raw_value, numeric=numeric)
        if value == "":
            continue
        if name == "object_lat":
            degrees = to_decimal_degrees(value)
            if degrees is None or not -90 <= degrees <= 90:
                diag.error(
                    f"line {line}: Invalid Lat. value '{value}' for field '{raw_name}'. Correct range is -90/+90°.",
                    where,
                )
                cache.discard(cache_key)
        elif name == "object_lon":
            degrees = to_decimal_degrees(value)
            if degrees is None or not -180 <= degrees <= 180:
                diag.error(
                    f"line {line}: Invalid Long. value '{value}' for field '{raw_name}'. Correct range is -180/+180°.",
                    where,
                )
        elif numeric:
            number = to_float(value)
            if number is None:
                diag.error(f"line {line}: Invalid float value '{value}' for field '{raw_name}'.", where)
            elif name == "object_annotation_category_id":
                rules.classif_ids_seen.add(int(number))
        elif name in ("object_date", "object_annotation_date"):
            try:
                parse_date(value)
            except ValueError:
                diag.error(f"line {line}: Invalid Date value '{value}' for field '{raw_name}'.", where)
        elif name in ("object_time", "object_annotation_time"):
            try:
                parse_time(value)
            except ValueError:
                diag.error(f"line {line}: Invalid Time value '{value}' for field '{raw_name}'.", where)
        elif name == "object_annotation_category":
            if clean_value(table.value(row, "object_annotation_category_id")) == "":
                # A category id wins over the name; only names without id need resolving.
                mapped = rules.taxo_mappings.get(value.lower(), value)
                rules.found_taxa[mapped.lower()] = None
        elif name == "object_annotation_person_name":
            email = clean_value(table.value(row, "object_annotation_person_email"))
            rules.found_users[value.lower()] = {"email": email}
        elif name == "object_annotation_status" and value != "noid" and value.lower() not in STATUS_CODES:
            diag.error(f"line {line}: Invalid Annotation Status '{value}' for field '{raw_name}'.", where)
