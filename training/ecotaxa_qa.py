"""The labelled real images of `data/ecotaxa-qa/`, and how their EcoTaxa categories map onto the classifier's classes.

EcoTaxa's QA data holds real ZooScan/UVP vignettes next to import tables (`ecotaxa_*.tsv`, a header row, an
optional `[f]`/`[t]` type row) whose `object_annotation_category` names each object's taxon. The same few
pictures are copied into many QA folders, and some copies carry other categories on purpose (the QA exercises
EcoTaxa's update and merge rules). So the unit of evaluation is the distinct picture (identical bytes), and its
category is the one most of its copies carry; the copies and their disagreements are kept for the report.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")

# What a category with no counterpart among the classifier's classes maps to. Such objects must not be
# classified with confidence: any label the model gives them is wrong.
OTHER = "other"

# EcoTaxa category (display name, as in `object_annotation_category`) → classifier class. Why each one:
CATEGORY_TO_CLASS: dict[str, str] = {
    # Biota>…>Copepoda>…>Cyclopoida: cyclopoid copepods.
    "Cyclopoida": "copepod",
    # Biota>…>Copepoda>…>Cyclopoida>Ergasilida>Oncaeidae: a family of small cyclopoid copepods.
    "Oncaeidae": "copepod",
    # not-living>detritus: marine snow, aggregates.
    "detritus": "detritus",
    # Biota>other>egg and …>Actinopterygii>egg>small: single round eggs, the generated `round_cell` shape
    # (a round cell with a darker nucleus and granules).
    "egg<other": "round_cell",
    "small<egg": "round_cell",
    # Common EcoTaxa names for the other classes. None occurs in the QA data: they are listed so that the
    # table also reads real project exports, and are not measured here.
    "Copepoda": "copepod",
    "Calanoida": "copepod",
    "Chaetognatha": "chaetognath",
    "Acantharea": "radiolarian",
    "fiber<detritus": "fibre",
    "bubble": "bubble",
}
# Categories of the QA data that map to OTHER, and why (documentation; any unlisted category is OTHER too):
OTHER_CATEGORIES: dict[str, str] = {
    "t001": "temporary>t001, a placeholder taxon of EcoTaxa's QA, not a taxon",
    "other<Biota": "Biota>other: a living thing of no more precise category",
    "Other (Biota)": "the same, as another QA spelling",
    "other": "no category",
    "ozzeur": "a misspelt category name the QA uses on purpose",
    "part": "a body part of an organism",
    "part (Annelida)": "a body part of a worm",
    "part (Cnidaria)": "a body part of a jellyfish",
    "Solenicola setigera": "an epibiont of diatoms, no generated counterpart",
    "Micrococcineae": "a bacterial taxon the QA uses as a placeholder",
    "Pilimelia": "a bacterial taxon the QA uses as a placeholder",
}


def target_class(category: str) -> str:
    return CATEGORY_TO_CLASS.get(category.strip(), OTHER)


@dataclass(frozen=True)
class LabelledFile:
    """One image file named by a row of an EcoTaxa table, with the row's category."""

    path: Path
    category: str
    table: Path


@dataclass(frozen=True)
class RealImage:
    """One distinct picture: every file with these bytes, and the categories their tables give."""

    digest: str
    paths: tuple[Path, ...]
    categories: Counter[str]
    image: Image.Image

    @property
    def category(self) -> str:
        """The category most copies carry (ties: the alphabetically first, so the choice is stable)."""
        return min(self.categories, key=lambda c: (-self.categories[c], c))

    @property
    def target(self) -> str:
        return target_class(self.category)

    @property
    def conflicting(self) -> bool:
        return len({target_class(c) for c in self.categories}) > 1


@dataclass(frozen=True)
class LabelledSet:
    images: list[RealImage]
    files: list[LabelledFile]  # every labelled row whose image file exists, copies included
    undecodable: list[Path]  # labelled files that are not readable images (the QA's corrupted ones)


def read_table(path: Path) -> list[dict[str, str]]:
    """Rows of an EcoTaxa TSV as dicts keyed by lower-case column name; the `[f]`/`[t]` type row is skipped."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # older ZooProcess exports
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    if not rows:
        return []
    header = [name.strip().lower() for name in rows[0]]
    table = []
    for row in rows[1:]:
        if row and row[0].strip().startswith("["):
            continue
        table.append({name: value.strip() for name, value in zip(header, row, strict=False)})
    return table


def labelled_files(folder: Path) -> list[LabelledFile]:
    found = []
    for table in sorted(folder.rglob("*.tsv")):
        for row in read_table(table):
            name, category = row.get("img_file_name", ""), row.get("object_annotation_category", "")
            if not name or not category:
                continue
            path = table.parent / name
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                found.append(LabelledFile(path, category, table))
    return found


def decode(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image.copy()


def distinct_images(files: Iterable[LabelledFile]) -> tuple[list[RealImage], list[Path]]:
    """Group files by content; keep the decodable ones, in a stable order (by digest)."""
    by_digest: dict[str, list[LabelledFile]] = {}
    for file in files:
        by_digest.setdefault(hashlib.sha256(file.path.read_bytes()).hexdigest(), []).append(file)
    images: list[RealImage] = []
    undecodable: list[Path] = []
    for digest, copies in sorted(by_digest.items()):
        paths = tuple(sorted({f.path for f in copies}))
        try:
            image = decode(paths[0])
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            undecodable.extend(paths)
            continue
        images.append(RealImage(digest, paths, Counter(f.category for f in copies), image))
    return images, undecodable


def load(folder: Path) -> LabelledSet:
    files = labelled_files(folder)
    images, undecodable = distinct_images(files)
    return LabelledSet(images, files, undecodable)
