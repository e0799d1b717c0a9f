"""The FileImport job, step by step as in py/API_operations/imports/Import.py.

1. validate every TSV (errors end the job in state E, with EcoTaxa's messages);
2. resolve the taxon names and person names found; any unresolved ends in state A asking for them,
   and a reply (POST /jobs/{id}/answer) resumes here;
3. write objects, samples, acquisitions and images into the project (state F, result rowcount).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bundle import BundleTsv, ImageChecker, TooManyFiles, list_tsvs
from .diagnostic import Diagnostic
from .images import image_size
from .mapping import ProjectMapping, lookup
from .store import Job, Project, Store
from .tsv import TsvTable, parse_tsv
from .validation import STATUS_CODES, ImportRules, validate_content, validate_structure
from .values import clean_value, parse_date, parse_time, to_decimal_degrees, to_float

logger = logging.getLogger(__name__)

MISSING_INFO_MESSAGE = "Some users or taxonomic references could not be matched"


@dataclass
class ImportPlan:
    """What a job carries from validation to the real import (EcoTaxa keeps it in the job's state)."""

    source: Path
    scratch: Path
    mapping: ProjectMapping
    found_taxa: dict[str, int | None] = field(default_factory=dict)
    found_users: dict[str, dict[str, Any]] = field(default_factory=dict)
    row_count: int = 0


def now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def set_result(job: Job, errors: list[str], result: dict[str, Any]) -> None:
    job.result = result
    job.errors = errors[:1000]
    if errors:
        job.state = "E"
        job.progress_msg = f"{len(errors)} error(s) during run"
    else:
        job.state = "F"
        job.progress_pct = 100
        job.progress_msg = "Done"
    job.updated_on = now()


def run_validation(store: Store, job: Job, plans: dict[int, ImportPlan], source: Path, scratch: Path) -> None:
    try:
        _validate(store, job, plans, source, scratch)
    except Exception as error:  # an unexpected failure ends the job in E, as EcoTaxa's job runner does
        logger.exception("import job %d failed", job.id)
        with store.lock:
            set_result(job, [f"{type(error).__name__}: {error}"], {})


def _validate(store: Store, job: Job, plans: dict[int, ImportPlan], source: Path, scratch: Path) -> None:
    params = job.params
    with store.lock:
        job.state, job.progress_msg, job.updated_on = "R", "Validating", now()
        project = store.projects[job.project_id]
        rules = ImportRules(
            mapping=project.mapping.copy(),
            skip_existing_objects=bool(params.get("skip_existing_objects")),
            existing_keys=set() if params.get("skip_existing_objects") else _existing_keys(project),
            acquisition_samples=_topology(project),
            taxo_mappings={k.lower(): v for k, v in dict(params.get("taxo_mappings") or {}).items()},
        )
        loaded_before = set(project.loaded_files)
    if params.get("update_mode"):
        with store.lock:
            set_result(job, ["update_mode is not implemented by the EcoTaxa stand-in"], {})
        return
    diag = Diagnostic()
    try:
        tsvs = list_tsvs(source, "[base]", scratch)
    except TooManyFiles as error:
        with store.lock:
            set_result(job, [str(error)], {})
        return
    skipped = 0
    total = 0
    for tsv in tsvs:
        if params.get("skip_loaded_files") and tsv.relative_name in loaded_before:
            skipped += 1
            continue
        table = parse_tsv(tsv.path.read_bytes())
        validate_structure(table, tsv.user_loc, rules, diag)
        total += validate_content(table, tsv.user_loc, rules, ImageChecker(tsv.path.parent), diag)
    if total == 0:
        diag.error("<br>".join(_nothing_to_import(len(tsvs), skipped, rules.skip_existing_objects)))
    unknown_ids = sorted(i for i in rules.classif_ids_seen if not store.taxonomy.exists(i))
    if unknown_ids:
        diag.error(
            "Some specified classif_id don't exist, correct them prior to reload: "
            + ",".join(str(i) for i in unknown_ids)
        )
    if diag.errors:
        with store.lock:
            set_result(job, diag.errors, {"infos": diag.warnings})
        return
    plan = ImportPlan(source, scratch, rules.mapping, rules.found_taxa, rules.found_users, total)
    for name in plan.found_taxa:
        plan.found_taxa[name] = store.taxonomy.resolve(name)
    for name, found in plan.found_users.items():
        user_id = store.find_user(name)
        if user_id is None and found.get("email"):
            user_id = store.find_user(str(found["email"]))
        if user_id is not None:
            found["id"] = user_id
    with store.lock:
        plans[job.id] = plan
    _ask_or_import(store, job, plan)


def run_after_reply(store: Store, job: Job, plans: dict[int, ImportPlan]) -> None:
    try:
        with store.lock:
            plan = plans[job.id]
            job.state, job.updated_on = "R", now()
            for name, user_id in dict(job.reply.get("users") or {}).items():
                if name in plan.found_users:
                    plan.found_users[name] = {"id": user_id}
            plan.found_taxa.update(dict(job.reply.get("taxa") or {}))
        _ask_or_import(store, job, plan)
    except Exception as error:
        logger.exception("import job %d failed", job.id)
        with store.lock:
            set_result(job, [f"{type(error).__name__}: {error}"], {})


def _ask_or_import(store: Store, job: Job, plan: ImportPlan) -> None:
    missing_users = [name for name, found in plan.found_users.items() if found.get("id") is None]
    missing_taxa = [name for name, taxon_id in plan.found_taxa.items() if taxon_id is None]
    if missing_users or missing_taxa:
        with store.lock:
            job.state, job.progress_msg, job.updated_on = "A", MISSING_INFO_MESSAGE, now()
            job.question = {"missing_users": missing_users, "missing_taxa": missing_taxa}
        return
    rows = write_import(store, job, plan)
    with store.lock:
        set_result(job, [], {"rowcount": rows})


def _nothing_to_import(nb_found: int, nb_skipped: int, skip_objects: bool) -> list[str]:
    """EcoTaxa's explanation when no row at all was found (py/BO/Bundle.py, validate_import)."""
    lines = ["No object to import."]
    if nb_found == 0:
        lines.append("* No .txt or .tsv file was found, of which name starts with 'ecotaxa'.")
        return lines
    nb_validated = nb_found - nb_skipped
    if nb_skipped > 0:
        if nb_validated == 0:
            lines.append("* 'SKIP TSV' option was set and all TSV files were imported before.")
        else:
            lines.append("* 'SKIP TSV' option was set and new TSV file(s) are not compliant.")
    if nb_validated > 0:
        lines.append("*  TSV file(s) might be empty.")
    if skip_objects:
        lines.append("*  'SKIP OBJECTS' option was set and all objects might be in already.")
    return lines


def _existing_keys(project: Project) -> set[str]:
    return {
        f"{orig_id}*{image['orig_file_name']}" for orig_id, obj in project.objects.items() for image in obj["images"]
    }


def _topology(project: Project) -> dict[str, set[str]]:
    topology: dict[str, set[str]] = {}
    for sample_id, acquisition_id in project.acquisitions:
        topology.setdefault(acquisition_id, set()).add(sample_id)
    return topology


def write_import(store: Store, job: Job, plan: ImportPlan) -> int:
    """Create what the validated TSVs describe; returns the number of rows read."""
    params = job.params
    rows = 0
    with store.lock:
        project = store.projects[job.project_id]
        project.mapping = plan.mapping
        skip_keys = _existing_keys(project) if params.get("skip_existing_objects") else set()
    for tsv in list_tsvs(plan.source, "[base]", plan.scratch):
        if params.get("skip_loaded_files") and tsv.relative_name in project.loaded_files:
            continue
        table = parse_tsv(tsv.path.read_bytes())
        with store.lock:
            for row_index in range(len(table.rows)):
                rows += 1
                _write_row(store, job, project, plan, tsv, table, row_index, skip_keys)
            project.loaded_files.add(tsv.relative_name)
            job.progress_pct = min(99, 20 + int(80 * rows / max(plan.row_count, 1)))
    return rows


def _write_row(  # noqa: PLR0917 - internal helper of write_import
    store: Store,
    job: Job,
    project: Project,
    plan: ImportPlan,
    tsv: BundleTsv,
    table: TsvTable,
    row_index: int,
    skip_keys: set[str],
) -> None:
    row = table.rows[row_index]
    values: dict[str, dict[str, Any]] = {"object": {}, "sample": {}, "acq": {}, "process": {}, "image": {}}
    cells = {name: row.get(raw) for raw, name in table.columns}
    use_category_id = clean_value(_text(cells.get("object_annotation_category_id"))) != ""
    for name, cell in cells.items():
        target = lookup(name, plan.mapping)
        if target is None or not target.entity:
            continue
        if name == "object_annotation_category" and use_category_id:
            continue
        if name == "object_annotation_category_id" and not use_category_id:
            continue
        value = clean_value(_text(cell), numeric=target.type == "n")
        values[target.entity][target.field] = None if value == "" else _convert(name, target.type, value, cells, plan)
    obj_values = values["object"]
    orig_id = str(obj_values.get("orig_id"))
    image_name = str(values["image"].get("orig_file_name") or "")
    if f"{orig_id}*{image_name}" in skip_keys:
        return
    sample_id = values["sample"].get("orig_id") or f"__DUMMY_ID__{project.id}__"
    acquisition_id = values["acq"].get("orig_id") or f"__DUMMY_ID__{sample_id}__"
    if sample_id not in project.samples:
        project.samples[sample_id] = {k: v for k, v in values["sample"].items() if k != "orig_id"}
        project.samples[sample_id]["sampleid"] = store.next_id("sample")
    acq_key = (sample_id, acquisition_id)
    if acq_key not in project.acquisitions:
        process = {k: v for k, v in values["process"].items() if k != "orig_id"}
        project.acquisitions[acq_key] = {
            **{k: v for k, v in values["acq"].items() if k != "orig_id"},
            "process_id": values["process"].get("orig_id") or f"__DUMMY_ID__{acquisition_id}__",
            "process": process,
            "acquisid": store.next_id("acquisition"),
        }
    obj = project.objects.get(orig_id)
    if obj is None:
        obj = _new_object(store, job, project, obj_values, sample_id, acquisition_id)
        project.objects[orig_id] = obj
    _add_image(store, obj, tsv.path.parent / image_name, image_name, values["image"].get("imgrank"))


def _text(cell: object) -> str | None:
    return cell if isinstance(cell, str) else None


def _convert(  # noqa: PLR0911 - one conversion per EcoTaxa column kind
    name: str, column_type: str, value: str, cells: dict[str, Any], plan: ImportPlan
) -> Any:
    if name in ("object_lat", "object_lon"):
        return to_decimal_degrees(value)
    if name == "object_annotation_category_id":
        number = to_float(value)
        return None if number is None else int(number)
    if column_type == "n":
        return to_float(value)
    if name == "object_date":
        return parse_date(value).isoformat()
    if name == "object_time":
        return parse_time(value).isoformat()
    if name == "object_annotation_date":
        when = clean_value(_text(cells.get("object_annotation_time"))) or "000000"
        return datetime.datetime.combine(parse_date(value), parse_time(when)).isoformat()
    if name == "object_annotation_category":
        return plan.found_taxa[value.lower()]
    if name == "object_annotation_person_name":
        return plan.found_users.get(value.lower(), {}).get("id")
    if name == "object_annotation_status":
        return STATUS_CODES.get(value.lower())
    return value


def _new_object(  # noqa: PLR0917 - internal helper of _write_row
    store: Store, job: Job, project: Project, values: dict[str, Any], sample_id: str, acquisition_id: str
) -> dict[str, Any]:
    state = values.get("classif_qual")
    classif_id = values.get("classif_id")
    who = values.get("classif_who")
    when = values.get("classif_date")
    if state in ("V", "D", "X"):
        # A human state needs an author and a date; EcoTaxa defaults them to the importer and now.
        who = who if who is not None else job.owner_id
        when = when or now()
    elif state == "P":
        who, when = None, when or now()
    else:
        classif_id = who = when = None
    free = {
        project.mapping.tsv_name_of("object", slot) or slot: value
        for slot, value in values.items()
        if len(slot) >= 3 and slot[0] in "nt" and slot[1:].isdigit()
    }
    standard = {k: v for k, v in values.items() if k not in free and not (k[0] in "nt" and k[1:].isdigit())}
    return {
        **{k: None for k in ("latitude", "longitude", "objdate", "objtime", "depth_min", "depth_max")},
        **{k: None for k in ("object_link", "complement_info")},
        **standard,
        "objid": store.next_id("object"),
        "project_id": project.id,
        "sample_orig_id": sample_id,
        "sampleid": project.samples[sample_id]["sampleid"],
        "acquisid": project.acquisitions[(sample_id, acquisition_id)]["acquisid"],
        "acq_orig_id": acquisition_id,
        "classif_id": classif_id,
        "classif_qual": state,
        "classif_who": who,
        "classif_date": when,
        "free_columns": free,
        "images": [],
    }


def _add_image(store: Store, obj: dict[str, Any], path: Path, name: str, rank: Any) -> None:
    ranks = {image["imgrank"] for image in obj["images"]}
    wanted = int(rank) if rank is not None else None
    if wanted is None or wanted in ranks:
        small = [r for r in ranks if r < 100]
        wanted = max(small) + 1 if small else 0
    width, height = image_size(path)
    imgid = store.next_id("image")
    obj["images"].append(
        {
            "imgid": imgid,
            "objid": obj["objid"],
            "imgrank": wanted,
            "orig_file_name": name,
            "file_name": f"{imgid // 10000:04d}/{imgid % 10000:04d}{path.suffix.lower()}",
            "width": width,
            "height": height,
        }
    )
