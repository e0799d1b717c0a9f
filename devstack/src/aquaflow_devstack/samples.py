"""The real plankton images shipped beside the project, as uploads for demos and tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from aquaflow_devstack.stack import REPO_ROOT

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif"}


def sample_root() -> Path:
    configured = os.environ.get("AQUAFLOW_SAMPLE_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data" / "ecotaxa-qa"


@dataclass(frozen=True)
class Sample:
    path: Path
    key: str  # the object key: the path below the data folder, spaces and all
    corrupt: bool  # EcoTaxa's own QA data marks these as corrupted images


def _is_corrupt(relative: Path) -> bool:
    return "corrupted" in relative.as_posix()


def real_images(root: Path | None = None) -> list[Sample]:
    root = root or sample_root()
    if not root.is_dir():
        raise FileNotFoundError(f"sample images not found at {root} (set AQUAFLOW_SAMPLE_DATA)")
    found = [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return [Sample(p, p.relative_to(root).as_posix(), _is_corrupt(p.relative_to(root))) for p in found]
