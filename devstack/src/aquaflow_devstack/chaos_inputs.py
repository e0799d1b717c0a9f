"""What a fault run uploads: real images, archives of them, and planted bad inputs.

Every planted bad input names the dead-letter code it must end with, so the run can
check that exactly these, and nothing else, are dead letters.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

from PIL import Image

from aquaflow_devstack.samples import Sample

FLOWCAM = "plankton-flowcam"
ZOOSCAN = "plankton-zooscan"


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    body: bytes
    # Empty: must end with one stored result; else the dead-letter codes it may end with.
    expect_codes: frozenset[str] = frozenset()
    # Names of the results an archive must expand into (keys relative to the archive).
    members: tuple[str, ...] = ()
    announce: bool = True  # False: the notification is "lost"; the reconciliation sweep must find it
    duplicate: bool = False  # announced twice, as MinIO does when it replays its queue store


@dataclass
class UploadPlan:
    uploads: list[Upload] = field(default_factory=list)

    @property
    def good(self) -> list[Upload]:
        return [u for u in self.uploads if not u.expect_codes and not u.members]

    @property
    def archives(self) -> list[Upload]:
        return [u for u in self.uploads if u.members]

    @property
    def bad(self) -> list[Upload]:
        return [u for u in self.uploads if u.expect_codes]


def _codes(*codes: str) -> frozenset[str]:
    return frozenset(codes)


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def zip_bomb(uncompressed_mib: int = 600) -> bytes:
    """A small zip whose one member inflates to ``uncompressed_mib`` MiB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("zeros.png", "w", force_zip64=True) as member:
            block = bytes(1024 * 1024)
            for _ in range(uncompressed_mib):
                member.write(block)
    return buffer.getvalue()


def zip_slip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../outside.png", b"\x89PNG\r\n\x1a\n")
    return buffer.getvalue()


def pixel_bomb() -> bytes:
    """A valid, tiny PNG that claims 30000 x 30000 pixels when decoded."""
    buffer = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def plan_uploads(samples: list[Sample], total: int, *, archives: int = 5, per_archive: int = 10) -> UploadPlan:
    """``total`` uploads: archives of real images, bad inputs, and real images for the rest."""
    good = [s for s in samples if not s.corrupt]
    corrupt = [s for s in samples if s.corrupt]
    plan = UploadPlan()
    for index, sample in enumerate(corrupt):
        key = f"bad/corrupt-{index}-{sample.path.name}"
        plan.uploads.append(Upload(FLOWCAM, key, sample.path.read_bytes(), _codes("corrupt_image", "not_an_image")))
    plan.uploads += [
        Upload(FLOWCAM, "bad/empty.png", b"", _codes("empty_object")),
        Upload(FLOWCAM, "bad/not-an-image.png", b"this is a text file, not a picture\n" * 20, _codes("not_an_image")),
        Upload(FLOWCAM, "bad/pixel-bomb.png", pixel_bomb(), _codes("decompression_bomb")),
        Upload(FLOWCAM, "bad/zip-bomb.zip", zip_bomb(), _codes("archive_ratio", "archive_too_large")),
        Upload(FLOWCAM, "bad/zip-slip.zip", zip_slip(), _codes("archive_unsafe_path")),
    ]
    for batch in range(archives):
        chosen = [good[(batch * per_archive + i) % len(good)] for i in range(per_archive)]
        files = {f"img-{i:03d}{s.path.suffix.lower()}": s.path.read_bytes() for i, s in enumerate(chosen)}
        plan.uploads.append(Upload(FLOWCAM, f"archives/batch-{batch}.zip", zip_of(files), members=tuple(files)))
    remaining = total - len(plan.uploads)
    for index in range(remaining):
        sample = good[index % len(good)]
        bucket = ZOOSCAN if index % 10 == 0 else FLOWCAM
        # Runs of 200 uploads: the routing table's `{sample}/**` makes each run a sample.
        key = f"run-{index // 200:02d}/{index:05d}-{sample.path.name}"
        plan.uploads.append(
            Upload(bucket, key, sample.path.read_bytes(), announce=index % 97 != 5, duplicate=index % 10 == 3)
        )
    return plan
