"""The real plankton images shipped beside the project, as uploads for demos and tests,
and grouped into samples with their manifests."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from aquaflow_devstack.stack import REPO_ROOT

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif"}


def sample_root() -> Path:
    configured = os.environ.get("AQUAFLOW_SAMPLE_DATA")
    return Path(configured) if configured else REPO_ROOT / "data" / "ecotaxa-qa"


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


# Where the demo's samples were "taken": real stations of the north-western Mediterranean
# and the Channel, with their positions in decimal degrees.
STATIONS = (
    ("Villefranche point B", 43.685, 7.316),
    ("DYFAMED", 43.417, 7.867),
    ("BOUSSOLE", 43.367, 7.9),
    ("SOLA Banyuls", 42.488, 3.145),
    ("Roscoff Estacade", 48.732, -3.983),
)


@dataclass(frozen=True)
class PlannedSample:
    """A sample as an instrument delivers it: its images and a manifest, under one folder."""

    sample_id: str
    bucket: str
    images: list[Sample]
    manifest: dict[str, object]
    # The folder of the data set the images come from.
    source: str

    def key(self, image: Sample) -> str:
        """The image's key: the sample is the first folder, as the routing rules' ``{sample}/**`` reads it."""
        return f"{self.sample_id}/{image.key.removeprefix(self.source + '/')}"

    @property
    def manifest_key(self) -> str:
        return f"{self.sample_id}/sample.json"


def sample_id_of(folder: str) -> str:
    """A valid sample id for a folder name (``[A-Za-z0-9][A-Za-z0-9_.+-]*``)."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "-", folder).strip("-.") or "sample"


def group_into_samples(images: list[Sample], bucket_of: Callable[[Sample], str]) -> list[PlannedSample]:
    """One sample per top folder of the data set, each with a manifest naming its size."""
    folders: dict[str, list[Sample]] = {}
    for image in images:
        folders.setdefault(image.key.split("/", 1)[0], []).append(image)
    planned = []
    for number, (folder, members) in enumerate(sorted(folders.items())):
        sample_id, bucket = sample_id_of(folder), bucket_of(members[0])
        instrument = "zooscan" if bucket.endswith("zooscan") else "flowcam"
        manifest = manifest_for(sample_id, instrument, len(members), number)
        planned.append(PlannedSample(sample_id, bucket, members, manifest, folder))
    return planned


def manifest_for(sample_id: str, instrument: str, expected_objects: int, number: int) -> dict[str, object]:
    """A realistic ``sample.json``: a ZooScan net tow or a FlowCam run at one of the stations."""
    station, lat, lon = STATIONS[number % len(STATIONS)]
    day = date(2024, 5, 2) + timedelta(days=number)
    common: dict[str, object] = {
        "sample_id": sample_id,
        "station": station,
        "lat": lat,
        "lon": lon,
        "date": day.isoformat(),
        "time": f"{8 + number % 10:02d}:30",
        "instrument": instrument,
        "expected_objects": expected_objects,
    }
    if instrument == "zooscan":
        # A WP2 net hauled vertically from 200 m: about 3.5 m³ filtered, scanned at 2400 dpi.
        tow = {"depth_min": 0, "depth_max": 200, "volume_m3": 3.5, "pixel_size_um": 10.6}
        return common | tow | {"fields": {"net": "WP2", "mesh_um": 200}}
    # A surface bottle sample run through a FlowCam at 4x.
    return common | {"depth_min": 0, "depth_max": 5, "volume_ml": 5.0 + number % 3, "pixel_size_um": 2.6}
