"""Finding what an import folder holds, as EcoTaxa does (py/BO/Bundle.py, InBundle and UVP6Bundle).

TSVs are the files named ecotaxa*.tsv or ecotaxa*.txt anywhere below the folder; images are looked
up relative to the folder of their TSV. A UVP6 sample is an '*Images.zip' (unpacked aside) or an
'*Images' folder holding 'ecotaxa_<sample>.tsv'.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from .images import check_image_file
from .validation import MISSING_IMAGE

TSV_PATTERNS = ("**/ecotaxa*.txt", "**/ecotaxa*.tsv")
MAX_FILES = 2000


@dataclass(frozen=True)
class BundleTsv:
    path: Path
    # what the user sees in messages, e.g. "[base]/m106/ecotaxa_m106.tsv"
    user_loc: str
    # relative to the import folder, recorded as a loaded file
    relative_name: str


class TooManyFiles(Exception):
    pass


def list_tsvs(root: Path, user_loc: str, scratch: Path) -> list[BundleTsv]:
    """The TSVs to import, UVP6 sub-bundles first, like EcoTaxa's import order."""
    found = sorted({path for pattern in TSV_PATTERNS for path in root.glob(pattern) if path.is_file()})
    sub_bundles: list[tuple[Path, str]] = []
    for archive in sorted(root.glob("**/*Images.zip")):
        target = scratch / archive.stem
        if not target.exists():
            target.mkdir(parents=True)
            with zipfile.ZipFile(archive) as opened:
                opened.extractall(target)
        sub_bundles.append((target, f"{user_loc}/{archive.relative_to(root).as_posix()}"))
    for folder in sorted(root.glob("**/*Images")):
        index = folder / f"ecotaxa_{folder.name[:-7]}.tsv"
        if folder.is_dir() and index.exists():
            found = [path for path in found if path.parent != folder and folder not in path.parents]
            sub_bundles.append((folder, f"{user_loc}/{folder.relative_to(root).as_posix()}"))
    if len(found) + len(sub_bundles) > MAX_FILES:
        raise TooManyFiles(f"You tried to import too many files, max. is {MAX_FILES}")
    result: list[BundleTsv] = []
    for folder, loc in sub_bundles:
        result.extend(list_tsvs(folder, loc, scratch))
    for path in found:
        relative = path.relative_to(root).as_posix()
        result.append(BundleTsv(path, f"{user_loc}/{relative}", relative))
    return result


def image_checker(tsv_dir: Path) -> ImageChecker:
    return ImageChecker(tsv_dir)


class ImageChecker:
    """Checks images named in a TSV, relative to the TSV's folder; errors hide the folder as '...'."""

    def __init__(self, tsv_dir: Path) -> None:
        self.tsv_dir = tsv_dir

    def __call__(self, name: str) -> str | None:
        path = self.tsv_dir / name
        if not name or not path.is_file():
            return MISSING_IMAGE
        problem = check_image_file(path)
        return None if problem is None else problem.replace(str(self.tsv_dir), "...")
