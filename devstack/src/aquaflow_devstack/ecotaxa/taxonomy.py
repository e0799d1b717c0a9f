"""The stand-in's taxonomy: a fixed set of taxa, names to ids.

A taxon is given by its display name, 'name' or 'name<parent' as EcoTaxa shows homonyms. Like
EcoTaxa (py/API_operations/imports/Import.py, resolve_taxa) a TSV name matches a taxon by name or
display name, case-insensitively; 'name (parent)' is also tried as 'name<parent'; a name matching
several taxa is ambiguous, hence unresolved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

# The models' classes (model_repository/*/labels.txt), so every predicted label is a known
# taxon, then common EcoTaxa categories.
MODEL_REPOSITORY = Path(__file__).resolve().parents[4] / "model_repository"
COMMON_TAXA = (
    "living",
    "not-living",
    "Copepoda",
    "Calanoida",
    "Cyclopoida",
    "Oncaeidae",
    "Chaetognatha",
    "Radiolaria",
    "Bacillariophyta",
    "egg<other",
    "small<egg",
    "other<living",
    "other<not-living",
    "badfocus<artefact",
    "artefact",
    "fiber<detritus",
    "t001",
)

_PARENTHESIZED = re.compile(r"(.+) \((.+)\)$")


def model_labels(repository: Path = MODEL_REPOSITORY) -> list[str]:
    return [
        label
        for labels in sorted(repository.glob("*/labels.txt"))
        for label in labels.read_text(encoding="utf-8").split()
    ]


def default_taxa() -> dict[str, int]:
    names = list(dict.fromkeys((*model_labels(), *COMMON_TAXA)))
    return {name: 1000 + index for index, name in enumerate(names)}


class Taxonomy:
    def __init__(self, taxa: Mapping[str, int]) -> None:
        self._by_id = {taxon_id: display for display, taxon_id in taxa.items()}

    def name_of(self, taxon_id: int | None) -> str | None:
        return None if taxon_id is None else self._by_id.get(taxon_id)

    def exists(self, taxon_id: int) -> bool:
        return taxon_id in self._by_id

    def resolve(self, name: str) -> int | None:
        """The id of the only taxon matching a (lowercase) TSV name, else None."""
        candidates = {name}
        parenthesized = _PARENTHESIZED.match(name)
        if parenthesized:
            candidates.add(f"{parenthesized.group(1)}<{parenthesized.group(2)}")
        matches = {
            taxon_id
            for taxon_id, display in self._by_id.items()
            if display.lower() in candidates or display.split("<", 1)[0].lower() in candidates
        }
        return matches.pop() if len(matches) == 1 else None
