"""Users' uploaded files (py/FS/UserFilesDir.py): stored under the user's folder; an archive is
unpacked into a folder named after its stem (unless its entries already sit in such a folder),
archives inside it are unpacked in turn, and the archive itself is removed."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath


class Forbidden(Exception):
    pass


def store_upload(user_root: Path, name: str, path: str | None, data: bytes) -> Path:
    """Write an upload; returns the stored file's path, as EcoTaxa answers (even once unpacked)."""
    if ".." in str(path) or "/" in name or name in ("", ".", ".."):
        raise Forbidden("Forbidden")
    base = user_root
    if path is not None:
        if not path.endswith(name):
            raise Forbidden("Forbidden")
        base = user_root / PurePosixPath(path[: -len(name)].lstrip("/"))
    base.mkdir(parents=True, exist_ok=True)
    stored = base / name
    stored.write_bytes(data)
    if zipfile.is_zipfile(stored):
        unpack_zip(stored, base)
    return stored


def unpack_zip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        if any(".." in PurePosixPath(n).parts or n.startswith("/") for n in names):
            raise Forbidden("Forbidden")
        target = into if names and names[0].startswith(f"{archive.stem}/") else into / archive.stem
        opened.extractall(target)
    archive.unlink()
    for name in names:
        inner = target / name
        if name.lower().endswith(".zip") and inner.is_file() and zipfile.is_zipfile(inner):
            unpack_zip(inner, inner.parent)
