"""What ``aquaflow upload DIR`` puts where: every file under DIR, under the sample's folder. Pure.

Keys follow the layout the routing rules read (``{sample}/**``): with ``--sample S`` every
file goes under ``S/``, keeping its path below DIR. A manifest (``--manifest F``, or a
``sample.json``/``sample.tsv`` found in DIR) goes first, so the sample knows what to expect
before its images arrive, and is not followed to a result: a manifest has none.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aquaflow_cli.errors import CliError, Exit

MANIFEST_NAMES = ("sample.json", "sample.tsv")


@dataclass(frozen=True)
class PlannedUpload:
    path: Path
    key: str
    size: int
    content_type: str
    is_manifest: bool = False


def content_type_of(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _key(prefix: str, relative: PurePosixPath) -> str:
    return f"{prefix}{relative.as_posix()}"


def plan_uploads(
    directory: Path, files: list[Path], *, sample: str | None, prefix: str = "", manifest: Path | None = None
) -> list[PlannedUpload]:
    """The uploads for ``files`` (found under ``directory``), the manifest first."""
    base = prefix + (f"{sample.strip('/')}/" if sample else "")
    planned: list[PlannedUpload] = []
    if manifest is not None:
        name = "sample.tsv" if manifest.suffix.lower() == ".tsv" else "sample.json"
        planned.append(
            PlannedUpload(
                manifest, f"{base}{name}", manifest.stat().st_size, content_type_of(manifest), is_manifest=True
            )
        )
    chosen = {p.resolve() for p in files} - ({manifest.resolve()} if manifest is not None else set())
    for path in sorted(chosen):
        relative = PurePosixPath(path.relative_to(directory.resolve()).as_posix())
        is_manifest = relative.name.lower() in MANIFEST_NAMES
        if is_manifest and manifest is not None:
            raise CliError(f"{path} is a manifest too, besides --manifest {manifest}: give one", Exit.USAGE)
        planned.append(
            PlannedUpload(path, _key(base, relative), path.stat().st_size, content_type_of(path), is_manifest)
        )
    planned.sort(key=lambda p: (not p.is_manifest, p.key))
    if not any(not p.is_manifest for p in planned):
        raise CliError(f"no files to upload in {directory}", Exit.USAGE)
    return planned


def files_under(directory: Path) -> list[Path]:
    """Every regular file below ``directory``, hidden ones (``.DS_Store``, ``.git``) left out."""
    if not directory.is_dir():
        raise CliError(f"{directory} is not a folder", Exit.USAGE)
    return [
        p
        for p in directory.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    ]
