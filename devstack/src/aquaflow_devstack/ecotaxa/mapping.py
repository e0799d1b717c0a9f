"""Which TSV columns EcoTaxa knows, and where custom ones go (py/BO/Mappings.py, py/DB/*.py).

Custom ("free") columns are mapped per project onto a fixed number of storage slots: objects have
500 numeric (n01..n500) and 20 text (t01..t20) slots, samples 60 text, acquisitions and processes
30 text. A column beyond those cannot be mapped and the import is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["n", "t"]


@dataclass(frozen=True)
class Target:
    """Where a TSV column lands: an entity ('object', 'sample', 'acq', 'process', 'image') and a field."""

    entity: str
    field: str
    type: ColumnType


# Classification columns; two of them feed a single stored value (category or category id).
ANNOTATION_FIELDS: dict[str, Target] = {
    "object_annotation_category": Target("object", "classif_id", "t"),
    "object_annotation_category_id": Target("object", "classif_id", "n"),
    "object_annotation_date": Target("object", "classif_date", "t"),
    "object_annotation_person_name": Target("object", "classif_who", "t"),
    "object_annotation_status": Target("object", "classif_qual", "t"),
    "object_annotation_hierarchy": Target("", "object_annotation_hierarchy", "t"),
}

# Read together with another column, never stored on their own.
DOUBLED_FIELDS: dict[str, Target] = {
    "object_annotation_time": Target("object", "classif_date", "t"),
    "object_annotation_person_email": Target("object", "classif_who", "t"),
}

PREDEFINED_FIELDS: dict[str, Target] = {
    **ANNOTATION_FIELDS,
    "object_id": Target("object", "orig_id", "t"),
    "sample_id": Target("sample", "orig_id", "t"),
    "acq_id": Target("acq", "orig_id", "t"),
    "process_id": Target("process", "orig_id", "t"),
    "object_lat": Target("object", "latitude", "n"),
    "object_lon": Target("object", "longitude", "n"),
    "object_date": Target("object", "objdate", "t"),
    "object_time": Target("object", "objtime", "t"),
    "object_link": Target("object", "object_link", "t"),
    "object_depth_min": Target("object", "depth_min", "n"),
    "object_depth_max": Target("object", "depth_max", "n"),
    "complement_info": Target("object", "complement_info", "t"),
    "img_rank": Target("image", "imgrank", "n"),
    "img_file_name": Target("image", "orig_file_name", "t"),
    "sample_dataportal_descriptor": Target("sample", "dataportal_descriptor", "t"),
    "acq_instrument": Target("acq", "instrument", "t"),
}

# TSV prefixes of the entities that take custom columns; each needs its '<prefix>_id' column.
EXTENDABLE_PREFIXES = ("object", "sample", "acq", "process")

# TSV prefixes that name a table in EcoTaxa without taking custom columns.
# 'img' is not one: EcoTaxa's table is 'images', so 'img_foo' is an unknown prefix.
TYPE_CODES: dict[str, ColumnType] = {"[f]": "n", "[t]": "t"}

# Slots per entity and type (py/DB/Object.py: n01..n500 and t01..t20; Sample 61, Acquisition and
# Process 31 exclusive bounds, so 60 and 30 text slots).
FREE_SLOTS: dict[str, dict[ColumnType, int]] = {
    "object": {"n": 500, "t": 20},
    "sample": {"n": 0, "t": 60},
    "acq": {"n": 0, "t": 30},
    "process": {"n": 0, "t": 30},
}


@dataclass
class EntityMapping:
    """Custom columns of one entity: TSV field (without prefix) to slot, e.g. 'area' -> 'n01'."""

    entity: str
    columns: dict[str, str] = field(default_factory=dict)

    def slot_of(self, tsv_field: str) -> str | None:
        return self.columns.get(tsv_field)

    def add(self, tsv_field: str, column_type: ColumnType) -> tuple[bool, str]:
        """Give the column the next slot of its type; False when that slot does not exist.

        As in EcoTaxa the association is recorded even when it overflows, so every later
        column of that type overflows too.
        """
        used = [int(slot[1:]) for slot in self.columns.values() if slot[0] == column_type]
        slot = f"{column_type}{(max(used) if used else 0) + 1:02d}"
        self.columns[tsv_field] = slot
        return int(slot[1:]) <= FREE_SLOTS[self.entity][column_type], slot


@dataclass
class ProjectMapping:
    """The custom columns of a project, kept from one import to the next."""

    entities: dict[str, EntityMapping] = field(
        default_factory=lambda: {prefix: EntityMapping(prefix) for prefix in EXTENDABLE_PREFIXES}
    )

    def search(self, tsv_column: str) -> Target | None:
        """The slot of an already mapped custom column, e.g. 'object_area' -> object n01."""
        prefix, sep, name = tsv_column.partition("_")
        if not sep or prefix not in self.entities:
            return None
        slot = self.entities[prefix].slot_of(name)
        if slot is None:
            return None
        return Target(prefix, slot, "n" if slot[0] == "n" else "t")

    def add(self, prefix: str, name: str, column_type: ColumnType) -> tuple[bool, str]:
        return self.entities[prefix].add(name, column_type)

    def copy(self) -> ProjectMapping:
        return ProjectMapping({p: EntityMapping(p, dict(m.columns)) for p, m in self.entities.items()})

    def tsv_name_of(self, prefix: str, slot: str) -> str | None:
        for name, its_slot in self.entities[prefix].columns.items():
            if its_slot == slot:
                return name
        return None


def lookup(column: str, mapping: ProjectMapping) -> Target | None:
    """The target of a column: predefined, doubled, or custom already mapped; None if not stored."""
    return PREDEFINED_FIELDS.get(column) or DOUBLED_FIELDS.get(column) or mapping.search(column)
